"""How much does computing a trained model in bfloat16 change its test results?

Scores a trained model on its dataset's test split in float32 and in bfloat16
(`cnnzoo.compute_dtype.in_policy`: the same weights, bfloat16 arithmetic, float32
probabilities) and prints both top-1 accuracies, their difference and how many
test images get a different top-1 class, with the machine (issue 22 item 3):

    python tools/compare_precision.py --arch wu2016_cifar --weights cifar10 \\
        --data-dir ../shared/data
    python tools/compare_precision.py --model runs/resnet20/model.keras --data-dir ../shared/data

On a CPU without native bfloat16 the bfloat16 pass is emulated (slower), with the
same results.
"""

from __future__ import annotations

import argparse
import json
import time


def top1(model, images, batch: int = 500):
    """The top-1 class of every image, and the seconds it took."""
    import numpy as np

    start = time.perf_counter()
    classes = [
        np.argmax(np.asarray(model(images[i : i + batch], training=False)), axis=-1)
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(classes), time.perf_counter() - start


def compare(model_path: str, data_dir: str | None, precisions=("float32", "bfloat16")) -> dict:
    """{precision: {"top1_accuracy", "seconds"}, "changed": images whose top-1 differs, ...}."""
    from cnnzoo.pipelines.sources import load_dataset

    from cnnzoo.hardware import describe
    from cnnzoo.model_io import load_inference, load_trained

    _, meta = load_trained(model_path, compile=False)
    images, labels = load_dataset(meta["dataset"], data_dir).test
    report, classes = {"model": str(model_path), "machine": describe()}, {}
    for precision in precisions:
        # As `cnnzoo evaluate` and `predict` compute it: BatchNorm folded.
        model, _ = load_inference(model_path, precision)
        classes[precision], seconds = top1(model, images)
        accuracy = float((classes[precision] == labels).mean())
        report[precision] = {"top1_accuracy": accuracy, "seconds": round(seconds, 1)}
    first, second = precisions
    report["difference_points"] = round(
        100 * (report[second]["top1_accuracy"] - report[first]["top1_accuracy"]), 3
    )
    report["changed"] = int((classes[first] != classes[second]).sum())
    report["images"] = len(labels)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a .keras file written by `cnnzoo fit`")
    which.add_argument("--weights", help="the package's trained weights of --arch, e.g. cifar10")
    parser.add_argument("--arch")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    path = args.model
    if args.weights:
        from cnnzoo.weights import verified_path

        path = str(verified_path(args.arch, args.weights))
    print(json.dumps(compare(path, args.data_dir), indent=2))


if __name__ == "__main__":
    main()

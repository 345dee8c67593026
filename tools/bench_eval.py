"""Time the evaluation protocols: 10-crop vs single view, dense vs 10-crop.

    python tools/bench_eval.py [--archs vgg16,resnet50] [--images 32] [--runs 5]
                               [--batch-size 32] [--image-size 375x500] [--scale 256]

For each architecture (random weights: the cost does not depend on their values),
each run evaluates the same random uint8 images under ``center``, ``10crop`` and
``dense`` at shorter side ``--scale``, one protocol after the other, so the three
share the machine's load of the moment. The first run traces the models and is not
counted; the figures are medians over the runs:

* single-view and 10-crop throughput in images/s, and 10-crop's as a fraction of
  single-view / 10. The target (issue 5) is >= 0.9: views of a batch are one model
  batch, so ten views should cost ten crops' compute and little else;
* dense evaluation (whole image at Q and its mirror) vs 10-crop, seconds per image.
  The target is dense < 10-crop for VGG-16 and ResNet-50.

The default image size, 375x500, is the most common size in the ILSVRC-2012
validation set, so the rescaling is timed too. TensorFlow starts with
``cnnzoo evaluate``'s oneDNN default (``TF_ENABLE_ONEDNN_OPTS=1`` unless the
environment sets it; ``tools/bench/env.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from bench.env import CNNZOO_ONEDNN_DEFAULT, ONEDNN

import cnnzoo

DEFAULT_ARCHS = ("vgg16", "resnet50")
TARGET_RATIO = 0.9  # issue 5: 10-crop throughput >= 0.9 x single-view / 10
PROTOCOLS = ("center", "10crop", "dense")


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archs",
        default=None,
        help=f"comma-separated registry names (default: those of {','.join(DEFAULT_ARCHS)} "
        "that are registered)",
    )
    parser.add_argument("--images", type=int, default=32, help="images per run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per model call")
    parser.add_argument("--image-size", default="375x500", help="HxW of the random images")
    parser.add_argument("--scale", type=int, default=256, help="shorter side Q")
    return parser.parse_args(argv)


def _archs(spec: str | None) -> list[str]:
    known = set(cnnzoo.list_models())
    if spec is None:
        archs = [a for a in DEFAULT_ARCHS if a in known]
        missing = [a for a in DEFAULT_ARCHS if a not in known]
        if missing:
            print(f"notice: not registered (yet), skipped: {', '.join(missing)}")
        return archs
    archs = [a.strip() for a in spec.split(",") if a.strip()]
    unknown = [a for a in archs if a not in known]
    if unknown:
        raise SystemExit(f"unknown architectures: {', '.join(unknown)}")
    return archs


def _bench(arch: str, images: np.ndarray, labels: np.ndarray, args) -> dict[str, list[float]]:
    from cnnzoo.evaluation.protocols import evaluate_views

    model = cnnzoo.build(arch)
    seconds: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
    for run in range(args.runs + 1):
        for protocol in PROTOCOLS:
            start = time.perf_counter()
            evaluate_views(
                model,
                images,
                labels,
                views=protocol,
                scales=(args.scale,),
                batch_size=args.batch_size,
            )
            if run > 0:  # run 0 traces the model and the view functions
                seconds[protocol].append(time.perf_counter() - start)
    return seconds


def main(argv=None) -> None:
    """Time the protocols of each architecture and print the figures and the targets."""
    # Before TensorFlow starts (imported by _bench): `cnnzoo evaluate`'s own default.
    os.environ.setdefault(ONEDNN, CNNZOO_ONEDNN_DEFAULT)
    args = _parse_args(argv)
    h, w = (int(v) for v in args.image_size.lower().split("x"))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.images, h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, 1000, size=args.images)
    n = args.images
    print(
        f"{n} images of {h}x{w}, Q = {args.scale}, batch {args.batch_size} crops, "
        f"median of {args.runs} runs after a warm-up; {ONEDNN}={os.environ[ONEDNN]}"
    )
    for arch in _archs(args.archs):
        seconds = _bench(arch, images, labels, args)
        single = statistics.median(n / s for s in seconds["center"])
        ten = statistics.median(n / s for s in seconds["10crop"])
        # The ratio of each run's pair, measured back to back, then its median.
        ratio = statistics.median(
            (n / t) / ((n / c) / 10)
            for c, t in zip(seconds["center"], seconds["10crop"], strict=True)
        )
        dense = statistics.median(seconds["dense"]) / n
        ten_per_image = statistics.median(seconds["10crop"]) / n
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"\n{arch}")
        print(f"  single view   {single:8.2f} images/s")
        print(f"  10-crop       {ten:8.2f} images/s")
        print(f"  10-crop / (single / 10) = {ratio:.3f}  ({verdict} the >= {TARGET_RATIO} target)")
        cheaper = "cheaper" if dense < ten_per_image else "NOT cheaper"
        print(
            f"  dense Q={args.scale}   {dense:8.3f} s/image vs 10-crop {ten_per_image:.3f} s/image"
            f"  (dense/10-crop = {dense / ten_per_image:.2f}, {cheaper})"
        )


if __name__ == "__main__":
    main()

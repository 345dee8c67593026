"""Compare the exports side by side: size, top-1, agreement with Keras, latency, throughput.

    python tools/bench_export.py [--models lenet5:mnist,wu2016_cifar:cifar10,resnet50]
                                 [--rows savedmodel,onnx,litert,litert-float16,litert-int8,openvino]
                                 [--runs 5] [--threads 2] [--data-dir DIR] [--out DIR] [--json F]

Each model is exported with `cnnzoo.export_formats.export_model` (what ``cnnzoo
export`` runs, the runtime's own check included) into ``--out``, then each export
is loaded by its runtime (`cnnzoo.export_runtimes`; the SavedModel by TensorFlow's
``serving_default`` signature) and measured, one row after the other in one process:

* file size of the model file(s);
* top-1 accuracy on the whole test set and top-1 agreement with the Keras model
  (``model.predict`` on the same images), max |Δprob|;
* single-image latency: the median over ``--runs`` of the mean time of 20 calls on
  one image; batch-64 throughput: the median over ``--runs`` of images/s of 3
  batches of 64. One warm-up call of each shape comes first.

A model is ``ARCH:DATASET`` (the package's trained weights, `cnnzoo.weights`), a
``.keras`` file written by ``cnnzoo fit`` (e.g. a zoo run's
``tools/zoo/runs/resnet20-fast_cifar-s0/model.keras``, named by its directory), or
``ARCH`` alone (initialized weights, e.g. resnet50: latency, throughput, size and
agreement do not depend on the weights' values; its top-1 is not measured and its
images are random). Every runtime gets ``--threads`` CPU threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from bench.env import CNNZOO_ONEDNN_DEFAULT, ONEDNN

DEFAULT_MODELS = "lenet5:mnist,wu2016_cifar:cifar10,resnet50"
# Row -> (format, quantization) of `export_model`.
ROWS = {
    "savedmodel": ("savedmodel", None),
    "onnx": ("onnx", None),
    "litert": ("litert", None),
    "litert-float16": ("litert", "float16"),
    "litert-int8": ("litert", "int8"),
    "openvino": ("openvino", None),
}
LATENCY_CALLS = 20
THROUGHPUT_BATCH, THROUGHPUT_BATCHES = 64, 3
# Images of a model without a test set (initialized ImageNet nets): random, this many.
RANDOM_IMAGES = 256


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default=DEFAULT_MODELS, help="ARCH:DATASET, a .keras file, or ARCH; commas"
    )
    parser.add_argument("--rows", default=",".join(ROWS), help=f"of {', '.join(ROWS)}")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every runtime")
    parser.add_argument("--data-dir", help="CIFAR-10 / MNIST files (default: $CNNZOO_DATA_DIR)")
    parser.add_argument("--out", default="runs/bench_export", help="where the exports go")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows.split(",")) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    return args


def _source(spec: str):
    """(model or `.keras` path, metadata or None, name) of ``ARCH[:DATASET]`` or a path."""
    import cnnzoo
    from cnnzoo.weights import verified_path

    if spec.endswith(".keras"):
        path = Path(spec)
        if not path.is_file():
            raise SystemExit(f"--models: {spec} is not a file (a .keras file of `cnnzoo fit`)")
        # A run's model.keras is named by its run directory, a bare file by its stem.
        return str(path), None, path.parent.name if path.stem == "model" else path.stem
    arch, _, dataset = spec.partition(":")
    if dataset:
        return str(verified_path(arch, dataset)), None, spec
    model = cnnzoo.build(arch)
    return model, {"arch": arch, "input_shape": list(model.input_shape[1:])}, arch


def _images(metadata: dict, shape, data_dir):
    """(images, labels or None, phrase): the whole test set, or random images."""
    from cnnzoo.pipelines.sources import DATASETS, load_dataset

    if metadata.get("dataset") in DATASETS:
        data = load_dataset(metadata["dataset"], data_dir)
        return data.test[0], data.test[1], f"{len(data.test[0])} {data.name} test images"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (RANDOM_IMAGES, *shape), dtype=np.uint8)
    return images, None, f"{RANDOM_IMAGES} random images"


def _run_savedmodel(path: Path, threads: int):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda images: serve(images=tf.constant(images))["probabilities"].numpy()


def _runner(row: str, result, threads: int):
    from cnnzoo.export_runtimes import load_runtime

    fmt, _ = ROWS[row]
    if fmt == "savedmodel":
        return _run_savedmodel(result.path, threads)
    return load_runtime(fmt, result.model_file, threads=threads)


def _size_mb(result) -> float:
    files = [p for p in result.path.rglob("*") if p.is_file() and p.name != "cnnzoo.json"]
    return sum(p.stat().st_size for p in files) / 1e6


def _timed(call, runs: int) -> list[float]:
    call()  # warm-up: the first call of a shape allocates and plans
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _speed(run, images: np.ndarray, runs: int) -> dict:
    one = images[:1]
    batch = np.resize(images, (THROUGHPUT_BATCH, *images.shape[1:]))

    def single():
        for _ in range(LATENCY_CALLS):
            run(one)

    def batches():
        for _ in range(THROUGHPUT_BATCHES):
            run(batch)

    latency = statistics.median(_timed(single, runs)) / LATENCY_CALLS
    seconds = statistics.median(_timed(batches, runs))
    return {
        "latency_ms": 1000 * latency,
        "images_per_second": THROUGHPUT_BATCH * THROUGHPUT_BATCHES / seconds,
    }


def _accuracy(run, images, labels, reference) -> dict:
    """Top-1 (where labels are known), agreement with Keras and max |Δprob| on all images."""
    from cnnzoo.export_runtimes import predict

    got = predict(run, images)
    out = {
        "agreement": float(np.mean(got.argmax(1) == reference.argmax(1))),
        "max_abs_diff": float(np.max(np.abs(got - reference))),
    }
    if labels is not None:
        out["top1"] = float(np.mean(got.argmax(1) == labels))
    return out


def _bench_model(spec: str, rows: list[str], args) -> list[dict]:
    """Export `spec` in each row's format and measure it; the Keras model's row first."""
    from cnnzoo.export_formats import export_model
    from cnnzoo.export_options import ExportChecks
    from cnnzoo.export_runtimes import predict
    from cnnzoo.model_io import load_trained

    model, metadata, name = _source(spec)
    if metadata is None:
        model, metadata = load_trained(model, compile=False)
    shape = tuple(metadata["input_shape"])
    images, labels, what = _images(metadata, shape, args.data_dir)
    # predict_on_batch: the compiled prediction step without predict's per-call set-up.
    keras_run = lambda x: model.predict_on_batch(x.astype(np.float32))  # noqa: E731
    reference = predict(keras_run, images)
    keras_row = {"model": name, "row": "keras", "images": what, "size_mb": None}
    keras_row |= _accuracy(keras_run, images, labels, reference) | _speed(
        keras_run, images, args.runs
    )
    measured = [keras_row]
    print(_line(keras_row), flush=True)
    checks = ExportChecks(data="test" if labels is not None else "random", data_dir=args.data_dir)
    for row in rows:
        fmt, quantize = ROWS[row]
        out = Path(args.out) / f"{name.replace(':', '-')}-{row}"
        try:
            result = export_model(
                model, out, fmt, quantize=quantize, overwrite=True, metadata=metadata, checks=checks
            )
        except ValueError as e:  # e.g. int8 without the model's training images
            print(f"{name:<22} {row:<15} not measured: {e}", flush=True)
            continue
        run = _runner(row, result, args.threads)
        figures = {"model": name, "row": row, "images": what, "size_mb": _size_mb(result)}
        figures |= _accuracy(run, images, labels, reference) | _speed(run, images, args.runs)
        measured.append(figures)
        print(_line(figures), flush=True)
    return measured


HEADER = (
    f"{'model':<22} {'runtime':<15} {'size MB':>8} {'top-1 %':>8} {'agree %':>8} "
    f"{'max|Δp|':>9} {'1-img ms':>9} {'b64 img/s':>10}"
)


def _line(r: dict) -> str:
    size = "-" if r["size_mb"] is None else f"{r['size_mb']:.2f}"
    top1 = f"{100 * r['top1']:.2f}" if "top1" in r else "n/a"
    return (
        f"{r['model']:<22} {r['row']:<15} {size:>8} {top1:>8} {100 * r['agreement']:>8.2f} "
        f"{r['max_abs_diff']:>9.1e} {r['latency_ms']:>9.2f} {r['images_per_second']:>10.1f}"
    )


def main(argv=None) -> None:
    """Export each model in each row's format, measure every export, print one table."""
    # Before TensorFlow starts: `cnnzoo`'s own default, as `cnnzoo export` runs.
    os.environ.setdefault(ONEDNN, CNNZOO_ONEDNN_DEFAULT)
    args = _parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rows = args.rows.split(",")
    print(
        f"median of {args.runs} runs; {args.threads} threads per runtime; {ONEDNN}="
        f"{os.environ[ONEDNN]}; latency: mean of {LATENCY_CALLS} single-image calls; "
        f"throughput: {THROUGHPUT_BATCHES} batches of {THROUGHPUT_BATCH}",
        flush=True,
    )
    measured = []
    for spec in args.models.split(","):
        measured += _bench_model(spec, rows, args)
    print("\n" + HEADER)
    for r in measured:
        print(_line(r))
    print("\nimages: " + "; ".join(sorted({f"{r['model']}: {r['images']}" for r in measured})))
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

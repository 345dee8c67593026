"""Time the augmented CIFAR-10 training stream and print images per second.

    python tools/bench_pipeline.py [--data-dir DIR] [--batch-size 128] [--runs 5] [--batches N]

Each run iterates ``--batches`` batches of `cnnzoo.pipelines.datasets.train_dataset`
after a warm-up; the median over runs is the figure to quote. Without the real
data, random uint8 images of CIFAR-10's shape are timed instead (the pipeline's
cost does not depend on pixel values).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from cnnzoo.pipelines import cifar10
from cnnzoo.pipelines.datasets import train_dataset
from cnnzoo.pipelines.errors import DataError

_REPO = Path(__file__).resolve().parents[1]

# The shared data every checkout has beside it (../shared/README.md).
_DEFAULT_DATA = _REPO.parent / "shared" / "data"
# Enough for tf.data AUTOTUNE to settle its parallelism before timing starts.
_WARMUP_BATCHES = 100


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(cifar10.DATA_DIR_ENV) or str(_DEFAULT_DATA),
        help="directory containing cifar-10-batches-bin/ (default: $CNNZOO_DATA_DIR, "
        "else ../shared/data beside the repo)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=400, help="batches timed per run")
    parser.add_argument(
        "--no-augment", action="store_true", help="time the stream without augmentation"
    )
    return parser.parse_args(argv)


def _training_images(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return cifar10.load_split("train", data_dir)
    except DataError as err:
        # The pipeline's speed does not depend on pixel values, so say why and go on.
        print(f"notice: {err}\nnotice: timing random uint8 images of CIFAR-10's shape instead")
    rng = np.random.default_rng(0)
    # 50,000 training images of 32x32x3 (the CIFAR-10 training set's shape).
    images = rng.integers(0, 256, size=(50000, 32, 32, 3), dtype=np.uint8)
    return images, rng.integers(0, 10, size=50000, dtype=np.int64)


def main(argv=None) -> int:
    """Time the stream and print images/s per run and their median."""
    args = _parse_args(argv)
    images, labels = _training_images(args.data_dir)
    ds = train_dataset(images, labels, args.batch_size, augment=not args.no_augment)
    it = iter(ds)
    for _ in range(_WARMUP_BATCHES):
        next(it)

    rates = []
    for run in range(1, args.runs + 1):
        start = time.perf_counter()
        for _ in range(args.batches):
            next(it)
        elapsed = time.perf_counter() - start
        rates.append(args.batches * args.batch_size / elapsed)
        print(f"run {run}: {rates[-1]:,.0f} images/s ({args.batches} batches in {elapsed:.2f} s)")
    print(
        f"median: {statistics.median(rates):,.0f} images/s "
        f"(batch {args.batch_size}, augment={not args.no_augment}, {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

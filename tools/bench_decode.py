"""Time JPEG-folder decoding and each ImageNet training augmentation, in images per second.

    python tools/bench_decode.py [--images 256] [--runs 3] [--batch-size 32] [--resnet-steps 3]

A temporary class-folder tree of ImageNet-sized JPEGs (500x375, the most common
ImageNet photo size) is written first: CIFAR-10 training images upscaled, with
Gaussian noise so the files carry about the detail of real photos (the mean file
size is printed; ImageNet's training JPEGs average about 110 kB), or random
smooth images when CIFAR-10 is absent. Each stage then runs over the tree:
decoding alone, and decoding + each augmentation through
`cnnzoo.pipelines.imagenet_augment.train_stream`, batched. Each run is one pass over
the tree after a warm-up pass; the median over runs is the figure to quote.

The issue's target is a pipeline at least 4x faster than ResNet-50 trains on the
same machine, so ResNet-50's training step (batch 32, 224x224, SGD) is timed
too when ``cnnzoo.build("resnet50")`` is available. Both are measured alone, one
after the other; in a real run they share the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines import cifar10
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.folder_source import folder_dataset, folder_epoch, list_image_folder
from cnnzoo.pipelines.imagenet_augment import INCEPTION_SIZE, make_augment, train_stream

_REPO = Path(__file__).resolve().parents[1]

_DEFAULT_DATA = _REPO.parent / "shared" / "data"
# 500x375 (landscape 4:3) is the most common size of ImageNet's photos.
WIDTH, HEIGHT = 500, 375
# fb.resnet.torch's published ImageNet PCA (eigenvalues in [0, 1] units); only the
# cost of the colour noise is timed here, so any plausible values do.
_PCA = (
    np.array([0.2175, 0.0188, 0.0045]),
    np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]),
)
STAGES = {
    "alexnet": lambda: make_augment("alexnet"),
    "alexnet+pca": lambda: make_augment("alexnet", pca=_PCA),
    "vgg-256-512": lambda: make_augment("vgg"),
    "resnet-256-480+pca": lambda: make_augment("resnet", pca=_PCA),
    "inception-224": lambda: make_augment("inception"),
    "inception-299": lambda: make_augment("inception", size=INCEPTION_SIZE),
}


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(cifar10.DATA_DIR_ENV) or str(_DEFAULT_DATA),
        help="directory containing cifar-10-batches-bin/ (source pictures for the JPEGs)",
    )
    parser.add_argument("--images", type=int, default=256, help="JPEGs in the temporary tree")
    parser.add_argument("--runs", type=int, default=3, help="timed passes per stage")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument(
        "--noise",
        type=float,
        default=20.0,
        help="noise std added, in levels (20 gives files of about ImageNet's mean size)",
    )
    parser.add_argument(
        "--resnet-steps", type=int, default=3, help="timed ResNet-50 training steps (0: skip)"
    )
    parser.add_argument("--stages", default=",".join(["decode", *STAGES]), help="comma list")
    return parser.parse_args(argv)


def _pictures(data_dir: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        images, labels = cifar10.load_split("train", data_dir)
        return images[:count], labels[:count]
    except DataError as err:
        print(f"notice: {err}\nnotice: using random smooth images instead of CIFAR-10")
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, size=(count, 8, 8, 3), dtype=np.uint8)
    return coarse, rng.integers(0, 10, size=count)


def write_jpeg_tree(root: Path, args) -> float:
    """Write the tree; returns the mean file size in kB."""
    pictures, labels = _pictures(args.data_dir, args.images)
    rng = np.random.default_rng(1)
    sizes = []
    for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        big = tf.image.resize(picture, [HEIGHT, WIDTH], method="bicubic").numpy()
        big = np.clip(big + rng.normal(0, args.noise, big.shape), 0, 255).astype(np.uint8)
        data = tf.io.encode_jpeg(big, quality=args.quality).numpy()
        path = root / f"class_{int(label)}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sizes.append(len(data))
    return float(np.mean(sizes)) / 1000


def _time(iterator, batches: int, batch_size: int) -> float:
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def time_stage(name: str, index, args) -> list[float]:
    """images/s of each run of one stage."""
    batches = len(index) // args.batch_size
    if name == "decode":
        # All the tree's images are 500x375, so decoded images batch as they are.
        ds = folder_dataset(index).batch(args.batch_size, drop_remainder=True).repeat()
    else:
        ds = train_stream(folder_epoch(index), STAGES[name](), args.batch_size)
    it = iter(ds)
    _time(it, batches, args.batch_size)  # warm-up: tracing, AUTOTUNE settling
    return [_time(it, batches, args.batch_size) for _ in range(args.runs)]


def time_resnet50(steps: int, batch_size: int) -> float | None:
    """ResNet-50 training images/s (median over steps), or None when it cannot be built."""
    try:
        import keras

        import cnnzoo

        model = cnnzoo.build("resnet50")
    except Exception as err:  # any failure here only means "no comparison"
        print(f"notice: ResNet-50 not timed ({type(err).__name__}: {err})")
        return None
    # He et al. 2016 §3.4: SGD with momentum 0.9, learning rate 0.1.
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(batch_size, 224, 224, 3)).astype(np.float32)
    y = rng.integers(0, 1000, size=batch_size)
    model.train_on_batch(x, y)  # warm-up: tracing and first allocation
    rates = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        rates.append(batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv=None) -> int:
    """Write the tree, time every stage and print images/s."""
    args = _parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s != "decode" and s not in STAGES]
    if unknown:
        print(f"error: unknown stage(s) {unknown}; known: decode, {', '.join(STAGES)}")
        return 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; batch {args.batch_size}")
    with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp:
        root = Path(tmp)
        mean_kb = write_jpeg_tree(root, args)
        index = list_image_folder(root)
        print(
            f"{len(index)} JPEGs of {WIDTH}x{HEIGHT} (quality {args.quality}, "
            f"mean {mean_kb:.0f} kB) in {index.num_classes} class folders"
        )
        medians = {}
        for name in stages:
            rates = time_stage(name, index, args)
            medians[name] = statistics.median(rates)
            runs = ", ".join(f"{r:,.0f}" for r in rates)
            print(f"{name:>22}: {medians[name]:8,.1f} images/s (median of {runs})")
    resnet = time_resnet50(args.resnet_steps, args.batch_size) if args.resnet_steps else None
    if resnet is None:
        print("ResNet-50 training throughput: not measured; decode figures only")
        return 0
    print(f"{'ResNet-50 training':>22}: {resnet:8,.1f} images/s (batch {args.batch_size})")
    slowest = min(v for k, v in medians.items() if k != "decode") if len(medians) > 1 else None
    if slowest is not None:
        verdict = "meets" if slowest >= 4 * resnet else "misses"
        print(
            f"slowest augmentation / ResNet-50 training = {slowest / resnet:.1f}x "
            f"({verdict} the 4x target)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compute a training set's mean, std, mean image and RGB PCA, and store them.

    python tools/compute_stats.py --folder ROOT --out stats.json [--pixel-mean-size 256]
    python tools/compute_stats.py --tfrecord '/data/train-*' --out stats.npz --max-images 50000
    python tools/compute_stats.py --cifar10 DIR --out cifar10_stats.json

One streaming pass (`cnnzoo.pipelines.stats.compute_stats`), so the data never
has to fit in memory. The file (.json or .npz) is what training (PCA colour
noise, mean subtraction), evaluation and export read with
`cnnzoo.pipelines.stats.load_stats`. Values are in [0, 1] units.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: make the repo's packages importable without installing.
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from cnnzoo.pipelines.errors import DataError  # noqa: E402
from cnnzoo.pipelines.folder_source import SkippedFiles, decode_files, list_image_folder  # noqa: E402
from cnnzoo.pipelines.seeds import epoch_order  # noqa: E402
from cnnzoo.pipelines.stats import compute_stats, save_stats  # noqa: E402


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="class-folder tree ROOT/<class>/<image>")
    source.add_argument("--tfrecord", help="TFRecord files: a glob, a directory")
    source.add_argument("--cifar10", help="directory holding the CIFAR-10 binary files")
    parser.add_argument("--out", required=True, help="the statistics file, .json or .npz")
    parser.add_argument(
        "--pixel-mean-size",
        type=int,
        default=None,
        help="compute the mean image at this size (shorter side resized, central square; "
        "256 for ImageNet as in AlexNet); default: the images' own size, which must be equal",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="use this many images: a random sample for --folder, the first ones otherwise",
    )
    parser.add_argument("--seed", type=int, default=0, help="which random sample (--folder)")
    parser.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="skip images that cannot be decoded (counted and named at the end)",
    )
    parser.add_argument(
        "--label-offset",
        type=int,
        default=1,
        help="--tfrecord: subtracted from stored labels (1 for the ImageNet convention)",
    )
    return parser.parse_args(argv)


def _folder_images(args, skipped: SkippedFiles):
    index = list_image_folder(args.folder)
    order = None
    if args.max_images is not None and args.max_images < len(index):
        # The first N files would be the first classes only; sample across all of them.
        order = epoch_order(len(index), args.seed, 0)[: args.max_images]
    ds = decode_files(
        index.paths, index.labels, order, skip_corrupt=args.skip_corrupt, skipped=skipped
    )
    return ds, f"{args.folder} ({len(index):,} images in {index.num_classes} classes)"


def _tfrecord_images(args, skipped: SkippedFiles):
    from cnnzoo.pipelines.tfrecord_source import tfrecord_dataset

    ds = tfrecord_dataset(
        args.tfrecord,
        label_offset=args.label_offset,
        skip_corrupt=args.skip_corrupt,
        skipped=skipped,
    )
    return ds, args.tfrecord


def _cifar10_images(args, skipped: SkippedFiles):
    from cnnzoo.pipelines import cifar10

    images, _ = cifar10.load_split("train", args.cifar10)
    return images, f"CIFAR-10 training set in {args.cifar10}"


# The source options (one of them is given) and the stream each one reads.
_SOURCES = {"folder": _folder_images, "tfrecord": _tfrecord_images, "cifar10": _cifar10_images}


def _source(args, skipped: SkippedFiles):
    """The stream of images to compute from, and a description of it."""
    (option,) = [name for name in _SOURCES if getattr(args, name)]
    return _SOURCES[option](args, skipped)


def main(argv=None) -> int:
    """Compute, store and print the statistics; 1 on a data error."""
    args = _parse_args(argv)
    if not args.out.endswith((".json", ".npz")):
        print(f"error: --out must end in .json or .npz, got {args.out}", file=sys.stderr)
        return 2
    skipped = SkippedFiles()
    start = time.perf_counter()
    try:
        source, description = _source(args, skipped)
        stats = compute_stats(
            source, pixel_mean_size=args.pixel_mean_size, max_images=args.max_images
        )
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except tf.errors.InvalidArgumentError as err:
        # The graph's message names the image; add what to do about it.
        print(f"error: {err.message}", file=sys.stderr)
        if "differ in size" in err.message:
            print("hint: pass --pixel-mean-size, e.g. 256 for ImageNet", file=sys.stderr)
        return 1
    path = save_stats(stats, args.out)
    elapsed = time.perf_counter() - start
    np.set_printoptions(precision=4, suppress=True)
    print(f"source: {description}")
    print(f"wrote {path}: {stats.images:,} images, {stats.pixels:,} pixels, {elapsed:.1f} s")
    print(f"channel mean {stats.channel_mean}, std {stats.channel_std} ([0, 1] units)")
    print(f"PCA eigenvalues {stats.eigval}; eigenvectors (columns):\n{stats.eigvec}")
    print(f"mean image {stats.pixel_mean.shape}")
    if args.skip_corrupt:
        print(skipped.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

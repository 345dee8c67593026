"""MNIST source: the official IDX files read with numpy, or tensorflow-datasets.

Both sources give the same layout: images uint8 (N, 28, 28, 1) in NHWC order and
labels int64 (N,). The local IDX files are preferred because they need no network
and load in about a second; tensorflow-datasets is the fallback.

The four files may be gzip-compressed as released (``*.gz``) or already unpacked;
either is accepted, and gzip is recognised by its content, not only by the name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
from cnnzoo.pipelines import releases
from cnnzoo.pipelines.errors import DataError

CLASS_NAMES = tuple(str(digit) for digit in range(10))
NUM_CLASSES = len(CLASS_NAMES)
MNIST_DIR = "mnist"
# The official file names (LeCun et al., http://yann.lecun.com/exdb/mnist/), without ".gz".
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
IMAGE_SIZE = 28

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the
# number of dimensions (the format description on the MNIST page).
IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dimension (N,)
_MAGIC_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_GZIP_MAGIC = b"\x1f\x8b"

_SPLIT_FILES = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}
# Where tensorflow-datasets downloads MNIST from.
DOWNLOAD_HOST = "storage.googleapis.com"


def _resolve(directory: Path, name: str) -> Path | None:
    """The file ``name`` in ``directory``, unpacked or as ``name.gz``; None if neither exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _holds_idx_files(directory: Path) -> bool:
    return any(_resolve(directory, name) is not None for name in FILES)


def _read_bytes(path: Path) -> bytes:
    """The file's contents, decompressed when it is gzip (by name or by content)."""
    raw = path.read_bytes()
    if not (path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        # BadGzipFile (an OSError) for a bad header, EOFError for a cut-off
        # stream, zlib.error for corrupt compressed data.
        raise DataError(f"{path}: not a valid gzip file ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file of unsigned bytes: MNIST images (magic 2051) or labels (2049).

    Args:
        path: the file, gzip-compressed or not.

    Returns:
        uint8 array whose shape is the file's dimensions: (N, rows, cols) for
        images, (N,) for labels. The array is writable (a copy of the file's data).

    Raises:
        DataError: the file is missing, is corrupt gzip, has an unknown magic
            number, or its length is not the header plus the product of its dimensions.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"MNIST file {path} does not exist")
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: expected a 4-byte IDX magic number, got a {len(data)}-byte file")
    magic = int.from_bytes(data[:4], "big")
    if magic not in _MAGIC_NDIM:
        raise DataError(
            f"{path}: expected IDX magic number {IMAGES_MAGIC} (uint8 images, 3 dimensions) "
            f"or {LABELS_MAGIC} (uint8 labels, 1 dimension), got {magic} (0x{magic:08x})"
        )
    ndim = _MAGIC_NDIM[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: magic {magic} announces {ndim} dimension(s), so a {header}-byte "
            f"header; got a {len(data)}-byte file"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in dims):
        raise DataError(f"{path}: expected non-negative dimensions, got {dims}")
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header
    if got != expected:
        shape = " x ".join(str(d) for d in dims)
        kind = "truncated" if got < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {kind}; dimensions {shape} need {expected:,} data bytes after the "
            f"{header}-byte header, got {got:,}"
        )
    # np.frombuffer on bytes is read-only; the copy makes the result an ordinary array.
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims).copy()


def load_split(split: str, data_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load one split from the local IDX files.

    Args:
        split: "train" or "test".
        data_dir: the MNIST directory, or a directory containing ``mnist/``.

    Returns:
        ``(images, labels)``: uint8 (N, 28, 28, 1) and int64 (N,); N is 60,000 or
        10,000 for the official files (any N the headers agree on is accepted).

    Raises:
        ValueError: unknown split.
        DataError: a file of the split is missing or malformed, the images are
            not 28x28, the two files disagree on N, or a label is outside 0-9.
    """
    RELEASE.check_split(split, _SPLIT_FILES)
    directory = find_local_dir(data_dir)
    names = _SPLIT_FILES[split]
    paths = [_resolve(directory, name) for name in names]
    missing = [name for name, path in zip(names, paths, strict=True) if path is None]
    if missing:
        raise DataError(
            f"MNIST directory {directory} is missing {', '.join(missing)} (with or without "
            f".gz); the {split} split needs {' and '.join(names)}"
        )
    images_path, labels_path = paths

    images = read_idx(images_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{images_path}: expected images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}) "
            f"(IDX magic {IMAGES_MAGIC}), got shape {images.shape}"
        )
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected labels of shape (N,) (IDX magic {LABELS_MAGIC}), "
            f"got shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"MNIST {split} split: {images_path} holds {len(images):,} images but "
            f"{labels_path} holds {len(labels):,} labels; expected the same number"
        )
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"{labels_path}: label {first} is {int(labels[first])}, expected 0-"
            f"{NUM_CLASSES - 1} ({bad.size} bad label(s) in all)"
        )
    return images[..., np.newaxis], labels.astype(np.int64)


RELEASE = releases.Release(
    name="MNIST",
    folder=MNIST_DIR,
    files="MNIST IDX files",
    expected=f"{', '.join(FILES)} (each either gzip-compressed as released, with .gz, or unpacked)",
    holds=_holds_idx_files,
    read_split=load_split,
    tfds_name="mnist",
    download_host=DOWNLOAD_HOST,
)
# The shared ways (`cnnzoo.pipelines.releases.Release`) to find the files and to load
# both splits, local files first and tensorflow-datasets otherwise.
find_local_dir = RELEASE.find_local_dir
load_mnist = RELEASE.load

"""CIFAR-10 source: the official binary files read with numpy, or tensorflow-datasets.

Both sources give the same layout: images uint8 (N, 32, 32, 3) in NHWC order and
labels int64 (N,). The local binary release is preferred because it needs no
network and loads in well under a second; tensorflow-datasets is the fallback.

Only the binary version of the official release is read. The Python version is a
set of pickles, and unpickling a file runs whatever code it holds, so it is
refused with a pointer to the binary version instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from cnnzoo.pipelines import releases
from cnnzoo.pipelines.errors import DataError

# The class order of the official release (batches.meta.txt).
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
BATCHES_DIR = "cifar-10-batches-bin"
# One label byte, then the 32x32 red, green and blue planes (the release's readme).
IMAGE_SIZE = 32
CHANNELS = 3
RECORD_BYTES = 1 + IMAGE_SIZE * IMAGE_SIZE * CHANNELS  # 3073
IMAGES_PER_FILE = 10000
NUM_CLASSES = len(CLASS_NAMES)

BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# Where tensorflow-datasets downloads CIFAR-10 from.
DOWNLOAD_HOST = "www.cs.toronto.edu"
# The variable the tools read the default data root from, as every reader does.
DATA_DIR_ENV = releases.DATA_DIR_ENV
_SPLIT_FILES = {"train": TRAIN_FILES, "test": TEST_FILES}


def _holds_binary_files(directory: Path) -> bool:
    return any((directory / name).is_file() for name in TRAIN_FILES + TEST_FILES)


def _holds_pickle_version(directory: Path) -> bool:
    return (directory / "cifar-10-batches-py").is_dir() or (directory / "data_batch_1").is_file()


def _refuse_pickles(root: Path) -> None:
    for candidate in (root, root / BATCHES_DIR):
        if candidate.is_dir() and _holds_pickle_version(candidate):
            raise DataError(
                f"{candidate} holds the Python (pickle) version of CIFAR-10, which is not "
                f"read (unpickling can run arbitrary code); expected the binary version "
                f"({BATCHES_DIR}/ with {TRAIN_FILES[0]} ... {TEST_FILES[0]}), "
                f"from {BINARY_URL}"
            )


def read_binary_file(
    path: str | os.PathLike, num_records: int | None = IMAGES_PER_FILE
) -> tuple[np.ndarray, np.ndarray]:
    """Read one file of the CIFAR-10 binary release.

    Args:
        path: a ``data_batch_*.bin`` or ``test_batch.bin`` file.
        num_records: the number of records the file must hold (10,000 in every
            official file); None accepts any whole number of records.

    Returns:
        ``(images, labels)``: uint8 array (N, 32, 32, 3) in NHWC order and int64 array (N,).

    Raises:
        DataError: the file is missing, its size is not the expected number of
            3,073-byte records, or a label is outside 0-9.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CIFAR-10 file {path} does not exist")
    size = path.stat().st_size
    if num_records is not None and size != num_records * RECORD_BYTES:
        raise DataError(
            f"{path}: expected {num_records * RECORD_BYTES:,} bytes "
            f"({num_records:,} records of {RECORD_BYTES} bytes), got {size:,} bytes"
        )
    if size == 0 or size % RECORD_BYTES:
        raise DataError(
            f"{path}: expected a positive multiple of {RECORD_BYTES} bytes "
            f"(records of one label byte and 32x32x3 pixels), got {size:,} bytes"
        )

    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"{path}: record {first} has label {int(labels[first])}, expected 0-"
            f"{NUM_CLASSES - 1} ({bad.size} bad record(s) in all)"
        )
    # Each record stores the channels as planes (CHW); models take NHWC.
    planes = records[:, 1:].reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    images = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    return images, labels


def load_split(split: str, data_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load one split from the local binary files.

    Args:
        split: "train" (batches 1 to 5, concatenated in order) or "test".
        data_dir: the batches directory, or a directory containing ``cifar-10-batches-bin/``.

    Returns:
        ``(images, labels)``: uint8 (N, 32, 32, 3) and int64 (N,); N is 50,000 or 10,000.

    Raises:
        ValueError: unknown split.
        DataError: a file of the split is missing or malformed.
    """
    RELEASE.check_split(split, _SPLIT_FILES)
    directory = find_local_dir(data_dir)
    names = _SPLIT_FILES[split]
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 directory {directory} is missing {', '.join(missing)}; "
            f"the {split} split needs {', '.join(names)}"
        )
    parts = [read_binary_file(directory / name) for name in names]
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


RELEASE = releases.Release(
    name="CIFAR-10",
    folder=BATCHES_DIR,
    files="CIFAR-10 binary files",
    expected=f"{', '.join(TRAIN_FILES)} and {TEST_FILES[0]} (from {BINARY_URL})",
    holds=_holds_binary_files,
    read_split=load_split,
    tfds_name="cifar10",
    download_host=DOWNLOAD_HOST,
    refuse=_refuse_pickles,
)
# The shared ways (`cnnzoo.pipelines.releases.Release`) to find the files and to load
# both splits, local files first and tensorflow-datasets otherwise.
find_local_dir = RELEASE.find_local_dir
load_cifar10 = RELEASE.load

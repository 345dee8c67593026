"""The benchmark's data: the inference rows' images, and a synthetic CIFAR-10's files.

The ``fit`` contender without ``--data-dir`` trains on a synthetic CIFAR-10 written
in the official binary format, through the same path as on the real files
(`cnnzoo.pipelines.cifar10`'s reader, the recipe's dataset "cifar10"), so nothing
in the product is replaced to time it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# CIFAR-10's sizes (its readme): 50,000 training and 10,000 test images, so the
# he2016_cifar recipe's 45k/5k split and 351-step epoch are CIFAR's.
TRAIN_IMAGES = 50_000
TEST_IMAGES = 10_000


def write_cifar10_binary(directory: Path, train, test) -> Path:
    """Write (images, labels) splits as ``cifar-10-batches-bin/`` under `directory`.

    Args:
        directory: where ``cifar-10-batches-bin/`` is created.
        train: uint8 images (N, 32, 32, 3) and labels 0-9, N divisible by the
            number of training files (5); each file gets an equal share.
        test: the same for ``test_batch.bin``.

    Returns:
        `directory`, the value to pass as a data directory.
    """
    from cnnzoo.pipelines import cifar10

    out = Path(directory) / cifar10.BATCHES_DIR
    out.mkdir(parents=True, exist_ok=True)
    for names, (images, labels) in ((cifar10.TRAIN_FILES, train), (cifar10.TEST_FILES, test)):
        for name, part in zip(
            names, np.array_split(np.arange(len(images)), len(names)), strict=True
        ):
            (out / name).write_bytes(_records(images[part], labels[part]))
    return Path(directory)


def _records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """3,073-byte records: the label byte, then the red, green and blue 32x32 planes."""
    planes = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


def write_synthetic_cifar10(directory: Path) -> Path:
    """Write `cnnzoo.pipelines.sources.fake_dataset`'s images at CIFAR-10's sizes.

    Returns:
        `directory`, holding ``cifar-10-batches-bin/`` with the six official files.
    """
    from cnnzoo.pipelines.sources import fake_dataset

    data = fake_dataset(train_size=TRAIN_IMAGES, test_size=TEST_IMAGES)
    return write_cifar10_binary(directory, data.train, data.test)


def infer_images(config: dict):
    """uint8 (N, 32, 32, 3) images and int labels: CIFAR-10's test split, or random."""
    n = config["infer_batch_size"] * config["infer_batches"]
    if config.get("data_dir"):
        from cnnzoo.pipelines.sources import load_dataset

        images, labels = load_dataset("cifar10", config["data_dir"]).test
        reps = -(-n // len(images))
        return np.concatenate([images] * reps)[:n], np.concatenate([labels] * reps)[:n]
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, n).astype(np.int64),
    )

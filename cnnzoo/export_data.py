"""The images an export is checked and calibrated with: the model's own dataset, as uint8.

An export takes raw uint8 images (`cnnzoo.export`), so the images that verify it
(its dataset's test split) and the representative dataset of an int8 LiteRT
export (its dataset's training split, the images its training pipeline reads)
are the dataset's decoded pixels, untouched: the preprocessing is inside the
model. Only in-memory datasets (`cnnzoo.pipelines.sources.DATASETS`) are read
here; for the others the error says what to pass instead.
"""

from __future__ import annotations

import numpy as np

# The seed of the calibration sample, so that two int8 exports of one model are the same.
CALIBRATION_SEED = 0


def _dataset(metadata: dict, data_dir: str | None, needed_for: str, instead: str):
    """The model's in-memory dataset (`load_dataset`), or an error saying what to pass instead."""
    from cnnzoo.pipelines.sources import DATASETS, load_dataset

    name = metadata.get("dataset")
    if name not in DATASETS:
        raise ValueError(
            f"{needed_for} reads the images of the model's dataset, and the model's metadata "
            f"names {name!r}, not one of {', '.join(DATASETS)}; {instead}"
        )
    return load_dataset(name, data_dir)


def _checked(images: np.ndarray, image_shape, what: str) -> np.ndarray:
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{what} have shape {tuple(images.shape[1:])}, the export takes {tuple(image_shape)}"
        )
    return np.ascontiguousarray(images, dtype=np.uint8)


def verification_images(
    metadata: dict, image_shape, count: int, data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The first `count` test images of the model's dataset, their labels, a phrase naming them.

    Args:
        metadata: the model's metadata (its ``dataset`` is read).
        image_shape: (H, W, C) of the export's input.
        count: how many images.
        data_dir: the dataset's files (`cnnzoo.pipelines.sources.load_dataset`).

    Returns:
        (uint8 (count, H, W, C) images, int64 (count,) labels, e.g. "256 cifar10 test images").
    """
    data = _dataset(
        metadata,
        data_dir,
        "verification",
        "pass --verify-data random to check on random images, or none to skip the check",
    )
    images = _checked(data.test[0][:count], image_shape, f"{data.name} test images")
    return images, data.test[1][:count], f"{len(images)} {data.name} test images"


def random_images(image_shape, count: int, seed: int = 0) -> tuple[np.ndarray, None, str]:
    """`count` uniform random uint8 images, no labels (for a model whose dataset is not at hand)."""
    images = np.random.default_rng(seed).integers(0, 256, (count, *image_shape), dtype=np.uint8)
    return images, None, f"{count} random images (seed {seed})"


def calibration_images(
    metadata: dict, image_shape, count: int, data_dir: str | None = None
) -> np.ndarray:
    """`count` training images of the model's dataset, a seeded sample across the split.

    The representative dataset of an int8 export: the quantization ranges are
    measured on what the model saw in training, spread over the whole split
    rather than its first files (which some releases sort by class).

    Args:
        metadata: the model's metadata (its ``dataset`` is read).
        image_shape: (H, W, C) of the export's input.
        count: how many images (at most the training split's size).
        data_dir: the dataset's files.

    Returns:
        uint8 (count, H, W, C) images.
    """
    data = _dataset(
        metadata,
        data_dir,
        "int8 calibration",
        "export a float LiteRT model (no --quantize, or --quantize float16) instead",
    )
    train = data.train[0]
    pick = np.random.default_rng(CALIBRATION_SEED).permutation(len(train))[:count]
    return _checked(train[np.sort(pick)], image_shape, f"{data.name} training images")

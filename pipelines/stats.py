"""Dataset statistics for the normalization and colour noise a recipe asks for.

The statistics are computed here, from the training images, and handed to the
model (which does the normalization) or to the augmentation (AlexNet's PCA colour
noise); pipelines themselves never normalize. Images are uint8 in [0, 255];
results are in [0, 1] units.

- In-memory arrays (CIFAR-10, MNIST): `per_pixel_mean`, `channel_mean_std`,
  `per_pixel_mean_std`. Sums run over chunks in float64, so memory stays at one
  chunk and 50,000-image sums stay exact enough.
- Streams of images of any size (ImageNet): `compute_stats` gives the per-channel
  mean and std, the RGB covariance's eigen-decomposition and the mean image in one
  pass, so the data never has to fit in memory; `save_stats` and `load_stats`
  store them for training, evaluation and export to share.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.views import center_crop, resize_shorter

# 4,096 CIFAR-sized images are 12 MB as uint8 and 100 MB as float64.
_CHUNK = 4096
_SCALE = 255.0


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W, C) image array, got shape {images.shape}")
    return images


def per_pixel_mean(images: np.ndarray, chunk_size: int = _CHUNK) -> np.ndarray:
    """The mean image: the per-pixel mean that He et al. 2016 (§4.2) subtract.

    Args:
        images: (N, H, W, C) array with pixel values in [0, 255].
        chunk_size: images summed at a time.

    Returns:
        float32 array (H, W, C), pixels scaled to [0, 1].
    """
    images = _check(images)
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), chunk_size):
        total += images[start : start + chunk_size].sum(axis=0, dtype=np.float64)
    return (total / (len(images) * _SCALE)).astype(np.float32)


def channel_mean_std(images: np.ndarray, chunk_size: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) standard deviation over all pixels.

    Args:
        images: (N, H, W, C) array with pixel values in [0, 255].
        chunk_size: images summed at a time.

    Returns:
        ``(mean, std)``: two float32 arrays (C,), in [0, 1] units. For the
        CIFAR-10 training set: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
    """
    images = _check(images)
    return _mean_std(images, images.shape[-1:], chunk_size)


def per_pixel_mean_std(
    images: np.ndarray, chunk_size: int = _CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation of every input dimension (pixel and channel).

    What W. Wu's 2016 thesis §2.1 standardizes with: "subtract from each dimension
    of the training data its mean and divide by its standard deviation".

    Args:
        images: (N, H, W, C) array with pixel values in [0, 255].
        chunk_size: images summed at a time.

    Returns:
        ``(mean, std)``: two float32 arrays (H, W, C), in [0, 1] units.
    """
    images = _check(images)
    return _mean_std(images, images.shape[1:], chunk_size)


def _mean_std(images: np.ndarray, shape: tuple[int, ...], chunk_size: int):
    """Mean and std over every axis but the trailing `shape` ones, summed in float64 chunks."""
    total = np.zeros(shape, dtype=np.float64)
    total_sq = np.zeros(shape, dtype=np.float64)
    for start in range(0, len(images), chunk_size):
        chunk = images[start : start + chunk_size].reshape(-1, *shape).astype(np.float64)
        total += chunk.sum(axis=0)
        total_sq += np.square(chunk).sum(axis=0)
    count = images.size // int(np.prod(shape))
    mean = total / count
    # E[x^2] - E[x]^2 is safe in float64 for 8-bit values (no catastrophic cancellation).
    var = np.maximum(total_sq / count - np.square(mean), 0.0)
    return (mean / _SCALE).astype(np.float32), (np.sqrt(var) / _SCALE).astype(np.float32)


# ---- statistics of a stream -------------------------------------------------------------

STATS_FORMAT = "cnnzoo.image_stats/1"


# eq=False: fields are arrays, whose == is elementwise; compare fields with numpy.
@dataclasses.dataclass(frozen=True, eq=False)
class ImageStats:
    """Training-set statistics, pixel values scaled to [0, 1].

    Attributes:
        images: images the statistics were computed from.
        pixels: pixels (per channel) they hold.
        channel_mean: float32 (3,) mean of each channel over all pixels.
        channel_std: float32 (3,) population standard deviation of each channel.
        eigval: float32 (3,) eigenvalues of the RGB covariance, largest first.
        eigvec: float32 (3, 3) the matching unit eigenvectors, as columns.
        pixel_mean: float32 (H, W, 3) mean image, or None when not computed.
    """

    images: int
    pixels: int
    channel_mean: np.ndarray
    channel_std: np.ndarray
    eigval: np.ndarray
    eigvec: np.ndarray
    pixel_mean: np.ndarray | None = dataclasses.field(default=None, repr=False)


def _image_stream(source) -> tf.data.Dataset:
    """Unbatched images from an (N, H, W, 3) array or a dataset of images or tuples."""
    if isinstance(source, tf.data.Dataset):
        spec = source.element_spec
        if isinstance(spec, tuple):
            return source.map(lambda *parts: parts[0])
        if isinstance(spec, dict):
            raise ValueError("expected a dataset of images or (image, label) tuples, got dicts")
        return source
    images = _check(source)
    # Captured as one tensor and gathered per image, not embedded as a graph constant.
    tensor = tf.convert_to_tensor(images)
    return tf.data.Dataset.range(len(images)).map(lambda i: tf.gather(tensor, i))


def _mean_image_part(pixel_mean_size: int | None, first_size) -> Callable:
    """``(index, image) -> float32 image`` added into the mean image."""
    if pixel_mean_size is not None:
        # AlexNet's 256x256 preprocessing (§2): shorter side resized, central square.
        return lambda index, image: center_crop(
            resize_shorter(image, pixel_mean_size), pixel_mean_size
        )
    mean_shape = tf.constant(first_size, tf.int32)

    def same_size(index, image):
        check = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(image)[:2], mean_shape)),
            [
                "images differ in size (pass pixel_mean_size); image index, its size, "
                "and the first image's size:",
                index,
                tf.shape(image)[:2],
                mean_shape,
            ],
        )
        with tf.control_dependencies([check]):
            return tf.cast(image, tf.float32)

    return same_size


def _sums(ds: tf.data.Dataset, mean_part, batch_size: int):
    """Pixel sums, sums of RGB products, pixel and image counts and the mean image's sum."""

    def per_image(index, image):
        pixels = tf.reshape(tf.cast(image, tf.float64), [-1, 3])
        sums = tf.reduce_sum(pixels, axis=0)
        products = tf.matmul(pixels, pixels, transpose_a=True)
        count = tf.cast(tf.shape(pixels)[0], tf.float64)
        return sums, products, count, mean_part(index, image)

    ds = ds.enumerate().map(per_image, num_parallel_calls=tf.data.AUTOTUNE)
    total, total_products, pixels, images, mean_sum = np.zeros(3), np.zeros((3, 3)), 0.0, 0, None
    for sums, products, counts, means in ds.batch(batch_size).prefetch(2).as_numpy_iterator():
        total += sums.sum(axis=0)
        total_products += products.sum(axis=0)
        pixels += counts.sum()
        images += len(counts)
        part = means.sum(axis=0, dtype=np.float64)
        mean_sum = part if mean_sum is None else mean_sum + part
    return total, total_products, pixels, images, mean_sum


def _finish(total, total_products, pixels, images, mean_sum) -> ImageStats:
    """The statistics from the sums: moments, and the covariance's eigen-decomposition."""
    mean = total / pixels
    covariance = total_products / pixels - np.outer(mean, mean)
    eigval, eigvec = np.linalg.eigh(covariance / _SCALE**2)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = np.maximum(eigval[order], 0.0), eigvec[:, order]
    # eigh's signs are arbitrary; fix them so a stored file does not depend on LAPACK.
    eigvec = eigvec * np.where(eigvec.sum(axis=0) < 0, -1.0, 1.0)
    return ImageStats(
        images=images,
        pixels=int(pixels),
        channel_mean=(mean / _SCALE).astype(np.float32),
        channel_std=(np.sqrt(np.maximum(np.diag(covariance), 0.0)) / _SCALE).astype(np.float32),
        eigval=eigval.astype(np.float32),
        eigvec=eigvec.astype(np.float32),
        pixel_mean=(mean_sum / (images * _SCALE)).astype(np.float32),
    )


def compute_stats(
    source,
    *,
    pixel_mean_size: int | None = None,
    max_images: int | None = None,
    batch_size: int = 32,
) -> ImageStats:
    """Per-channel mean and std, RGB PCA and mean image, in one pass over a stream.

    Every pixel of every image counts once (the pixel-level statistics AlexNet's
    PCA is defined on). Per-image sums are exact in float64 and accumulated in
    float64, so memory holds one batch, never the dataset.

    Args:
        source: uint8 (N, H, W, 3) array, or a ``tf.data.Dataset`` of unbatched
            images (H, W, 3) or ``(image, label, ...)`` tuples; sizes may differ.
        pixel_mean_size: compute the mean image at this size: each image's shorter
            side resized to it and the central square taken (AlexNet's 256x256
            preprocessing, §2). None computes it at the images' own size, which
            must then be the same for all.
        max_images: use only the first this many images (shuffle the source first
            for a fair sample).
        batch_size: images reduced per step.

    Returns:
        `ImageStats`.

    Raises:
        ValueError: an empty source, or images without 3 channels.
        tf.errors.InvalidArgumentError: with ``pixel_mean_size=None``, images of
            different sizes (the message names the image index and both sizes).
    """
    ds = _image_stream(source)
    if max_images is not None:
        ds = ds.take(max_images)
    first = next(iter(ds), None)
    if first is None:
        raise ValueError("no images to compute statistics from")
    if first.shape.rank != 3 or first.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) images, got shape {tuple(first.shape)}")
    mean_part = _mean_image_part(pixel_mean_size, first.shape[:2])
    return _finish(*_sums(ds, mean_part, batch_size))


def _as_dict(stats: ImageStats) -> dict:
    return {
        "format": STATS_FORMAT,
        "units": "pixel values scaled to [0, 1]",
        "images": stats.images,
        "pixels": stats.pixels,
        "channel_mean": stats.channel_mean,
        "channel_std": stats.channel_std,
        "pca_eigval": stats.eigval,
        "pca_eigvec": stats.eigvec,
        "pixel_mean": stats.pixel_mean,
    }


def save_stats(stats: ImageStats, path: str | os.PathLike) -> Path:
    """Store statistics as ``.json`` (readable; float32 values round-trip exactly) or ``.npz``.

    Args:
        stats: from `compute_stats`.
        path: ``*.json`` or ``*.npz``.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    fields = _as_dict(stats)
    if path.suffix == ".npz":
        arrays = {k: np.asarray(v) for k, v in fields.items() if v is not None}
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif path.suffix == ".json":
        # float32 -> Python float is exact, and reading back as float32 restores the value.
        plain = {
            k: (np.asarray(v, dtype=np.float64).tolist() if isinstance(v, np.ndarray) else v)
            for k, v in fields.items()
        }
        path.write_text(json.dumps(plain) + "\n")
    else:
        raise ValueError(f"statistics file must end in .json or .npz, got {path}")
    return path


_SHAPES = {
    "channel_mean": (3,),
    "channel_std": (3,),
    "pca_eigval": (3,),
    "pca_eigvec": (3, 3),
}


def _read_fields(path: Path) -> dict:
    """The fields of a statistics file, after checking it is one of this format."""
    if not path.is_file():
        raise DataError(f"statistics file {path} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                fields = {k: data[k] for k in data.files}
            fields = {k: (v.item() if v.ndim == 0 else v) for k, v in fields.items()}
        else:
            fields = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot be read as a statistics file ({err})") from err
    if not isinstance(fields, dict) or fields.get("format") != STATS_FORMAT:
        got = fields.get("format") if isinstance(fields, dict) else type(fields).__name__
        raise DataError(f"{path}: field 'format': expected {STATS_FORMAT!r}, got {got!r}")
    return fields


def load_stats(path: str | os.PathLike) -> ImageStats:
    """Read statistics written by `save_stats`.

    Args:
        path: a ``.json`` or ``.npz`` file.

    Returns:
        `ImageStats`.

    Raises:
        DataError: the file is missing, not of this format, or a field is missing
            or of the wrong shape (file, field, expected and found named).
    """
    path = Path(path)
    fields = _read_fields(path)
    arrays = {}
    for key, shape in _SHAPES.items():
        if key not in fields:
            raise DataError(f"{path}: missing field {key!r} (expected shape {shape})")
        value = np.asarray(fields[key], dtype=np.float32)
        if value.shape != shape:
            raise DataError(f"{path}: field {key!r}: expected shape {shape}, got {value.shape}")
        arrays[key] = value
    pixel_mean = fields.get("pixel_mean")
    if pixel_mean is not None:
        pixel_mean = np.asarray(pixel_mean, dtype=np.float32)
        if pixel_mean.ndim != 3 or pixel_mean.shape[-1] != 3:
            raise DataError(
                f"{path}: field 'pixel_mean': expected shape (H, W, 3), got {pixel_mean.shape}"
            )
    return ImageStats(
        images=int(fields.get("images", 0)),
        pixels=int(fields.get("pixels", 0)),
        channel_mean=arrays["channel_mean"],
        channel_std=arrays["channel_std"],
        eigval=arrays["pca_eigval"],
        eigvec=arrays["pca_eigvec"],
        pixel_mean=pixel_mean,
    )

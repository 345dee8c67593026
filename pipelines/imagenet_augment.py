"""ImageNet training augmentation from the papers, and the statistics it needs.

Augmentations take one decoded image (uint8 (H, W, 3), any size) and a stateless
seed (int tensor [2]) and return a float32 (size, size, 3) crop with raw pixel
values (in [0, 255] before PCA colour noise, which may step slightly outside):

- `alexnet_train`: shorter side 256, central 256 square, random 224 crop, flip
  (Krizhevsky et al. 2012 §2, §4.1).
- `scale_jitter`: shorter side S drawn per image, random 224 crop, flip; VGG's
  S in [256, 512] (Simonyan & Zisserman 2015 §3.1), ResNet's [256, 480] (He et al. 2016 §3.4).
- `random_resized_crop`: 8-100% of the area, aspect ratio 3/4-4/3, resized to
  224 or 299, flip (Szegedy et al. 2015 §6).
- `pca_lighting`: AlexNet's colour noise along the RGB principal components (§4.1).

`train_stream` turns an epoch source (`cnnzoo.pipelines.folder_source.folder_epoch`,
`cnnzoo.pipelines.tfrecord_source.tfrecord_epoch`,
`cnnzoo.pipelines.imagenet_source.imagenet_epoch`)
into the batched training stream. Every random draw comes from stateless ops
seeded by (seed, epoch, position in the epoch), as in `cnnzoo.pipelines.datasets`, so a
run is reproducible and resumes exactly at an epoch boundary.

The statistics (per-channel mean and std, per-pixel mean image, RGB covariance
eigen-decomposition) are computed in one pass over a stream by `compute_stats`,
so the data never has to fit in memory, and stored by `save_stats` for training,
evaluation and export to share. Like `cnnzoo.pipelines.stats`, they are in [0, 1] units.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.errors import DataError

# Krizhevsky et al. 2012 §2: images rescaled so the shorter side is 256, central
# 256x256 patch; §4.1: random 224x224 patches and their horizontal reflections.
ALEXNET_SIDE = 256
CROP_SIZE = 224
# Krizhevsky et al. 2012 §4.1: alpha ~ N(0, 0.1) per image and principal component.
PCA_STD = 0.1
# Simonyan & Zisserman 2015 §3.1 (multi-scale training): S in [S_min, S_max] = [256, 512].
VGG_SCALES = (256, 512)
# He et al. 2016 §3.4: "shorter side randomly sampled in [256, 480]".
RESNET_SCALES = (256, 480)
# Szegedy et al. 2015 §6: patches of 8%-100% of the image area, aspect ratio in [3/4, 4/3].
INCEPTION_AREA = (0.08, 1.0)
INCEPTION_RATIO = (3 / 4, 4 / 3)
# 299x299 input: Szegedy et al. 2016 (Inception-v3) Table 1; Szegedy et al. 2017
# (Inception-v4) Fig. 9.
INCEPTION_SIZE = 299
# Tries before random_resized_crop falls back to a centre crop (torchvision's choice;
# the paper gives no number).
CROP_ATTEMPTS = 10
# Mixed into the seed so augmentation draws never reuse the shuffle's random stream,
# the same constant as cnnzoo.pipelines.datasets.
_AUGMENT_STREAM = 1
_SCALE = 255.0

Augment = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def _hw(image) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.shape(image)
    return shape[0], shape[1]


def resize_shorter_side(image, side) -> tf.Tensor:
    """Resize so the shorter side is ``side``, keeping the aspect ratio.

    Bilinear with antialiasing, so downscaling a large photo averages its pixels
    instead of skipping them (what PIL and torchvision do). Size and resampling are
    those of the evaluation views (`cnnzoo.pipelines.views.shorter_side_size` and
    ``resize_shorter``), so training and evaluation see images resized alike.

    Args:
        image: (H, W, C) tensor, any dtype.
        side: int or int32 scalar tensor.

    Returns:
        float32 (H', W', C) with min(H', W') == side; the longer side is
        ``round(long * side / short)``, halves rounded up, computed in integers.
    """
    height, width = _hw(image)
    side = tf.cast(side, tf.int32)
    portrait = height > width
    new_h = tf.where(portrait, (2 * height * side + width) // (2 * width), side)
    new_w = tf.where(portrait, side, (2 * width * side + height) // (2 * height))
    return tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear", antialias=True)


def center_crop(image, size: int) -> tf.Tensor:
    """The central ``size`` x ``size`` window (offsets rounded down).

    Args:
        image: (H, W, C) tensor with H, W >= size.
        size: the window's side.

    Returns:
        (size, size, C) tensor of the input's dtype.
    """
    height, width = _hw(image)
    top = (height - size) // 2
    left = (width - size) // 2
    return image[top : top + size, left : left + size, :]


def random_crop_flip(image, seed, size: int = CROP_SIZE, flip: bool = True) -> tf.Tensor:
    """A uniformly placed ``size`` x ``size`` window, mirrored with probability 0.5.

    Args:
        image: (H, W, C) tensor with H, W >= size.
        seed: int tensor [2].
        size: the window's side.
        flip: whether to mirror half of the crops.

    Returns:
        (size, size, C) tensor of the input's dtype.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    channels = tf.shape(image)[2]
    out = tf.image.stateless_random_crop(image, tf.stack([size, size, channels]), crop_seed)
    if flip:
        out = tf.image.stateless_random_flip_left_right(out, flip_seed)
    return out


def alexnet_train(
    image,
    seed,
    *,
    size: int = CROP_SIZE,
    side: int = ALEXNET_SIDE,
    central_square: bool = True,
) -> tf.Tensor:
    """AlexNet's training crop (Krizhevsky et al. 2012 §2, §4.1).

    Shorter side to 256, then (as the paper does) the central 256x256 square, then
    a random 224x224 crop, mirrored half the time.

    Args:
        image: (H, W, 3) tensor.
        seed: int tensor [2].
        size: crop side.
        side: the shorter side after resizing.
        central_square: cut the central side x side square first (the paper);
            False crops from the whole resized image.

    Returns:
        float32 (size, size, 3).
    """
    x = resize_shorter_side(image, side)
    if central_square:
        x = center_crop(x, side)
    return random_crop_flip(x, seed, size)


def scale_jitter(
    image,
    seed,
    *,
    scales: tuple[int, int] = VGG_SCALES,
    size: int = CROP_SIZE,
    flip: bool = True,
) -> tf.Tensor:
    """Scale jittering: shorter side S ~ U{scales[0], ..., scales[1]}, random crop, flip.

    VGG's S in [256, 512] (Simonyan & Zisserman 2015 §3.1) is the default; pass
    `RESNET_SCALES` for He et al. 2016 §3.4.

    Args:
        image: (H, W, 3) tensor.
        seed: int tensor [2].
        scales: inclusive range of the shorter side.
        size: crop side (must not exceed scales[0]).
        flip: whether to mirror half of the crops.

    Returns:
        float32 (size, size, 3).
    """
    low, high = scales
    if not size <= low <= high:
        raise ValueError(f"expected crop size {size} <= scales[0] <= scales[1], got {scales}")
    scale_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    side = tf.random.stateless_uniform([], scale_seed, minval=low, maxval=high + 1, dtype=tf.int32)
    return random_crop_flip(resize_shorter_side(image, side), crop_seed, size, flip)


def random_resized_crop(
    image,
    seed,
    *,
    size: int = CROP_SIZE,
    area: tuple[float, float] = INCEPTION_AREA,
    ratio: tuple[float, float] = INCEPTION_RATIO,
    attempts: int = CROP_ATTEMPTS,
    flip: bool = True,
) -> tf.Tensor:
    """Inception's random-resized crop (Szegedy et al. 2015 §6), resized to ``size``.

    The crop's area is uniform over ``area`` (fractions of the image, "distributed
    evenly" in the paper) and its aspect ratio (width / height) log-uniform over
    ``ratio``, so wide and tall crops are equally likely. Up to ``attempts``
    draws are made at once and the first that fits is used; if none fits, the
    largest centred crop with the ratio clamped into ``ratio`` is taken.

    Args:
        image: (H, W, 3) tensor.
        seed: int tensor [2].
        size: output side (224, or `INCEPTION_SIZE` for Inception-v3/v4).
        area: range of the crop's area as a fraction of the image's.
        ratio: range of the crop's width / height.
        attempts: draws before falling back.
        flip: whether to mirror half of the crops.

    Returns:
        float32 (size, size, 3).
    """
    area_seed, ratio_seed, pos_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=4)
    )
    height, width = _hw(image)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    target = h * w * tf.random.stateless_uniform([attempts], area_seed, area[0], area[1])
    log_ratio = tf.random.stateless_uniform(
        [attempts], ratio_seed, math.log(ratio[0]), math.log(ratio[1])
    )
    aspect = tf.exp(log_ratio)
    crop_w = tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32)
    crop_h = tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32)
    fits = (crop_w > 0) & (crop_h > 0) & (crop_w <= width) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

    # Fallback: the whole image, narrowed to the nearest allowed aspect ratio.
    image_ratio = w / h
    fallback_w = tf.where(image_ratio > ratio[1], tf.cast(tf.round(h * ratio[1]), tf.int32), width)
    fallback_h = tf.where(image_ratio < ratio[0], tf.cast(tf.round(w / ratio[0]), tf.int32), height)
    found = tf.reduce_any(fits)
    ch = tf.where(found, crop_h[first], fallback_h)
    cw = tf.where(found, crop_w[first], fallback_w)
    # Positions uniform over the valid offsets when drawn, centred for the fallback.
    u = tf.random.stateless_uniform([2], pos_seed)
    top = tf.where(
        found,
        tf.cast(tf.floor(u[0] * tf.cast(height - ch + 1, tf.float32)), tf.int32),
        (height - ch) // 2,
    )
    left = tf.where(
        found,
        tf.cast(tf.floor(u[1] * tf.cast(width - cw + 1, tf.float32)), tf.int32),
        (width - cw) // 2,
    )
    # u < 1 always, but float rounding must never push an offset past the last valid one.
    top = tf.minimum(top, height - ch)
    left = tf.minimum(left, width - cw)
    crop = image[top : top + ch, left : left + cw, :]
    out = tf.image.resize(crop, [size, size], method="bilinear", antialias=True)
    if flip:
        out = tf.image.stateless_random_flip_left_right(out, flip_seed)
    return out


def pca_lighting(image, seed, eigval, eigvec, *, std: float = PCA_STD) -> tf.Tensor:
    """AlexNet's colour augmentation (Krizhevsky et al. 2012 §4.1).

    Adds ``eigvec @ (alpha * eigval)`` to every pixel, alpha ~ N(0, std) drawn per
    image and component. The eigen-decomposition is of the RGB covariance in [0, 1]
    units (`compute_stats`); the offset is scaled by 255 for raw pixel values.

    Args:
        image: (H, W, 3) tensor of raw pixel values.
        seed: int tensor [2].
        eigval: (3,) eigenvalues.
        eigvec: (3, 3) eigenvectors as columns.
        std: alpha's standard deviation.

    Returns:
        float32 (H, W, 3), not clipped (the paper does not clip).
    """
    eigval = tf.constant(np.asarray(eigval, dtype=np.float32).reshape(3))
    eigvec = tf.constant(np.asarray(eigvec, dtype=np.float32).reshape(3, 3))
    alpha = tf.random.stateless_normal([3], seed, stddev=std)
    offset = tf.linalg.matvec(eigvec, alpha * eigval) * _SCALE
    return tf.cast(image, tf.float32) + offset


AUGMENTATIONS = ("alexnet", "vgg", "resnet", "inception")


def make_augment(
    name: str,
    *,
    size: int | None = None,
    pca: ImageStats | tuple[np.ndarray, np.ndarray] | None = None,
    pca_std: float = PCA_STD,
) -> Augment:
    """A paper's training augmentation by name, optionally with PCA colour noise.

    AlexNet, VGG (§3.1, "random RGB colour shift") and ResNet (§3.4, "the standard
    color augmentation in [21]") all add the PCA noise; pass ``pca`` for it.

    Args:
        name: one of `AUGMENTATIONS`: "alexnet", "vgg" (S in [256, 512]), "resnet"
            (S in [256, 480]), "inception" (random-resized crop).
        size: the crop side; None gives 224 (use 299 for Inception-v3/v4).
        pca: `ImageStats` or ``(eigval, eigvec)``; None adds no colour noise.
        pca_std: alpha's standard deviation.

    Returns:
        ``augment(image, seed) -> float32 (size, size, 3)``.
    """
    size = CROP_SIZE if size is None else int(size)
    if name == "alexnet":
        base = lambda x, s: alexnet_train(x, s, size=size)  # noqa: E731
    elif name == "vgg":
        base = lambda x, s: scale_jitter(x, s, scales=VGG_SCALES, size=size)  # noqa: E731
    elif name == "resnet":
        base = lambda x, s: scale_jitter(x, s, scales=RESNET_SCALES, size=size)  # noqa: E731
    elif name == "inception":
        base = lambda x, s: random_resized_crop(x, s, size=size)  # noqa: E731
    else:
        raise ValueError(
            f"unknown augmentation {name!r}; expected one of {', '.join(AUGMENTATIONS)}"
        )
    if pca is None:
        return base
    eigval, eigvec = (pca.eigval, pca.eigvec) if isinstance(pca, ImageStats) else pca

    def augment(image, seed):
        crop_seed, colour_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        return pca_lighting(base(image, crop_seed), colour_seed, eigval, eigvec, std=pca_std)

    return augment


def image_seed(seed: int, epoch, position) -> tf.Tensor:
    """The stateless seed of one image: a pure function of (seed, epoch, position).

    Args:
        seed: the run's seed.
        epoch: int or int64 tensor.
        position: the image's index within its epoch (int or int64 tensor).

    Returns:
        int64 tensor [2].
    """
    epoch_seed = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)])
    stream = tf.random.experimental.stateless_fold_in(epoch_seed, _AUGMENT_STREAM)
    return tf.random.experimental.stateless_fold_in(stream, tf.cast(position, tf.int64))


def train_stream(
    epoch_source: Callable[[tf.Tensor], tf.data.Dataset],
    augment: Augment,
    batch_size: int,
    *,
    seed: int = 0,
    start_epoch: int = 0,
) -> tf.data.Dataset:
    """The infinite, augmented, batched training stream over decoded images.

    Each epoch's images (from ``epoch_source(epoch)``) are augmented with
    `image_seed` (seed, epoch, position) and cut into full batches; the last
    partial batch of each epoch is dropped, as in `cnnzoo.pipelines.datasets`.

    Args:
        epoch_source: ``epoch -> dataset of (uint8 (H, W, 3), int32 label)``, e.g.
            `cnnzoo.pipelines.folder_source.folder_epoch`; ``epoch`` is an int64 tensor.
        augment: ``(image, seed) -> float32 (S, S, 3)``, e.g. from `make_augment`.
        batch_size: images per batch.
        seed: the run's seed (use the one the epoch source shuffles with).
        start_epoch: the first epoch; resuming at ``e`` yields what the
            uninterrupted stream yields from epoch ``e`` on.

    Returns:
        An infinite ``tf.data.Dataset`` of ``(float32 (B, S, S, 3), int32 (B,))``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if start_epoch < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")

    def epoch_batches(epoch):
        def apply(position, example):
            image, label = example
            return augment(image, image_seed(seed, epoch, position)), label

        ds = epoch_source(epoch).enumerate()
        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size, drop_remainder=True)

    epochs = tf.data.Dataset.counter(start=start_epoch)
    return epochs.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)


# ---- statistics -----------------------------------------------------------------------

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
    images = np.asarray(source)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty (N, H, W, C) image array, got shape {images.shape}")
    # Captured as one tensor and gathered per image, not embedded as a graph constant.
    tensor = tf.convert_to_tensor(images)
    return tf.data.Dataset.range(len(images)).map(lambda i: tf.gather(tensor, i))


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
    mean_shape = (
        tf.constant([pixel_mean_size, pixel_mean_size], tf.int32)
        if pixel_mean_size is not None
        else tf.constant(first.shape[:2], tf.int32)
    )

    def per_image(index, image):
        pixels = tf.reshape(tf.cast(image, tf.float64), [-1, 3])
        sums = tf.reduce_sum(pixels, axis=0)
        products = tf.matmul(pixels, pixels, transpose_a=True)
        count = tf.cast(tf.shape(pixels)[0], tf.float64)
        if pixel_mean_size is not None:
            mean_part = center_crop(resize_shorter_side(image, pixel_mean_size), pixel_mean_size)
        else:
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
                mean_part = tf.cast(image, tf.float32)
        return sums, products, count, mean_part

    ds = ds.enumerate().map(per_image, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size).prefetch(2)

    total = np.zeros(3)
    total_products = np.zeros((3, 3))
    pixels = 0.0
    images = 0
    mean_sum = None
    for sums, products, counts, means in ds.as_numpy_iterator():
        total += sums.sum(axis=0)
        total_products += products.sum(axis=0)
        pixels += counts.sum()
        images += len(counts)
        part = means.sum(axis=0, dtype=np.float64)
        mean_sum = part if mean_sum is None else mean_sum + part

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


def compute_pca(
    images_or_dataset, *, max_images: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the RGB covariance (Krizhevsky et al. 2012 §4.1).

    Args:
        images_or_dataset: see `compute_stats`.
        max_images: see `compute_stats`.

    Returns:
        ``(eigval (3,), eigvec (3, 3) columns)``, float32, [0, 1] units, largest first.
    """
    stats = compute_stats(images_or_dataset, max_images=max_images, pixel_mean_size=None)
    return stats.eigval, stats.eigvec


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

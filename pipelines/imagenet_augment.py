"""ImageNet training augmentation from the papers, and the PCA basis its colour noise needs.

Augmentations take one decoded image (uint8 (H, W, 3), any size) and a stateless
seed (int tensor [2]) and return a float32 (size, size, 3) crop with raw pixel
values (in [0, 255] before PCA colour noise, which may step slightly outside):

- `alexnet_train`: shorter side 256, central 256 square, random 224 crop, flip
  (Krizhevsky et al. 2012 §2, §4.1).
- `scale_jitter`: shorter side S drawn per image, random 224 crop, flip; VGG's
  S in [256, 512] (Simonyan & Zisserman 2015 §3.1), ResNet's [256, 480] (He et al. 2016 §3.4);
  a one-value range is VGG's single-scale training at a fixed S = 256 or 384 (§3.1).
- `random_resized_crop`: 8-100% of the area, aspect ratio 3/4-4/3, resized to
  224 or 299, flip (Szegedy et al. 2015 §6).
- `pca_lighting`: AlexNet's colour noise along the RGB principal components (§4.1).

`train_stream` turns an epoch source (`cnnzoo.pipelines.folder_source.folder_epoch`,
`cnnzoo.pipelines.tfrecord_source.tfrecord_epoch`,
`cnnzoo.pipelines.imagenet_source.imagenet_epoch`)
into the batched training stream. Every random draw comes from stateless ops
seeded by (seed, epoch, position in the epoch) (`cnnzoo.pipelines.seeds`), so a run
is reproducible and resumes exactly at an epoch boundary.

The PCA colour noise's basis comes from `compute_pca`, a pass of
`cnnzoo.pipelines.stats.compute_stats` over the training images.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.seeds import augment_seed
from cnnzoo.pipelines.stats import ImageStats, compute_stats

# Krizhevsky et al. 2012 §2: images rescaled so the shorter side is 256, central
# 256x256 patch; §4.1: random 224x224 patches and their horizontal reflections.
ALEXNET_SIDE = 256
CROP_SIZE = 224
# Krizhevsky et al. 2012 §4.1: alpha ~ N(0, 0.1) per image and principal component.
PCA_STD = 0.1
# Simonyan & Zisserman 2015 §3.1 (multi-scale training): S in [S_min, S_max] = [256, 512].
VGG_SCALES = (256, 512)
# §3.1 (single-scale training): "we evaluated models trained at two fixed scales:
# S = 256 ... and S = 384" (survey 003 §3.2: one model at each, both used to evaluate).
VGG_FIXED_SCALES = (256, 384)
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


def _drawn_boxes(height, width, area_seed, ratio_seed, area, ratio, attempts):
    """``attempts`` crop sizes: area uniform over ``area``, aspect log-uniform over ``ratio``.

    Returns:
        ``(found, crop_h, crop_w)``: whether any fits the image, and the first that does.
    """
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
    return tf.reduce_any(fits), crop_h[first], crop_w[first]


def _crop_box(image, area_seed, ratio_seed, pos_seed, area, ratio, attempts):
    """``(top, left, height, width)`` of Inception's crop of ``image``."""
    height, width = _hw(image)
    found, drawn_h, drawn_w = _drawn_boxes(
        height, width, area_seed, ratio_seed, area, ratio, attempts
    )
    # Fallback: the whole image, narrowed to the nearest allowed aspect ratio.
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    image_ratio = w / h
    fallback_w = tf.where(image_ratio > ratio[1], tf.cast(tf.round(h * ratio[1]), tf.int32), width)
    fallback_h = tf.where(image_ratio < ratio[0], tf.cast(tf.round(w / ratio[0]), tf.int32), height)
    ch = tf.where(found, drawn_h, fallback_h)
    cw = tf.where(found, drawn_w, fallback_w)
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
    return tf.minimum(top, height - ch), tf.minimum(left, width - cw), ch, cw


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
    top, left, ch, cw = _crop_box(image, area_seed, ratio_seed, pos_seed, area, ratio, attempts)
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


def compute_pca(
    images_or_dataset, *, max_images: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The basis of `pca_lighting`: the RGB covariance's eigen-decomposition (Krizhevsky §4.1).

    Args:
        images_or_dataset: see `cnnzoo.pipelines.stats.compute_stats`.
        max_images: see `cnnzoo.pipelines.stats.compute_stats`.

    Returns:
        ``(eigval (3,), eigvec (3, 3) columns)``, float32, [0, 1] units, largest first.
    """
    stats = compute_stats(images_or_dataset, max_images=max_images, pixel_mean_size=None)
    return stats.eigval, stats.eigvec


# The papers' training crops by name; each takes (image, seed, size=...).
AUGMENT_TABLE: dict[str, Callable[..., tf.Tensor]] = {
    "alexnet": alexnet_train,  # Krizhevsky et al. 2012 §2, §4.1
    "vgg": functools.partial(scale_jitter, scales=VGG_SCALES),  # Simonyan & Zisserman §3.1
    **{  # §3.1's single-scale training: S fixed, a random 224 crop of it, flip
        f"vgg_s{side}": functools.partial(scale_jitter, scales=(side, side))
        for side in VGG_FIXED_SCALES
    },
    "resnet": functools.partial(scale_jitter, scales=RESNET_SCALES),  # He et al. 2016 §3.4
    "inception": random_resized_crop,  # Szegedy et al. 2015 §6
}
AUGMENTATIONS = tuple(AUGMENT_TABLE)


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
        name: one of `AUGMENTATIONS`: "alexnet", "vgg" (S in [256, 512]),
            "vgg_s256" / "vgg_s384" (S fixed), "resnet" (S in [256, 480]),
            "inception" (random-resized crop).
        size: the crop side; None gives 224 (use 299 for Inception-v3/v4).
        pca: `ImageStats` or ``(eigval, eigvec)``; None adds no colour noise.
        pca_std: alpha's standard deviation.

    Returns:
        ``augment(image, seed) -> float32 (size, size, 3)``.
    """
    if name not in AUGMENT_TABLE:
        raise ValueError(
            f"unknown augmentation {name!r}; expected one of {', '.join(AUGMENTATIONS)}"
        )
    crop, size = AUGMENT_TABLE[name], CROP_SIZE if size is None else int(size)

    def base(image, seed):
        return crop(image, seed, size=size)

    if pca is None:
        return base
    eigval, eigvec = (pca.eigval, pca.eigvec) if isinstance(pca, ImageStats) else pca

    def augment(image, seed):
        crop_seed, colour_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        return pca_lighting(base(image, crop_seed), colour_seed, eigval, eigvec, std=pca_std)

    return augment


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
    `cnnzoo.pipelines.seeds.augment_seed` (seed, epoch, position) and cut into
    full batches; the last
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
            return augment(image, augment_seed(seed, epoch, position)), label

        ds = epoch_source(epoch).enumerate()
        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size, drop_remainder=True)

    epochs = tf.data.Dataset.counter(start=start_epoch)
    return epochs.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)

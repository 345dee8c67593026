"""Batched data augmentation on uint8 image tensors.

Augmentation is the throughput-critical step of CIFAR training on a CPU, so it
works on a whole batch at once: no per-image `map`, no per-image crop op. Random
numbers come from stateless ops, so a given seed always gives the same batch
(which is what lets training resume exactly after a crash).
"""

from __future__ import annotations

import math

import tensorflow as tf

# He et al. 2016, "Deep Residual Learning for Image Recognition", §4.2 (CIFAR-10):
# "4 pixels are padded on each side, and a 32x32 crop is randomly sampled from the
# padded image or its horizontal flip."
CIFAR_PAD = 4


def pad_crop_flip(images, seed, pad: int = CIFAR_PAD, flip: bool = True) -> tf.Tensor:
    """Zero-pad, take a random crop of the original size, and randomly mirror, per image.

    The augmentation of He et al. 2016 §4.2: each image is padded by ``pad`` zero
    pixels on each side, a window of its original size is cut at a uniformly random
    offset, and with probability 0.5 it is flipped left-right.

    Args:
        images: (B, H, W, C) tensor, any dtype (uint8 keeps it fastest).
        seed: shape [2] integer tensor for the stateless random ops.
        pad: zero pixels added on each side; 0 disables the crop.
        flip: whether to mirror half of the images.

    Returns:
        A tensor of the same shape and dtype as ``images``.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"expected a (B, H, W, C) batch, got shape {images.shape}")
    if pad == 0 and not flip:
        return images

    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    # Offsets 0..2*pad inclusive: every window of the padded image is equally likely.
    offsets = tf.random.stateless_uniform(
        [batch, 2], offset_seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]  # (B, H)
    cols = tf.range(width)[tf.newaxis, :]
    if flip:
        mirrored = tf.random.stateless_uniform([batch, 1], flip_seed, 0, 2, dtype=tf.int32) > 0
        # A flip is just the window's column indices in reverse order.
        cols = tf.where(mirrored, width - 1 - cols, cols)
    cols = offsets[:, 1:] + cols  # (B, W)

    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) if pad else images
    # Two batched gathers (rows, then columns) crop and mirror the whole batch at once.
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    return tf.ensure_shape(out, images.shape)


def random_affine(
    images,
    seed,
    scale: float = 0.0,
    squeeze: float = 0.0,
    shear: float = 0.0,
    rotate: float = 0.0,
) -> tf.Tensor:
    """Random planar affine distortions about each image's centre, per image.

    LeCun et al. 1998 §III.C distorted MNIST with "combinations of the following
    planar affine transformations: horizontal and vertical translations, scaling,
    squeezing (simultaneous horizontal compression and vertical elongation, or the
    reverse) and horizontal shearing" (translations are `pad_crop_flip`'s); W. Wu's
    thesis (§2.2) adds "slight rotations". The papers give no ranges; each factor
    here is uniform in 1 ± `scale`, 1 ± `squeeze`, ± `shear` and ± `rotate`
    degrees. Bilinear sampling; what falls outside is background (0).

    Args:
        images: (B, H, W, C) tensor.
        seed: shape [2] integer tensor for the stateless random ops.
        scale: half-range of the zoom factor (0: none).
        squeeze: half-range of the squeeze factor q (x scaled by q, y by 1/q).
        shear: half-range of the horizontal shear.
        rotate: half-range of the rotation, in degrees.

    Returns:
        A float32 tensor of the same shape.
    """
    images = tf.convert_to_tensor(images)
    if scale == squeeze == shear == rotate == 0:
        return tf.cast(images, tf.float32)
    shape = tf.shape(images)
    transforms = _affine_transforms(shape, seed, scale, squeeze, shear, rotate)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return tf.ensure_shape(out, images.shape)


def _affine_transforms(shape, seed, scale, squeeze, shear, rotate) -> tf.Tensor:
    """Per image, the 8 numbers of ImageProjectiveTransformV3: output pixel -> input pixel."""
    batch = shape[0]
    cy = (tf.cast(shape[1], tf.float32) - 1.0) / 2.0
    cx = (tf.cast(shape[2], tf.float32) - 1.0) / 2.0
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=4))

    def uniform(s, half):
        return tf.random.stateless_uniform([batch], s, -half, half) if half else tf.zeros([batch])

    s = 1.0 + uniform(seeds[0], scale)
    q = 1.0 + uniform(seeds[1], squeeze)
    h = uniform(seeds[2], shear)
    angle = uniform(seeds[3], rotate * math.pi / 180.0)
    # (x_in, y_in) - c = R(angle) [[sx, h], [0, sy]] ((x, y) - c).
    sx, sy, cos, sin = s * q, s / q, tf.cos(angle), tf.sin(angle)
    a0, a1 = cos * sx, cos * h - sin * sy
    b0, b1 = sin * sx, sin * h + cos * sy
    zeros = tf.zeros([batch])
    return tf.stack(
        [a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy, zeros, zeros], axis=1
    )

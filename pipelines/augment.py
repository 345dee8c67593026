"""Batched data augmentation on uint8 image tensors.

Augmentation is the throughput-critical step of CIFAR training on a CPU, so it
works on a whole batch at once: no per-image `map`, no per-image crop op. Random
numbers come from stateless ops, so a given seed always gives the same batch
(which is what lets training resume exactly after a crash).
"""

from __future__ import annotations

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

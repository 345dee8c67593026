"""tf.data views of in-memory image arrays: the training stream, evaluation, validation split.

Both views yield ``(images, labels)``: float32 images with raw pixel values in
[0, 255], shape (B, H, W, C), and int32 labels (B,). Nothing is normalized here;
the model does its own preprocessing.

The training stream is a pure function of (seed, epoch, batch index): the order of
each epoch and every augmentation draw come from stateless random ops seeded by
those numbers (`cnnzoo.pipelines.seeds`). So ``train_dataset(..., start_epoch=e)``
yields exactly what an uninterrupted stream yields from epoch ``e`` on, which is
how training resumes after a crash without replaying the earlier epochs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.augment import CIFAR_PAD, pad_crop_flip, random_affine
from cnnzoo.pipelines.seeds import augment_seed, epoch_order


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches in one epoch of ``n`` examples (the last partial batch is dropped).

    Args:
        n: number of training examples.
        batch_size: examples per batch.

    Returns:
        ``n // batch_size``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return n // batch_size


def _check_arrays(images, labels) -> None:
    if np.ndim(images) != 4:
        raise ValueError(f"expected images of shape (N, H, W, C), got {np.shape(images)}")
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels differ in length: {len(images)} images, {len(labels)} labels"
        )


def split_validation(images: np.ndarray, labels: np.ndarray, val_size: int, seed: int = 0):
    """Hold out a random validation set from the training set.

    He et al. 2016 (§4.2) train on 45k CIFAR-10 images and validate on the other 5k.

    Args:
        images: (N, ...) training images.
        labels: (N,) training labels.
        val_size: number of examples to hold out; 0 holds out none.
        seed: which split; the same seed always gives the same split.

    Returns:
        ``((train_images, train_labels), (val_images, val_labels))``, each part in
        its original order; the second item is None when ``val_size`` is 0.
    """
    _check_arrays(images, labels)
    n = len(images)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}) for {n} images, got {val_size}")
    if val_size == 0:
        return (images, labels), None
    # RandomState, not default_rng: NumPy keeps its stream fixed across versions, so a
    # saved run's validation images stay out of its training set after an upgrade.
    order = np.random.RandomState(seed).permutation(n)
    val_idx = np.sort(order[:val_size])
    train_idx = np.sort(order[val_size:])
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def _as_tensors(images, labels) -> tuple[tf.Tensor, tf.Tensor]:
    _check_arrays(images, labels)
    # Held once in memory; the dataset functions capture them as inputs, not graph constants.
    return tf.convert_to_tensor(images), tf.convert_to_tensor(labels, dtype=tf.int32)


def _check_stream(n: int, batch_size: int, start_epoch: int) -> int:
    """Full batches per epoch of a training stream, after checking its arguments."""
    steps = steps_per_epoch(n, batch_size)
    if steps == 0:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {n} training images; "
            "an epoch would have no full batch"
        )
    if start_epoch < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
    return steps


def train_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int = 0,
    start_epoch: int = 0,
    augment: bool = True,
    pad: int = CIFAR_PAD,
    flip: bool = True,
    affine: tuple[float, ...] = (),
) -> tf.data.Dataset:
    """The infinite, shuffled, augmented training stream.

    Each epoch is a fresh permutation (`cnnzoo.pipelines.seeds.epoch_order`) cut into
    ``steps_per_epoch(N, batch_size)`` full batches; each batch is augmented with
    `pad_crop_flip` seeded by ``(seed, epoch, batch index)``.

    Args:
        images: (N, H, W, C) uint8 images.
        labels: (N,) integer labels.
        batch_size: examples per batch.
        seed: the run's seed.
        start_epoch: the first epoch to yield; resuming at epoch ``e`` yields
            exactly what the uninterrupted stream yields from epoch ``e``.
        augment: apply `pad_crop_flip` (He et al. 2016 §4.2).
        pad: its zero padding per side (random translations of up to ``pad`` pixels).
        flip: whether it mirrors half the images.
        affine: (scale, squeeze, shear, rotate) half-ranges of `random_affine`,
            applied before the translation (LeCun et al. 1998 §III.C); () for none.

    Returns:
        An infinite ``tf.data.Dataset`` of ``(float32 (B, H, W, C) in [0, 255], int32 (B,))``.
    """
    n = len(images)
    steps = _check_stream(n, batch_size, start_epoch)
    image_t, label_t = _as_tensors(images, labels)

    def epoch_batches(epoch):
        order = epoch_order(n, seed, epoch)
        batches = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        return tf.data.Dataset.from_tensor_slices(
            (tf.fill([steps], epoch), tf.range(steps, dtype=tf.int64), batches)
        )

    def make_batch(epoch, step, index):
        x = tf.gather(image_t, index)
        if augment:
            draw = augment_seed(seed, epoch, step)
            if any(affine):
                # Its own stream: the translations keep the seeds they had without it.
                x = random_affine(x, tf.random.experimental.stateless_fold_in(draw, 1), *affine)
            x = pad_crop_flip(x, draw, pad=pad, flip=flip)
        return tf.cast(x, tf.float32), tf.gather(label_t, index)

    epochs = tf.data.Dataset.counter(start=start_epoch)
    ds = epochs.flat_map(epoch_batches)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Every example once, in order, unaugmented; the last batch may be partial.

    Args:
        images: (N, H, W, C) uint8 images.
        labels: (N,) integer labels.
        batch_size: examples per batch.

    Returns:
        A finite ``tf.data.Dataset`` of ``(float32 (B, H, W, C) in [0, 255], int32 (B,))``.
    """
    steps_per_epoch(len(images), batch_size)  # validates batch_size
    image_t, label_t = _as_tensors(images, labels)

    def make_batch(index):
        return tf.cast(tf.gather(image_t, index), tf.float32), tf.gather(label_t, index)

    ds = tf.data.Dataset.range(len(images)).batch(batch_size)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return without_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def without_autotuning(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` with tf.data's autotuning off, for a finite dataset iterated again and again.

    Each pass over a dataset (every validation, every `cnnzoo evaluate`, each window
    of a benchmark) makes a new iterator; with autotuning on, two passes in three
    over 2,560 CIFAR images cost about half a second more than the others (ResNet-20
    scored at 2,015 images/s instead of 3,300; 2-core Xeon, TensorFlow 2.21), with
    the model's work unchanged. Off, every pass ran at 3,250. Gathering and casting
    an in-memory batch needs no tuning (a serial map measured the same).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)

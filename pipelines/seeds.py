"""The random seeds of the training streams: pure functions of (run seed, epoch, position).

Every random draw of a training stream (the order of an epoch, its shuffle
buffer, each augmentation) comes from a stateless op seeded here, so what a run
sees from epoch ``e`` on depends on (seed, e) only: a run resumed at an epoch
boundary sees exactly what an uninterrupted one would. The streams of
`cnnzoo.pipelines.datasets`, `cnnzoo.pipelines.imagenet_augment` and the epoch
sources of the folder, TFRecord and ImageNet readers all draw from here.

Changing any of these functions changes what every saved run would see on resume.
"""

from __future__ import annotations

import tensorflow as tf

# Folded into the epoch's seed so augmentation draws never reuse the shuffle's stream.
AUGMENT_STREAM = 1


def epoch_seed(seed: int, epoch) -> tf.Tensor:
    """The seed of one epoch: int64 tensor [2] ``(seed, epoch)``.

    Args:
        seed: the run's seed.
        epoch: int or integer scalar tensor.
    """
    return tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)])


def epoch_order(n: int, seed: int, epoch) -> tf.Tensor:
    """The permutation of ``n`` examples for one epoch, a pure function of (seed, epoch).

    Args:
        n: number of examples.
        seed: the run's seed.
        epoch: int or int64 scalar tensor.

    Returns:
        int32 tensor (n,).
    """
    return tf.argsort(tf.random.stateless_uniform([n], epoch_seed(seed, epoch)))


def augment_seed(seed: int, epoch, index) -> tf.Tensor:
    """The stateless seed of one augmentation draw: a pure function of (seed, epoch, index).

    Args:
        seed: the run's seed.
        epoch: int or int64 tensor.
        index: the batch's index in its epoch (whole-batch augmentation) or the
            image's (per-image augmentation); int or int64 tensor.

    Returns:
        int64 tensor [2].
    """
    stream = tf.random.experimental.stateless_fold_in(epoch_seed(seed, epoch), AUGMENT_STREAM)
    return tf.random.experimental.stateless_fold_in(stream, tf.cast(index, tf.int64))


def shuffle_epoch(records: tf.data.Dataset, seed: int, epoch, buffer: int) -> tf.data.Dataset:
    """Shuffle one epoch's records through a buffer seeded by (seed, epoch).

    Args:
        records: the epoch's records, in stored order.
        seed: the run's seed.
        epoch: int or int64 scalar tensor.
        buffer: records held for shuffling.

    Returns:
        ``records`` shuffled: fixed for a given epoch, fresh across epochs.
    """
    buffer_seed = tf.random.stateless_uniform(
        [], epoch_seed(seed, epoch), minval=None, maxval=None, dtype=tf.int64
    )
    return records.shuffle(buffer, seed=buffer_seed)

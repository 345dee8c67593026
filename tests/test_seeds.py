"""The training streams' seeds: fixed values, so a resumed run sees what it saw before.

The expected values were produced by the code before the seeds had a module of
their own (TensorFlow 2.21). A change here means every saved run would train on
other orders and crops after resuming: make it only on purpose, never in passing.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.datasets import train_dataset
from cnnzoo.pipelines.seeds import augment_seed, epoch_order, shuffle_epoch


def test_epoch_order_and_augment_seed_are_unchanged():
    assert epoch_order(10, 3, 2).numpy().tolist() == [9, 4, 7, 3, 1, 2, 8, 5, 6, 0]
    assert augment_seed(1, 2, 3).numpy().tolist() == [-7284191425805575116, 3]
    same = augment_seed(1, tf.constant(2, tf.int64), tf.constant(3, tf.int64))
    assert same.numpy().tolist() == [-7284191425805575116, 3]


def test_the_epoch_shuffle_is_unchanged():
    # tf.data's shuffle mixes the global seed into its own; the trainer sets it to the
    # run's seed (keras.utils.set_random_seed), and so does this test.
    tf.random.set_seed(7)
    shuffled = shuffle_epoch(tf.data.Dataset.range(12), seed=7, epoch=1, buffer=5)
    assert [int(v) for v in shuffled] == [0, 1, 4, 2, 6, 8, 5, 9, 10, 7, 11, 3]


def test_a_resumed_cifar_stream_is_unchanged():
    images = (np.arange(16 * 6 * 6 * 3) % 251).astype(np.uint8).reshape(16, 6, 6, 3)
    labels = np.arange(16) % 4
    x, y = next(iter(train_dataset(images, labels, 4, seed=11, start_epoch=3, pad=2)))
    pixels = tf.reshape(tf.cast(x, tf.int64), [-1])
    # A position-weighted sum: any other crop, flip or order changes it.
    weighted = tf.reduce_sum(pixels * tf.range(1, pixels.shape[0] + 1, dtype=tf.int64))
    assert int(weighted) == 8391909 and y.numpy().tolist() == [3, 3, 3, 1]

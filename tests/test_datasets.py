"""The training stream (permutations, exact resumption), evaluation view and validation split."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines.datasets import eval_dataset, split_validation, steps_per_epoch, train_dataset

N, BATCH = 70, 16  # 4 full batches per epoch, 6 examples dropped each epoch
STEPS = N // BATCH


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, 8, 8, 3), dtype=np.uint8)
    return images, np.arange(N)


def _take(ds, count):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(count)]


def test_steps_per_epoch_drops_the_partial_batch():
    # He et al. 2016 CIFAR-10 at batch 128: 50,000 // 128 = 390 steps per epoch.
    assert steps_per_epoch(50000, 128) == 390
    assert steps_per_epoch(N, BATCH) == 4
    with pytest.raises(ValueError, match="positive"):
        steps_per_epoch(10, 0)


def test_batches_have_the_promised_types(data):
    x, y = next(iter(train_dataset(*data, BATCH)))
    assert x.shape == (BATCH, 8, 8, 3) and x.dtype == tf.float32
    assert y.shape == (BATCH,) and y.dtype == tf.int32
    assert 0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255


def test_each_epoch_is_a_fresh_permutation(data):
    images, labels = data
    batches = _take(train_dataset(images, labels, BATCH, augment=False), 3 * STEPS)
    epochs = []
    for e in range(3):
        xs = np.concatenate([x for x, _ in batches[e * STEPS : (e + 1) * STEPS]])
        ys = np.concatenate([y for _, y in batches[e * STEPS : (e + 1) * STEPS]])
        assert len(np.unique(ys)) == STEPS * BATCH, f"epoch {e} repeats an example"
        # Unaugmented images are the labelled ones, unchanged.
        np.testing.assert_array_equal(xs, images[ys].astype(np.float32))
        epochs.append(ys)
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])


def test_every_index_once_per_epoch_when_batches_divide(data):
    images, labels = data[0][:64], data[1][:64]
    batches = _take(train_dataset(images, labels, BATCH, augment=False), 2 * (64 // BATCH))
    ys = np.concatenate([y for _, y in batches]).reshape(2, 64)
    for epoch in ys:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(64))


@pytest.mark.parametrize("augment", [True, False])
def test_resuming_at_an_epoch_replays_the_uninterrupted_stream(data, augment):
    whole = _take(train_dataset(*data, BATCH, seed=3, augment=augment), 3 * STEPS)
    resumed = _take(train_dataset(*data, BATCH, seed=3, start_epoch=1, augment=augment), 2 * STEPS)
    for i, ((x0, y0), (x1, y1)) in enumerate(zip(whole[STEPS:], resumed, strict=True)):
        np.testing.assert_array_equal(y0, y1, err_msg=f"labels of batch {i}")
        np.testing.assert_array_equal(x0, x1, err_msg=f"images of batch {i}")


def test_seed_changes_order_and_augmentation(data):
    a = _take(train_dataset(*data, BATCH, seed=0), 1)[0]
    b = _take(train_dataset(*data, BATCH, seed=1), 1)[0]
    assert not np.array_equal(a[1], b[1])
    # Same order, augmentation on and off: only the pixels differ.
    plain = _take(train_dataset(*data, BATCH, seed=0, augment=False), 1)[0]
    np.testing.assert_array_equal(a[1], plain[1])
    assert not np.array_equal(a[0], plain[0])


def test_translation_only_augmentation_never_mirrors(data):
    images, labels = data
    ((x, y),) = _take(train_dataset(images, labels, BATCH, seed=0, pad=2, flip=False), 1)
    padded = np.pad(images.astype("float32"), [(0, 0), (2, 2), (2, 2), (0, 0)])
    shifted = 0
    for got, index in zip(x, y, strict=True):
        # Each image is an 8x8 window of its own 2-padded copy, never of its mirror.
        windows = [
            (r, c)
            for r in range(5)
            for c in range(5)
            if np.array_equal(got, padded[index, r : r + 8, c : c + 8])
        ]
        assert windows, index
        shifted += windows != [(2, 2)]
    assert shifted > BATCH // 2


def test_train_dataset_rejects_bad_arguments(data):
    images, labels = data
    with pytest.raises(ValueError, match="exceeds the 70 training images"):
        train_dataset(images, labels, 128)
    with pytest.raises(ValueError, match="70 images, 69 labels"):
        train_dataset(images, labels[:-1], BATCH)
    with pytest.raises(ValueError, match="start_epoch"):
        train_dataset(images, labels, BATCH, start_epoch=-1)


def test_eval_dataset_keeps_every_example_in_order(data):
    images, labels = data
    batches = _take(eval_dataset(images, labels, BATCH), 100)
    assert [len(y) for _, y in batches] == [16, 16, 16, 16, 6]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    np.testing.assert_array_equal(
        np.concatenate([x for x, _ in batches]), images.astype(np.float32)
    )
    # Each validation and evaluation makes a new iterator: no autotuning stall per pass.
    assert eval_dataset(images, labels, BATCH).options().autotune.enabled is False


def test_split_validation_is_deterministic_disjoint_and_complete(data):
    images, labels = data
    (tx, ty), (vx, vy) = split_validation(images, labels, 10, seed=4)
    assert len(tx) == len(ty) == 60 and len(vx) == len(vy) == 10
    assert not set(ty) & set(vy)
    np.testing.assert_array_equal(np.sort(np.concatenate([ty, vy])), labels)
    np.testing.assert_array_equal(tx, images[ty])
    np.testing.assert_array_equal(vx, images[vy])
    (_, ty2), (_, vy2) = split_validation(images, labels, 10, seed=4)
    np.testing.assert_array_equal(vy, vy2)
    np.testing.assert_array_equal(ty, ty2)
    (_, _), (_, vy3) = split_validation(images, labels, 10, seed=5)
    assert not np.array_equal(vy, vy3)


def test_split_validation_edges(data):
    images, labels = data
    (tx, ty), val = split_validation(images, labels, 0)
    assert val is None and tx is images and ty is labels
    for bad in (-1, N):
        with pytest.raises(ValueError, match=rf"val_size must be in \[0, {N}\).*got {bad}"):
            split_validation(images, labels, bad)

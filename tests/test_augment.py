"""pad_crop_flip: crops are windows of the padded image, half are mirrored, seeds decide all."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines.augment import pad_crop_flip, random_affine
from cnnzoo.pipelines.datasets import train_dataset


def _seed(a, b=0):
    return tf.constant([a, b], dtype=tf.int64)


def _random_batch(n, size=32, seed=0):
    return np.random.default_rng(seed).integers(1, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_shape_and_dtype_are_kept():
    batch = _random_batch(8)
    out = pad_crop_flip(batch, _seed(1))
    assert out.shape == (8, 32, 32, 3) and out.dtype == tf.uint8
    out = pad_crop_flip(tf.cast(batch, tf.float32), _seed(1))
    assert out.dtype == tf.float32


def test_every_crop_is_a_window_of_the_padded_image_or_its_mirror():
    batch = _random_batch(48)
    out = pad_crop_flip(batch, _seed(7)).numpy()
    padded = np.pad(batch, [(0, 0), (4, 4), (4, 4), (0, 0)])
    for i in range(len(batch)):
        windows = [padded[i, oy : oy + 32, ox : ox + 32] for oy in range(9) for ox in range(9)]
        matches = [np.array_equal(out[i], w) or np.array_equal(out[i], w[:, ::-1]) for w in windows]
        assert any(matches), f"image {i} is not a window of its padded input"


def _decode(out):
    """Offsets and flips from crops of an image whose pixels encode their own position.

    Channel 0 holds row + 1, channel 1 holds column + 1 (zero is padding). Output
    pixel (16, 16) always comes from inside the image for pad 4.
    """
    rows, cols = out[:, 16, 16, 0].astype(int) - 1, out[:, 16, :, 1].astype(int) - 1
    flipped = cols[:, 16] < cols[:, 15]
    oy = rows - 16 + 4
    # Output column j reads padded column ox + j, or ox + 31 - j when mirrored.
    ox = np.where(flipped, cols[:, 16] - 15 + 4, cols[:, 16] - 16 + 4)
    return oy, ox, flipped


def test_offsets_are_uniform_and_about_half_are_flipped():
    grid = np.zeros((32, 32, 3), dtype=np.uint8)
    grid[..., 0] = np.arange(1, 33)[:, None]
    grid[..., 1] = np.arange(1, 33)[None, :]
    n = 2000
    out = pad_crop_flip(np.broadcast_to(grid, (n, 32, 32, 3)), _seed(3)).numpy()
    oy, ox, flipped = _decode(out)
    assert 0.4 < flipped.mean() < 0.6
    for offsets in (oy, ox):
        counts = np.bincount(offsets, minlength=9)
        assert len(counts) == 9, "offsets must lie in 0..2*pad"
        # 2000 draws over 9 offsets: about 222 each, far from 120 or 330 by chance.
        assert counts.min() > 120 and counts.max() < 330, counts


def test_same_seed_same_output_different_seed_different_output():
    batch = _random_batch(16)
    a = pad_crop_flip(batch, _seed(5, 1)).numpy()
    b = pad_crop_flip(batch, _seed(5, 1)).numpy()
    c = pad_crop_flip(batch, _seed(5, 2)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_no_pad_no_flip_is_identity_and_flip_only_mirrors():
    batch = _random_batch(4)
    np.testing.assert_array_equal(pad_crop_flip(batch, _seed(0), pad=0, flip=False), batch)
    out = pad_crop_flip(batch, _seed(0), pad=0).numpy()
    for i in range(len(batch)):
        assert np.array_equal(out[i], batch[i]) or np.array_equal(out[i], batch[i, :, ::-1])


def test_works_in_graph_mode_with_unknown_batch_size():
    fn = tf.function(
        lambda x, s: pad_crop_flip(x, s),
        input_signature=[
            tf.TensorSpec([None, 32, 32, 3], tf.uint8),
            tf.TensorSpec([2], tf.int64),
        ],
    )
    batch = _random_batch(3)
    np.testing.assert_array_equal(fn(batch, _seed(9)), pad_crop_flip(batch, _seed(9)))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="pad must be >= 0, got -1"):
        pad_crop_flip(_random_batch(1), _seed(0), pad=-1)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        pad_crop_flip(_random_batch(1)[0], _seed(0))


def test_random_affine_is_the_identity_at_zero_and_moves_pixels_as_stated():
    x = np.zeros((1, 9, 9, 1), np.uint8)
    x[0, 4, 6] = 200  # two pixels right of the centre (4, 4)
    same = random_affine(x, tf.constant([3, 4]))
    np.testing.assert_array_equal(same.numpy(), x.astype(np.float32))
    # A pure shear h maps output (x, y) to input x + h (y - cy): on the centre row
    # nothing moves, whatever h is.
    sheared = random_affine(x, tf.constant([3, 4]), shear=0.5).numpy()
    assert sheared[0, 4, 6, 0] == 200
    # Scaling about the centre keeps the centre and moves the off-centre pixel.
    zoomed = random_affine(np.repeat(x, 64, axis=0), tf.constant([5, 6]), scale=0.5).numpy()
    rows = zoomed[:, 4, :, 0]
    assert rows.argmax(axis=1).min() < 6 or rows.argmax(axis=1).max() > 6
    assert np.all(zoomed[:, 4, 4, 0] == 0)


def test_random_affine_draws_per_image_from_the_seed():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    a = random_affine(x, tf.constant([1, 2]), 0.1, 0.1, 0.2).numpy()
    b = random_affine(x, tf.constant([1, 2]), 0.1, 0.1, 0.2).numpy()
    c = random_affine(x, tf.constant([1, 3]), 0.1, 0.1, 0.2).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Each image gets its own draw: the same image twice is distorted differently.
    twice = random_affine(np.repeat(x[:1], 2, axis=0), tf.constant([1, 2]), 0.1, 0.1, 0.2)
    assert not np.array_equal(twice[0].numpy(), twice[1].numpy())


def test_affine_off_leaves_the_translation_stream_as_it_was():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 64)
    plain = next(iter(train_dataset(images, labels, 16, seed=3, pad=2, flip=False)))[0]
    zero = train_dataset(images, labels, 16, seed=3, pad=2, flip=False, affine=(0, 0, 0, 0))
    np.testing.assert_array_equal(plain.numpy(), next(iter(zero))[0].numpy())
    warped = train_dataset(images, labels, 16, seed=3, pad=2, flip=False, affine=(0.1, 0.1, 0.2))
    assert not np.array_equal(plain.numpy(), next(iter(warped))[0].numpy())


def test_random_rotation_keeps_the_distance_from_the_centre():
    x = np.zeros((32, 21, 21, 1), np.float32)
    x[:, 10, 16] = 1.0  # six pixels right of the centre (10, 10)
    out = random_affine(x, tf.constant([7, 8]), rotate=30.0).numpy()[..., 0]
    ys, xs = np.mgrid[0:21, 0:21]
    mass = out.sum(axis=(1, 2))
    cy = (out * ys).sum(axis=(1, 2)) / mass
    cx = (out * xs).sum(axis=(1, 2)) / mass
    radius = np.hypot(cy - 10, cx - 10)
    np.testing.assert_allclose(radius, 6.0, atol=0.35)
    angles = np.degrees(np.arctan2(cy - 10, cx - 10))
    assert np.abs(angles).max() <= 30.5 and np.std(angles) > 5

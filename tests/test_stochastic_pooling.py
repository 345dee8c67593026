"""StochasticPooling2D against Zeiler & Fergus 2013 §3 (sampling) and §3.1 (averaging)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _zoo import reloaded

import cnnzoo  # noqa: F401  (registers the layer for safe_mode loading)
from cnnzoo.layers import StochasticPooling2D


def single_window_input(batch: int) -> np.ndarray:
    """A 4×4 one-channel map: the top-left 2×2 window holds [1, 2, 3, 4], the rest is 0."""
    x = np.zeros((batch, 4, 4, 1), np.float32)
    x[:, 0, 0, 0], x[:, 0, 1, 0], x[:, 1, 0, 0], x[:, 1, 1, 0] = 1.0, 2.0, 3.0, 4.0
    return x


def test_training_samples_in_proportion_to_activations():
    draws = 20000
    layer = StochasticPooling2D(pool_size=2, strides=2, seed=1)
    out = keras.ops.convert_to_numpy(layer(single_window_input(draws), training=True))
    assert out.shape == (draws, 2, 2, 1)
    # The other windows are all zero, so they output 0 whatever is drawn.
    assert np.all(out[:, 0, 1] == 0) and np.all(out[:, 1, :] == 0)
    counts = np.array([np.sum(out[:, 0, 0, 0] == v) for v in (1.0, 2.0, 3.0, 4.0)])
    assert counts.sum() == draws  # every draw is one of the window's activations
    p = np.array([0.1, 0.2, 0.3, 0.4])
    expected = draws * p
    sigma = np.sqrt(draws * p * (1 - p))
    assert np.all(np.abs(counts - expected) < 4 * sigma), counts
    # Pearson's chi-square with 3 degrees of freedom: P(X > 16.27) = 0.001.
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 16.27, (counts, chi2)


def test_negative_activations_are_never_sampled():
    x = single_window_input(2000)
    x[:, 0, 0, 0] = -5.0  # clipped to 0: probability 0 instead of 1/10
    layer = StochasticPooling2D(pool_size=2, strides=2, seed=2)
    out = keras.ops.convert_to_numpy(layer(x, training=True))[:, 0, 0, 0]
    assert set(np.unique(out)) <= {2.0, 3.0, 4.0}


def test_inference_is_probability_weighted_average():
    layer = StochasticPooling2D(pool_size=2, strides=2)
    out = keras.ops.convert_to_numpy(layer(single_window_input(1), training=False))
    # Σ a² / Σ a = (1 + 4 + 9 + 16) / (1 + 2 + 3 + 4) = 3.0
    np.testing.assert_allclose(out[0, 0, 0, 0], 3.0, rtol=1e-6)
    assert np.all(out[0, 0, 1] == 0) and np.all(out[0, 1, :] == 0)
    # training defaults to False outside fit.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(single_window_input(1))), out)


def test_inference_matches_numpy_on_overlapping_windows():
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype(np.float32)
    out = keras.ops.convert_to_numpy(StochasticPooling2D(3, 2)(x))
    a = np.maximum(x, 0.0)
    want = np.zeros((2, 3, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            window = a[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
            total = window.sum(axis=(1, 2))
            squares = (window**2).sum(axis=(1, 2))
            want[:, i, j, :] = np.where(total > 0, squares / np.where(total > 0, total, 1), 0)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
def test_all_zero_or_negative_windows_give_zero(training):
    x = -np.abs(np.random.default_rng(1).normal(size=(3, 6, 6, 2))).astype(np.float32)
    x[0] = 0.0
    out = keras.ops.convert_to_numpy(StochasticPooling2D(seed=3)(x, training=training))
    assert np.all(out == 0.0)


@pytest.mark.parametrize(
    "pool_size, strides, padding, size",
    [(3, 2, "valid", 13), (3, 2, "same", 13), (2, 2, "valid", 7), ((3, 2), (2, 1), "same", 9)],
)
def test_output_shape_matches_max_pooling(pool_size, strides, padding, size):
    x = np.random.default_rng(2).uniform(size=(2, size, size + 1, 4)).astype(np.float32)
    reference = keras.layers.MaxPooling2D(pool_size, strides, padding)
    layer = StochasticPooling2D(pool_size, strides, padding, seed=0)
    want = reference.compute_output_shape(x.shape)
    assert layer.compute_output_shape(x.shape) == want
    assert layer(x, training=True).shape == want
    assert layer(x, training=False).shape == want
    unknown = (None, None, 8, 4)
    assert layer.compute_output_shape(unknown) == reference.compute_output_shape(unknown)


def test_training_output_is_always_a_window_member():
    # Each sampled value must be an activation of its own 3×3 window.
    x = np.random.default_rng(4).uniform(size=(4, 7, 7, 2)).astype(np.float32)
    out = keras.ops.convert_to_numpy(StochasticPooling2D(3, 2, seed=5)(x, training=True))
    for i in range(3):
        for j in range(3):
            window = x[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :].reshape(4, 9, 2)
            assert np.all(np.any(window == out[:, i : i + 1, j, None, :][:, 0], axis=1))


def test_seed_makes_sampling_reproducible():
    x = np.random.default_rng(5).uniform(size=(2, 9, 9, 3)).astype(np.float32)
    first = StochasticPooling2D(seed=7)(x, training=True)
    second = StochasticPooling2D(seed=7)(x, training=True)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)
    )


def test_mixed_float16_inference_does_not_overflow():
    # Σ a² over a 3×3 window of 300s is 8.1e5, beyond float16's 65504.
    x = np.full((1, 3, 3, 1), 300.0, np.float32)
    out = StochasticPooling2D(dtype="mixed_float16")(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).astype(np.float32), 300.0)


def test_save_load_round_trip(tmp_path):
    inputs = keras.Input((7, 7, 3))
    outputs = StochasticPooling2D((3, 3), (2, 2), "same", seed=11, name="pool1")(inputs)
    model = keras.Model(inputs, outputs, name="pool")
    loaded = reloaded(model, tmp_path)
    layer = loaded.get_layer("pool1")
    assert isinstance(layer, StochasticPooling2D)
    settings = (layer.pool_size, layer.strides, layer.padding, layer.seed)
    assert settings == ((3, 3), (2, 2), "same", 11)
    x = np.random.default_rng(6).uniform(size=(2, 7, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool_size": 0}, "pool_size must be a positive int"),
        ({"pool_size": (2, 2, 2)}, "pool_size must be a positive int"),
        ({"strides": 1.5}, "strides must be a positive int"),
        ({"padding": "full"}, "padding must be one of"),
        ({"seed": "abc"}, "seed must be an int or None"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticPooling2D(**kwargs)

"""LocalResponseNormalization against the AlexNet formula (Krizhevsky et al. 2012 §3.3)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from _zoo import reloaded

import cnnzoo  # noqa: F401  (registers the layer for safe_mode loading)
from cnnzoo.layers import LocalResponseNormalization


def reference_lrn(a: np.ndarray, size: int, k: float, alpha: float, beta: float) -> np.ndarray:
    """The §3.3 formula written out channel by channel, α times the plain sum."""
    a = a.astype(np.float64)
    channels = a.shape[-1]
    out = np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - size // 2), min(channels - 1, i + size // 2)
        total = np.sum(a[..., lo : hi + 1] ** 2, axis=-1)
        out[..., i] = a[..., i] / (k + alpha * total) ** beta
    return out


@pytest.fixture
def activations() -> np.ndarray:
    # Large enough (up to ~30) that the denominator differs visibly from k**beta.
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 4, 7)) * 10).astype(np.float32)


def test_paper_convention_matches_formula(activations):
    # AlexNet's values but α large enough to matter, so a wrong window shows.
    layer = LocalResponseNormalization(size=5, k=2.0, alpha=1e-2, beta=0.75)
    got = keras.ops.convert_to_numpy(layer(activations))
    want = reference_lrn(activations, 5, 2.0, 1e-2, 0.75)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The edges, where the window is clipped to channels [0, 2] and [4, 6].
    np.testing.assert_allclose(got[..., 0], want[..., 0], rtol=1e-5)
    np.testing.assert_allclose(got[..., -1], want[..., -1], rtol=1e-5)
    edge = activations[..., 0] / (2.0 + 1e-2 * np.sum(activations[..., :3] ** 2, -1)) ** 0.75
    np.testing.assert_allclose(got[..., 0], edge, rtol=1e-5)


def test_caffe_convention_divides_alpha_by_size_and_matches_tf(activations):
    layer = LocalResponseNormalization(
        size=5, k=2.0, alpha=5e-2, beta=0.75, alpha_convention="caffe"
    )
    got = keras.ops.convert_to_numpy(layer(activations))
    np.testing.assert_allclose(
        got, reference_lrn(activations, 5, 2.0, 1e-2, 0.75), rtol=1e-5, atol=1e-6
    )
    tf_lrn = tf.nn.local_response_normalization(
        activations, depth_radius=2, bias=2.0, alpha=5e-2 / 5, beta=0.75
    ).numpy()
    np.testing.assert_allclose(got, tf_lrn, rtol=1e-5, atol=1e-6)


def test_size_one_and_wider_than_channels(activations):
    for size in (1, 9):
        got = keras.ops.convert_to_numpy(
            LocalResponseNormalization(size=size, alpha=1e-2)(activations)
        )
        np.testing.assert_allclose(
            got, reference_lrn(activations, size, 2.0, 1e-2, 0.75), rtol=1e-5, atol=1e-6
        )


def test_gradient_matches_finite_differences():
    layer = LocalResponseNormalization(size=5, k=2.0, alpha=1e-2, beta=0.75, dtype="float64")
    x = tf.constant(np.random.default_rng(1).standard_normal((1, 2, 2, 7)) * 3, tf.float64)
    theoretical, numerical = tf.test.compute_gradient(lambda t: layer(t), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-7)


def test_runs_under_xla(activations):
    layer = LocalResponseNormalization(alpha=1e-2)

    @tf.function(jit_compile=True)
    def forward_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y)
        return y, tape.gradient(loss, x)

    y, grad = forward_and_grad(tf.constant(activations))
    np.testing.assert_allclose(
        y.numpy(), reference_lrn(activations, 5, 2.0, 1e-2, 0.75), rtol=1e-5, atol=1e-6
    )
    assert np.all(np.isfinite(grad.numpy()))


def test_runs_under_xla_with_float16_policy():
    # The float16 LRN that XLA mis-compiles (openxla/xla#43450) never reaches it here.
    x = np.random.default_rng(3).uniform(0, 300, (1, 3, 3, 7)).astype(np.float32)
    layer = LocalResponseNormalization(dtype="mixed_float16")
    y = tf.function(layer, jit_compile=True)(tf.constant(x))
    assert y.dtype == tf.float16
    np.testing.assert_allclose(
        tf.cast(y, tf.float32).numpy(), reference_lrn(x, 5, 2.0, 1e-4, 0.75), rtol=2e-3
    )


@pytest.mark.parametrize(
    "policy, rtol", [("mixed_float16", 2e-3), ("mixed_bfloat16", 1.6e-2)]
)  # about twice the unit roundoff of each format (2^-10, 2^-7) on two roundings
def test_mixed_precision_stays_finite_and_close(policy, rtol):
    # Activations up to ~300: their squares (9e4) overflow float16 (max 65504).
    x = np.random.default_rng(2).uniform(-300, 300, (2, 4, 4, 7)).astype(np.float32)
    x[0, 0, 0, :] = 300.0
    want = keras.ops.convert_to_numpy(LocalResponseNormalization()(x))
    layer = LocalResponseNormalization(dtype=policy)
    got = layer(x)
    assert keras.backend.standardize_dtype(got.dtype) == layer.compute_dtype
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
    assert np.all(np.isfinite(got))
    # The input is rounded to the compute dtype first, then the output again.
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2)


def test_output_shape_and_no_weights():
    layer = LocalResponseNormalization()
    assert layer.compute_output_shape((None, 13, 13, 96)) == (None, 13, 13, 96)
    outputs = layer(keras.Input((13, 13, 96)))
    assert tuple(outputs.shape) == (None, 13, 13, 96)
    assert layer.weights == []


def test_save_load_round_trip(tmp_path, activations):
    inputs = keras.Input((3, 4, 7))
    outputs = LocalResponseNormalization(
        size=3, k=1.0, alpha=2e-3, beta=0.5, alpha_convention="caffe", name="norm1"
    )(inputs)
    model = keras.Model(inputs, outputs, name="lrn")
    loaded = reloaded(model, tmp_path)
    layer = loaded.get_layer("norm1")
    assert isinstance(layer, LocalResponseNormalization)
    settings = ("size", "k", "alpha", "beta", "alpha_convention")
    assert [getattr(layer, a) for a in settings] == [3, 1.0, 2e-3, 0.5, "caffe"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(activations)),
        keras.ops.convert_to_numpy(model(activations)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 4}, "size must be an odd positive int"),
        ({"size": 0}, "size must be an odd positive int"),
        ({"size": 2.5}, "size must be an odd positive int"),
        ({"k": 0.0}, "k must be > 0"),
        ({"alpha": -1e-4}, "alpha must be >= 0"),
        ({"beta": float("nan")}, "beta must be a finite number"),
        ({"alpha_convention": "pytorch"}, "alpha_convention must be one of"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalResponseNormalization(**kwargs)


def test_unknown_channel_count_is_rejected():
    with pytest.raises(ValueError, match="channel dimension must be known"):
        LocalResponseNormalization()(keras.Input((None, None, None)))

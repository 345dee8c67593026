"""`FusedBatchNormalization` against Keras's own BatchNormalization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnzoo.layers import FusedBatchNormalization


def _pair(**kwargs):
    """A Keras BN and a fused BN with the same (non-trivial) weights."""
    rng = np.random.default_rng(0)
    ref, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    for layer in (ref, fused):
        layer.build((None, 5, 6, 4))
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") for w in ref.get_weights()]
    weights[-1] = np.abs(weights[-1])  # the moving variance
    ref.set_weights(weights)
    fused.set_weights(weights)
    return ref, fused


@pytest.mark.parametrize("scale, center", [(True, True), (False, True), (True, False)])
def test_training_step_matches_keras(scale, center):
    ref, fused = _pair(momentum=0.9, epsilon=1e-3, scale=scale, center=center)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (8, 5, 6, 4)), tf.float32)
    upstream = tf.constant(np.random.default_rng(2).normal(size=(8, 5, 6, 4)), tf.float32)
    results = []
    for layer in (ref, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x] + [v.value for v in layer.trainable_variables])
        results.append((y, grads, layer.get_weights()))
    (y0, g0, w0), (y1, g1, w1) = results
    np.testing.assert_allclose(y1, y0, atol=2e-5)
    assert len(g0) == len(g1) == 1 + scale + center
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_allclose(b, a, atol=2e-4, rtol=1e-4)
    # The moving mean and the (biased) moving variance advance identically.
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_inference_matches_keras_and_leaves_the_statistics():
    ref, fused = _pair()
    before = fused.get_weights()
    x = np.random.default_rng(3).normal(size=(3, 5, 6, 4)).astype("float32")
    np.testing.assert_allclose(fused(x, training=False), ref(x, training=False), atol=1e-5)
    for a, b in zip(before, fused.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_frozen_layer_uses_moving_statistics_in_training():
    ref, fused = _pair()
    ref.trainable = fused.trainable = False
    x = np.random.default_rng(4).normal(size=(3, 5, 6, 4)).astype("float32")
    np.testing.assert_allclose(fused(x, training=True), ref(x, training=True), atol=1e-5)


def test_mixed_precision_computes_in_float32_and_returns_the_compute_dtype():
    layer = FusedBatchNormalization(dtype="mixed_float16")
    x = tf.constant(np.full((2, 3, 3, 4), 300.0), tf.float16)
    y = layer(x, training=True)
    assert y.dtype == tf.float16 and layer.moving_mean.dtype == "float32"
    # 300^2 overflows nothing: the moments are float32 (the output is exactly 0 here).
    np.testing.assert_array_equal(y.numpy(), 0.0)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.01 * 300.0, rtol=1e-6)


def test_other_ranks_and_synchronized_fall_back_to_keras():
    dense = FusedBatchNormalization()
    x = np.random.default_rng(5).normal(size=(6, 3)).astype("float32")
    ref = keras.layers.BatchNormalization()
    np.testing.assert_allclose(dense(x, training=True), ref(x, training=True), atol=1e-5)
    synced = FusedBatchNormalization(synchronized=True)
    assert not synced._fusable(tf.zeros((1, 2, 2, 3)), None)
    assert not FusedBatchNormalization(axis=1)._fusable(tf.zeros((1, 2, 2, 3)), None)


def test_saved_model_round_trip_without_custom_objects(tmp_path):
    model = keras.Sequential([keras.Input((4, 4, 2)), FusedBatchNormalization(momentum=0.5)])
    x = np.random.default_rng(6).normal(size=(2, 4, 4, 2)).astype("float32")
    model(x, training=True)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0], FusedBatchNormalization)
    assert loaded.layers[0].momentum == 0.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_under_xla():
    layer = FusedBatchNormalization()
    x = tf.constant(np.random.default_rng(7).normal(size=(2, 3, 3, 4)), tf.float32)
    eager = layer(x, training=False)
    jitted = tf.function(lambda t: layer(t, training=True), jit_compile=True)(x)
    assert jitted.shape == eager.shape and np.isfinite(jitted.numpy()).all()

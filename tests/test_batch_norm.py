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


def _bf16_step(layer, x, upstream):
    """One training step of `layer`: output, input gradient and weights after it, as float32."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    grads = tape.gradient(loss, [x] + [v.value for v in layer.trainable_variables])
    as_f32 = [tf.cast(t, tf.float32).numpy() for t in [y, *grads]]
    return y.dtype, as_f32, layer.get_weights()


def test_bfloat16_runs_in_bfloat16_and_agrees_with_float32():
    # issue 22: the kernel is fed bfloat16 (no casts around it); statistics stay float32.
    ref, _ = _pair(momentum=0.9)
    bf16 = FusedBatchNormalization(momentum=0.9, dtype="mixed_bfloat16")
    bf16.build((None, 5, 6, 4))
    bf16.set_weights(ref.get_weights())
    x = np.random.default_rng(8).normal(2.0, 3.0, (8, 5, 6, 4)).astype("float32")
    upstream = tf.constant(np.random.default_rng(9).normal(size=x.shape), tf.float32)
    dtype, got, weights = _bf16_step(bf16, tf.constant(x, tf.bfloat16), upstream)
    _, want, ref_weights = _bf16_step(ref, tf.constant(x), upstream)
    assert dtype == tf.bfloat16 and bf16.moving_mean.dtype == "float32"
    graph = (
        tf.function(lambda t: bf16(t, training=True))
        .get_concrete_function(tf.TensorSpec((8, 5, 6, 4), tf.bfloat16))
        .graph
    )
    kernels = [op for op in graph.get_operations() if op.type == "FusedBatchNormV3"]
    assert [op.inputs[0].dtype for op in kernels] == [tf.bfloat16]
    # bfloat16 keeps 8 significant bits: relative error 2^-8 of each quantity's scale.
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b, a, atol=2**-7 * np.abs(a).max())
    for a, b in zip(ref_weights, weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=2**-7, atol=1e-3)


@pytest.mark.parametrize(
    "train_in, load_in", [("mixed_bfloat16", "float32"), ("float32", "mixed_bfloat16")]
)
def test_a_model_trained_in_one_precision_loads_in_the_other(tmp_path, train_in, load_in):
    def model(policy):
        return keras.Sequential(
            [
                keras.Input((4, 4, 3)),
                keras.layers.Conv2D(4, 3, dtype=policy),
                FusedBatchNormalization(dtype=policy),
                keras.layers.GlobalAveragePooling2D(dtype=policy),
            ]
        )

    x = np.random.default_rng(10).normal(size=(16, 4, 4, 3)).astype("float32")
    trained = model(train_in)
    trained.compile(optimizer="sgd", loss="mse")
    trained.fit(x, np.ones((16, 4)), epochs=2, verbose=0)
    trained.save_weights(tmp_path / "m.weights.h5")
    other = model(load_in)
    other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(trained.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        np.asarray(other(x, training=False), "float32"),
        np.asarray(trained(x, training=False), "float32"),
        atol=0.05,
    )

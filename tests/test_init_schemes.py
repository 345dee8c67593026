"""Initialisation schemes applied to built models (cnnzoo.training.init_schemes)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnzoo.training.init_schemes import INIT_SCHEMES, apply_init_scheme


def wu_cifar_like() -> keras.Model:
    """Small conv1-conv3 / fc1 / predictions network with enough weights for std estimates."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Conv2D(32, 5, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="fc1")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs, outputs, name="wu_cifar")


def alexnet_like() -> keras.Model:
    """AlexNet's layer names and grouping (conv2, conv4, conv5 in two groups), tiny widths."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, groups=2, activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(12, 3, activation="relu", name="conv3")(x)
    x = keras.layers.Conv2D(12, 3, groups=2, activation="relu", name="conv4")(x)
    x = keras.layers.Conv2D(8, 3, groups=2, activation="relu", name="conv5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc6")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc7")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="alexnet_tiny")


def weights(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_scheme_names():
    # The papers' schemes; the recipe schema's list must name each implemented one
    # (tests/test_recipe_schema.py checks the two are equal).
    assert {"msra", "caffe_xavier", "caffe_cifar10_quick", "alexnet"} <= set(INIT_SCHEMES)


@pytest.mark.parametrize(
    "scheme, stds",
    [
        # W. Wu 2016 §3.2.1.
        ("wu2016_cifar_gaussian", (1e-4, 1e-4, 1e-3, 1e-2, 1e-1)),
        # Caffe examples/cifar10/cifar10_quick_train_test.prototxt.
        ("caffe_cifar10_quick", (1e-4, 1e-2, 1e-2, 1e-1, 1e-1)),
    ],
)
def test_per_layer_gaussian_stds(scheme, stds):
    model = wu_cifar_like()
    apply_init_scheme(model, scheme, seed=0)
    names = ("conv1", "conv2", "conv3", "fc1", "predictions")
    for name, std in zip(names, stds, strict=True):
        layer = model.get_layer(name)
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        assert abs(kernel.std() / std - 1) < 0.1, (name, kernel.std())
        assert abs(kernel.mean()) < 4 * std / np.sqrt(kernel.size), (name, kernel.mean())
        assert np.all(keras.ops.convert_to_numpy(layer.bias) == 0)


def test_alexnet_weights_and_biases():
    model = alexnet_like()
    apply_init_scheme(model, "alexnet", seed=0)
    # Krizhevsky et al. 2012 §5: N(0, 0.01) weights; biases 1 in conv2, conv4, conv5, fc6, fc7.
    all_kernels = np.concatenate(
        [
            keras.ops.convert_to_numpy(layer.kernel).ravel()
            for layer in model.layers
            if hasattr(layer, "kernel")
        ]
    )
    assert abs(all_kernels.std() / 0.01 - 1) < 0.1
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "predictions"):
        bias = keras.ops.convert_to_numpy(model.get_layer(name).bias)
        want = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert np.all(bias == want), (name, bias)


def test_he_normal_and_glorot_uniform_statistics():
    model = wu_cifar_like()
    apply_init_scheme(model, "he_normal", seed=0)
    conv3 = keras.ops.convert_to_numpy(model.get_layer("conv3").kernel)  # fan_in 5·5·16
    assert abs(conv3.std() / np.sqrt(2.0 / 400) - 1) < 0.1
    # "msra" is the same untruncated Gaussian: 4.6% of a normal lies beyond 2 std,
    # where Keras's truncated he_normal puts nothing.
    apply_init_scheme(model, "msra", seed=0)
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv3").kernel)
    np.testing.assert_array_equal(kernel, conv3)
    beyond = np.mean(np.abs(kernel) > 2 * np.sqrt(2.0 / 400))
    assert 0.03 < beyond < 0.065
    apply_init_scheme(model, "glorot_uniform", seed=0)
    conv3 = keras.ops.convert_to_numpy(model.get_layer("conv3").kernel)
    limit = np.sqrt(6.0 / (400 + 800))  # fan_out 5·5·32
    assert conv3.max() <= limit and conv3.min() >= -limit
    assert abs(conv3.std() / (limit / np.sqrt(3)) - 1) < 0.1
    assert all(
        np.all(keras.ops.convert_to_numpy(layer.bias) == 0)
        for layer in model.layers
        if hasattr(layer, "bias")
    )


def test_nested_models_are_walked():
    inner = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 3, name="conv2")], name="features"
    )
    inputs = keras.Input((4, 4, 3))
    x = inner(inputs)
    x = keras.layers.Flatten()(x)
    for name in ("fc6", "fc7"):
        x = keras.layers.Dense(4, name=name)(x)
    outer = keras.Model(inputs, keras.layers.Dense(2, name="conv4")(x))
    with pytest.raises(ValueError, match=r"\['conv5'\]"):
        apply_init_scheme(outer, "alexnet")
    inner_conv = inner.get_layer("conv2")
    apply_init_scheme(outer, "he_normal")  # no error; nested conv2 is re-drawn
    before = keras.ops.convert_to_numpy(inner_conv.kernel).copy()
    apply_init_scheme(outer, "he_normal", seed=1)
    assert not np.allclose(before, keras.ops.convert_to_numpy(inner_conv.kernel))


def test_determinism():
    first, second = alexnet_like(), alexnet_like()
    apply_init_scheme(first, "alexnet", seed=3)
    apply_init_scheme(second, "alexnet", seed=3)
    for a, b in zip(weights(first), weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    apply_init_scheme(second, "alexnet", seed=4)
    assert not np.array_equal(
        keras.ops.convert_to_numpy(first.get_layer("conv1").kernel),
        keras.ops.convert_to_numpy(second.get_layer("conv1").kernel),
    )


def test_unknown_scheme_lists_known_ones():
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'.*alexnet"):
        apply_init_scheme(wu_cifar_like(), "xavier")


def test_missing_layer_lists_missing_and_available():
    with pytest.raises(ValueError) as info:
        apply_init_scheme(wu_cifar_like(), "alexnet")
    message = str(info.value)
    assert "['conv4', 'conv5', 'fc6', 'fc7']" in message
    assert "['conv1', 'conv2', 'conv3', 'fc1', 'predictions']" in message


def test_per_layer_scheme_rejects_unnamed_layers():
    with pytest.raises(ValueError, match=r"also has Conv/Dense layers \['conv4', 'conv5'"):
        model = alexnet_like()
        # Give it Wu's fc1 so that only the extra layers are the problem.
        inputs = keras.Input(model.input_shape[1:])
        x = keras.layers.Dense(3, name="fc1")(keras.layers.Flatten()(model(inputs)))
        apply_init_scheme(keras.Model(inputs, x), "wu2016_cifar_gaussian")


def test_bad_seed_and_unbuilt_model():
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        apply_init_scheme(wu_cifar_like(), "he_normal", seed=-1)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must be built"):
        apply_init_scheme(unbuilt, "he_normal")


class TwoTowerConv(keras.layers.Layer):
    """A grouped convolution written as two Conv2D, the way AlexNet split it over two GPUs."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.towers = [keras.layers.Conv2D(filters // 2, 3, name=f"tower{i}") for i in (0, 1)]

    def call(self, x):
        halves = keras.ops.split(x, 2, axis=-1)
        return keras.ops.concatenate([t(h) for t, h in zip(self.towers, halves, strict=True)], -1)


def test_composite_layer_answers_to_its_own_name():
    inputs = keras.Input((8, 8, 4))
    x = TwoTowerConv(4, name="conv2")(inputs)
    outputs = keras.layers.Dense(2, name="fc6")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"lacks; its Conv/Dense layers are \['conv2', 'fc6'\]"):
        apply_init_scheme(model, "alexnet")
    apply_init_scheme(model, "he_normal", seed=0)
    tower0, tower1 = model.get_layer("conv2").towers
    # Different draws per tower (their paths differ), both re-initialised.
    assert not np.array_equal(
        keras.ops.convert_to_numpy(tower0.kernel), keras.ops.convert_to_numpy(tower1.kernel)
    )
    assert np.all(keras.ops.convert_to_numpy(tower1.bias) == 0)


def test_caffe_xavier_limit_uses_fan_in_only():
    import keras
    import numpy as np

    from cnnzoo.training.init_schemes import apply_init_scheme

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(20, 5, name="conv1")(inputs)
    model = keras.Model(inputs, x)
    apply_init_scheme(model, "caffe_xavier", seed=1)
    kernel = np.asarray(model.get_layer("conv1").kernel)
    limit = np.sqrt(3.0 / 25)  # fan_in = 5 * 5 * 1
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert np.all(np.asarray(model.get_layer("conv1").bias) == 0)

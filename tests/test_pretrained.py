"""Weights by layer name: shape checks, all-or-nothing copies, build(weights=...)."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.pretrained import application_for, copy_weights, load_weights


def _net(width=4, extra=False, name="net"):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(width, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if extra:
        x = keras.layers.Dense(width, name="extra")(x)  # keeps the classifier's shape
    return keras.Model(inputs, keras.layers.Dense(3, name="predictions")(x), name=name)


def _values(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


def test_copy_makes_identical_predictions():
    source, target = _net(name="a"), _net(name="b")
    assert copy_weights(source, target) == 2
    x = np.random.default_rng(0).uniform(size=(2, 6, 6, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(target(x)))


def test_shape_mismatch_names_the_layer_and_changes_nothing():
    source, target = _net(width=4, name="a"), _net(width=8, name="b")
    before = _values(target)
    with pytest.raises(ValueError, match=r"layer 'conv', weight .*expected shape \(3, 3, 3, 8\)"):
        copy_weights(source, target)
    for a, b in zip(before, _values(target), strict=True):
        np.testing.assert_array_equal(a, b)


def test_missing_layer_is_an_error_unless_skipped():
    source, target = _net(extra=True, name="a"), _net(name="b")
    with pytest.raises(ValueError, match="layer 'extra' of 'a' has no counterpart in 'b'"):
        copy_weights(source, target)
    assert copy_weights(source, target, skip_missing=True) == 2  # conv and predictions


def test_weights_file_and_unknown_application(tmp_path):
    source, target = _net(name="a"), _net(name="b")
    source.save_weights(tmp_path / "w.weights.h5")
    load_weights(target, "anything", tmp_path / "w.weights.h5")
    for a, b in zip(_values(source), _values(target), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        load_weights(target, "anything", tmp_path / "nope.weights.h5")
    with pytest.raises(ValueError, match="'lenet5' has no keras.applications counterpart"):
        application_for("lenet5")


def test_keras_file_weights_leave_the_recursion_limit_alone(tmp_path):
    source, target = _net(name="a"), _net(name="b")
    source.save(tmp_path / "a.keras")
    limit = sys.getrecursionlimit()
    load_weights(target, "anything", tmp_path / "a.keras")
    assert sys.getrecursionlimit() == limit
    for a, b in zip(_values(source), _values(target), strict=True):
        np.testing.assert_array_equal(a, b)


def test_imagenet_weights_refuse_a_variant_they_do_not_fit():
    # ResNet-50's published Keras weights belong to the biased-convolution variant.
    with pytest.raises(ValueError, match=r"do not fit use_bias=False \(needs True\)"):
        cnnzoo.build("resnet50", use_bias=False, weights="imagenet")


def test_order_matching_for_automatically_named_layers():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)  # conv2d_N: N depends on the process's history
    x = keras.layers.GlobalAveragePooling2D()(x)
    source = keras.Model(inputs, keras.layers.Dense(3)(x), name="auto")
    target = _net(name="b")
    with pytest.raises(ValueError, match="has no counterpart"):
        copy_weights(source, target)
    assert copy_weights(source, target, match="order") == 2
    x = np.random.default_rng(0).uniform(size=(2, 6, 6, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(target(x)))
    with pytest.raises(ValueError, match="'a' has 3 layers with weights, 'b' has 2"):
        copy_weights(_net(extra=True, name="a"), target, match="order")

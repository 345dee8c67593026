"""What the model tests share: fast zero-initialized builds and the counts they check."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from unittest import mock

import keras
import numpy as np

import cnnzoo
from cnnzoo.costs import count_params
from cnnzoo.layers.batch_norm import FusedBatchNormalization


def _zeros(self, shape, dtype=None):
    return keras.ops.zeros(shape, dtype=dtype)


@contextlib.contextmanager
def zero_init():
    """Keras's variance-scaling initializers (Glorot, He, LeCun) give zeros inside the block.

    Counts, names, shapes and multiply-adds do not depend on the values, and drawing
    the 10-140M random numbers of the big nets is what makes building them slow
    (~5 s a VGG on 2 cores). Keras has no public way to build without initializing,
    hence the patch, kept to this one test helper.
    """
    with mock.patch.object(keras.initializers.VarianceScaling, "__call__", _zeros):
        yield


def build_zeros(name: str, **overrides) -> keras.Model:
    """``cnnzoo.build(name, **overrides)`` with zero kernels (see `zero_init`)."""
    with zero_init():
        return cnnzoo.build(name, **overrides)


@functools.cache
def shared(name: str, **overrides) -> keras.Model:
    """`build_zeros`, built once per configuration and shared by the tests of a session.

    For counts, names and shapes only: the kernels are zeros, and a test must not
    change the model.
    """
    return build_zeros(name, **overrides)


def trainable(model) -> int:
    """Trainable parameters of `model`."""
    return count_params(model)["trainable"]


def bn_moving_stats(model) -> int:
    """Moving means and variances of `model`'s BatchNormalization layers, one each per channel."""
    return sum(
        2 * layer.moving_mean.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def adds(model) -> int:
    """The `Add` layers of `model` (one per residual unit in the ResNets)."""
    return sum(isinstance(layer, keras.layers.Add) for layer in model.layers)


def weight_layers(model) -> int:
    """Depth as the ResNet papers count it: convolutions and fully connected layers,
    projection shortcuts (``*_0_*``) excluded."""
    return sum(
        isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and "_0_" not in layer.name
        for layer in model.layers
    )


def with_keras_batch_norm(model) -> keras.Model:
    """A copy of `model`, weights included, computing BatchNorm with Keras's own layer.

    `FusedBatchNormalization` is Keras's layer on TensorFlow's fused kernel, which
    rounds differently; comparisons with keras.applications use Keras's arithmetic
    (tests/test_batch_norm.py checks the fused kernel against it).
    """

    def clone(layer):
        kind = type(layer)
        if kind is FusedBatchNormalization:
            kind = keras.layers.BatchNormalization
        return kind.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def reloaded(model, directory) -> keras.Model:
    """`model` saved as ``.keras`` under `directory` and loaded back in safe mode."""
    path = Path(directory) / f"{model.name}.keras"
    model.save(path)
    return keras.saving.load_model(path, safe_mode=True)


def assert_layers(model, names: str):
    """`model`'s layer names are unique and include every one of `names` (space-separated)."""
    present = [layer.name for layer in model.layers]
    assert len(present) == len(set(present))
    missing = [name for name in names.split() if name not in present]
    assert not missing, missing


def assert_output_shapes(model, shapes):
    """Each layer of `shapes` outputs that shape (batch dimension left out)."""
    got = {name: tuple(model.get_layer(name).output.shape[1:]) for name in shapes}
    assert got == {name: tuple(shape) for name, shape in shapes.items()}


def assert_informative_match(expected, got):
    """`got` equals reference probabilities `expected` that a misplaced weight would change.

    The reference softmax must be neither saturated nor uniform and must differ
    between the first two images, else any transplant would "match".
    """
    assert 0.01 < expected.max() < 0.99
    assert np.abs(expected[0] - expected[1]).max() > 1e-3
    assert np.abs(got - expected).max() <= 1e-5

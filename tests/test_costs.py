"""Parameter and multiply-add counts, against hand computation and Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.costs import count_params, format_summary, layer_table, multiply_adds


@pytest.fixture(scope="module")
def resnet20():
    return cnnzoo.build("resnet20")


def _tiny():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # 4x4x4
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)  # 4x4x8
    x = keras.layers.SeparableConv2D(6, 3)(x)  # 2x2x6
    x = keras.layers.Conv2D(4, 1, groups=2)(x)  # 2x2x4, kernel (1, 1, 3, 4)
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same")(x)  # 2x2x2
    x = keras.layers.MaxPooling2D(1)(x)
    x = keras.layers.Flatten()(x)  # 8
    outputs = keras.layers.Dense(10)(x)
    return keras.Model(inputs, outputs)


# Per image, one multiply-add per kernel weight per output position:
TINY_MACS = (
    4 * 4 * (3 * 3 * 3 * 4)  # strided conv: 16 positions x 108 weights = 1,728
    + 4 * 4 * (3 * 3 * 4 * 2)  # depthwise x2: 16 x 72 = 1,152
    + 2 * 2 * (3 * 3 * 8)
    + 2 * 2 * (8 * 6)  # separable: 288 depthwise + 192 pointwise
    + 2 * 2 * (1 * 1 * 3 * 4)  # 2 groups of 3 in -> 2 out: 48
    + 2 * 2 * (3 * 3 * 4 * 2)  # dilation changes reach, not taps: 288
    + 8 * 10  # dense: 80
)  # = 3,776; BatchNorm, pooling, flatten and biases not counted


def test_multiply_adds_of_tiny_model():
    assert TINY_MACS == 3_776
    assert multiply_adds(_tiny()) == TINY_MACS


def test_nested_models_are_flattened_per_call():
    inner = _tiny()
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Add()([inner(inputs), inner(inputs)]))
    assert multiply_adds(outer) == 2 * TINY_MACS
    rows = layer_table(outer)
    assert sum(r.params for r in rows) == count_params(outer)["total"] == inner.count_params()
    assert all(r.name.startswith(f"{inner.name}/") for r in rows[1:-1])

    seq = keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.Dense(3)])
    assert multiply_adds(seq) == TINY_MACS + 10 * 3


def test_resnet20_multiply_adds(resnet20):
    # He et al. 2016 §4.2, per 32x32 image, conv and FC weights only:
    #   conv1          32*32 * 3*3*3*16                       =    442,368
    #   stage 1 (32x32, 6 convs 16->16)  6 * 32*32 * 9*16*16  = 14,155,776
    #   stage 2 (16x16) first 16->32: 16*16 * 9*16*32         =  1,179,648
    #                   5 more 32->32: 5 * 16*16 * 9*32*32    = 11,796,480
    #   stage 3 (8x8)   first 32->64: 8*8 * 9*32*64           =  1,179,648
    #                   5 more 64->64: 5 * 8*8 * 9*64*64      = 11,796,480
    #   fc             64 * 10                                =        640
    #   total                                                 = 40,551,040 (~40.6M)
    # Tools that also count BatchNorm/ReLU/pooling report ~40.8M for the same net.
    expected = 442_368 + 14_155_776 + 1_179_648 + 11_796_480 + 1_179_648 + 11_796_480 + 640
    assert expected == 40_551_040
    assert multiply_adds(resnet20) == expected
    # Option A adds no multiply-adds; option B's two projections add theirs.
    b = cnnzoo.build("resnet20", shortcut="B")
    assert multiply_adds(b) == expected + 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64


def test_count_params_matches_keras(resnet20):
    counts = count_params(resnet20)
    assert counts["trainable"] == 269_722
    assert counts["total"] == resnet20.count_params()
    assert counts["non_trainable"] == counts["total"] - counts["trainable"] == 1_376
    tiny = _tiny()
    assert count_params(tiny)["total"] == tiny.count_params()


def test_layer_table_and_summary(resnet20):
    rows = layer_table(resnet20)
    # One row per layer (each is called once), the input included.
    assert sorted(r.name for r in rows) == sorted(layer.name for layer in resnet20.layers)
    assert sum(r.params for r in rows) == resnet20.count_params()
    assert sum(r.macs for r in rows) == multiply_adds(resnet20)
    row = {r.name: r for r in rows}["conv2_block1_1_conv"]
    assert row.class_name == "Conv2D"
    assert row.output_shape == (None, 32, 32, 16)
    assert row.params == 2_304 and row.macs == 32 * 32 * 9 * 16 * 16
    text = format_summary(resnet20)
    for needle in ("269,722", "1,376", "40,551,040", "conv2_block1_1_conv", "predictions"):
        assert needle in text


def test_unknown_image_size_is_an_error():
    model = cnnzoo.build("resnet20", input_shape=(None, None, 3))
    assert count_params(model)["trainable"] == 269_722
    with pytest.raises(ValueError, match="fixed input size"):
        multiply_adds(model)


def test_operations_that_are_not_layers():
    inputs = keras.Input((4,))
    x = keras.ops.multiply(inputs, 2.0)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    assert multiply_adds(model) == 12
    assert np.isfinite(model.predict(np.ones((1, 4)), verbose=0)).all()

"""`cnnzoo.batch_norm_folding`: folded graphs compute what the originals do, faster."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.batch_norm_folding import FoldedBatchNormalization, fold_batch_norm


def _randomize_statistics(model, seed=0):
    """Non-trivial BatchNorm parameters and moving statistics, as a trained net has."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, w.shape).astype("float32")
                    if i in (0, 3)  # gamma, moving variance: positive
                    else rng.normal(0, 0.5, w.shape).astype("float32")
                    for i, w in enumerate(layer.get_weights())
                ]
            )


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _count(model, cls):
    return sum(isinstance(layer, cls) for layer in _all_layers(model))


def _images(shape, n=8, seed=1):
    # Standardised pixels, as the nets see them behind their preprocessing: raw [0, 255]
    # into a bare net gives logits in the thousands, where float rounding alone (which
    # the fold changes) moves the softmax by more than any fixed tolerance.
    return np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype("float32")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "arch, folds",
    [
        # ResNet-20: every BatchNorm follows a convolution (He et al. 2016, §3.3).
        ("resnet20", 19),
        # Pre-activation (fb.resnet.torch's layout): the BN inside each of the 15
        # units follows a convolution, and so does the first unit's pre-activation
        # (on the stem's output, which the shortcut reads after it); the others
        # follow an addition and stay.
        ("preact_resnet32", 16),
    ],
)
def test_folded_model_matches_the_original(arch, folds, seed):
    keras.utils.set_random_seed(seed)
    model = cnnzoo.build(arch)
    _randomize_statistics(model)
    before = [w.copy() for w in model.get_weights()]
    folded = fold_batch_norm(model)
    x = _images(model.input_shape[1:])
    np.testing.assert_allclose(
        folded(x, training=False), model(x, training=False), rtol=1e-4, atol=1e-4
    )
    assert _count(folded, FoldedBatchNormalization) == folds
    assert _count(model, FoldedBatchNormalization) == 0
    # The original is untouched and keeps its own weights.
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Each fold drops a BN's four vectors (gamma, beta, moving mean and variance) and
    # gives its bias-free convolution one bias vector.
    folded_bns = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
        and isinstance(_layer(folded, layer.name), FoldedBatchNormalization)
    ]
    channels = sum(int(layer.moving_mean.shape[0]) for layer in folded_bns)
    assert model.count_params() - folded.count_params() == 3 * channels


def _layer(model, name):
    matches = [layer for layer in _all_layers(model) if layer.name == name]
    assert len(matches) == 1, name
    return matches[0]


def _conv_bn(conv_kwargs=None, second_reader=False):
    """input -> Conv2D -> BN -> ReLU (-> and the conv's output read again)."""
    inputs = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv", **(conv_kwargs or {}))(inputs)
    z = keras.layers.BatchNormalization(name="bn")(y)
    out = keras.layers.ReLU()(z)
    if second_reader:
        out = keras.layers.Add()([out, y])
    model = keras.Model(inputs, out)
    _randomize_statistics(model)
    return model


@pytest.mark.parametrize(
    "kwargs, second_reader, folds",
    [
        ({}, False, True),
        ({"use_bias": True}, False, True),  # the conv's own bias folds too
        ({"activation": "relu"}, False, False),  # BN after a non-linearity: not affine in x
        ({}, True, False),  # the conv's output is read elsewhere, unnormalised
    ],
)
def test_what_folds(kwargs, second_reader, folds):
    model = _conv_bn(kwargs, second_reader)
    folded = fold_batch_norm(model)
    assert (folded is not model) == folds
    assert _count(folded, FoldedBatchNormalization) == int(folds)
    x = _images((8, 8, 3))
    np.testing.assert_allclose(folded(x), model(x), rtol=1e-4, atol=1e-4)


def test_nested_model_is_folded():
    inner = _conv_bn()
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Rescaling(1 / 255)(inner(inputs)))
    folded = fold_batch_norm(outer)
    assert _count(folded, FoldedBatchNormalization) == 1
    x = _images((8, 8, 3))
    np.testing.assert_allclose(folded(x), outer(x), rtol=1e-4, atol=1e-5)


def test_a_model_without_pairs_is_returned_as_it_is():
    model = cnnzoo.build("lenet5")  # no BatchNorm at all (LeCun et al. 1998)
    assert fold_batch_norm(model) is model


def test_a_bfloat16_model_folds_into_bfloat16_identities():
    """Under mixed_bfloat16 the identities keep the BatchNorms' policy: a float32 one would
    cast each folded convolution's output and break its fusion with the addition and ReLU."""
    import tensorflow as tf

    from cnnzoo.compute_dtype import in_policy

    keras.utils.set_random_seed(0)
    model = in_policy(cnnzoo.build("resnet20"), "mixed_bfloat16")
    _randomize_statistics(model)
    folded = fold_batch_norm(model)
    identities = [la for la in _all_layers(folded) if isinstance(la, FoldedBatchNormalization)]
    assert len(identities) == 19
    assert {la.dtype_policy.name for la in identities} == {"mixed_bfloat16"}
    x = _images((32, 32, 3))
    # Within bfloat16's rounding (the folded kernels are rounded once, after scaling),
    # which 19 layers of random statistics compound (up to 0.06 in a probability, seen).
    got, want = (tf.cast(m(x, training=False), tf.float32).numpy() for m in (folded, model))
    np.testing.assert_allclose(got, want, atol=0.15)
    assert np.abs(got - want).mean() < 0.03

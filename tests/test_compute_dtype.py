"""`--precision auto` and models moved to another compute dtype (issue 22)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnzoo.compute_dtype import auto_policy, in_policy, policy_for
from cnnzoo.layers import FusedBatchNormalization

AVX2 = {"model": "AMD EPYC", "cores": 2, "isa": ["avx2", "fma"], "native_bf16": False}
AMX = {"model": "Intel Xeon", "cores": 2, "isa": ["avx512f", "amx_bf16"], "native_bf16": True}


@pytest.mark.parametrize(
    "cpu, gpus, policy, reason",
    [
        (AVX2, [], "float32", "no native bfloat16"),
        (AMX, [], "mixed_bfloat16", "natively (Intel Xeon, 2 cores, avx512f amx_bf16)"),
        (AVX2, [(9, 0)], "mixed_bfloat16", "capability (9, 0)"),
        (AMX, [(8, 0), (7, 5)], "float32", "capability (7, 5) has no bfloat16"),
    ],
)
def test_auto_picks_bfloat16_only_where_the_hardware_computes_it(cpu, gpus, policy, reason):
    chosen, why = auto_policy(cpu, gpus)
    assert chosen == policy and reason in why


def test_precision_names():
    assert policy_for("bfloat16") == ("mixed_bfloat16", "asked for")
    assert policy_for("float32") == ("float32", "asked for")
    assert policy_for("auto")[0] in ("float32", "mixed_bfloat16")
    with pytest.raises(ValueError, match="unknown precision 'fp8'; expected auto or one of"):
        policy_for("fp8")


def _leaves(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def _model():
    """A trained-like model as `fit` saves it: uint8 in, preprocessing, nested net with BN."""
    net = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            FusedBatchNormalization(name="bn"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(5, activation="softmax", name="predictions"),
        ],
        name="net",
    )
    images = keras.Input((8, 8, 3), dtype="uint8", name="images")
    scaled = keras.layers.Rescaling(1 / 255, name="scale")(images)
    model = keras.Model(images, net(scaled), name="trained")
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.normal(0.5, 0.3, w.shape).astype("float32") ** 2 for w in model.get_weights()]
    )
    return model


def test_a_float32_model_computes_in_bfloat16_with_the_same_weights_and_contract():
    model = _model()
    x = np.random.default_rng(1).integers(0, 256, (16, 8, 8, 3)).astype("uint8")
    bf16 = in_policy(model, "bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in _leaves(bf16)}
    assert policies == {
        "scale": "mixed_bfloat16",
        "conv": "mixed_bfloat16",
        "bn": "mixed_bfloat16",
        "pool": "mixed_bfloat16",
        "predictions": "float32",
    }
    assert bf16.inputs[0].dtype == "uint8" and bf16.name == "trained"
    for a, b in zip(model.get_weights(), bf16.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    want, got = model.predict(x, verbose=0), bf16.predict(x, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=0.02)
    # and back: float32 again, to the last bit of the original.
    back = in_policy(bf16, "float32")
    assert {layer.dtype_policy.name for layer in _leaves(back)} == {"float32"}
    np.testing.assert_array_equal(back.predict(x, verbose=0), want)
    assert in_policy(model, "float32") is model and in_policy(bf16, "bfloat16") is bf16

"""Mixed precision (`cnnzoo.training.precision`): policies, float32 outputs, loss scaling.

The zoo tests (`test_zoo_model_under_policy`) build a registered model with 3
classes at the smallest input its architecture accepts (8x8 for the CIFAR
ResNets, see `tiny_input_shape`) under a dtype policy, make its outputs float32,
check that BatchNorm's variables are float32, train one step (eagerly) with
`SGDL2` (loss-scaled under mixed_float16) and export it as a SavedModel whose
reloaded signature must serve float32 probabilities, equal to the model's.

Cost, measured on the 2-core CI machine (shared with other jobs): a build plus
an eager train step of all 41 registered models takes ~3.5 CPU minutes per
policy (ResNet-1202 one of them), an export with its reload ~8 builds; the full
matrix below took 32 CPU minutes (45 wall-clock), far beyond this file's 4-minute
budget. So:

- by default, a set of models that together use every layer class of the zoo:
  lenet5 (AveragePooling2D), wu2016_cifar, alexnet (LRN, Flatten, Dropout),
  resnet20 (BatchNorm, Add, ZeroPadShortcut) and googlenet (Concatenate, LRN)
  train a step and export under all three policies; xception (SeparableConv2D)
  and inception_resnet_v1 (ResidualScaling) train a step under both mixed
  policies; GoogLeNet with its auxiliary heads trains and exports under
  mixed_float16;
- with ``CNNZOO_PRECISION_MATRIX=full``, every registered model trains a step
  under every policy and exports under one policy chosen round-robin over the
  sorted names (under all three for the default export set above).
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.export import export_saved_model
from cnnzoo.model_io import load_trained, save_trained
from cnnzoo.training.auxiliary import AuxiliaryLossModel, inference_model
from cnnzoo.training.optimizer import SGDL2, RMSpropL2
from cnnzoo.training.precision import (
    POLICIES,
    SyncedLossScaleOptimizer,
    float32_outputs,
    loss_scaled,
    precision_policy,
    uses_loss_scaling,
)

MIXED = ("mixed_bfloat16", "mixed_float16")
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
CLASSES = 3
# BatchNorm's gradients explode with depth when it normalizes few values (measured:
# bn_inception on 1x1 maps of 2 examples, resnet152 of 8); `_batch_size` gives each
# BatchNorm channel at least BN_VALUES values per batch.
BATCH = 8
BN_VALUES = 32
FULL = os.environ.get("CNNZOO_PRECISION_MATRIX") == "full"

# The smallest input each architecture builds at (its valid convolutions and
# poolings, or the flattened fully connected top); every other registered model
# pads all its convolutions and builds at 1x1.
_MIN_SIZE = {
    "alexnet": 67,
    "lenet5": 32,
    "wu2016_mnist": 16,
    "xception": 71,
    "inception_v3": 75,
    "inception_v4": 75,
    "inception_resnet_v1": 75,
    "inception_resnet_v2": 75,
    "inception_v3_paper": 75,
    "inception_resnet_v2_paper": 75,
    "vgg11": 32,
    "vgg11_lrn": 32,
    "vgg13": 32,
    "vgg16": 32,
    "vgg16_c": 32,
    "vgg19": 32,
}
_FAMILIES_AT_1X1 = ("imagenet_resnet", "googlenet", "wu2016")
# The CIFAR ResNets build at 1x1 too, but their BatchNorms then see only the batch,
# and the deep plain nets' gradients explode past float16's range even at a loss
# scale of 2**-8; at 8x8 (2x2 in the last stage) they need what they need at 32x32.
_CIFAR_SIZE = 8

# oneDNN's bfloat16 convolution gradient (TensorFlow 2.21, on a CPU with AVX-512 BF16)
# returns sporadic NaNs when a convolution's input is 1x1: a 3x3/2 convolution of 3
# channels, batch 32, gave non-finite kernel gradients in none to two thirds of the tries,
# varying run to run with the same inputs; none at 2x2, none with oneDNN off
# (tools/check_bf16_conv.py). So under mixed_bfloat16 the nets that would see a 1x1
# input get twice their downsampling factor (2x2 at their last stage; checked below).
_BF16_SIZE = {
    "imagenet_resnet": 64,
    "googlenet": 64,
    "wu2016": 16,
    "inception": 107,
    "inception_resnet": 107,
}

EXPORT_ALL_POLICIES = ("lenet5", "wu2016_cifar", "alexnet", "resnet20", "googlenet")
TRAIN_MIXED_POLICIES = ("xception", "inception_resnet_v1")


def tiny_input_shape(name: str, policy: str = "float32") -> tuple[int, int, int]:
    """(H, W, C) of the smallest input `name` builds at; the card's input for unknown ones.

    Under mixed_bfloat16, the smallest at which no convolution sees a 1x1 input.
    """
    card = cnnzoo.model_card(name)
    channels = card.input_shape[-1]
    if policy == "mixed_bfloat16" and card.family in _BF16_SIZE:
        return (_BF16_SIZE[card.family], _BF16_SIZE[card.family], channels)
    if name in _MIN_SIZE:
        return (_MIN_SIZE[name], _MIN_SIZE[name], channels)
    if card.family in _FAMILIES_AT_1X1:
        return (1, 1, channels)
    if card.family == "cifar_resnet":
        return (_CIFAR_SIZE, _CIFAR_SIZE, channels)
    return tuple(card.input_shape)


def _cases():
    """(name, policy, export) of the zoo tests; see the module docstring."""
    if FULL:
        names = cnnzoo.list_models()
        cases = [
            (name, policy, name in EXPORT_ALL_POLICIES or policy == POLICIES[i % len(POLICIES)])
            for i, name in enumerate(names)
            for policy in POLICIES
        ]
    else:
        cases = [(name, policy, True) for name in EXPORT_ALL_POLICIES for policy in POLICIES]
        cases += [(name, policy, False) for name in TRAIN_MIXED_POLICIES for policy in MIXED]
    return [
        pytest.param(name, policy, export, id=f"{name}-{policy}{'-export' if export else ''}")
        for name, policy, export in cases
    ]


@pytest.fixture(autouse=True)
def _float32_policy():
    """Each test starts from the float32 policy, whatever a failed one left."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def _dtype(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _smallest_conv_input(model) -> int:
    """The smallest height or width any convolution of `model` (nested models too) sees."""
    sizes = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D | keras.layers.SeparableConv2D):
            sizes += [d for d in layer.input.shape[1:3] if d is not None]
    return min(sizes)


def _batch_size(model) -> int:
    """BATCH, or more when the smallest BatchNorm map has under BN_VALUES / BATCH pixels."""
    areas = [
        layer.output.shape[1] * layer.output.shape[2]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and len(layer.output.shape) == 4
    ]
    return max(BATCH, -(-BN_VALUES // min(areas))) if areas else BATCH


def _train_step(model, x, y, max_steps: int = 24) -> float:
    """Train until the optimizer has applied one update; return that step's loss.

    Under mixed_float16 a step whose scaled gradients overflow is skipped and the
    loss scale halved (from 2**15); the deep nets need a few such steps, and
    plain110, whose gradients explode at initialization, 22 (a scale of 2**-6,
    measured also at its 32x32 CIFAR size).
    """
    for step in range(1, max_steps + 1):
        loss = float(model.train_on_batch(x, y))
        if int(keras.ops.convert_to_numpy(model.optimizer.iterations)) >= 1:
            if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
                scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
                assert scale == 2.0 ** (16 - step), (step, scale)
            else:
                assert step == 1, "only loss scaling skips steps"
            return loss
    raise AssertionError(f"no update applied in {max_steps} steps (non-finite gradients)")


# --------------------------------------------------------------------- the policy


def test_policy_is_set_in_the_block_and_restored_after():
    assert keras.config.dtype_policy().name == "float32"
    for name in POLICIES:
        with precision_policy(name) as policy:
            assert policy.name == name
            assert keras.config.dtype_policy().name == name
            assert keras.layers.Dense(2).compute_dtype == COMPUTE_DTYPE[name]
            assert keras.layers.Dense(2).variable_dtype == "float32"
        assert keras.config.dtype_policy().name == "float32"


def test_policy_restored_on_error_and_when_nested():
    keras.config.set_dtype_policy("mixed_bfloat16")
    with pytest.raises(RuntimeError, match="boom"):
        with precision_policy("mixed_float16"):
            with precision_policy("float32"):
                assert keras.config.dtype_policy().name == "float32"
            assert keras.config.dtype_policy().name == "mixed_float16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "mixed_bfloat16"


@pytest.mark.parametrize("bad", ["float16", "mixed_float32", "bfloat16", "", None, "FLOAT32"])
def test_bad_policy_names_are_refused(bad):
    with pytest.raises(ValueError) as info:
        with precision_policy(bad):
            pass
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in POLICIES)
    assert keras.config.dtype_policy().name == "float32"


def test_uses_loss_scaling_only_under_float16():
    assert uses_loss_scaling("mixed_float16")
    assert not uses_loss_scaling("mixed_bfloat16") and not uses_loss_scaling("float32")
    with precision_policy("mixed_float16"):
        assert uses_loss_scaling()
    assert not uses_loss_scaling()


# ------------------------------------------------------------------ float32 outputs


def _small_net(name="net", activation_layer=False):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if activation_layer:
        x = keras.layers.Dense(CLASSES, name="logits")(x)
        x = keras.layers.Activation("softmax", name="predictions")(x)
    else:
        x = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def test_float32_policy_returns_the_model_unchanged():
    model = _small_net()
    assert float32_outputs(model) is model
    with precision_policy("float32"):
        model = _small_net()
    assert float32_outputs(model) is model


@pytest.mark.parametrize("policy", MIXED)
@pytest.mark.parametrize("activation_layer", [False, True], ids=["dense_softmax", "activation"])
def test_float32_outputs_keeps_names_weights_and_policy(policy, activation_layer):
    with precision_policy(policy):
        model = _small_net(activation_layer=activation_layer)
        x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
        before = keras.ops.convert_to_numpy(model(x))
        new = float32_outputs(model)
    assert _dtype(model.outputs[0]) == COMPUTE_DTYPE[policy]
    assert _dtype(new.outputs[0]) == "float32"
    assert new.name == model.name and new.dtype_policy.name == policy
    assert [layer.name for layer in new.layers] == [layer.name for layer in model.layers]
    assert sorted(v.path for v in new.weights) == sorted(v.path for v in model.weights)
    assert new.count_params() == model.count_params()
    out = new.get_layer("predictions")
    assert out.dtype_policy.name == "float32" and out is not model.get_layer("predictions")
    # Everything before the output layer is shared and still mixed.
    assert new.get_layer("conv") is model.get_layer("conv")
    assert new.get_layer("conv").compute_dtype == COMPUTE_DTYPE[policy]
    # Weights are kept: the same function, the softmax now in float32.
    after = keras.ops.convert_to_numpy(new(x))
    assert after.dtype == np.float32
    np.testing.assert_allclose(after, before.astype("float32"), atol=1e-2)
    np.testing.assert_allclose(after.sum(axis=-1), 1.0, rtol=1e-6)
    # Idempotent.
    assert float32_outputs(new) is new


def test_float32_outputs_refuses_subclassed_models():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional model"):
        float32_outputs(Sub())


def test_float32_outputs_dict_outputs_frozen_layers_and_refusals():
    with precision_policy("mixed_bfloat16"):
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(3, name="hidden")(inputs)
        heads = {
            "x": keras.layers.Dense(2, name="x")(hidden),
            "y": keras.layers.Dense(2, name="y")(hidden),
        }
        model = keras.Model(inputs, heads)
        model.get_layer("hidden").trainable = False
        new = float32_outputs(model)
        # An output layer whose output also feeds another layer cannot be swapped alone.
        a = keras.layers.Dense(3, name="a")(inputs)
        chained = keras.Model(inputs, [a, keras.layers.Dense(3, name="b")(a)])
    assert {key: _dtype(t) for key, t in new.output.items()} == {"x": "float32", "y": "float32"}
    assert sorted(new(np.ones((1, 4), "float32"))) == ["x", "y"]
    assert not new.get_layer("hidden").trainable  # not unfrozen by the rebuild
    assert len(new.trainable_weights) == 4
    with pytest.raises(ValueError, match="also feeds other layers"):
        float32_outputs(chained)


@pytest.mark.parametrize(
    "name, size, policy, outputs",
    [
        ("googlenet", 65, "mixed_float16", ["predictions", "aux1_predictions", "aux2_predictions"]),
        ("inception_v3", 299, "mixed_bfloat16", ["predictions", "aux_predictions"]),
    ],
)
def test_float32_outputs_handles_auxiliary_heads(name, size, policy, outputs):
    with precision_policy(policy):
        model = cnnzoo.build(name, input_shape=(size, size, 3), classes=CLASSES, aux_heads=True)
        new = float32_outputs(model)
    assert [_dtype(t) for t in model.outputs] == [COMPUTE_DTYPE[policy]] * len(outputs)
    assert [_dtype(t) for t in new.outputs] == ["float32"] * len(outputs)
    assert new.output_names == outputs == model.output_names
    assert isinstance(new.output, list) and len(new.output) == len(outputs)
    assert new.count_params() == model.count_params()
    assert [layer.name for layer in new.layers] == [layer.name for layer in model.layers]
    for head in outputs:
        assert new.get_layer(head).dtype_policy.name == "float32"


# ------------------------------------------------------------------ loss scaling


def _variables(seed=0):
    rng = np.random.default_rng(seed)
    kernel = keras.Variable(rng.normal(size=(3, 2)).astype("float32"), name="kernel")
    bias = keras.Variable(rng.normal(size=2).astype("float32"), name="bias")
    return [kernel, bias]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGDL2(learning_rate=0.1, momentum=0.9, l2=0.01, lr_multipliers=[("bias$", 2.0)]),
        lambda: RMSpropL2(learning_rate=0.01, rho=0.9, epsilon=1.0, l2=0.01),
    ],
    ids=["SGDL2", "RMSpropL2"],
)
def test_loss_scaled_optimizer_applies_our_update_to_unscaled_gradients(make):
    plain_vars, scaled_vars = _variables(), _variables()
    plain = make()
    scaled = loss_scaled(make(), "mixed_float16")
    assert isinstance(scaled, SyncedLossScaleOptimizer)
    assert isinstance(scaled.inner_optimizer, type(plain))
    assert loss_scaled(scaled, "mixed_float16") is scaled
    assert loss_scaled(plain, "mixed_bfloat16") is plain and loss_scaled(plain, "float32") is plain
    rng = np.random.default_rng(1)
    for _ in range(3):
        grads = [rng.normal(size=v.shape).astype("float32") for v in plain_vars]
        scale = float(keras.ops.convert_to_numpy(scaled.scale_loss(1.0)))
        plain.apply(grads, plain_vars)
        scaled.apply([g * scale for g in grads], scaled_vars)
    # The scale is a power of two, so unscaling is exact: the same coupled L2
    # decay and lr multipliers as without loss scaling.
    for a, b in zip(plain_vars, scaled_vars, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)
    assert int(scaled.iterations.numpy()) == 3


def test_loss_scale_is_dynamic_and_skips_non_finite_steps():
    variables = _variables()
    opt = loss_scaled(SGDL2(learning_rate=0.1, momentum=0.9, l2=1e-4), "mixed_float16")
    opt.build(variables)
    start = float(opt.dynamic_scale.numpy())
    assert start == 2.0**15
    before = [v.numpy().copy() for v in variables]
    opt.apply([np.full(v.shape, np.inf, "float32") for v in variables], variables)
    assert float(opt.dynamic_scale.numpy()) == start / 2
    assert int(opt.iterations.numpy()) == 0
    for v, b in zip(variables, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), b)
    opt.apply([np.ones(v.shape, "float32") for v in variables], variables)
    assert int(opt.iterations.numpy()) == 1
    assert all(not np.array_equal(v.numpy(), b) for v, b in zip(variables, before, strict=True))


_MIRRORED_OVERFLOW = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from cnnzoo.training.optimizer import SGDL2
from cnnzoo.training.precision import float32_outputs, loss_scaled, precision_policy

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    with precision_policy("mixed_float16"):
        inputs = keras.Input((4,))
        x = keras.layers.Dense(8, kernel_initializer="ones", name="fc")(inputs)
        outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
        model = float32_outputs(keras.Model(inputs, outputs))
    model.compile(optimizer=loss_scaled(SGDL2(learning_rate=0.1, l2=1e-4), "mixed_float16"),
                  loss="sparse_categorical_crossentropy")
results = []
# Rows 2-3 go to the second replica; 30000 overflows float16 there only.
for overflow_from in (2, 4):
    x = np.full((4, 4), 0.1, "float32")
    x[overflow_from:] = 30000.0
    before = [w.copy() for w in model.get_weights()]
    ds = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1, 2, 0]))).batch(4)
    model.fit(ds, epochs=1, verbose=0)
    after = model.get_weights()
    results.append({
        "scale": float(model.optimizer.dynamic_scale.numpy()),
        "iterations": int(model.optimizer.iterations.numpy()),
        "finite": bool(all(np.isfinite(w).all() for w in after)),
        "changed": bool(any(not np.array_equal(a, b) for a, b in zip(before, after))),
    })
print(json.dumps(results))
"""


@pytest.mark.slow
def test_overflow_on_one_mirrored_replica_skips_the_step_on_all():
    """Two mirrored CPU replicas (a separate process: logical devices precede TF's start)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_OVERFLOW],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    skipped, applied = json.loads(result.stdout.strip().splitlines()[-1])
    assert skipped == {"scale": 2.0**14, "iterations": 0, "finite": True, "changed": False}
    assert applied == {"scale": 2.0**14, "iterations": 1, "finite": True, "changed": True}


def test_compile_wraps_the_optimizer_under_mixed_float16_only():
    for policy in POLICIES:
        with precision_policy(policy):
            model = float32_outputs(_small_net())
        model.compile(optimizer=SGDL2(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        wrapped = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert wrapped == (policy == "mixed_float16"), policy


def test_mixed_float16_model_saves_and_reloads_with_its_loss_scale_state(tmp_path):
    """Graph-mode training (as `cnnzoo fit` runs it), then `save_trained` / `load_trained`.

    The optimizer is wrapped with `loss_scaled` before compile: the saved compile
    config then holds the LossScaleOptimizer, so the reload restores it with its
    scale and the inner optimizer's momenta, whatever the global policy at load.
    """
    with precision_policy("mixed_float16"):
        model = float32_outputs(cnnzoo.build("alexnet", input_shape=(67, 67, 3), classes=CLASSES))
    sgd = SGDL2(learning_rate=0.01, momentum=0.9, l2=5e-4, lr_multipliers=[("bias$", 2.0)])
    model.compile(
        optimizer=loss_scaled(sgd, "mixed_float16"), loss="sparse_categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 67, 67, 3)).astype("float32")
    y = np.array([0, 2])
    loss = _train_step(model, x, y)
    assert np.isfinite(loss)
    path = tmp_path / "model.keras"
    save_trained(model, path, {"arch": "alexnet", "precision": "mixed_float16"})

    again, metadata = load_trained(path)
    assert metadata["precision"] == "mixed_float16"
    opt = again.optimizer
    assert isinstance(opt, SyncedLossScaleOptimizer)
    assert isinstance(opt.inner_optimizer, SGDL2)
    assert opt.inner_optimizer.l2 == pytest.approx(5e-4)
    assert opt.inner_optimizer.lr_multipliers == [("bias$", 2.0)]
    # The scale, its step counter, the iterations and every momentum, in order.
    saved, restored = model.optimizer.variables, opt.variables
    assert len(saved) == len(restored) > len(model.trainable_variables)
    for a, b in zip(saved, restored, strict=True):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
    assert float(opt.dynamic_scale.numpy()) == float(model.optimizer.dynamic_scale.numpy())
    assert again.get_layer("predictions").dtype_policy.name == "float32"
    assert again.get_layer("conv1").dtype_policy.name == "mixed_float16"
    assert again.get_layer("lrn1").compute_dtype == "float16"
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # Training resumes from the restored state.
    iterations = int(opt.iterations.numpy())
    assert np.isfinite(again.train_on_batch(x, y))
    assert int(opt.iterations.numpy()) in (iterations, iterations + 1)


# ------------------------------------------------------------- float32 statistics


@pytest.mark.parametrize("policy", MIXED)
def test_lrn_under_the_global_policy_sums_in_float32(policy):
    from cnnzoo.layers import LocalResponseNormalization

    # Squares of these overflow float16 (max 65504); the layer's sums do not.
    x = np.random.default_rng(0).uniform(-1000, 1000, (2, 3, 3, 8)).astype("float32")
    with precision_policy(policy):
        layer = LocalResponseNormalization()
    assert layer.compute_dtype == COMPUTE_DTYPE[policy]
    got = layer(x)
    assert _dtype(got) == COMPUTE_DTYPE[policy]
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
    assert np.isfinite(got).all()
    rounded = keras.ops.convert_to_numpy(
        keras.ops.cast(keras.ops.cast(x, COMPUTE_DTYPE[policy]), "float32")
    )
    want = keras.ops.convert_to_numpy(LocalResponseNormalization(dtype="float32")(rounded))
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)


def _check_batchnorm_float32(model, policy):
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        assert bn.compute_dtype == COMPUTE_DTYPE[policy], bn.name
        for var in (bn.moving_mean, bn.moving_variance, bn.gamma, bn.beta):
            if var is not None:
                assert _dtype(var) == "float32", var.path
    return bns


# ------------------------------------------------------------------- the whole zoo


@pytest.mark.slow
@pytest.mark.parametrize("name, policy, export", _cases())
def test_zoo_model_under_policy(name, policy, export, tmp_path):
    keras.backend.clear_session()  # frees the previous case's model
    keras.utils.set_random_seed(0)  # the same initial weights on every run
    shape = tiny_input_shape(name, policy)
    with precision_policy(policy):
        built = cnnzoo.build(name, input_shape=shape, classes=CLASSES)
        model = float32_outputs(built)
    if policy == "mixed_bfloat16":
        assert _smallest_conv_input(model) > 1, "see _BF16_SIZE"
    # Float32 outputs: the same layers, names and parameters, float32 probabilities.
    assert (model is built) == (policy == "float32")
    assert _dtype(model.output) == "float32"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert [layer.name for layer in model.layers] == [layer.name for layer in built.layers]
    assert model.count_params() == built.count_params()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs[0].compute_dtype == COMPUTE_DTYPE[policy]
    bns = _check_batchnorm_float32(model, policy)

    # Clipping (a recipe option) bounds the step of the nets whose gradients explode at
    # initialization (plain110's kernels grew to ~1e3 in one float32 step without it).
    sgd = SGDL2(
        learning_rate=1e-3,
        momentum=0.9,
        l2=1e-4,
        lr_multipliers=[("bias$", 2.0)],
        global_clipnorm=1.0,
    )
    # Eager: one traced train step of the deep models would cost ~10 times more.
    model.compile(
        optimizer=loss_scaled(sgd, policy), loss="sparse_categorical_crossentropy", run_eagerly=True
    )
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (
        policy == "mixed_float16"
    )
    rng = np.random.default_rng(0)
    batch = _batch_size(model)
    x = rng.normal(size=(batch, *shape)).astype("float32")
    y = np.arange(batch) % CLASSES
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    loss = _train_step(model, x, y)
    assert np.isfinite(loss)
    after = {v.path: v.numpy() for v in model.trainable_variables}
    assert all(np.isfinite(value).all() for value in after.values())
    changed = [path for path in before if not np.array_equal(before[path], after[path])]
    assert "predictions/kernel" in changed
    # Coupled L2 moves every kernel, whatever its gradient.
    assert all(path in changed for path in before if path.endswith("kernel")), name
    for bn in bns:
        assert np.isfinite(bn.moving_variance.numpy()).all(), bn.name
    probabilities = keras.ops.convert_to_numpy(model(x, training=False))
    assert probabilities.dtype == np.float32 and probabilities.shape == (batch, CLASSES)
    assert np.isfinite(probabilities).all()

    if not export:
        return
    import tensorflow as tf

    out_dir = export_saved_model(
        model,
        tmp_path / "export",
        class_names=["a", "b", "c"],
        metadata={"arch": name, "dataset": "random", "precision": policy},
    )
    recorded = json.loads((out_dir / "cnnzoo.json").read_text())
    assert recorded["precision"] == policy and recorded["input_shape"] == list(shape)
    serve = tf.saved_model.load(str(out_dir)).signatures["serving_default"]
    # Small pixel values: the zoo's nets have no preprocessing layers here.
    images = rng.integers(0, 3, size=(2, *shape), dtype=np.uint8)
    served = serve(images=tf.constant(images))
    assert served["probabilities"].dtype == tf.float32
    assert tuple(served["probabilities"].shape) == (2, CLASSES)
    got = served["probabilities"].numpy()
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)
    want = keras.ops.convert_to_numpy(model(images.astype("float32"), training=False))
    np.testing.assert_allclose(got, want, atol=1e-5 if policy == "float32" else 1e-2)
    assert [n.decode() for n in served["class_name"].numpy()] == [
        "abc"[i] for i in served["class_index"].numpy()
    ]


@pytest.mark.slow
def test_googlenet_auxiliary_heads_train_and_export_under_mixed_float16(tmp_path):
    """The trainer's path for auxiliary heads: float32 heads, the weighted loss, the main export."""
    import tensorflow as tf

    shape = (65, 65, 3)  # the auxiliary heads' smallest input
    with precision_policy("mixed_float16"):
        net = float32_outputs(
            cnnzoo.build("googlenet", input_shape=shape, classes=CLASSES, aux_heads=True)
        )
        model = AuxiliaryLossModel(net, aux_loss_weight=0.3)
    model.compile(
        optimizer=loss_scaled(SGDL2(learning_rate=1e-3, momentum=0.9, l2=1e-4), "mixed_float16"),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, *shape)).astype("float32")
    head = net.get_layer("aux1_predictions").kernel.numpy().copy()
    assert np.isfinite(_train_step(model, x, np.arange(BATCH) % CLASSES))
    assert not np.array_equal(head, net.get_layer("aux1_predictions").kernel.numpy())
    out_dir = export_saved_model(
        inference_model(model), tmp_path / "export", class_names=["a", "b", "c"]
    )
    serve = tf.saved_model.load(str(out_dir)).signatures["serving_default"]
    served = serve(images=tf.constant(rng.integers(0, 3, size=(2, *shape), dtype=np.uint8)))
    assert served["probabilities"].dtype == tf.float32
    assert tuple(served["probabilities"].shape) == (2, CLASSES)
    assert np.isfinite(served["probabilities"].numpy()).all()

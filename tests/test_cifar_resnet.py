"""The CIFAR residual family: parameter counts, shortcuts, names, options, serialization."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from _zoo import adds, assert_layers, bn_moving_stats, reloaded, shared, trainable

import cnnzoo
from cnnzoo.costs import count_params
from cnnzoo.layers import ZeroPadShortcut
from cnnzoo.models import cifar_resnet

REPO = Path(__file__).resolve().parents[1]
# Parameter counts, depths and residual units of every net: tests/test_registry.py.
CIFAR_NAMES = sorted(cifar_resnet.MODELS.names())


@pytest.fixture(scope="module")
def resnet20():
    # Initialized weights: the serialization test compares predictions.
    return cnnzoo.build("resnet20")


# ------------------------------------------------------------------ cards


def test_card_figures():
    # He et al. 2016 Table 6; Identity mappings Table 3; Wu (91.1% accuracy).
    expected = {
        "resnet20": 8.75,
        "resnet32": 7.51,
        "resnet44": 7.17,
        "resnet56": 6.97,
        "resnet110": 6.43,
        "resnet1202": 7.93,
        "preact_resnet110": 6.37,
        "preact_resnet164": 5.46,
        "wu_resnet32": 8.9,
    }
    recipes = {"wu_resnet32": "wu_resnet_cifar"}
    for name in CIFAR_NAMES:
        card = cnnzoo.model_card(name)
        assert card.published.get("cifar10_test_error") == expected.get(name), name
        assert card.default_recipe == recipes.get(name, "he2016_cifar")
    # Plain nets share their residual twin's parameters (option A adds none).
    for depth in (20, 32, 44, 56, 110):
        assert (
            cnnzoo.model_card(f"plain{depth}").trainable_params
            == cnnzoo.model_card(f"resnet{depth}").trainable_params
        )


# ------------------------------------------------------------------ shortcuts


def test_shortcut_b_projects_only_where_shape_changes():
    model = cnnzoo.build("resnet20", shortcut="B")
    # He et al. 2016 option B: + (16*32 + 32 BN gamma/beta) and (32*64 + 64*2) = 2,752.
    assert trainable(model) == 272_474
    assert count_params(model)["non_trainable"] == bn_moving_stats(model)
    proj = model.get_layer("conv3_block1_0_conv")
    assert proj.kernel_size == (1, 1) and proj.strides == (2, 2) and not proj.use_bias
    assert proj.kernel.shape == (1, 1, 16, 32)
    assert model.get_layer("conv4_block1_0_conv").kernel.shape == (1, 1, 32, 64)
    names = {layer.name for layer in model.layers}
    assert "conv3_block1_0_bn" in names
    assert "conv2_block1_0_conv" not in names and "conv3_block2_0_conv" not in names
    assert not any(isinstance(layer, ZeroPadShortcut) for layer in model.layers)


def test_shortcut_c_projects_every_unit():
    model = cnnzoo.build("resnet20", shortcut="C")
    projections = [layer for layer in model.layers if layer.name.endswith("_0_conv")]
    assert len(projections) == 9


def test_option_a_is_zero_padded_subsample(resnet20):
    names = {layer.name for layer in resnet20.layers}
    assert {"conv3_block1_0_pad", "conv4_block1_0_pad"} <= names
    assert "conv2_block1_0_pad" not in names  # same shape: plain identity
    shortcut = resnet20.get_layer("conv3_block1_0_pad")
    assert isinstance(shortcut, ZeroPadShortcut)
    sub = keras.Model(resnet20.get_layer("conv2_block3_out").output, shortcut.output)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 16)).astype("float32")
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 16, 16, 16), "float32")], -1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sub(x)), expected)


def test_zero_pad_shortcut_eager_odd_sizes_and_errors():
    layer = ZeroPadShortcut(5, strides=2)
    x = np.arange(2 * 7 * 7 * 3, dtype="float32").reshape(2, 7, 7, 3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 4, 4, 5) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()
    assert layer.weights == []
    with pytest.raises(ValueError, match="filters >= input channels"):
        ZeroPadShortcut(2)(x)
    with pytest.raises(ValueError, match="strides"):
        ZeroPadShortcut(4, strides=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_zero_pad_shortcut_subsamples_exactly_forward_and_backward(dtype):
    """The pooled subsampling is x[:, ::2, ::2, :] to the bit, and so is its gradient."""
    import tensorflow as tf

    layer = ZeroPadShortcut(6, strides=2, dtype=dtype)
    x = tf.cast(np.random.default_rng(2).normal(size=(2, 7, 7, 3)), dtype)
    weights = tf.cast(np.random.default_rng(3).normal(size=(2, 4, 4, 6)), "float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    np.testing.assert_array_equal(y[..., :3].numpy(), x[:, ::2, ::2, :].numpy())
    expected = np.zeros((2, 7, 7, 3), "float32")
    expected[:, ::2, ::2, :] = tf.cast(tf.cast(weights[..., :3], dtype), "float32").numpy()
    got = tf.cast(tape.gradient(loss, x), "float32").numpy()
    np.testing.assert_array_equal(got, expected)


def test_zero_pad_shortcut_config_round_trip():
    layer = ZeroPadShortcut(64, strides=2, name="sc")
    config = layer.get_config()
    assert config["filters"] == 64 and config["strides"] == 2 and config["name"] == "sc"
    clone = ZeroPadShortcut.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "cnnzoo>ZeroPadShortcut"
    again = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(again, ZeroPadShortcut) and again.get_config() == config


def test_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = ZeroPadShortcut(8, strides=2)
        assert layer(keras.Input((8, 8, 4))).dtype == "float16"
        model = cnnzoo.build("resnet20", shortcut="A", input_shape=(16, 16, 3))
        y = keras.ops.convert_to_numpy(model(np.ones((1, 16, 16, 3), "float32")))
        assert np.isfinite(y).all()
        assert model.get_layer("conv3_block1_0_pad").output.dtype == "float16"
    finally:
        keras.config.set_dtype_policy(previous)


# ------------------------------------------------------------------ structure and names


def test_layer_names_follow_keras_applications(resnet20):
    assert_layers(
        resnet20,
        "conv1_conv conv1_bn conv1_relu conv2_block1_1_conv conv2_block1_1_bn "
        "conv2_block1_1_relu conv2_block1_2_conv conv2_block1_2_bn conv2_block1_add "
        "conv2_block1_out conv3_block1_1_pad conv4_block3_out avg_pool predictions",
    )
    # Stride-2 3x3 convs pad one pixel on each side (Caffe/Torch), then "valid".
    assert resnet20.get_layer("conv3_block1_1_pad").padding == ((1, 1), (1, 1))
    assert resnet20.get_layer("conv3_block1_1_conv").padding == "valid"
    assert all(
        not layer.use_bias for layer in resnet20.layers if isinstance(layer, keras.layers.Conv2D)
    )
    bn = resnet20.get_layer("conv1_bn")
    assert bn.epsilon == 1e-5 and bn.momentum == 0.9


def test_plain_net_has_no_shortcuts():
    model = shared("plain20")
    assert adds(model) == 0
    assert not any(isinstance(layer, ZeroPadShortcut) for layer in model.layers)
    assert "conv2_block1_out" in {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="shortcut"):
        cnnzoo.build("plain20", shortcut="B")


def test_preact_structure():
    model = shared("preact_resnet164")
    names = {layer.name for layer in model.layers}
    assert_layers(
        model,
        "conv1_conv conv2_block1_preact_bn conv2_block1_preact_relu conv2_block1_0_conv "
        "conv2_block1_3_conv conv4_block18_add post_bn post_relu",
    )
    # conv1 alone: the first unit's shared pre-activation is its BN-ReLU.
    assert "conv1_bn" not in names
    # resnet-pre-act.lua: the stride sits on the first 1x1; projections have no BN.
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_1_conv").kernel_size == (1, 1)
    assert model.get_layer("conv3_block1_0_conv").kernel.shape == (1, 1, 256 // 4, 128)
    assert "conv3_block1_0_bn" not in names
    # The shortcut of a stage's first unit starts from the shared pre-activation...
    proj = model.get_layer("conv3_block1_0_conv")
    assert proj.input is model.get_layer("conv3_block1_preact_relu").output
    # ...other units add the raw input.
    add = model.get_layer("conv3_block2_add")
    assert add.input[0] is model.get_layer("conv3_block1_add").output
    assert model.get_layer("conv4_block18_3_conv").filters == 256
    assert model.get_layer("post_relu").output.shape == (None, 8, 8, 256)


def test_wu_resnet32_structure():
    model = shared("wu_resnet32")
    names = {layer.name for layer in model.layers}
    # 1 conv + 15 units of two convs + FC = 32 layers; 1x1 stride-2 projections
    # where channels change (two of them).
    assert sum(layer.name.endswith("_0_conv") for layer in model.layers) == 2
    assert model.get_layer("conv3_block1_0_conv").strides == (2, 2)
    # W. Wu §3.2: only the first unit has BN-ReLU on its shortcut path...
    assert (
        model.get_layer("conv2_block1_1_conv").input
        is model.get_layer("conv2_block1_preact_relu").output
    )
    assert (
        model.get_layer("conv2_block1_add").input[0]
        is model.get_layer("conv2_block1_preact_relu").output
    )
    # ...the other shape-changing shortcuts project the raw input (§2.3), while
    # their residual branch still starts with the unit's own BN-ReLU.
    for stage in (3, 4):
        raw = model.get_layer(f"conv{stage - 1}_block5_add").output
        assert model.get_layer(f"conv{stage}_block1_0_conv").input is raw
        # (the stride-2 3x3 pads explicitly, Caffe's way)
        assert (
            model.get_layer(f"conv{stage}_block1_1_pad").input
            is model.get_layer(f"conv{stage}_block1_preact_relu").output
        )
    assert {"post_bn", "post_relu", "conv4_block5_add"} <= names
    assert cnnzoo.model_card("wu_resnet32").default_recipe == "wu_resnet_cifar"


def test_preact_resnet32_keeps_the_fb_resnet_torch_layout():
    # Logits: a random deep net's softmax saturates to the same one-hot for both.
    fb = cnnzoo.build("preact_resnet32", classifier_activation=None)
    wu = cnnzoo.build("wu_resnet32", classifier_activation=None)
    for stage in (3, 4):
        proj = fb.get_layer(f"conv{stage}_block1_0_conv")
        assert proj.input is fb.get_layer(f"conv{stage}_block1_preact_relu").output

    # Same layers and sizes, only the wiring of two projections differs.
    def sizes(model):
        return [(layer.name, [w.shape for w in layer.weights]) for layer in model.layers[1:]]

    assert sizes(fb) == sizes(wu)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    wu.set_weights(fb.get_weights())
    assert not np.allclose(fb(x, training=False), wu(x, training=False), atol=1e-6)
    with pytest.raises(ValueError, match="shared_preact"):
        cnnzoo.build("preact_resnet32", shared_preact="every")


# ------------------------------------------------------------------ builder options


@pytest.mark.parametrize(
    "pooling, shape", [("avg", (None, 64)), ("max", (None, 64)), (None, (None, 8, 8, 64))]
)
def test_features_without_top(pooling, shape):
    model = cnnzoo.build("resnet20", include_top=False, pooling=pooling)
    assert model.output_shape == shape
    assert "predictions" not in {layer.name for layer in model.layers}


def test_preact_features_without_top():
    model = cnnzoo.build("wu_resnet32", include_top=False, pooling="max")
    assert model.output_shape == (None, 64)
    assert model.layers[-2].name == "post_relu"


def test_classes_activation_and_input_shape_overrides():
    # The registered function itself: `cnnzoo.build`'s own first argument is `name`.
    model = cifar_resnet.resnet20(
        classes=100,
        classifier_activation=None,
        input_shape=(64, 48, 3),
        name="r20",
        shortcut="B",
    )
    assert model.name == "r20"
    assert model.output_shape == (None, 100)
    assert model.get_layer("predictions").activation is keras.activations.linear
    assert model.get_layer("conv4_block3_out").output.shape == (None, 16, 12, 64)
    # Odd sizes: every shortcut keeps ceil(size / 2), like the padded 3x3 convs.
    for shortcut in ("A", "B"):
        odd = cnnzoo.build(
            "resnet20", include_top=False, input_shape=(33, 33, 3), shortcut=shortcut
        )
        assert odd.output_shape == (None, 9, 9, 64)
    logits = model.predict(np.zeros((1, 64, 48, 3), "float32"), verbose=0)
    assert logits.shape == (1, 100)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="shortcut"):
        cnnzoo.build("resnet20", shortcut="D")
    with pytest.raises(ValueError, match="pooling"):
        cnnzoo.build("resnet20", include_top=False, pooling="sum")
    with pytest.raises(ValueError, match="input_shape"):
        cnnzoo.build("resnet20", input_shape=(32, 32))
    with pytest.raises(ValueError):
        cnnzoo.build("resnet20", classifier_activation="not_an_activation")
    with pytest.raises(TypeError):
        cnnzoo.build("resnet20", no_such_option=1)


# ------------------------------------------------------------------ registry


def test_registry():
    assert {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"} <= set(
        cnnzoo.list_models("resnet*")
    )
    assert set(CIFAR_NAMES) <= set(cnnzoo.list_models())
    assert cifar_resnet.resnet20.__name__ == "resnet20"
    with pytest.raises(KeyError, match="resnet20"):
        cnnzoo.build("resnet21")


# ------------------------------------------------------------------ serialization


def test_save_and_load_without_custom_objects(tmp_path, resnet20):
    loaded = reloaded(resnet20, tmp_path)
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(resnet20.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert isinstance(loaded.get_layer("conv3_block1_0_pad"), ZeroPadShortcut)


@pytest.mark.slow
def test_importing_cnnzoo_layers_is_enough_to_load(tmp_path):
    # A fresh interpreter proves registration, not leftover state of this process.
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, ZeroPadShortcut(6, strides=2, name="sc")(inputs))
    path = tmp_path / "sc.keras"
    model.save(path)
    script = textwrap.dedent(f"""
        import keras, numpy as np
        import cnnzoo.layers
        m = keras.saving.load_model({str(path)!r}, safe_mode=True)
        assert type(m.get_layer("sc")).__name__ == "ZeroPadShortcut"
        print(m(np.ones((1, 8, 8, 4), "float32")).shape)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(1, 4, 4, 6)" in out.stdout


def test_option_a_shortcut_subsamples_or_max_pools():
    """issue 16 item 10: the survey's stride-2 max pooling beside He et al.'s subsampling."""
    x = np.random.default_rng(1).normal(size=(2, 7, 7, 3)).astype("float32")
    pooled = keras.ops.convert_to_numpy(ZeroPadShortcut(5, 2, "max_pool")(x))
    padded = np.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)], constant_values=-np.inf)
    windows = padded.reshape(2, 4, 2, 4, 2, 3).max(axis=(2, 4))
    assert pooled.shape == (2, 4, 4, 5)
    np.testing.assert_array_equal(pooled[..., :3], windows)
    assert not pooled[..., 3:].any()
    strided = keras.ops.convert_to_numpy(ZeroPadShortcut(5, 2)(x))
    np.testing.assert_array_equal(strided[..., :3], x[:, ::2, ::2, :])
    # The default keeps the configs of saved models as they were; the other round-trips.
    assert "subsample" not in ZeroPadShortcut(5, 2).get_config()
    layer = ZeroPadShortcut(5, 2, "max_pool")
    assert ZeroPadShortcut.from_config(layer.get_config()).subsample == "max_pool"
    with pytest.raises(ValueError, match="subsample must be one of"):
        ZeroPadShortcut(5, 2, "avg")


def test_resnet20_with_max_pooled_shortcuts():
    model = cnnzoo.build("resnet20", shortcut_subsample="max_pool")
    assert model.get_layer("conv3_block1_0_pad").subsample == "max_pool"
    assert count_params(model)["trainable"] == 269_722  # no parameters change
    with pytest.raises(ValueError, match="applies to option-A shortcuts only"):
        cnnzoo.build("resnet20", shortcut="B", shortcut_subsample="max_pool")

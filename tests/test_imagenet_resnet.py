"""The ImageNet residual family: counts derived from He et al. Table 1, multiply-adds,
shortcut options, stride placement, names, and equivalence with keras.applications."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _resnet_table1 import RESNET_PARAMS, TABLE1, TABLE1_FLOPS, derive
from _zoo import (
    assert_informative_match,
    assert_layers,
    build_zeros,
    shared,
    trainable,
    with_keras_batch_norm,
    zero_init,
)

import cnnzoo
from cnnzoo.costs import multiply_adds
from cnnzoo.layers import ZeroPadShortcut
from cnnzoo.models import imagenet_resnet
from cnnzoo.pretrained import application_for, copy_weights

# Parameter counts (against Table 1's), depths and residual units of every net:
# tests/test_registry.py.
IMAGENET_NAMES = sorted(imagenet_resnet.MODELS.names())


def _slow_if_deep(names):
    # The 101- and 152-layer nets take several seconds each to build.
    deep = ("101", "152")
    return [pytest.param(n, marks=pytest.mark.slow) if n.endswith(deep) else n for n in names]


def _variant_derivation(name):
    args = imagenet_resnet.MODELS[name].args
    shortcut = None if args["unit"] == "plain" else "B"
    return derive(args["depth"], args["unit"], shortcut)


# ------------------------------------------------------------------ counts vs cards


def test_table1_derivation_gives_the_published_counts():
    for depth, params in RESNET_PARAMS.items():
        assert derive(depth)[0] == params, depth
    # keras.applications.ResNet50 (a bias per conv channel), all weights: 25,636,712.
    assert sum(derive(50, use_bias=True)[:2]) == 25_636_712
    # The plain nets are the option-A ResNets (A adds no parameters) ...
    for depth in (18, 34):
        assert derive(depth, "plain", None)[0] == derive(depth, shortcut="A")[0]
    # ... and the cards hold what the derivation gives for every registered net.
    derived = {name: _variant_derivation(name)[0] for name in IMAGENET_NAMES}
    assert derived == {name: cnnzoo.model_card(name).trainable_params for name in IMAGENET_NAMES}
    assert derived["plain18"] == 11_515_688 and derived["plain34"] == 21_623_848
    assert derived["preact_resnet50"] == 25_549_352
    assert derived["preact_resnet101"] == 44_541_480
    assert derived["preact_resnet152"] == 60_185_128


def test_card_figures():
    # He et al. 2016a Table 3 (10-crop; ResNet-34 option B) and Table 2 (18-layer nets).
    expected = {
        "resnet18": (27.88,),
        "resnet34": (24.52, 7.46),
        "resnet50": (22.85, 6.71),
        "resnet101": (21.75, 6.05),
        "resnet152": (21.43, 5.71),
        "plain18": (27.94,),
        "plain34": (28.54, 10.02),
        "preact_resnet152": (21.1, 5.5),  # He et al. 2016b Table 5, 320x320 crop
    }
    for name in IMAGENET_NAMES:
        published = cnnzoo.model_card(name).published
        figures = expected.get(name, ())
        keys = ("imagenet2012_val_top1_error", "imagenet2012_val_top5_error")[: len(figures)]
        assert published == dict(zip(keys, figures, strict=True)), name


# ------------------------------------------------------------------ multiply-adds


@pytest.mark.parametrize(
    "depth", [pytest.param(d, marks=pytest.mark.slow) if d > 50 else d for d in sorted(TABLE1)]
)
def test_multiply_adds_match_table1(depth):
    measured = multiply_adds(shared(f"resnet{depth}"))
    assert measured == derive(depth)[2]
    # Table 1 rounds to 0.1e9 and leaves out the projection shortcuts: within 5%.
    assert measured == pytest.approx(TABLE1_FLOPS[depth], rel=0.05)


def test_resnet34_and_50_multiply_adds():
    # He et al. 2016a Table 1: 3.6e9 and 3.8e9; ours count the projections too.
    assert multiply_adds(shared("resnet34")) == 3_663_761_408
    assert multiply_adds(shared("resnet50")) == 3_857_973_248
    # Shortcuts cost nothing to speak of: plain-34 has 19.3M fewer (the projections).
    assert multiply_adds(shared("plain34")) == derive(34, "plain", None)[2] == 3_644_493_824
    assert multiply_adds(shared("preact_resnet50")) == 3_857_973_248


def test_vgg19_multiply_adds():
    # He et al. 2016a §3.3: "VGG-19 ... (19.6 billion FLOPs)". Values do not matter:
    # start from zeros, skipping ~140M Glorot draws.
    vgg19 = build_zeros("vgg19")
    assert multiply_adds(vgg19) == pytest.approx(19.6e9, rel=0.01)


# ------------------------------------------------------------------ shortcuts and strides


def test_shortcut_a_is_parameter_free_zero_padding():
    model = cnnzoo.build("resnet34", shortcut="A")
    assert trainable(model) == derive(34, shortcut="A")[0] == trainable(shared("plain34"))
    pads = [layer for layer in model.layers if isinstance(layer, ZeroPadShortcut)]
    assert [p.name for p in pads] == [f"conv{s}_block1_0_pad" for s in (3, 4, 5)]
    assert all(p.strides == 2 for p in pads)
    assert not any(layer.name.endswith("_0_conv") for layer in model.layers)
    # Bottleneck nets widen conv2_block1 (64 -> 256) without a stride.
    model = cnnzoo.build("resnet50", shortcut="A")
    assert trainable(model) == derive(50, shortcut="A")[0]
    first = model.get_layer("conv2_block1_0_pad")
    assert first.filters == 256 and first.strides == 1


def test_shortcut_b_and_c_projections():
    b = shared("resnet50")
    projections = [layer.name for layer in b.layers if layer.name.endswith("_0_conv")]
    assert projections == [f"conv{s}_block1_0_conv" for s in (2, 3, 4, 5)]
    proj = b.get_layer("conv3_block1_0_conv")
    assert proj.kernel.shape == (1, 1, 256, 512) and proj.strides == (2, 2)
    assert "conv3_block1_0_bn" in {layer.name for layer in b.layers}
    c = cnnzoo.build("resnet34", shortcut="C")
    assert sum(layer.name.endswith("_0_conv") for layer in c.layers) == 16
    assert trainable(c) == derive(34, shortcut="C")[0]


def test_bottleneck_stride_placement():
    v1 = shared("resnet50")
    # He et al. 2016a: the stride on the first 1x1 of conv3_1, conv4_1, conv5_1.
    assert v1.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert v1.get_layer("conv3_block1_2_conv").strides == (1, 1)
    v15 = cnnzoo.build("resnet50", stride_on="3x3")
    assert v15.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert v15.get_layer("conv3_block1_2_conv").strides == (2, 2)
    # Caffe/Torch padding: one pixel all round, then "valid".
    assert v15.get_layer("conv3_block1_2_pad").padding == ((1, 1), (1, 1))
    assert v15.get_layer("conv3_block1_2_conv").padding == "valid"
    assert trainable(v15) == trainable(v1)
    for layer in ("conv3_block1_out", "conv5_block3_out"):
        assert v15.get_layer(layer).output.shape == v1.get_layer(layer).output.shape
    # The 3x3 runs at the input resolution: torchvision lists 4.09 GFLOPS for its
    # (v1.5) resnet50.
    assert multiply_adds(v15) == derive(50, stride_on="3x3")[2] == 4_089_184_256


def test_plain_nets_have_no_shortcuts():
    model = shared("plain34")
    names = {layer.name for layer in model.layers}
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    assert not any("_0_" in name for name in names)
    assert "conv5_block3_out" in names
    with pytest.raises(ValueError, match="plain net"):
        cnnzoo.build("plain18", shortcut="B")


# ------------------------------------------------------------------ structure and names


def test_layer_names_and_conventions():
    model = shared("resnet50")
    assert_layers(
        model,
        "conv1_pad conv1_conv conv1_bn conv1_relu pool1_pad pool1_pool "
        "conv2_block1_0_conv conv2_block1_0_bn conv2_block1_1_conv conv2_block1_3_bn "
        "conv2_block1_add conv2_block1_out conv5_block3_out avg_pool predictions",
    )
    assert model.get_layer("pool1_pool").output.shape == (None, 56, 56, 64)
    assert model.get_layer("conv5_block3_out").output.shape == (None, 7, 7, 2048)
    bn = model.get_layer("conv1_bn")
    assert bn.epsilon == 1.001e-5 and bn.momentum == 0.9
    basic = shared("resnet18")
    assert basic.get_layer("conv3_block1_1_pad").padding == ((1, 1), (1, 1))
    assert basic.get_layer("conv3_block1_1_conv").strides == (2, 2)


def test_preact_structure():
    model = shared("preact_resnet50")
    names = {layer.name for layer in model.layers}
    assert {"conv1_bn", "conv1_relu", "conv3_block1_preact_bn", "post_bn", "post_relu"} <= names
    # The first unit's input is conv1's BN-ReLU (after pooling): no pre-activation.
    assert "conv2_block1_preact_bn" not in names
    # No BN on projections or after a unit's last conv, nothing after the addition.
    assert not any(n.endswith(("_0_bn", "_3_bn", "_out")) for n in names)

    def source(layer_name):
        return model.get_layer(layer_name).input

    # conv3_block1 shares its BN-ReLU with the projection; later units pre-activate
    # their branch only and add the raw sum.
    both = model.get_layer("conv3_block1_preact_relu").output
    assert source("conv3_block1_0_conv") is both and source("conv3_block1_1_conv") is both
    assert source("conv3_block2_1_conv") is model.get_layer("conv3_block2_preact_relu").output
    residual, _ = model.get_layer("conv3_block2_add").input
    assert residual is model.get_layer("conv3_block1_add").output
    assert source("post_bn") is model.get_layer("conv5_block3_add").output
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)


@pytest.mark.parametrize("name", _slow_if_deep(IMAGENET_NAMES))
def test_builds_headless_at_64x64(name):
    wide = 512 if imagenet_resnet.MODELS[name].args["depth"] < 50 else 2048
    model = build_zeros(name, include_top=False, input_shape=(64, 64, 3))
    # 64 -> 32 (conv1) -> 16 (pool1) -> 16, 8, 4, 2.
    assert model.output_shape == (None, 2, 2, wide)
    assert "predictions" not in {layer.name for layer in model.layers}


def test_pooling_classes_and_logits():
    model = cnnzoo.build(
        "resnet18", include_top=False, input_shape=(64, 64, 3), pooling="max", name="r18"
    )
    assert model.output_shape == (None, 512) and model.layers[-1].name == "max_pool"
    assert model.name == "r18"
    model = cnnzoo.build("resnet18", input_shape=(64, 64, 3), classes=7, classifier_activation=None)
    assert model.output_shape == (None, 7)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    assert not np.allclose(keras.ops.convert_to_numpy(model(x)).sum(axis=1), 1.0)


def test_argument_errors():
    with pytest.raises(ValueError, match="unknown shortcut 'D'"):
        cnnzoo.build("resnet18", shortcut="D")
    with pytest.raises(ValueError, match="basic units"):
        cnnzoo.build("resnet34", stride_on="1x1")
    with pytest.raises(ValueError, match="unknown stride_on"):
        cnnzoo.build("resnet50", stride_on="7x7")
    with pytest.raises(ValueError, match="unknown depth 20"):
        imagenet_resnet.imagenet_resnet(20)
    with pytest.raises(ValueError, match="unknown unit"):
        imagenet_resnet.imagenet_resnet(50, unit="preact_v3")
    with pytest.raises(ValueError, match="pooling"):
        cnnzoo.build("resnet18", include_top=False, pooling="mean")


def test_registry_and_applications():
    assert set(IMAGENET_NAMES) <= set(cnnzoo.list_models())
    assert {"plain18", "plain34"} <= set(cnnzoo.list_models("plain*"))
    for depth in (50, 101, 152):
        constructor, overrides = application_for(f"resnet{depth}")
        assert constructor is getattr(keras.applications, f"ResNet{depth}")
        assert overrides == {"use_bias": True}
    with pytest.raises(ValueError, match="no keras.applications counterpart"):
        application_for("resnet18")


# ------------------------------------------------------------------ keras.applications


def _randomize(model, rng):
    # Uniform kernels of variance 1/fan_in, small biases, and BatchNorm with
    # non-trivial statistics, so every weight shapes the output.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            layer.beta.assign(rng.uniform(-0.5, 0.5, c).astype("float32"))
            layer.moving_mean.assign(rng.uniform(-0.5, 0.5, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
        elif layer.weights:
            kernel, bias = layer.weights
            bound = np.sqrt(3.0 / np.prod(kernel.shape[:-1]))
            kernel.assign(rng.uniform(-bound, bound, kernel.shape).astype("float32"))
            bias.assign(rng.uniform(-0.1, 0.1, bias.shape).astype("float32"))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [50, 101, 152])
def test_matches_keras_applications(depth, monkeypatch):
    constructor = getattr(keras.applications, f"ResNet{depth}")
    # Zeros, then NumPy draws: faster than Keras's initializers on 25-60M weights.
    with zero_init():
        ref = constructor(weights=None)
    assert ref.count_params() == sum(derive(depth, use_bias=True)[:2])
    rng = np.random.default_rng(depth)
    _randomize(ref, rng)
    x = rng.uniform(-1.0, 1.0, size=(2, 224, 224, 3)).astype("float32")
    ref_features = keras.Model(ref.input, ref.get_layer("avg_pool").output)(x).numpy()
    # Pooled features share a large image-independent part that grows with depth
    # (mean ~30 at 152 layers), which would saturate the softmax or make the two
    # images' predictions alike. Centre the classifier on the two images' mean
    # features and scale it (kernel variance 1/2048) to logits of std ~2.
    classifier = ref.get_layer("predictions")
    centred = ref_features - ref_features.mean(axis=0)
    kernel = classifier.kernel.numpy() * np.float32(2.0 / np.sqrt(np.mean(centred**2)))
    classifier.kernel.assign(kernel)
    classifier.bias.assign(-ref_features.mean(axis=0) @ kernel)
    # The reference's own classifier on its own features: one 224x224 pass less.
    expected = keras.ops.convert_to_numpy(classifier(ref_features))

    if depth == 50:
        # The whole path of cnnzoo.build(weights="imagenet"), offline: the registered
        # keras.applications constructor hands over the randomized reference.
        def fake(weights, include_top, input_shape):
            assert (weights, include_top, input_shape) == ("imagenet", True, (224, 224, 3))
            return ref

        monkeypatch.setattr(keras.applications, "ResNet50", fake)
        with zero_init():
            model = cnnzoo.build("resnet50", use_bias=True, weights="imagenet")
    else:
        with zero_init():
            model = cnnzoo.build(f"resnet{depth}", use_bias=True)
        assert copy_weights(ref, model) == sum(bool(layer.weights) for layer in ref.layers)
    assert [layer.name for layer in model.layers[1:]] == [layer.name for layer in ref.layers[1:]]
    assert model.count_params() == ref.count_params()
    # What is compared is the architecture and the weights' mapping, with Keras's own
    # BatchNormalization arithmetic: random BatchNorm statistics leave the deep nets'
    # features a large common part plus a small deviation in which the fused
    # kernel's different rounding shows (7.7e-5 at ResNet-101).
    model = with_keras_batch_norm(model)
    got_features, got = (
        t.numpy()
        for t in keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])(x)
    )
    assert_informative_match(expected, got)
    np.testing.assert_allclose(got_features, ref_features, rtol=1e-5, atol=1e-5)

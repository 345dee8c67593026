"""GoogLeNet, BN-Inception, Inception v3/v4, Inception-ResNet v1/v2, Xception.

Auxiliary heads, layouts, small inputs, residual scales, and layer-for-layer equality
with keras.applications (names and predictions after a weight copy). Parameter counts
(trainable and in all) against the cards and the papers: tests/test_registry.py.
"""

from __future__ import annotations

import collections
import contextlib

import keras
import numpy as np
import pytest
from _zoo import assert_informative_match, assert_output_shapes, trainable, with_keras_batch_norm

import cnnzoo
from cnnzoo.layers import LocalResponseNormalization, ResidualScaling
from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.pretrained import application_for, copy_weights

# The keras.applications counterparts (cnnzoo name -> constructor).
APPLICATIONS = {
    "inception_v3": "InceptionV3",
    "inception_resnet_v2": "InceptionResNetV2",
    "xception": "Xception",
}


@pytest.fixture(scope="module")
def built():
    """Builds shared by the module's tests, one per configuration, freed afterwards."""
    cache = {}

    def get(name, **overrides):
        key = (name, tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = cnnzoo.build(name, **overrides)
        return cache[key]

    yield get
    cache.clear()


# ------------------------------------------------------------------ cards


def test_bn_inception_count_is_within_one_percent_of_published():
    # The count usually quoted for Inception v2 / BN-Inception is 11.26M.
    assert abs(cnnzoo.model_card("bn_inception").trainable_params / 11.26e6 - 1) < 0.01


def test_applications_are_registered():
    for name, constructor in APPLICATIONS.items():
        reference, overrides = application_for(name)
        assert reference is getattr(keras.applications, constructor) and overrides == {}


# ------------------------------------------------------------------ GoogLeNet


def test_googlenet_layout(built):
    model = built("googlenet")
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    # Table 1's sizes: 112, 56, 28, 14, 7 and the module widths.
    assert_output_shapes(model, {
        "conv1_7x7_s2": (112, 112, 64), "pool1_3x3_s2": (56, 56, 64),
        "conv2_3x3": (56, 56, 192), "pool2_3x3_s2": (28, 28, 192),
        "inception_3b_output": (28, 28, 480), "inception_4a_output": (14, 14, 512),
        "inception_4d_output": (14, 14, 528), "inception_4e_output": (14, 14, 832),
        "inception_5b_output": (7, 7, 1024),
    })  # fmt: skip
    # LRN after the first max pooling and after conv2's 3x3 (Figure 3).
    names = [layer.name for layer in model.layers]
    lrns = [layer for layer in model.layers if isinstance(layer, LocalResponseNormalization)]
    assert [layer.name for layer in lrns] == ["pool1_norm1", "conv2_norm2"]
    assert names.index("pool1_norm1") == names.index("pool1_3x3_s2") + 1
    assert names.index("conv2_norm2") == names.index("conv2_3x3") + 1
    assert model.get_layer("dropout").rate == 0.4
    assert names[-3:] == ["avg_pool", "dropout", "predictions"]


def test_googlenet_aux_heads(built):
    model = built("googlenet", aux_heads=True)
    assert trainable(model) == 13_378_280
    assert model.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    # After 4a (14x14x512) and 4d (14x14x528): 5x5 / 3 pooling to 4x4.
    for head, channels in (("aux1", 512), ("aux2", 528)):
        pool = model.get_layer(f"{head}_avg_pool")
        assert (pool.pool_size, pool.strides) == ((5, 5), (3, 3))
        assert pool.output.shape[1:] == (4, 4, channels)
        assert model.get_layer(f"{head}_conv").kernel.shape == (1, 1, channels, 128)
        assert model.get_layer(f"{head}_fc").kernel.shape == (4 * 4 * 128, 1024)
        assert model.get_layer(f"{head}_dropout").rate == 0.7
    x = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    outs = model(x, training=False)
    for out in outs:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out).sum(), 1.0, rtol=1e-5)


def test_aux_heads_need_the_top_and_the_grid():
    for name in ("googlenet", "inception_v3"):
        with pytest.raises(ValueError, match="needs include_top=True"):
            cnnzoo.build(name, aux_heads=True, include_top=False)
    with pytest.raises(ValueError, match="at least 5x5"):
        cnnzoo.build("googlenet", aux_heads=True, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="17x17 grid"):
        cnnzoo.build("inception_v3", aux_heads=True, input_shape=(200, 200, 3))


# ------------------------------------------------------------------ BN-Inception


def test_bn_inception_layout(built):
    model = built("bn_inception")
    # Figure 5: 28x28 for 3a-3b, 14x14 from 3c, 7x7 from 4e; 4c/4d/4e as the filter
    # columns add up (608, 608, 1056), where Figure 5's output column says 576 / 1024.
    widths = {
        "3a": (28, 256), "3b": (28, 320), "3c": (14, 576), "4a": (14, 576),
        "4b": (14, 576), "4c": (14, 608), "4d": (14, 608), "4e": (7, 1056),
        "5a": (7, 1024), "5b": (7, 1024),
    }  # fmt: skip
    for module, (size, channels) in widths.items():
        out = model.get_layer(f"inception_{module}_output").output
        assert out.shape[1:] == (size, size, channels), module
    # No dropout, no LRN, no biases before BatchNorm (Ioffe & Szegedy §4.2.1, §3.2).
    kinds = {type(layer) for layer in model.layers}
    assert keras.layers.Dropout not in kinds and LocalResponseNormalization not in kinds
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)
    assert isinstance(model.get_layer("inception_5b_pool"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("inception_5a_pool"), keras.layers.AveragePooling2D)
    # Pass-through pooling, no 1x1 branch in the stride-2 modules.
    for module in ("3c", "4e"):
        assert model.get_layer(f"inception_{module}_pool").strides == (2, 2)
        for missing in ("1x1", "pool_proj"):
            with pytest.raises(ValueError):
                model.get_layer(f"inception_{module}_{missing}")


# ------------------------------------------------------------------ Inception v3 / v4


def test_inception_v3_aux_head(built):
    model = built("inception_v3", aux_heads=True)
    # The batch-normalized head on mixed7: 1x1 conv 128 + BN offset, 5x5 conv 768 +
    # BN offset, classifier 768 * 1000 + 1000.
    head = 128 * 768 + 128 + 5 * 5 * 128 * 768 + 768 + 768 * 1000 + 1000
    assert trainable(model) == 23_817_352 + head == 27_143_152
    assert model.output_names == ["predictions", "aux_predictions"]
    assert model.get_layer("aux_avg_pool").output.shape[1:] == (5, 5, 768)
    assert model.get_layer("aux_conv2_relu").output.shape[1:] == (1, 1, 768)


def test_inception_v4_layout(built):
    model = built("inception_v4")
    assert_output_shapes(model, {
        "mixed_5a": (35, 35, 384), "mixed_5e": (35, 35, 384), "mixed_6a": (17, 17, 1024),
        "mixed_6h": (17, 17, 1024), "mixed_7a": (8, 8, 1536), "mixed_7d": (8, 8, 1536),
    })  # fmt: skip
    assert model.get_layer("top_dropout").rate == 0.2
    # BatchNormalization with scale and offset everywhere.
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(layer.scale and layer.center for layer in bns)


def _assert_block_params(model, blocks, total):
    """Each block's trainable parameters, and their sum, are the hand-computed ones.

    `blocks` maps a block type to (its blocks, each a tuple of layer-name prefixes, and
    the parameters of one); `total` is the card's count.
    """
    got = {}
    for kind, (instances, each) in blocks.items():
        for prefixes in instances:
            got[prefixes] = sum(
                int(np.prod(w.shape))
                for layer in model.layers
                if layer.name.startswith(prefixes)
                for w in layer.trainable_weights
            )
        assert {p: got[p] for p in instances} == dict.fromkeys(instances, each), kind
    assert sum(len(instances) * each for instances, each in blocks.values()) == total
    assert sum(got.values()) == total


# Szegedy et al. 2016 (Rethinking) Table 1 and Figures 5-7 with TF-slim's filters where
# the paper gives none; each block's arithmetic is in cnnzoo/models/inception.py (above
# INCEPTION_V3_PAPER_PARAMS). Per block type, count x params of one:
# 711,184 + 3 x 235,504 + 1,152,640 + 1,295,872 + 2 x 1,689,280 + 2 x 2,140,032
# + 1,697,024 + 5,041,344 + 6,073,536 + 2,049,000 = 26,385,736.
V3_PAPER_BLOCKS = {
    "stem (Table 1)": ([("stem_",)], 711_184),
    "Figure 5": ([("mixed_5b",), ("mixed_5c",), ("mixed_5d",)], 235_504),
    "reduction 35 -> 17": ([("mixed_6a",)], 1_152_640),
    "Figure 6, c7 = 128": ([("mixed_6b",)], 1_295_872),
    "Figure 6, c7 = 160": ([("mixed_6c",), ("mixed_6d",)], 1_689_280),
    "Figure 6, c7 = 192": ([("mixed_6e",), ("mixed_6f",)], 2_140_032),
    "reduction 17 -> 8": ([("mixed_7a",)], 1_697_024),
    "Figure 7 on 1280": ([("mixed_7b",)], 5_041_344),
    "Figure 7 on 2048": ([("mixed_7c",)], 6_073_536),
    "classifier": ([("predictions",)], 2_049_000),
}


@pytest.mark.slow
def test_inception_v3_paper(built):
    model = built("inception_v3_paper", aux_heads=True)
    card = cnnzoo.model_card("inception_v3_paper")
    _assert_block_params(model, V3_PAPER_BLOCKS, card.trainable_params)
    assert card.trainable_params == 26_385_736
    # Figure 8's BN-auxiliary head, as inception_v3's (test_inception_v3_aux_head).
    head = 128 * 768 + 128 + 5 * 5 * 128 * 768 + 768 + 768 * 1000 + 1000
    assert trainable(model) == 26_385_736 + head
    assert model.output_names == ["predictions", "aux_predictions"]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 2
    # Table 1's sizes: 35x35x288 into the Figure 5 modules (288 each, §6), 17x17x768,
    # 8x8x1280 and 2048 after the Figure 7 modules; the head on the last 17x17 module.
    assert_output_shapes(model, {
        "stem_conv6_relu": (35, 35, 288), "mixed_5d": (35, 35, 288),
        "mixed_6a": (17, 17, 768), "mixed_6f": (17, 17, 768), "aux_avg_pool": (5, 5, 768),
        "mixed_7a": (8, 8, 1280), "mixed_7b": (8, 8, 2048), "mixed_7c": (8, 8, 2048),
    })  # fmt: skip
    assert model.get_layer("aux_avg_pool").input is model.get_layer("mixed_6f").output
    # Figure 5: every 5x5 of the original module is two 3x3; the only 5x5 left is the
    # auxiliary head's (Figure 8).
    fives = [
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (5, 5)
    ]
    assert fives == ["aux_conv2_conv"]


# ------------------------------------------------------------------ Inception-ResNet


@pytest.mark.parametrize(
    "name, repeats, last_block_unscaled",
    [
        ("inception_resnet_v1", (5, 10, 5), False),
        ("inception_resnet_v2", (10, 20, 10), True),
        pytest.param("inception_resnet_v2_paper", (5, 10, 5), False, marks=pytest.mark.slow),
    ],
)
def test_inception_resnet_scales(built, name, repeats, last_block_unscaled):
    model = built(name)
    scales = {
        layer.name: layer.scale for layer in model.layers if isinstance(layer, ResidualScaling)
    }
    expected = {}
    # Szegedy et al. 2016 §3.3: 0.1-0.3; per block type, the authors' code's values.
    block_scales = (("block35", 0.17), ("block17", 0.1), ("block8", 0.2))
    for (block, scale), count in zip(block_scales, repeats, strict=True):
        expected.update({f"{block}_{i}_scale": scale for i in range(1, count + 1)})
    if last_block_unscaled:
        # keras.applications' (TF-slim's) last block: scale 1, no ReLU.
        expected[f"block8_{repeats[-1]}_scale"] = 1.0
        with pytest.raises(ValueError):
            model.get_layer(f"block8_{repeats[-1]}_ac")
    assert scales == expected
    assert not any(layer.weights for layer in model.layers if isinstance(layer, ResidualScaling))


def test_inception_resnet_v1_layout(built):
    model = built("inception_resnet_v1")
    assert_output_shapes(model, {
        "stem_conv6_relu": (35, 35, 256), "block35_5_ac": (35, 35, 256),
        "mixed_6a": (17, 17, 896),  # reduction-A: 384 + 256 + 256
        "block17_10_ac": (17, 17, 896),
        "mixed_7a": (8, 8, 1792),  # reduction-B: 384 + 256 + 256 + 896
        "block8_5_ac": (8, 8, 1792),
    })  # fmt: skip
    # The up convolutions are linear, with bias and no BatchNorm ([1] §3.2).
    up = model.get_layer("block17_3_conv")
    assert up.use_bias and keras.activations.serialize(up.activation) == "linear"


# Szegedy et al. 2016 (Inception-v4) Figures 3, 7 (Table 1: 256, 256, 384, 384) and
# 15-19; each block's arithmetic is in cnnzoo/models/inception_resnet.py (above
# INCEPTION_RESNET_V2_PAPER_PARAMS). Per block type, count x params of one:
# 604,864 + 5 x 137,328 + 2,901,248 + 10 x 1,171,232 + 3,928,064 + 5 x 2,087,872
# + 2,145,000 = 32,417,496.
IR_V2_PAPER_BLOCKS = {
    "stem (Figure 3)": ([("stem_", "mixed_3a", "mixed_4a", "mixed_5a")], 604_864),
    "Figure 16": ([(f"block35_{i}_",) for i in range(1, 6)], 137_328),
    "reduction-A (Figure 7)": ([("mixed_6a",)], 2_901_248),
    "Figure 17": ([(f"block17_{i}_",) for i in range(1, 11)], 1_171_232),
    "reduction-B (Figure 18)": ([("mixed_7a",)], 3_928_064),
    "Figure 19": ([(f"block8_{i}_",) for i in range(1, 6)], 2_087_872),
    "classifier": ([("predictions",)], 2_145_000),
}


@pytest.mark.slow
def test_inception_resnet_v2_paper(built):
    model = built("inception_resnet_v2_paper")
    card = cnnzoo.model_card("inception_resnet_v2_paper")
    _assert_block_params(model, IR_V2_PAPER_BLOCKS, card.trainable_params)
    assert trainable(model) == card.trainable_params == 32_417_496
    assert model.output_shape == (None, 1000)
    # Figure 3's stem gives 35x35x384; the blocks keep their input's width (384, then
    # 384 + 384 + 384 after reduction-A, + 384 + 288 + 320 after reduction-B), where
    # Figures 17 and 19 print 1154 and 2048.
    assert_output_shapes(model, {
        "mixed_5a": (35, 35, 384), "block35_5_ac": (35, 35, 384),
        "mixed_6a": (17, 17, 1152), "block17_10_ac": (17, 17, 1152),
        "mixed_7a": (8, 8, 2144), "block8_5_ac": (8, 8, 2144),
    })  # fmt: skip
    # Figure 15: average pooling, dropout (keep 0.8), softmax; no conv_7b.
    assert [layer.name for layer in model.layers[-3:]] == ["avg_pool", "top_dropout", "predictions"]
    assert model.get_layer("top_dropout").rate == 0.2


# ------------------------------------------------------------------ small inputs


@pytest.mark.parametrize(
    "name, size, features",
    [
        ("googlenet", 32, (1, 1, 1024)),
        ("bn_inception", 32, (1, 1, 1024)),
        ("inception_v3", 75, (1, 1, 2048)),
        ("inception_v4", 75, (1, 1, 1536)),
        ("inception_resnet_v1", 75, (1, 1, 1792)),
        ("inception_resnet_v2", 75, (1, 1, 1536)),
        ("xception", 71, (3, 3, 2048)),
    ],
)
def test_small_inputs_without_top(name, size, features):
    model = cnnzoo.build(name, include_top=False, input_shape=(size, size, 3))
    assert model.output_shape == (None, *features)
    assert not any(layer.name == "predictions" for layer in model.layers)
    if name not in ("googlenet", "bn_inception"):
        # The smallest size keras.applications allows; one pixel less cannot build.
        with pytest.raises(ValueError, match=f"at least {size}x{size}"):
            cnnzoo.build(name, include_top=False, input_shape=(size - 1, size - 1, 3))


def test_pooling_and_logits():
    model = cnnzoo.build("googlenet", include_top=False, pooling="max", input_shape=(64, 64, 3))
    assert model.output_shape == (None, 1024) and model.layers[-1].name == "max_pool"
    logits = cnnzoo.build(
        "bn_inception", classes=10, classifier_activation=None, input_shape=(64, 64, 3)
    )
    assert logits.output_shape == (None, 10)
    assert keras.activations.serialize(logits.get_layer("predictions").activation) == "linear"


# ------------------------------------------------------------------ keras.applications


@contextlib.contextmanager
def _fresh_layer_names():
    # keras.applications leaves many layers unnamed and Keras numbers unnamed layers
    # with one process-wide counter, so a reference built after other models has
    # names like "conv2d_94". Build it with the counter of a fresh session, whose
    # names cnnzoo's models carry (cnnzoo.models.inception.AutoNames). Private API:
    # the counter's only public reset, keras.backend.clear_session, resets more.
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def _randomize(model, seed):
    # Every weight, BatchNorm moving statistics included, so a weight copied to the
    # wrong place or not at all shows: He-uniform kernels (variance-preserving for
    # the depthwise ones, which no ReLU follows), small offsets and means, moving
    # variances and scales around 1.
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape, leaf = tuple(v.shape), v.path.rsplit("/", 1)[-1]
        u = rng.random(size=shape, dtype=np.float32)
        if leaf in ("moving_variance", "gamma"):
            value = 0.5 + u
        elif len(shape) == 1:
            value = 0.2 * u - 0.1
        elif leaf == "depthwise_kernel":
            value = (2.0 * u - 1.0) * np.sqrt(3.0 / np.prod(shape[:2]))
        else:
            value = (2.0 * u - 1.0) * np.sqrt(6.0 / np.prod(shape[:-1]))
        v.assign(value.astype(np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_matches_keras_applications(built, name):
    with _fresh_layer_names():
        ref = getattr(keras.applications, APPLICATIONS[name])(weights=None)
    model = built(name)
    # Layer for layer: the same weighted layers in the same order; every other layer
    # the same too, but for our ResidualScaling (keras: an unnamed CustomScaleLayer)
    # and the papers' dropout before the classifier.
    ours = [layer for layer in model.layers[1:] if not isinstance(layer, keras.layers.Dropout)]
    theirs = ref.layers[1:]
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        if isinstance(mine, ResidualScaling):
            assert type(other).__name__ == "CustomScaleLayer" and other.scale == mine.scale
        else:
            kind = (
                keras.layers.BatchNormalization
                if type(mine) is FusedBatchNormalization
                else type(mine)
            )
            assert (mine.name, kind) == (other.name, type(other))
            assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in other.weights]

    _randomize(ref, seed=0)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(2, 299, 299, 3)).astype("float32")
    classifier = ref.get_layer("predictions")
    features = keras.Model(ref.input, classifier.input)(x).numpy()
    # Random BatchNorm statistics do not normalize, so the pooled features' scale
    # varies from net to net and a part common to both images can dominate them.
    # Set the classifier so that the logits are those of the features' deviation
    # from the two images' mean with std ~2: the softmax is then neither uniform nor
    # saturated, and differs between the images.
    logits = features @ classifier.kernel.numpy()
    deviation = logits - logits.mean(axis=0)
    factor = 2.0 / deviation.std()
    classifier.kernel.assign(classifier.kernel.numpy() * factor)
    classifier.bias.assign(-logits.mean(axis=0) * factor)
    expected = keras.ops.convert_to_numpy(classifier(features))

    assert copy_weights(ref, model) == sum(1 for layer in ref.layers if layer.weights)
    # Keras's own BatchNormalization arithmetic, as the reference's (see
    # tests/test_imagenet_resnet.py::test_matches_keras_applications).
    model = with_keras_batch_norm(model)
    probe = keras.Model(model.input, [model.get_layer("predictions").input, model.output])
    got_features, got = (keras.ops.convert_to_numpy(t) for t in probe(x, training=False))
    assert_informative_match(expected, got)
    np.testing.assert_allclose(
        got_features, features, rtol=1e-5, atol=1e-5 * np.abs(features).max()
    )

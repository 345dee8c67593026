"""The ImageNet residual family: ResNet-18/34/50/101/152, plain-18/34, pre-activation ResNets.

Papers:
    [1] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016 (arXiv:1512.03385): §3.3-3.4, Table 1
        (architectures and FLOPs), Fig. 3 (plain and residual 34-layer nets),
        Fig. 5 (basic and bottleneck units), Tables 2-3 (ImageNet results).
    [2] K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual
        Networks", ECCV 2016 (arXiv:1603.05027): Fig. 4(e) full pre-activation,
        Appendix (first and last units), Table 5 (ImageNet); its ImageNet code is
        fb.resnet.torch's models/preresnet.lua.

All nets ([1] Table 1): a 7x7/2 convolution with 64 filters on the 224x224 image,
3x3/2 max pooling, four stages of residual units on 56x56, 28x28, 14x14 and 7x7
maps with 64, 128, 256 and 512 filters (x4 at the output of bottleneck units),
downsampling by stride 2 in the first unit of stages 3-5, global average pooling
and a 1000-way fully connected layer with softmax. `DEPTHS` lists the units per
stage of each depth; one builder, `imagenet_resnet`, builds them all.

Conventions shared by every variant:
    * layer names, padding and shapes are those of `keras.applications.ResNet50`
      (``conv1_pad`` 3 pixels + "valid" 7x7/2 ``conv1_conv``, ``pool1_pad`` 1 pixel +
      "valid" 3x3/2 ``pool1_pool``, ``conv{s}_block{b}_{k}_conv|bn|relu`` for the
      k-th convolution of unit b of stage s in {2, .., 5}, ``..._0_conv|bn`` for a
      projection shortcut, ``..._add``, ``..._out``, ``avg_pool``, ``predictions``),
      so with ``use_bias=True`` keras.applications' weights copy across by name;
    * convolutions have no bias by default: each is followed by BatchNorm, whose
      offset makes a bias redundant ([1] §3.4: BN "right after each convolution");
      keras.applications' ResNet50/101/152 keep Caffe-converted biases, hence the
      ``use_bias`` option;
    * BatchNorm epsilon 1.001e-5 (keras.applications' value, so its weights give
      the same outputs) and momentum 0.9 (fb.resnet.torch's 0.1 in Torch's
      convention, the code of [2] and the momentum of `cifar_resnet`);
    * strided 3x3 convolutions pad one pixel on every side, as Caffe and Torch do,
      then "valid" (Keras's "same" pads only bottom/right for even sizes); the
      output at i is centred on input pixel 2i, the pixel a strided 1x1 keeps.
"""

from __future__ import annotations

import functools

import keras
from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.models._common import ImageInput, check_choice, choice_or_default
from cnnzoo.models._residual import (
    SHORTCUTS,
    STRIDE_ON,
    ConvStyle,
    basic_block,
    bottleneck_block,
    preact_block,
    stages,
)
from cnnzoo.models._variants import Catalog

# [1] Table 1: units per stage (conv2_x .. conv5_x) and unit type per depth.
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# [1] Table 1: unit widths of conv2_x .. conv5_x; conv3_1, conv4_1 and conv5_1
# downsample "with a stride of 2"; conv2_x follows the stride-2 max pooling.
STAGE_FILTERS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_FILTERS = 64
BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.9
# [1] Table 1, "FLOPs" (multiply-adds per 224x224 image); tests compare
# `cnnzoo.costs.multiply_adds` with them.
PUBLISHED_MULTIPLY_ADDS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}

_INPUT = ImageInput("imagenet_resnet", (224, 224, 3))
MODELS = Catalog()


# --------------------------------------------------------------------------- units


def _original(x, filters, stride, stage, block, name, *, style, shortcut, stride_on, bottleneck):
    # [1] Fig. 5, or its plain twin (shortcut None, [1] Fig. 3 middle).
    if bottleneck:
        return bottleneck_block(x, filters, stride, shortcut, stride_on, style, name)
    return basic_block(x, filters, stride, shortcut, style, name)


def _preact(x, filters, stride, stage, block, name, *, style, shortcut, stride_on, bottleneck):
    # fb.resnet.torch's preresnet.lua (the code of [2]): the first unit of all takes
    # conv1's BN-ReLU as its pre-activation ([2] Appendix: "the first activation
    # right after conv1"), the first unit of stages 3-5 shares its BN-ReLU with the
    # projection shortcut (``both_preact``), the others pre-activate their branch.
    preact = "branch" if block > 1 else ("none" if stage == 2 else "shared")
    return preact_block(x, filters, stride, preact, bottleneck, shortcut, stride_on, style, name)


# unit -> (the unit function, whether a BN-ReLU follows the last unit: [2] Appendix,
# "an extra activation right after its element-wise addition").
UNITS = {"original": (_original, False), "plain": (_original, False), "preact": (_preact, True)}


def _check_options(depth, unit, shortcut, stride_on):
    """Validate the family options; return the shortcut and stride_on to build with."""
    check_choice(depth, DEPTHS, "depth")
    check_choice(unit, UNITS, "unit")
    if unit == "plain" and shortcut is not None:
        raise ValueError(
            f"shortcut={shortcut!r} given for a plain net, which has no shortcuts; expected None"
        )
    if unit != "plain":
        shortcut = choice_or_default(shortcut, "B", SHORTCUTS, "shortcut")
    if DEPTHS[depth][0] == "bottleneck":
        return shortcut, choice_or_default(stride_on, "1x1", STRIDE_ON, "stride_on")
    if stride_on not in (None, "3x3"):
        raise ValueError(
            f"stride_on={stride_on!r}: ResNet-{depth}'s basic units have no 1x1 "
            "convolution and stride their first 3x3; expected None or '3x3'"
        )
    return shortcut, stride_on


def _stem(x, style):
    # [1] Table 1 conv1: "7x7, 64, stride 2", padded 3 as in keras.applications
    # (conv1_pad, conv1_conv). Every variant normalizes conv1: [1] after each conv,
    # [2] (preresnet.lua) because the first unit takes its pre-activation from here.
    x = style.bn_relu(style.conv(x, STEM_FILTERS, 7, 2, "conv1"), "conv1")
    # [1] Table 1: "3x3 max pool, stride 2". Zero padding equals -inf padding here:
    # the input is a ReLU output.
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


# --------------------------------------------------------------------------- builder


def imagenet_resnet(
    depth,
    unit="original",
    include_top=True,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="imagenet_resnet",
    shortcut=None,
    stride_on=None,
    use_bias=False,
    kernel_initializer="he_normal",
):
    """Build an ImageNet ResNet of [1] Table 1 (or its plain / pre-activation form).

    Args:
        depth: 18, 34 (basic units), 50, 101 or 152 (bottleneck units); see `DEPTHS`.
        unit: ``"original"`` ([1]), ``"plain"`` (the same without shortcuts, [1]
            Fig. 3 middle and Table 2) or ``"preact"`` ([2] Fig. 4(e); conv1 is
            followed by BN-ReLU and the last unit by ``post_bn`` / ``post_relu``).
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool`` and ``predictions``; default input 224x224x3, and other
            sizes down to 32x32 build (each stride 2 keeps ``ceil(size / 2)``).
        shortcut: [1] §3.3's option ``"A"`` (zero padding), ``"B"`` (the default,
            projections where the shape changes) or ``"C"`` (projections everywhere),
            see `cnnzoo.models._residual.shortcut_path`; ``None`` for plain nets.
        stride_on: ``"1x1"`` (default, [1]) or ``"3x3"`` ("v1.5") for bottleneck
            units (`cnnzoo.models._residual.bottleneck_block`); ``None`` or ``"3x3"``
            for basic units, which always stride their first 3x3.
        use_bias: give every convolution a bias. ``True`` with
            ``unit="original"``, ``shortcut="B"`` and ``stride_on="1x1"`` is
            keras.applications' ResNet50/101/152 exactly (25,636,712 weights for 50).
        kernel_initializer: initializer of the convolution kernels; Keras's
            ``"he_normal"`` by default ([1] §3.4: "as in [13]", He et al. 2015),
            truncated at two std.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown depth, unit, shortcut, stride_on or pooling, a
            shortcut on a plain net, a bad input_shape or classifier activation.
    """
    shortcut, stride_on = _check_options(depth, unit, shortcut, stride_on)
    block_type, counts = DEPTHS[depth]
    unit_fn, post_activation = UNITS[unit]
    style = ConvStyle(BN_EPSILON, BN_MOMENTUM, use_bias, kernel_initializer)
    inputs, top = _INPUT.start(include_top, input_shape, pooling, classes, classifier_activation)
    bottleneck = block_type == "bottleneck"
    unit_fn = functools.partial(
        unit_fn, style=style, shortcut=shortcut, stride_on=stride_on, bottleneck=bottleneck
    )
    x = stages(_stem(inputs, style), STAGE_FILTERS, STAGE_STRIDES, counts, unit_fn)
    if post_activation:
        # keras.applications' ResNetV2 names it post_bn / post_relu.
        x = style.bn_relu(x, "post")
    return keras.Model(inputs, top(x, global_pool=True), name=name)


# --------------------------------------------------------------------------- variants

_HE2015 = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", '
    "CVPR 2016 (arXiv:1512.03385)"
)
_HE2016_IDENTITY = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks", '
    "ECCV 2016 (arXiv:1603.05027)"
)
_TABLE3 = "He et al. 2016, Table 3 (10-crop testing, ILSVRC-2012 validation)"
_B_NOTE = (
    "Shortcut option B (projections where the shape changes), convolutions without "
    "bias; use_bias=True gives keras.applications' layout."
)
_V15_NOTE = " Stride on the first 1x1 of a unit; stride_on='3x3' gives 'v1.5'."
_PLAIN_NOTE = "The residual net without shortcuts, for the degradation experiment (Fig. 4 left)."


def _errors(top1, top5=None):
    published = {"imagenet2012_val_top1_error": top1}
    if top5 is not None:
        published["imagenet2012_val_top5_error"] = top5
    return published


def _variant(name, depth, unit, paper, section, params, published, source, notes, **card):
    """Declare `name`, ResNet-`depth` with `unit` units, and its card; return its builder."""
    card = ModelCard(
        name=name,
        family="imagenet_resnet",
        paper=paper,
        section=section,
        input_shape=(224, 224, 3),
        num_classes=1000,
        trainable_params=params,
        default_recipe="he2015_imagenet",
        dataset="imagenet2012",
        published=published,
        published_source=source,
        notes=notes,
        **card,
    )
    return MODELS.variant(imagenet_resnet, card, {"depth": depth, "unit": unit})


def _keras_resnet(depth):
    # keras.applications publishes ImageNet weights for ResNet50/101/152: with
    # biased convolutions they are ours layer for layer (names and shapes).
    return {
        "keras_application": f"ResNet{depth}",
        "keras_application_overrides": {"use_bias": True},
    }


# Exact trainable counts of what `imagenet_resnet` builds (BN moving statistics
# excluded), asserted by the tests, which also derive them from [1] Table 1's
# shapes. The ResNets (option B) have the counts torchvision publishes for its
# resnet18..152. Plain nets are their option-A twins: the ResNet minus the three
# projections 64->128, 128->256, 256->512 and their BN, 172,032 + 1,792 = 173,824.
# Pre-activation nets have the ResNet's kernels; they drop the BN of the four
# projections and of every unit's last 1x1 and add one on every unit's input but
# the first, plus post_bn: per stage 2 * (in - 2 * out), i.e. -1,024 - 1,536
# - 3,072 - 6,144, and + 2 * 2,048, so 7,680 fewer than the ResNet at every depth.
resnet18 = _variant(
    "resnet18",
    18,
    "original",
    _HE2015,
    "Table 1, 18-layer (basic units 2-2-2-2)",
    11_689_512,
    _errors(27.88),
    "He et al. 2016, Table 2 (10-crop testing, ILSVRC-2012 validation; option A "
    "shortcuts, the paper's only ResNet-18 figure)",
    _B_NOTE,
)
resnet34 = _variant(
    "resnet34",
    34,
    "original",
    _HE2015,
    "Table 1, 34-layer (basic units 3-4-6-3), Fig. 3 right",
    21_797_672,
    _errors(24.52, 7.46),
    f"{_TABLE3}, ResNet-34 B",
    _B_NOTE + " Table 3 also has option A (25.03 / 7.76) and C (24.19 / 7.40).",
)
resnet50 = _variant(
    "resnet50",
    50,
    "original",
    _HE2015,
    "Table 1, 50-layer (bottleneck units 3-4-6-3)",
    25_557_032,
    _errors(22.85, 6.71),
    _TABLE3,
    _B_NOTE + _V15_NOTE,
    **_keras_resnet(50),
)
resnet101 = _variant(
    "resnet101",
    101,
    "original",
    _HE2015,
    "Table 1, 101-layer (bottleneck units 3-4-23-3)",
    44_549_160,
    _errors(21.75, 6.05),
    _TABLE3,
    _B_NOTE + _V15_NOTE,
    **_keras_resnet(101),
)
resnet152 = _variant(
    "resnet152",
    152,
    "original",
    _HE2015,
    "Table 1, 152-layer (bottleneck units 3-8-36-3)",
    60_192_808,
    _errors(21.43, 5.71),
    _TABLE3,
    _B_NOTE + _V15_NOTE,
    **_keras_resnet(152),
)
plain18 = _variant(
    "plain18",
    18,
    "plain",
    _HE2015,
    "§4.1 plain networks, Table 1 18-layer without shortcuts",
    11_515_688,
    _errors(27.94),
    "He et al. 2016, Table 2 (10-crop testing, ILSVRC-2012 validation)",
    _PLAIN_NOTE,
)
plain34 = _variant(
    "plain34",
    34,
    "plain",
    _HE2015,
    "§4.1 plain networks, Fig. 3 middle (34-layer plain)",
    21_623_848,
    _errors(28.54, 10.02),
    _TABLE3,
    _PLAIN_NOTE,
)
preact_resnet50 = _variant(
    "preact_resnet50",
    50,
    "preact",
    _HE2016_IDENTITY,
    "Fig. 4(e) full pre-activation, bottleneck units 3-4-6-3 of [1] Table 1",
    25_549_352,
    {},
    "no ImageNet figure for this depth in He et al. 2016 (Identity mappings)",
    "Structure of fb.resnet.torch's preresnet.lua (the paper's ImageNet code): "
    "conv1-BN-ReLU-maxpool, first unit without pre-activation, each later stage's "
    "first unit shares its BN-ReLU with the projection shortcut, projections "
    "without BN, post_bn/post_relu before pooling. Stride on the first 1x1 as in "
    "[1] (preresnet.lua strides the 3x3: stride_on='3x3').",
)
preact_resnet101 = _variant(
    "preact_resnet101",
    101,
    "preact",
    _HE2016_IDENTITY,
    "Fig. 4(e) full pre-activation, bottleneck units 3-4-23-3 of [1] Table 1",
    44_541_480,
    {},
    "no ImageNet figure for this depth in He et al. 2016 (Identity mappings)",
    "Structure as preact_resnet50.",
)
preact_resnet152 = _variant(
    "preact_resnet152",
    152,
    "preact",
    _HE2016_IDENTITY,
    "Fig. 4(e) full pre-activation, bottleneck units 3-8-36-3 of [1] Table 1",
    60_185_128,
    _errors(21.1, 5.5),
    "He et al. 2016 (Identity mappings), Table 5 (single 320x320 crop, trained "
    "on 224x224 crops with scale augmentation)",
    "Structure as preact_resnet50.",
)

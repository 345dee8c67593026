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

import dataclasses
import functools
from collections.abc import Callable

import keras
from keras import layers

from cnnzoo.layers.shortcuts import ZeroPadShortcut
from cnnzoo.models._common import batch_norm, caffe_conv, check_builder_args, relu, top_tail
from cnnzoo.pretrained import register_application
from cnnzoo.registry import ModelCard, register_model

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
# [1] Fig. 5 right: 1x1 64, 3x3 64, 1x1 256; the unit outputs 4x its inner width.
BOTTLENECK_EXPANSION = 4
BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.9
# [1] Table 1, "FLOPs" (multiply-adds per 224x224 image); tests compare
# `cnnzoo.costs.multiply_adds` with them.
PUBLISHED_MULTIPLY_ADDS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}

UNITS = ("original", "plain", "preact")
SHORTCUTS = ("A", "B", "C")
STRIDE_ON = ("1x1", "3x3")


# --------------------------------------------------------------------------- layers


def _conv(x, filters, kernel_size, stride, use_bias, kernel_initializer, name):
    """Convolution named ``{name}_conv``; a strided 3x3 pads 1 pixel all round (``{name}_pad``)."""
    return caffe_conv(x, filters, kernel_size, stride, kernel_initializer, name, use_bias=use_bias)


_bn = functools.partial(batch_norm, epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
_relu = relu


def _shortcut(x, out_filters, stride, shortcut, with_bn, conv_args, name):
    """The shortcut of a unit: identity, option A zero padding, or a 1x1 projection.

    [1] §3.3: identity where the shapes agree; where they change, option A pads
    zero channels (and subsamples), option B projects; option C projects in every
    unit. `shortcut` None (plain nets) or ``with_bn`` False (pre-activation units,
    whose projections preresnet.lua leaves without BN) are handled here too.
    """
    changes_shape = stride != 1 or x.shape[-1] != out_filters
    if shortcut == "C" or (shortcut == "B" and changes_shape):
        residual = _conv(x, out_filters, 1, stride, *conv_args, name=f"{name}_0")
        return _bn(residual, f"{name}_0") if with_bn else residual
    if shortcut == "A" and changes_shape:
        return ZeroPadShortcut(out_filters, stride, name=f"{name}_0_pad")(x)
    return x


# --------------------------------------------------------------------------- units


def basic_block(
    x, filters, stride=1, shortcut="B", use_bias=False, kernel_initializer="he_normal", name=None
):
    """The two-layer unit of [1] Fig. 5 left (ResNet-18/34), or its plain twin.

    conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU ([1] §3.2: the second
    nonlinearity is "after the addition"). The first 3x3 carries the stride.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: output channels of both convolutions.
        stride: stride of the first convolution (2 where a stage begins).
        shortcut: ``"A"``, ``"B"`` or ``"C"`` ([1] §3.3, see `imagenet_resnet`), or
            ``None`` for no shortcut at all, the plain net of [1] Fig. 3 middle.
        use_bias: give the convolutions a bias.
        kernel_initializer: initializer of the convolution kernels.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit (``{name}_out``).
    """
    conv_args = (use_bias, kernel_initializer)
    residual = _shortcut(x, filters, stride, shortcut, True, conv_args, name)
    y = _conv(x, filters, 3, stride, *conv_args, name=f"{name}_1")
    y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
    y = _conv(y, filters, 3, 1, *conv_args, name=f"{name}_2")
    y = _bn(y, f"{name}_2")
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([residual, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def bottleneck_block(
    x,
    filters,
    stride=1,
    shortcut="B",
    stride_on="1x1",
    use_bias=False,
    kernel_initializer="he_normal",
    name=None,
):
    """The three-layer bottleneck unit of [1] Fig. 5 right (ResNet-50/101/152).

    conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN, plus the shortcut, then ReLU; the
    last 1x1 outputs ``BOTTLENECK_EXPANSION * filters`` channels. With
    ``shortcut="B"`` and ``use_bias=True`` this is keras.applications'
    ``residual_block_v1``, layer for layer.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: inner width (the 3x3's filters).
        stride: spatial stride of the unit.
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None`` (see `basic_block`).
        stride_on: ``"1x1"`` strides the first 1x1 convolution, as [1] does ("the
            conv3_1, conv4_1, and conv5_1" downsample; Caffe's released
            prototxts and keras.applications stride the 1x1); ``"3x3"`` strides
            the 3x3, the "ResNet v1.5" of torchvision and NVIDIA, which sees all
            input pixels and costs more multiply-adds.
        use_bias: give the convolutions a bias.
        kernel_initializer: initializer of the convolution kernels.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit (``{name}_out``).
    """
    conv_args = (use_bias, kernel_initializer)
    out_filters = BOTTLENECK_EXPANSION * filters
    first, middle = (stride, 1) if stride_on == "1x1" else (1, stride)
    residual = _shortcut(x, out_filters, stride, shortcut, True, conv_args, name)
    y = _conv(x, filters, 1, first, *conv_args, name=f"{name}_1")
    y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
    y = _conv(y, filters, 3, middle, *conv_args, name=f"{name}_2")
    y = _relu(_bn(y, f"{name}_2"), f"{name}_2")
    y = _conv(y, out_filters, 1, 1, *conv_args, name=f"{name}_3")
    y = _bn(y, f"{name}_3")
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([residual, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def preact_block(
    x,
    filters,
    stride=1,
    preact="branch",
    bottleneck=True,
    shortcut="B",
    stride_on="1x1",
    use_bias=False,
    kernel_initializer="he_normal",
    name=None,
):
    """A full pre-activation unit, [2] Fig. 4(e): BN-ReLU before every convolution.

    Bottleneck: BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1; basic:
    BN-ReLU-conv3x3-BN-ReLU-conv3x3. Nothing follows the addition. Projection
    shortcuts are a bare 1x1 convolution, without BN, as in preresnet.lua.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: unit width (inner width for a bottleneck).
        stride: spatial stride of the unit.
        preact: where the unit's first BN-ReLU (``{name}_preact_bn|relu``) goes:
            ``"branch"`` starts the residual branch with it, the shortcut carries
            the raw sum; ``"shared"`` applies it before the split, so the shortcut
            sees it too (preresnet.lua's ``both_preact``, for the first unit of
            stages 3-5); ``"none"`` leaves it out, for the first unit of all,
            whose input conv1's BN-ReLU has already activated ([2] Appendix:
            "the first activation right after conv1").
        bottleneck: three-layer bottleneck unit instead of the two-layer one.
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (see `imagenet_resnet`).
        stride_on: ``"1x1"`` or ``"3x3"`` (bottleneck units; see `bottleneck_block`).
        use_bias: give the convolutions a bias.
        kernel_initializer: initializer of the convolution kernels.
        name: unit prefix, e.g. ``"conv3_block1"``.

    Returns:
        Output tensor of the unit (``{name}_add``; the next unit pre-activates it).
    """
    conv_args = (use_bias, kernel_initializer)
    out_filters = BOTTLENECK_EXPANSION * filters if bottleneck else filters
    branch = x
    if preact != "none":
        branch = _relu(_bn(x, f"{name}_preact"), f"{name}_preact")
    split = branch if preact in ("shared", "none") else x
    residual = _shortcut(split, out_filters, stride, shortcut, False, conv_args, name)

    if bottleneck:
        first, middle = (stride, 1) if stride_on == "1x1" else (1, stride)
        y = _conv(branch, filters, 1, first, *conv_args, name=f"{name}_1")
        y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
        y = _conv(y, filters, 3, middle, *conv_args, name=f"{name}_2")
        y = _relu(_bn(y, f"{name}_2"), f"{name}_2")
        y = _conv(y, out_filters, 1, 1, *conv_args, name=f"{name}_3")
    else:
        y = _conv(branch, filters, 3, stride, *conv_args, name=f"{name}_1")
        y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
        y = _conv(y, filters, 3, 1, *conv_args, name=f"{name}_2")
    return layers.Add(name=f"{name}_add")([residual, y])


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
        include_top: whether to end with global average pooling (``avg_pool``) and
            the fully connected ``predictions`` layer.
        input_shape: (height, width, channels), channels last; default
            (224, 224, 3). Other sizes work (the net is fully convolutional up to
            the pooling; each stride 2 keeps ``ceil(size / 2)``), down to 32x32.
        pooling: with ``include_top=False``: ``None`` returns the last 4-D feature
            map, ``"avg"`` / ``"max"`` global average / max pooling. Ignored when
            ``include_top=True`` (the Keras convention).
        classes: outputs of the classifier.
        classifier_activation: activation of the classifier (name or callable,
            ``None`` for logits).
        name: model name.
        shortcut: [1] §3.3: ``"A"`` identity, zero-padded (and subsampled) where
            the shape changes, parameter-free (`ZeroPadShortcut`); ``"B"`` (the
            default) 1x1 projections where the shape changes, identity elsewhere;
            ``"C"`` projections in every unit. Must be ``None`` for plain nets.
        stride_on: bottleneck units only: ``"1x1"`` (default, [1]) or ``"3x3"``
            ("v1.5"); see `bottleneck_block`. Basic units always stride their
            first 3x3, so for them only ``None`` or ``"3x3"`` is accepted.
        use_bias: give every convolution a bias. ``True`` with
            ``unit="original"``, ``shortcut="B"`` and ``stride_on="1x1"`` is
            keras.applications' ResNet50/101/152 exactly (25,636,712 weights for 50).
        kernel_initializer: initializer of the convolution kernels. The default,
            Keras's ``"he_normal"`` ([1] §3.4 initializes "as in [13]", He et
            al. 2015), is truncated at two std. The classifier keeps Keras's
            Dense default.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown depth, unit, shortcut, stride_on or pooling, a
            shortcut on a plain net, a bad input_shape, an unknown classifier
            activation or channels-first data format.
    """
    if depth not in DEPTHS:
        raise ValueError(f"unknown depth {depth!r}; expected one of {tuple(DEPTHS)}")
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
    if unit == "plain":
        if shortcut is not None:
            raise ValueError(
                f"shortcut={shortcut!r} given for a plain net, which has no shortcuts; "
                "expected None"
            )
    else:
        shortcut = "B" if shortcut is None else shortcut
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}; expected one of {SHORTCUTS}")
    block_type, blocks = DEPTHS[depth]
    if block_type == "basic":
        if stride_on not in (None, "3x3"):
            raise ValueError(
                f"stride_on={stride_on!r}: ResNet-{depth}'s basic units have no 1x1 "
                "convolution and stride their first 3x3; expected None or '3x3'"
            )
    else:
        stride_on = "1x1" if stride_on is None else stride_on
        if stride_on not in STRIDE_ON:
            raise ValueError(f"unknown stride_on {stride_on!r}; expected one of {STRIDE_ON}")
    input_shape = check_builder_args(
        include_top, input_shape, pooling, classifier_activation, (224, 224, 3), "imagenet_resnet"
    )

    inputs = keras.Input(shape=input_shape)
    # [1] Table 1 conv1: "7x7, 64, stride 2"; padding 3 as in keras.applications.
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(
        STEM_FILTERS,
        7,
        strides=2,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name="conv1_conv",
    )(x)
    # Every variant normalizes conv1: [1] after each conv, [2] (preresnet.lua)
    # because the first unit takes its pre-activation from here.
    x = _relu(_bn(x, "conv1"), "conv1")
    # [1] Table 1: "3x3 max pool, stride 2". Zero padding equals -inf padding here:
    # the input is a ReLU output.
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    for s, (filters, stride1, count) in enumerate(
        zip(STAGE_FILTERS, STAGE_STRIDES, blocks, strict=True)
    ):
        for b in range(1, count + 1):
            stride = stride1 if b == 1 else 1
            unit_name = f"conv{s + 2}_block{b}"
            common = {"use_bias": use_bias, "kernel_initializer": kernel_initializer}
            if unit == "preact":
                preact = "branch" if b > 1 else ("none" if s == 0 else "shared")
                x = preact_block(
                    x,
                    filters,
                    stride,
                    preact=preact,
                    bottleneck=block_type == "bottleneck",
                    shortcut=shortcut,
                    stride_on=stride_on,
                    name=unit_name,
                    **common,
                )
            elif block_type == "bottleneck":
                x = bottleneck_block(
                    x, filters, stride, shortcut, stride_on, name=unit_name, **common
                )
            else:
                x = basic_block(x, filters, stride, shortcut, name=unit_name, **common)
    if unit == "preact":
        # [2] Appendix: "an extra activation right after its element-wise addition"
        # of the last unit; keras.applications' ResNetV2 names it post_bn / post_relu.
        x = _relu(_bn(x, "post"), "post")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = top_tail(x, include_top, pooling, classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


# --------------------------------------------------------------------------- variants

_HE2015 = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", '
    "CVPR 2016 (arXiv:1512.03385)"
)
_HE2016_IDENTITY = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks", '
    "ECCV 2016 (arXiv:1603.05027)"
)


@dataclasses.dataclass(frozen=True)
class ImagenetResnetVariant:
    """One registered network: its depth, its units and its card."""

    depth: int
    unit: str
    card: ModelCard


def _errors(top1, top5=None):
    published = {"imagenet2012_val_top1_error": top1}
    if top5 is not None:
        published["imagenet2012_val_top5_error"] = top5
    return published


def _variant(name, depth, unit, paper, section, params, published, source, notes):
    return ImagenetResnetVariant(
        depth,
        unit,
        ModelCard(
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
        ),
    )


_TABLE3 = "He et al. 2016, Table 3 (10-crop testing, ILSVRC-2012 validation)"
_B_NOTE = (
    "Shortcut option B (projections where the shape changes), convolutions without "
    "bias; use_bias=True gives keras.applications' layout."
)

# Exact trainable counts of what `imagenet_resnet` builds (BN moving statistics
# excluded), asserted by the tests, which also derive them from [1] Table 1's
# shapes. The ResNets (option B) have the counts torchvision publishes for its
# resnet18..152. Plain nets are their option-A twins: the ResNet minus the three
# projections 64->128, 128->256, 256->512 and their BN, 172,032 + 1,792 = 173,824.
# Pre-activation nets have the ResNet's kernels; they drop the BN of the four
# projections and of every unit's last 1x1 and add one on every unit's input but
# the first, plus post_bn: per stage 2 * (in - 2 * out), i.e. -1,024 - 1,536
# - 3,072 - 6,144, and + 2 * 2,048, so 7,680 fewer than the ResNet at every depth.
VARIANTS: dict[str, ImagenetResnetVariant] = {
    "resnet18": _variant(
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
    ),
    "resnet34": _variant(
        "resnet34",
        34,
        "original",
        _HE2015,
        "Table 1, 34-layer (basic units 3-4-6-3), Fig. 3 right",
        21_797_672,
        _errors(24.52, 7.46),
        f"{_TABLE3}, ResNet-34 B",
        _B_NOTE + " Table 3 also has option A (25.03 / 7.76) and C (24.19 / 7.40).",
    ),
    "resnet50": _variant(
        "resnet50",
        50,
        "original",
        _HE2015,
        "Table 1, 50-layer (bottleneck units 3-4-6-3)",
        25_557_032,
        _errors(22.85, 6.71),
        _TABLE3,
        _B_NOTE + " Stride on the first 1x1 of a unit; stride_on='3x3' gives 'v1.5'.",
    ),
    "resnet101": _variant(
        "resnet101",
        101,
        "original",
        _HE2015,
        "Table 1, 101-layer (bottleneck units 3-4-23-3)",
        44_549_160,
        _errors(21.75, 6.05),
        _TABLE3,
        _B_NOTE + " Stride on the first 1x1 of a unit; stride_on='3x3' gives 'v1.5'.",
    ),
    "resnet152": _variant(
        "resnet152",
        152,
        "original",
        _HE2015,
        "Table 1, 152-layer (bottleneck units 3-8-36-3)",
        60_192_808,
        _errors(21.43, 5.71),
        _TABLE3,
        _B_NOTE + " Stride on the first 1x1 of a unit; stride_on='3x3' gives 'v1.5'.",
    ),
    "plain18": _variant(
        "plain18",
        18,
        "plain",
        _HE2015,
        "§4.1 plain networks, Table 1 18-layer without shortcuts",
        11_515_688,
        _errors(27.94),
        "He et al. 2016, Table 2 (10-crop testing, ILSVRC-2012 validation)",
        "The residual net without shortcuts, for the degradation experiment (Fig. 4 left).",
    ),
    "plain34": _variant(
        "plain34",
        34,
        "plain",
        _HE2015,
        "§4.1 plain networks, Fig. 3 middle (34-layer plain)",
        21_623_848,
        _errors(28.54, 10.02),
        _TABLE3,
        "The residual net without shortcuts, for the degradation experiment (Fig. 4 left).",
    ),
    "preact_resnet50": _variant(
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
    ),
    "preact_resnet101": _variant(
        "preact_resnet101",
        101,
        "preact",
        _HE2016_IDENTITY,
        "Fig. 4(e) full pre-activation, bottleneck units 3-4-23-3 of [1] Table 1",
        44_541_480,
        {},
        "no ImageNet figure for this depth in He et al. 2016 (Identity mappings)",
        "Structure as preact_resnet50.",
    ),
    "preact_resnet152": _variant(
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
    ),
}


def _make_builder(variant_name: str) -> Callable[..., keras.Model]:
    variant = VARIANTS[variant_name]

    def builder(
        include_top=True,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=variant_name,
        **options,
    ):
        return imagenet_resnet(
            variant.depth,
            variant.unit,
            include_top=include_top,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **options,
        )

    builder.__name__ = builder.__qualname__ = variant_name
    options = "stride_on, use_bias, kernel_initializer"
    if variant.unit != "plain":
        options = "shortcut, " + options
    builder.__doc__ = (
        f"{variant_name}: {variant.card.section}; {variant.card.paper}.\n\n"
        "Args and returns as `imagenet_resnet` (its `depth` and `unit` fixed by the "
        f"variant); family options: {options}."
    )
    return register_model(variant.card)(builder)


resnet18 = _make_builder("resnet18")
resnet34 = _make_builder("resnet34")
resnet50 = _make_builder("resnet50")
resnet101 = _make_builder("resnet101")
resnet152 = _make_builder("resnet152")
plain18 = _make_builder("plain18")
plain34 = _make_builder("plain34")
preact_resnet50 = _make_builder("preact_resnet50")
preact_resnet101 = _make_builder("preact_resnet101")
preact_resnet152 = _make_builder("preact_resnet152")

# keras.applications publishes ImageNet weights for these architectures: with
# biased convolutions they are ours layer for layer (names and shapes).
for _depth in (50, 101, 152):
    register_application(f"resnet{_depth}", f"ResNet{_depth}", use_bias=True)

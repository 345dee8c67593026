"""The residual units of He et al., shared by the CIFAR and the ImageNet ResNet families.

Papers:
    [1] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016 (arXiv:1512.03385): §3.2-3.3 (shortcut options A, B,
        C), Fig. 2 and 5 (basic and bottleneck units).
    [2] K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual
        Networks", ECCV 2016 (arXiv:1603.05027): Fig. 4(e) (full pre-activation).

Units are plain functions ``x -> x`` composed by `stages`, in the manner of
keras.applications' ``residual_block_v1``. Layer names follow keras.applications:
``{name}_{k}_conv|bn|relu`` for the k-th convolution of the residual branch,
``{name}_0_conv|bn`` (projection) or ``{name}_0_pad`` (option A) for the shortcut,
``{name}_preact_bn|relu`` for a pre-activation, ``{name}_add`` for the sum and
``{name}_out`` for the ReLU after it in original units. The two families differ
only in their `ConvStyle` (BatchNorm epsilon, biases, initializer).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras import layers

from cnnzoo.layers.shortcuts import ZeroPadShortcut
from cnnzoo.models._common import batch_norm, caffe_conv, relu

# [1] Fig. 5 right: 1x1 64, 3x3 64, 1x1 256; a bottleneck unit outputs 4x its
# inner width (also [2]'s resnet-pre-act.lua: 16 -> 64).
BOTTLENECK_EXPANSION = 4
SHORTCUTS = ("A", "B", "C")
STRIDE_ON = ("1x1", "3x3")
# Where a pre-activation unit's first BN-ReLU goes (see `preact_block`).
PREACTS = ("branch", "shared", "none")


@dataclasses.dataclass(frozen=True)
class ConvStyle:
    """How a family makes its convolutions and batch normalizations.

    Attributes:
        bn_epsilon: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras's convention: the weight of
            the running average).
        use_bias: give every convolution a bias.
        kernel_initializer: initializer of the convolution kernels.
        shortcut_subsample: how option-A shortcuts halve the size (`ZeroPadShortcut`'s
            ``subsample``: ``"stride"`` or the survey's ``"max_pool"``).
    """

    bn_epsilon: float
    bn_momentum: float
    use_bias: bool = False
    kernel_initializer: Any = "he_normal"
    shortcut_subsample: str = "stride"

    def conv(self, x, filters, kernel_size, stride, name):
        """Convolution ``{name}_conv``; a strided one pads like Caffe/Torch (``{name}_pad``)."""
        return caffe_conv(
            x, filters, kernel_size, stride, self.kernel_initializer, name, self.use_bias
        )

    def bn(self, x, name):
        """BatchNormalization ``{name}_bn``."""
        return batch_norm(x, name, self.bn_epsilon, self.bn_momentum)

    def bn_relu(self, x, name):
        """BatchNormalization ``{name}_bn`` then ReLU ``{name}_relu``."""
        return relu(self.bn(x, name), name)


def shortcut_path(x, out_filters, stride, shortcut, with_bn, style, name):
    """The shortcut of a unit: identity, option A zero padding, or a 1x1 projection.

    [1] §3.3: identity where the shapes agree; where they change, option A pads
    zero channels (and subsamples, `ZeroPadShortcut`), option B projects; option C
    projects in every unit. `shortcut` None (plain nets) has none, so identity
    here and no addition in the unit; `with_bn` False leaves projections without
    BN (pre-activation units, as [2]'s code has them).
    """
    changes_shape = stride != 1 or x.shape[-1] != out_filters
    if shortcut == "C" or (shortcut == "B" and changes_shape):
        residual = style.conv(x, out_filters, 1, stride, f"{name}_0")
        return style.bn(residual, f"{name}_0") if with_bn else residual
    if shortcut == "A" and changes_shape:
        subsample = style.shortcut_subsample
        return ZeroPadShortcut(out_filters, stride, subsample, name=f"{name}_0_pad")(x)
    return x


def _add_and_relu(residual, y, shortcut, name):
    # [1] §3.2: the second nonlinearity is "after the addition"; plain nets add nothing.
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([residual, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def basic_block(x, filters, stride, shortcut, style, name):
    """The two-layer unit of [1] Fig. 5 left, or its plain twin (``shortcut=None``).

    conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU; the first 3x3 carries
    the stride.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: output channels of both convolutions.
        stride: stride of the first convolution (2 where a stage begins).
        shortcut: ``"A"``, ``"B"``, ``"C"`` (see `shortcut_path`) or ``None``.
        style: the family's `ConvStyle`.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit (``{name}_out``).
    """
    residual = shortcut_path(x, filters, stride, shortcut, True, style, name)
    y = style.bn_relu(style.conv(x, filters, 3, stride, f"{name}_1"), f"{name}_1")
    y = style.bn(style.conv(y, filters, 3, 1, f"{name}_2"), f"{name}_2")
    return _add_and_relu(residual, y, shortcut, name)


def _strides(stride, stride_on):
    # Strides of a bottleneck's first 1x1 and its 3x3.
    return (stride, 1) if stride_on == "1x1" else (1, stride)


def bottleneck_block(x, filters, stride, shortcut, stride_on, style, name):
    """The three-layer bottleneck unit of [1] Fig. 5 right, or its plain twin.

    conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN, plus the shortcut, then ReLU; the
    last 1x1 outputs ``BOTTLENECK_EXPANSION * filters`` channels. With
    ``shortcut="B"`` and biased convolutions this is keras.applications'
    ``residual_block_v1``, layer for layer.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: inner width (the 3x3's filters).
        stride: spatial stride of the unit.
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None`` (see `basic_block`).
        stride_on: ``"1x1"`` strides the first 1x1 convolution, as [1] does (its
            released Caffe prototxts and keras.applications too); ``"3x3"`` strides
            the 3x3, the "ResNet v1.5" of torchvision and NVIDIA, which sees all
            input pixels and costs more multiply-adds.
        style: the family's `ConvStyle`.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit (``{name}_out``).
    """
    out_filters = BOTTLENECK_EXPANSION * filters
    first, middle = _strides(stride, stride_on)
    residual = shortcut_path(x, out_filters, stride, shortcut, True, style, name)
    y = style.bn_relu(style.conv(x, filters, 1, first, f"{name}_1"), f"{name}_1")
    y = style.bn_relu(style.conv(y, filters, 3, middle, f"{name}_2"), f"{name}_2")
    y = style.bn(style.conv(y, out_filters, 1, 1, f"{name}_3"), f"{name}_3")
    return _add_and_relu(residual, y, shortcut, name)


def preact_block(x, filters, stride, preact, bottleneck, shortcut, stride_on, style, name):
    """A full pre-activation unit, [2] Fig. 4(e): BN-ReLU before every convolution.

    Bottleneck: BN-ReLU-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1 with
    ``BOTTLENECK_EXPANSION * filters`` outputs; basic: BN-ReLU-conv3x3-BN-ReLU-conv3x3.
    Nothing follows the addition. Projection shortcuts are a bare 1x1 convolution
    with the unit's stride, without BN, as in [2]'s released codes.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: unit width (inner width for a bottleneck).
        stride: spatial stride of the unit.
        preact: where the unit's first BN-ReLU (``{name}_preact_bn|relu``) goes:
            ``"branch"`` starts the residual branch with it, the shortcut carries
            the raw input; ``"shared"`` applies it before the split, so the shortcut
            sees it too (``both_preact`` of fb.resnet.torch, "common BN, ReLU" of
            resnet-pre-act.lua); ``"none"`` leaves it out, for a first unit whose
            input a BN-ReLU after conv1 has already activated.
        bottleneck: three-layer bottleneck unit instead of the two-layer one.
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (see `shortcut_path`).
        stride_on: ``"1x1"`` or ``"3x3"`` (bottleneck units; see `bottleneck_block`).
        style: the family's `ConvStyle`.
        name: unit prefix, e.g. ``"conv3_block1"``.

    Returns:
        Output tensor of the unit (``{name}_add``; the next unit pre-activates it).
    """
    out_filters = BOTTLENECK_EXPANSION * filters if bottleneck else filters
    branch = x if preact == "none" else style.bn_relu(x, f"{name}_preact")
    split = x if preact == "branch" else branch
    residual = shortcut_path(split, out_filters, stride, shortcut, False, style, name)
    if bottleneck:
        first, middle = _strides(stride, stride_on)
        y = style.bn_relu(style.conv(branch, filters, 1, first, f"{name}_1"), f"{name}_1")
        y = style.bn_relu(style.conv(y, filters, 3, middle, f"{name}_2"), f"{name}_2")
        y = style.conv(y, out_filters, 1, 1, f"{name}_3")
    else:
        y = style.bn_relu(style.conv(branch, filters, 3, stride, f"{name}_1"), f"{name}_1")
        y = style.conv(y, filters, 3, 1, f"{name}_2")
    return layers.Add(name=f"{name}_add")([residual, y])


def stages(x, filters, strides, counts, unit):
    """Stages of residual units, named ``conv{s}_block{b}`` from stage s = 2 (keras.applications).

    Args:
        x: input tensor.
        filters: unit width of each stage.
        strides: stride of each stage's first unit (the others have stride 1).
        counts: units in each stage.
        unit: ``unit(x, filters, stride, stage, block, name) -> x``, with stage
            from 2 and block from 1.

    Returns:
        Output tensor of the last unit.
    """
    for s, (width, stride1, count) in enumerate(zip(filters, strides, counts, strict=True), 2):
        for b in range(1, count + 1):
            x = unit(x, width, stride1 if b == 1 else 1, s, b, f"conv{s}_block{b}")
    return x

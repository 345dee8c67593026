"""The CIFAR residual family: He et al.'s 6n+2 ResNets, their plain twins, pre-activation ResNets.

Papers:
    [1] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016 (arXiv:1512.03385), §4.2 and Table 6.
    [2] K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual
        Networks", ECCV 2016 (arXiv:1603.05027), Fig. 4(e), Tables 2-4; code
        KaimingHe/resnet-1k-layers (resnet-pre-act.lua) and fb.resnet.torch
        (models/preresnet.lua), which it refers to.
    [3] W. Wu, "Image classification with deep residual learning", South China
        Normal University: a pre-activation ResNet-32, 91.1% CIFAR-10 accuracy.
    [4] K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015
        (arXiv:1502.01852): the "MSRA" / He-normal initialisation.

All nets ([1] §4.2): a 3x3 convolution with 16 filters on the 32x32 image, three
stages of `n` residual units on 32x32, 16x16 and 8x8 maps with 16, 32 and 64
filters (x4 at the output of bottleneck units), the first convolution of stages 2
and 3 with stride 2, global average pooling and a 10-way fully connected layer
with softmax. The table `VARIANTS` lists the registered depths; `cifar_resnet`
builds any `n`.

Conventions shared by every variant:
    * convolutions have no bias: each is followed by BatchNorm, whose offset
      makes a bias redundant ([1] §3.4 puts BN "right after each convolution");
    * BatchNorm epsilon 1e-5 and momentum 0.9, the Torch defaults of [2]'s code
      (Torch's momentum 0.1 is the weight of the new batch, Keras's 0.9 that of
      the running average);
    * stride-2 3x3 convolutions pad one pixel on every side, as Caffe and Torch
      do, instead of Keras's "same" (which pads only bottom/right for even
      sizes); so the 3x3 output at i is centred on input pixel 2i, the pixel
      the option-A and 1x1 projection shortcuts keep;
    * layer names follow keras.applications: stage s in {2, 3, 4} (like Keras's
      "conv2_x"), unit b: ``conv{s}_block{b}_{k}_conv|bn|relu`` for the k-th
      convolution of the residual branch, ``..._0_conv|bn`` (projection) or
      ``..._0_pad`` (option A) for the shortcut, ``..._preact_bn|relu`` for a
      pre-activation, ``..._add`` for the sum and ``..._out`` for the ReLU after
      it in original units.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable

import keras
from keras import layers

from cnnzoo.layers.shortcuts import ZeroPadShortcut
from cnnzoo.models._common import batch_norm, caffe_conv, check_builder_args, relu, top_tail
from cnnzoo.registry import ModelCard, register_model

# [1] §4.2: "The numbers of filters are {16, 32, 64} respectively" on the
# {32, 16, 8} maps; "subsampling is performed by convolutions with a stride of 2".
STAGE_FILTERS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)
STEM_FILTERS = 16
# [2] resnet-pre-act.lua: bottleneck units output 4x their inner width (16->64, ...).
BOTTLENECK_EXPANSION = 4
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

UNITS = ("original", "plain", "preact", "preact_bottleneck")
SHORTCUTS = ("A", "B", "C")
# Which pre-activation units share their BN-ReLU with the shortcut (see `stack_preact`):
# "stage" the first unit of every stage (fb.resnet.torch's CIFAR model, [2]'s code),
# "first" the network's very first unit only ([3] §3.2 and Fig. 4).
SHARED_PREACT = ("stage", "first")


# --------------------------------------------------------------------------- layers


def _conv(x, filters, kernel_size, stride, kernel_initializer, name):
    """Bias-free convolution named ``{name}_conv``, padded like Caffe/Torch (see module doc)."""
    return caffe_conv(x, filters, kernel_size, stride, kernel_initializer, name)


_bn = functools.partial(batch_norm, epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
_relu = relu


# --------------------------------------------------------------------------- blocks


def basic_block(x, filters, stride=1, shortcut="A", kernel_initializer="he_normal", name=None):
    """The original two-layer residual unit of [1] Fig. 2 (left of Fig. 5), or its plain twin.

    conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU ([1] §3.2: the second
    nonlinearity is "after the addition").

    Args:
        x: input tensor (batch, height, width, channels).
        filters: output channels of both convolutions.
        stride: stride of the first convolution (2 where a stage begins).
        shortcut: [1] §3.3 / §4.1 options: ``"A"`` identity, zero-padded and
            subsampled where the shape changes (`ZeroPadShortcut`); ``"B"`` 1x1
            projection (conv + BN) where the shape changes, identity elsewhere;
            ``"C"`` projections on every unit; ``None`` no shortcut at all, the
            plain net of [1] Fig. 6.
        kernel_initializer: initializer of the convolution kernels.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit.
    """
    changes_shape = stride != 1 or x.shape[-1] != filters
    if shortcut == "C" or (shortcut == "B" and changes_shape):
        residual = _conv(x, filters, 1, stride, kernel_initializer, f"{name}_0")
        residual = _bn(residual, f"{name}_0")
    elif shortcut == "A" and changes_shape:
        residual = ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    else:
        residual = x

    y = _conv(x, filters, 3, stride, kernel_initializer, f"{name}_1")
    y = _bn(y, f"{name}_1")
    y = _relu(y, f"{name}_1")
    y = _conv(y, filters, 3, 1, kernel_initializer, f"{name}_2")
    y = _bn(y, f"{name}_2")
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([residual, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def preact_block(
    x,
    filters,
    stride=1,
    shared_preact=False,
    bottleneck=False,
    kernel_initializer="he_normal",
    name=None,
):
    """A full pre-activation residual unit, [2] Fig. 4(e).

    Basic: BN-ReLU-conv3x3-BN-ReLU-conv3x3. Bottleneck: BN-ReLU-conv1x1-BN-ReLU-
    conv3x3-BN-ReLU-conv1x1 with ``BOTTLENECK_EXPANSION * filters`` outputs and the
    stride on the first 1x1 convolution, as resnet-pre-act.lua has it
    (fb.resnet.torch strides the 3x3 instead). Nothing follows the addition.

    Where the shape changes the shortcut is a bias-free 1x1 convolution with the
    unit's stride and no BN (both released codes); identity elsewhere.

    Args:
        x: input tensor (batch, height, width, channels).
        filters: width of the unit (inner width for a bottleneck).
        stride: spatial stride of the unit.
        shared_preact: apply the BN-ReLU before the split, so the shortcut also
            sees it ("common BN, ReLU" of resnet-pre-act.lua, ``both_preact`` of
            fb.resnet.torch); otherwise it starts the residual branch only and the
            shortcut carries the raw input.
        bottleneck: three-layer bottleneck unit instead of the two-layer one.
        kernel_initializer: initializer of the convolution kernels.
        name: unit prefix, e.g. ``"conv2_block1"``.

    Returns:
        Output tensor of the unit (the sum; the next unit pre-activates it).
    """
    out_filters = filters * BOTTLENECK_EXPANSION if bottleneck else filters
    preact = _bn(x, f"{name}_preact")
    preact = _relu(preact, f"{name}_preact")
    branch_input = preact if shared_preact else x
    if stride != 1 or x.shape[-1] != out_filters:
        residual = _conv(branch_input, out_filters, 1, stride, kernel_initializer, f"{name}_0")
    else:
        residual = branch_input

    if bottleneck:
        y = _conv(preact, filters, 1, stride, kernel_initializer, f"{name}_1")
        y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
        y = _conv(y, filters, 3, 1, kernel_initializer, f"{name}_2")
        y = _relu(_bn(y, f"{name}_2"), f"{name}_2")
        y = _conv(y, out_filters, 1, 1, kernel_initializer, f"{name}_3")
    else:
        y = _conv(preact, filters, 3, stride, kernel_initializer, f"{name}_1")
        y = _relu(_bn(y, f"{name}_1"), f"{name}_1")
        y = _conv(y, filters, 3, 1, kernel_initializer, f"{name}_2")
    return layers.Add(name=f"{name}_add")([residual, y])


def stack_original(x, filters, blocks, stride1, shortcut, kernel_initializer, name):
    """`blocks` original (or plain, ``shortcut=None``) units; the first has stride `stride1`.

    Args:
        x: input tensor.
        filters: filters of every convolution in the stage.
        blocks: units in the stage (`n` of [1] §4.2).
        stride1: stride of the first unit.
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None``, see `basic_block`.
        kernel_initializer: initializer of the convolution kernels.
        name: stage prefix, e.g. ``"conv2"``.

    Returns:
        Output tensor of the stage.
    """
    for b in range(1, blocks + 1):
        x = basic_block(
            x,
            filters,
            stride1 if b == 1 else 1,
            shortcut,
            kernel_initializer,
            name=f"{name}_block{b}",
        )
    return x


def stack_preact(x, filters, blocks, stride1, bottleneck, kernel_initializer, name, share_first):
    """`blocks` pre-activation units; the first has stride `stride1`.

    `share_first` says whether the stage's first unit pre-activates its shortcut
    too; the builder's `shared_preact` decides it per stage:

    * ``"stage"``: the first unit of every stage shares its BN-ReLU with the
      shortcut, as fb.resnet.torch's CIFAR model does (``both_preact`` for each
      stage's first unit) and resnet-pre-act.lua does for every unit that changes
      the shape (in ResNet-164 these are the same units);
    * ``"first"``: only the network's first unit does ([3] §3.2: "in the first
      residual unit the shortcut path also has a BN layer and a ReLU layer"); the
      other shape-changing shortcuts subsample the raw input and project it with
      a 1x1 convolution ([3] §2.3, eq. 23), a stride-2 1x1 convolution here.

    For the very first unit the shared BN-ReLU is the one other implementations
    put after conv1: the same graph.

    Args:
        x: input tensor.
        filters: unit width of the stage.
        blocks: units in the stage.
        stride1: stride of the first unit.
        bottleneck: bottleneck units instead of basic ones.
        kernel_initializer: initializer of the convolution kernels.
        name: stage prefix, e.g. ``"conv2"``.
        share_first: whether the first unit shares its BN-ReLU with the shortcut.

    Returns:
        Output tensor of the stage.
    """
    for b in range(1, blocks + 1):
        x = preact_block(
            x,
            filters,
            stride1 if b == 1 else 1,
            shared_preact=share_first and b == 1,
            bottleneck=bottleneck,
            kernel_initializer=kernel_initializer,
            name=f"{name}_block{b}",
        )
    return x


# --------------------------------------------------------------------------- builder


def _ensure_recursion_limit(blocks):
    # Keras maps a functional graph recursively, about one Python frame per layer
    # on the longest path; resnet1202 has ~4,200 layers, past Python's default
    # limit of 1,000. Raised, never lowered: saving, loading and cloning the model
    # walk the graph again. At most 10 layers per unit on that path.
    needed = 1_000 + 10 * len(STAGE_FILTERS) * blocks
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def cifar_resnet(
    unit,
    blocks,
    include_top=True,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="cifar_resnet",
    kernel_initializer="he_normal",
    shortcut=None,
    shared_preact="stage",
):
    """Build a CIFAR residual (or plain) network with `blocks` units per stage.

    Args:
        unit: ``"original"`` ([1]: 6n+2 layers), ``"plain"`` (the same without
            shortcuts, [1] Fig. 6), ``"preact"`` ([2] full pre-activation, two
            3x3 layers: 6n+2) or ``"preact_bottleneck"`` ([2]: 9n+2 layers).
        blocks: units per stage, `n`.
        include_top: whether to end with global average pooling and the
            fully connected ``"predictions"`` layer.
        input_shape: (height, width, channels), channels last; default
            (32, 32, 3). Other sizes work (the net is fully convolutional up to
            the pooling); each stride-2 stage keeps ``ceil(size / 2)``.
        pooling: with ``include_top=False``: ``None`` returns the last 4-D
            feature map, ``"avg"`` / ``"max"`` global average / max pooling.
            Ignored when ``include_top=True`` (the Keras convention).
        classes: outputs of the classifier.
        classifier_activation: activation of the classifier (name or callable,
            ``None`` for logits).
        name: model name.
        kernel_initializer: initializer of the convolution kernels. The default,
            Keras's ``"he_normal"``, is [4]'s std sqrt(2 / fan_in) but truncated at
            two std; pass ``keras.initializers.VarianceScaling(2.0, "fan_in",
            "untruncated_normal")`` for [4]'s plain Gaussian. The classifier keeps
            Keras's Dense default.
        shortcut: ``"A"`` (default), ``"B"`` or ``"C"`` for ``unit="original"``
            (see `basic_block`); must be ``None`` for the other units, whose
            shortcuts the papers fix.
        shared_preact: for the pre-activation units, which units pre-activate
            their shortcut too: ``"stage"`` (each stage's first, fb.resnet.torch)
            or ``"first"`` (the network's first only, [3]); see `stack_preact`.

    Returns:
        A `keras.Model`.

    Note:
        Very deep nets raise Python's recursion limit (see
        `_ensure_recursion_limit`); a process that loads a saved resnet1202 without
        building one first needs ``sys.setrecursionlimit(10_000)`` or so itself.

    Raises:
        ValueError: for an unknown unit, shortcut or pooling, a bad input_shape,
            an unknown classifier activation or channels-first data format.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
    if unit == "original":
        shortcut = "A" if shortcut is None else shortcut
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}; expected one of {SHORTCUTS}")
    elif shortcut is not None:
        raise ValueError(
            f"shortcut={shortcut!r} applies only to unit='original' (resnet20..resnet1202); "
            f"unit={unit!r} has its shortcuts fixed by its paper"
        )
    if shared_preact not in SHARED_PREACT:
        raise ValueError(
            f"unknown shared_preact {shared_preact!r}; expected one of {SHARED_PREACT}"
        )
    if int(blocks) != blocks or blocks < 1:
        raise ValueError(f"blocks must be a positive int, got {blocks!r}")
    input_shape = check_builder_args(
        include_top, input_shape, pooling, classifier_activation, (32, 32, 3), "cifar_resnet"
    )

    _ensure_recursion_limit(blocks)
    inputs = keras.Input(shape=input_shape)
    x = _conv(inputs, STEM_FILTERS, 3, 1, kernel_initializer, "conv1")
    if unit in ("original", "plain"):
        x = _bn(x, "conv1")
        x = _relu(x, "conv1")
        for i, (filters, stride) in enumerate(zip(STAGE_FILTERS, STAGE_STRIDES, strict=True)):
            x = stack_original(
                x,
                filters,
                blocks,
                stride,
                shortcut if unit == "original" else None,
                kernel_initializer,
                name=f"conv{i + 2}",
            )
    else:
        # [2]'s code: conv1 alone; the first unit's shared pre-activation is its
        # BN-ReLU. The last unit's sum is normalised and rectified before pooling.
        for i, (filters, stride) in enumerate(zip(STAGE_FILTERS, STAGE_STRIDES, strict=True)):
            x = stack_preact(
                x,
                filters,
                blocks,
                stride,
                unit == "preact_bottleneck",
                kernel_initializer,
                name=f"conv{i + 2}",
                share_first=shared_preact == "stage" or i == 0,
            )
        x = _bn(x, "post")
        x = _relu(x, "post")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = top_tail(x, include_top, pooling, classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


# --------------------------------------------------------------------------- variants

_HE2016 = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", '
    "CVPR 2016 (arXiv:1512.03385)"
)
_HE2016_IDENTITY = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Identity Mappings in Deep Residual Networks", '
    "ECCV 2016 (arXiv:1603.05027)"
)
_WU = 'W. Wu, "Image classification with deep residual learning", South China Normal University'


@dataclasses.dataclass(frozen=True)
class CifarVariant:
    """One registered depth: which units, how many per stage, and its card."""

    unit: str
    blocks: int
    card: ModelCard
    # Builder options the variant fixes (e.g. where pre-activations are shared).
    options: dict = dataclasses.field(default_factory=dict)


def _he2016(name, blocks, params, error, note=""):
    # Published figures: [1] Table 6, CIFAR-10 test error (%).
    return CifarVariant(
        "original",
        blocks,
        ModelCard(
            name=name,
            family="cifar_resnet",
            paper=_HE2016,
            section=f"§4.2, Table 6 (6n+2 layers, n={blocks}; option A shortcuts)",
            input_shape=(32, 32, 3),
            num_classes=10,
            trainable_params=params,
            default_recipe="he2016_cifar",
            dataset="cifar10",
            published={"cifar10_test_error": error},
            published_source="He et al. 2016, Table 6",
            notes=note,
        ),
    )


def _plain(name, blocks, params):
    return CifarVariant(
        "plain",
        blocks,
        ModelCard(
            name=name,
            family="cifar_resnet",
            paper=_HE2016,
            section=f"§4.2, Fig. 6 left (plain 6n+2 layers, n={blocks})",
            input_shape=(32, 32, 3),
            num_classes=10,
            trainable_params=params,
            default_recipe="he2016_cifar",
            dataset="cifar10",
            published_source="He et al. 2016, Fig. 6 (curves only; no table figure)",
            notes="The residual net without shortcuts, for the degradation experiment; "
            "same parameters as the option-A ResNet of the same depth.",
        ),
    )


def _preact(name, unit, blocks, params, error, section):
    return CifarVariant(
        unit,
        blocks,
        ModelCard(
            name=name,
            family="cifar_resnet",
            paper=_HE2016_IDENTITY,
            section=section,
            input_shape=(32, 32, 3),
            num_classes=10,
            trainable_params=params,
            default_recipe="he2016_cifar",
            dataset="cifar10",
            published={"cifar10_test_error": error},
            published_source="He et al. 2016 (Identity mappings), Table 3 (also Table 2)",
            notes="Released code (resnet-1k-layers, fb.resnet.torch): 1x1 projection "
            "shortcuts without BN where the shape changes; the paper lists 1.7M params.",
        ),
    )


# Exact trainable counts are what `cifar_resnet` builds and the tests assert. For
# [1] they equal Table 6's rounded 0.27M/0.46M/0.66M/0.85M/1.7M/19.4M. The basic
# pre-activation nets have as many BN parameters as their originals and add the
# two 1x1 projections (16*32 + 32*64 = 2,560): preact_resnet110 = 1,727,962 +
# 2,560, wu_resnet32 = 464,154 + 2,560. [2] Table 4 rounds 164's to 1.7M.
VARIANTS: dict[str, CifarVariant] = {
    "resnet20": _he2016("resnet20", 3, 269_722, 8.75),
    "resnet32": _he2016("resnet32", 5, 464_154, 7.51),
    "resnet44": _he2016("resnet44", 7, 658_586, 7.17),
    "resnet56": _he2016("resnet56", 9, 853_018, 6.97),
    "resnet110": _he2016(
        "resnet110",
        18,
        1_727_962,
        6.43,
        note="6.43 is the best of 5 runs; Table 6 gives mean 6.61 +/- 0.16.",
    ),
    "resnet1202": _he2016("resnet1202", 200, 19_421_274, 7.93),
    "plain20": _plain("plain20", 3, 269_722),
    "plain32": _plain("plain32", 5, 464_154),
    "plain44": _plain("plain44", 7, 658_586),
    "plain56": _plain("plain56", 9, 853_018),
    "plain110": _plain("plain110", 18, 1_727_962),
    "preact_resnet110": _preact(
        "preact_resnet110",
        "preact",
        18,
        1_730_522,
        6.37,
        "Fig. 4(e) full pre-activation, basic units, n=18",
    ),
    "preact_resnet164": _preact(
        "preact_resnet164",
        "preact_bottleneck",
        18,
        1_703_258,
        5.46,
        "Fig. 4(e) full pre-activation, bottleneck units, n=18",
    ),
    "wu_resnet32": CifarVariant(
        "preact",
        5,
        ModelCard(
            name="wu_resnet32",
            family="cifar_resnet",
            paper=_WU,
            section="§3.2 and Fig. 4: conv 16, 3x5 pre-activation units (16/32/64), GAP, FC",
            input_shape=(32, 32, 3),
            num_classes=10,
            # As preact_resnet32: the layouts differ in which tensor feeds the two
            # 1x1 projections, not in their size. 464,154 (resnet32) + 16*32 + 32*64.
            trainable_params=466_714,
            default_recipe="wu_resnet_cifar",
            dataset="cifar10",
            # 91.1% test accuracy.
            published={"cifar10_test_error": 8.9},
            published_source="W. Wu (SCNU), §3.3: 91.1% CIFAR-10 test accuracy",
            notes="Follows the text (§3.2): only the network's first unit has BN-ReLU on "
            "its shortcut path; the other two shape-changing shortcuts subsample the raw "
            "input and project it with a 1x1 convolution (§2.3), a stride-2 1x1 "
            "convolution here. Fig. 4 is not in the text: the BN-ReLU after the last "
            "unit, which pre-activation nets need before pooling, follows He et al.'s "
            "Identity mappings code. preact_resnet32 is the fb.resnet.torch layout.",
        ),
        options={"shared_preact": "first"},
    ),
    "preact_resnet32": CifarVariant(
        "preact",
        5,
        ModelCard(
            name="preact_resnet32",
            family="cifar_resnet",
            paper=_HE2016_IDENTITY,
            section="Fig. 4(e) full pre-activation, basic units, n=5 (fb.resnet.torch)",
            input_shape=(32, 32, 3),
            num_classes=10,
            trainable_params=466_714,
            default_recipe="he2016_cifar",
            dataset="cifar10",
            published_source="no published figure for this depth",
            notes="fb.resnet.torch's pre-activation ResNet-32: every stage's first unit "
            "shares its BN-ReLU with the 1x1 stride-2 projection shortcut. It was "
            "cnnzoo's wu_resnet32 before that followed W. Wu's text.",
        ),
    ),
}


def _make_builder(variant_name: str) -> Callable[..., keras.Model]:
    variant = VARIANTS[variant_name]

    def builder(
        include_top=True,
        input_shape=None,
        pooling=None,
        classes=10,
        classifier_activation="softmax",
        name=variant_name,
        kernel_initializer="he_normal",
        **options,
    ):
        return cifar_resnet(
            variant.unit,
            variant.blocks,
            include_top=include_top,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            kernel_initializer=kernel_initializer,
            **{**variant.options, **options},
        )

    builder.__name__ = builder.__qualname__ = variant_name
    builder.__doc__ = (
        f"{variant_name}: {variant.card.section}; {variant.card.paper}.\n\n"
        "Args and returns as `cifar_resnet` (its `unit` and `blocks` fixed by the "
        f"variant); family options: {'shortcut' if variant.unit == 'original' else 'none'}."
    )
    return register_model(variant.card)(builder)


resnet20 = _make_builder("resnet20")
resnet32 = _make_builder("resnet32")
resnet44 = _make_builder("resnet44")
resnet56 = _make_builder("resnet56")
resnet110 = _make_builder("resnet110")
resnet1202 = _make_builder("resnet1202")
plain20 = _make_builder("plain20")
plain32 = _make_builder("plain32")
plain44 = _make_builder("plain44")
plain56 = _make_builder("plain56")
plain110 = _make_builder("plain110")
preact_resnet110 = _make_builder("preact_resnet110")
preact_resnet164 = _make_builder("preact_resnet164")
preact_resnet32 = _make_builder("preact_resnet32")
wu_resnet32 = _make_builder("wu_resnet32")

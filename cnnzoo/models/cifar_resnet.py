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
with softmax. The end of the module declares the registered depths; `cifar_resnet`
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
    * kernels start from Keras's ``"he_normal"``, [4]'s std sqrt(2 / fan_in) but
      truncated at two std (``kernel_initializer=keras.initializers.VarianceScaling(
      2.0, "fan_in", "untruncated_normal")`` gives [4]'s plain Gaussian); the
      classifier keeps Keras's Dense default;
    * layer names follow keras.applications (`cnnzoo.models._residual`): stage s in
      {2, 3, 4} (like Keras's "conv2_x"), unit b: ``conv{s}_block{b}_...``; ``conv1``
      the stem, ``post`` the BN-ReLU after a pre-activation net's last unit.
"""

from __future__ import annotations

import functools

import keras

from cnnzoo.cards import ModelCard
from cnnzoo.models._common import ImageInput, check_choice, choice_or_default, recursion_limit
from cnnzoo.models._residual import SHORTCUTS, ConvStyle, basic_block, preact_block, stages
from cnnzoo.models._variants import Catalog

# [1] §4.2: "The numbers of filters are {16, 32, 64} respectively" on the
# {32, 16, 8} maps; "subsampling is performed by convolutions with a stride of 2".
STAGE_FILTERS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)
STEM_FILTERS = 16
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
# Which pre-activation units share their BN-ReLU with the shortcut (see `_preact`):
# "stage" the first unit of every stage (fb.resnet.torch's CIFAR model, [2]'s code),
# "first" the network's very first unit only ([3] §3.2 and Fig. 4).
SHARED_PREACT = ("stage", "first")

_INPUT = ImageInput("cifar_resnet", (32, 32, 3))
MODELS = Catalog()


# --------------------------------------------------------------------------- units


def _original(x, filters, stride, stage, block, name, *, style, shortcut, shared_preact):
    # [1] Fig. 2 / Fig. 5 left, or its plain twin (shortcut None, [1] Fig. 6).
    return basic_block(x, filters, stride, shortcut, style, name)


def _preact(x, filters, stride, stage, block, name, *, style, shortcut, shared_preact, bottleneck):
    # Which first units share their BN-ReLU with the shortcut:
    # * "stage": every stage's, as fb.resnet.torch's CIFAR model does (``both_preact``)
    #   and resnet-pre-act.lua does for every unit that changes the shape (in
    #   ResNet-164 these are the same units);
    # * "first": only the network's first ([3] §3.2: "in the first residual unit the
    #   shortcut path also has a BN layer and a ReLU layer"); the other shape-changing
    #   shortcuts subsample the raw input and project it ([3] §2.3, eq. 23), a
    #   stride-2 1x1 convolution here.
    # For the very first unit the shared BN-ReLU is the one other implementations put
    # after conv1: the same graph. Projections: bias-free 1x1, stride on the first 1x1
    # of a bottleneck (resnet-pre-act.lua; fb.resnet.torch strides the 3x3).
    shared = block == 1 and (shared_preact == "stage" or stage == 2)
    preact = "shared" if shared else "branch"
    return preact_block(x, filters, stride, preact, bottleneck, "B", "1x1", style, name)


# unit -> (the unit function, whether the net is pre-activated: conv1 alone and a
# BN-ReLU after the last unit, [2]'s code).
UNITS = {
    "original": (_original, False),
    "plain": (_original, False),
    "preact": (functools.partial(_preact, bottleneck=False), True),
    "preact_bottleneck": (functools.partial(_preact, bottleneck=True), True),
}


def _check_options(unit, blocks, shortcut, shared_preact, shortcut_subsample):
    """Validate the family options; return the shortcut option to build with."""
    check_choice(unit, UNITS, "unit")
    if unit == "original":
        shortcut = choice_or_default(shortcut, "A", SHORTCUTS, "shortcut")
    elif shortcut is not None:
        raise ValueError(
            f"shortcut={shortcut!r} applies only to unit='original' (resnet20..resnet1202); "
            f"unit={unit!r} has its shortcuts fixed by its paper"
        )
    check_choice(shared_preact, SHARED_PREACT, "shared_preact")
    if int(blocks) != blocks or blocks < 1:
        raise ValueError(f"blocks must be a positive int, got {blocks!r}")
    if shortcut_subsample != "stride" and shortcut != "A":
        raise ValueError(
            f"shortcut_subsample={shortcut_subsample!r} applies to option-A shortcuts only; "
            f"this network's shortcut is {shortcut!r}"
        )
    return shortcut


def _graph_depth(blocks):
    # Keras maps a functional graph recursively, about one Python frame per layer
    # on the longest path: at most 10 layers per unit, on top of the default limit.
    return 1_000 + 10 * len(STAGE_FILTERS) * blocks


# --------------------------------------------------------------------------- builder


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
    shortcut_subsample="stride",
):
    """Build a CIFAR residual (or plain) network with `blocks` units per stage.

    Args:
        unit: ``"original"`` ([1]: 6n+2 layers), ``"plain"`` (the same without
            shortcuts, [1] Fig. 6), ``"preact"`` ([2] full pre-activation, two
            3x3 layers: 6n+2) or ``"preact_bottleneck"`` ([2]: 9n+2 layers).
        blocks: units per stage, `n`.
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool`` and ``predictions``; default input 32x32x3, and any size
            builds (each stride-2 stage keeps ``ceil(size / 2)``).
        kernel_initializer: initializer of the convolution kernels (module docstring).
        shortcut: [1] §3.3 / §4.1 for ``unit="original"``: ``"A"`` (default)
            identity, zero-padded and subsampled where the shape changes, ``"B"``
            1x1 projections there, ``"C"`` projections in every unit; must be
            ``None`` for the other units, whose shortcuts the papers fix.
        shared_preact: for the pre-activation units, which units pre-activate
            their shortcut too: ``"stage"`` (each stage's first, fb.resnet.torch)
            or ``"first"`` (the network's first only, [3]); see `_preact`.
        shortcut_subsample: how option-A shortcuts halve the size: ``"stride"`` ([1]
            and its code) or ``"max_pool"`` (2x2 stride 2, as seed 003 §5.4 has it).

    Returns:
        A `keras.Model`. Python's recursion limit is raised while it is built; loading
        or cloning resnet1202 needs the same (`cnnzoo.models._common.recursion_limit`).

    Raises:
        ValueError: for an unknown unit, shortcut, shared_preact or pooling, a bad
            input_shape, an unknown classifier activation or channels-first format.
    """
    shortcut = _check_options(unit, blocks, shortcut, shared_preact, shortcut_subsample)
    unit_fn, preactivated = UNITS[unit]
    style = ConvStyle(BN_EPSILON, BN_MOMENTUM, False, kernel_initializer, shortcut_subsample)
    inputs, top = _INPUT.start(include_top, input_shape, pooling, classes, classifier_activation)
    with recursion_limit(_graph_depth(blocks)):
        x = style.conv(inputs, STEM_FILTERS, 3, 1, "conv1")
        if not preactivated:
            x = style.bn_relu(x, "conv1")
        unit_fn = functools.partial(
            unit_fn, style=style, shortcut=shortcut, shared_preact=shared_preact
        )
        x = stages(x, STAGE_FILTERS, STAGE_STRIDES, (blocks,) * len(STAGE_FILTERS), unit_fn)
        if preactivated:
            # [2]'s code: the last unit's sum is normalised and rectified before pooling.
            x = style.bn_relu(x, "post")
        return keras.Model(inputs, top(x, global_pool=True), name=name)


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


def _card(name, paper, section, params, **fields):
    # What every CIFAR residual net's card has in common.
    fields.setdefault("default_recipe", "he2016_cifar")
    return ModelCard(
        name=name,
        family="cifar_resnet",
        paper=paper,
        section=section,
        input_shape=(32, 32, 3),
        num_classes=10,
        trainable_params=params,
        dataset="cifar10",
        **fields,
    )


def _he2016(name, blocks, params, error, note=""):
    # Published figures: [1] Table 6, CIFAR-10 test error (%).
    section = f"§4.2, Table 6 (6n+2 layers, n={blocks}; option A shortcuts)"
    card = _card(
        name,
        _HE2016,
        section,
        params,
        published={"cifar10_test_error": error},
        published_source="He et al. 2016, Table 6",
        notes=note,
    )
    return MODELS.variant(cifar_resnet, card, {"unit": "original", "blocks": blocks})


def _plain(name, blocks, params):
    card = _card(
        name,
        _HE2016,
        f"§4.2, Fig. 6 left (plain 6n+2 layers, n={blocks})",
        params,
        published_source="He et al. 2016, Fig. 6 (curves only; no table figure)",
        notes="The residual net without shortcuts, for the degradation experiment; "
        "same parameters as the option-A ResNet of the same depth.",
    )
    return MODELS.variant(cifar_resnet, card, {"unit": "plain", "blocks": blocks})


def _preact_he2016(name, unit, params, error, section):
    card = _card(
        name,
        _HE2016_IDENTITY,
        section,
        params,
        published={"cifar10_test_error": error},
        published_source="He et al. 2016 (Identity mappings), Table 3 (also Table 2)",
        notes="Released code (resnet-1k-layers, fb.resnet.torch): 1x1 projection "
        "shortcuts without BN where the shape changes; the paper lists 1.7M params.",
    )
    return MODELS.variant(cifar_resnet, card, {"unit": unit, "blocks": 18})


# Exact trainable counts are what `cifar_resnet` builds and the tests assert. For
# [1] they equal Table 6's rounded 0.27M/0.46M/0.66M/0.85M/1.7M/19.4M. The basic
# pre-activation nets have as many BN parameters as their originals and add the
# two 1x1 projections (16*32 + 32*64 = 2,560): preact_resnet110 = 1,727,962 +
# 2,560, wu_resnet32 = 464,154 + 2,560. [2] Table 4 rounds 164's to 1.7M.
resnet20 = _he2016("resnet20", 3, 269_722, 8.75)
resnet32 = _he2016("resnet32", 5, 464_154, 7.51)
resnet44 = _he2016("resnet44", 7, 658_586, 7.17)
resnet56 = _he2016("resnet56", 9, 853_018, 6.97)
resnet110 = _he2016(
    "resnet110",
    18,
    1_727_962,
    6.43,
    note="6.43 is the best of 5 runs; Table 6 gives mean 6.61 +/- 0.16.",
)
resnet1202 = _he2016("resnet1202", 200, 19_421_274, 7.93)
plain20 = _plain("plain20", 3, 269_722)
plain32 = _plain("plain32", 5, 464_154)
plain44 = _plain("plain44", 7, 658_586)
plain56 = _plain("plain56", 9, 853_018)
plain110 = _plain("plain110", 18, 1_727_962)
preact_resnet110 = _preact_he2016(
    "preact_resnet110",
    "preact",
    1_730_522,
    6.37,
    "Fig. 4(e) full pre-activation, basic units, n=18",
)
preact_resnet164 = _preact_he2016(
    "preact_resnet164",
    "preact_bottleneck",
    1_703_258,
    5.46,
    "Fig. 4(e) full pre-activation, bottleneck units, n=18",
)
wu_resnet32 = MODELS.variant(
    cifar_resnet,
    _card(
        "wu_resnet32",
        _WU,
        "§3.2 and Fig. 4: conv 16, 3x5 pre-activation units (16/32/64), GAP, FC",
        # As preact_resnet32: the layouts differ in which tensor feeds the two 1x1
        # projections, not in their size. 464,154 (resnet32) + 16*32 + 32*64.
        466_714,
        default_recipe="wu_resnet_cifar",
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
    {"unit": "preact", "blocks": 5},
    defaults={"shared_preact": "first"},
)
preact_resnet32 = MODELS.variant(
    cifar_resnet,
    _card(
        "preact_resnet32",
        _HE2016_IDENTITY,
        "Fig. 4(e) full pre-activation, basic units, n=5 (fb.resnet.torch)",
        466_714,
        published_source="no published figure for this depth",
        notes="fb.resnet.torch's pre-activation ResNet-32: every stage's first unit "
        "shares its BN-ReLU with the 1x1 stride-2 projection shortcut. It was "
        "cnnzoo's wu_resnet32 before that followed W. Wu's text.",
    ),
    {"unit": "preact", "blocks": 5},
)

"""Inception-ResNet-v1 and Inception-ResNet-v2, with scaled residuals.

Paper:
    [1] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet
        and the Impact of Residual Connections on Learning", AAAI 2017
        (arXiv:1602.07261): Figures 10-14 (Inception-ResNet-v1), Figures 3, 7 and
        15-19 (Inception-ResNet-v2), Table 1 (reduction-A filters), §3.2 (batch
        normalization "only on top of the traditional layers, but not on top of the
        summations"), §3.3 and Figure 20 (residual scaling), Table 2 (results).

Each Inception-ResNet block computes ``relu(x + scale * up(concat(branches)))``,
where ``up`` is a linear 1x1 convolution with bias and without batch normalization
back to the input's width ([1] Figures 10-13, "1x1 Conv ... Linear"), and the scale
is `ResidualScaling`'s constant. [1] §3.3 only says the scales were "between 0.1 and
0.3"; the per-block values 0.17 (35x35 blocks), 0.1 (17x17) and 0.2 (8x8) are those
of the authors' TF-slim code and keras.applications, used for both networks.

`inception_resnet_v2` is layer for layer `keras.applications.InceptionResNetV2`:
its stem is Inception-v3's with a 35x35 Inception module (``mixed_5b``) in place of
[1] Figure 3's stem, its last 8x8 block is unscaled (1.0) and without ReLU, and a
1x1 convolution to 1536 channels (``conv_7b``) follows, all as in the authors'
TF-slim code whose weights keras.applications publishes. Weighted layers have
keras.applications' names (its unnamed ones numbered as in a fresh session, see
`cnnzoo.models.inception.AutoNames`), so weights copy across by name; the scaling
layers are called ``{block}_scale`` (keras.applications' unnamed
``CustomScaleLayer`` has no weights either), and [1] Figure 15's dropout (keep 0.8)
before the classifier, absent from keras.applications, is ``top_dropout``.

`inception_resnet_v2_paper` is the network [1] describes: Figure 3's stem (that of
Inception-v4, `cnnzoo.models._inception_v4_stem`), then 5 x Figure 16, reduction-A
(Figure 7, Table 1's k, l, m, n = 256, 256, 384, 384), 10 x Figure 17, Figure 18,
5 x Figure 19, average pooling, dropout (keep 0.8) and softmax (Figure 15), with the
same conventions and naming as v1. Its residual blocks keep their input's width, 384,
1152 and 2144 channels (the up convolutions match the input, as a sum needs), where
Figures 17 and 19 print 1154 and 2048.

`inception_resnet_v1` follows [1] Figures 10-14 and 15 with meaningful names
(``stem_conv1_conv``, ``block35_1_b2_3_bn``, ``block35_1_scale``) and the same
conventions as v2 (convolutions without bias, BatchNormalization without scale
before a ReLU, linear ``up`` convolutions with bias).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.layers.residual_scaling import ResidualScaling
from cnnzoo.models._common import (
    AutoNames,
    ImageInput,
    conv_bn,
    inception_module_35,
    inception_v3_stem,
    reduction_a,
    sub_name,
)
from cnnzoo.models._inception_v4_stem import inception_v4_stem
from cnnzoo.models._variants import Catalog

# Residual scales per block type: [1] §3.3 ("between 0.1 and 0.3"); the values are
# the authors' TF-slim inception_resnet_v2 (and keras.applications') ones.
SCALES = {"block35": 0.17, "block17": 0.1, "block8": 0.2}
DROPOUT = 0.2  # [1] Figure 15: "Dropout (keep 0.8)"

MODELS = Catalog()

# Branches of the residual blocks: per branch, the (filters, kernel) of each conv.
Branches = tuple[tuple[tuple[int, int | tuple[int, int]], ...], ...]


def inception_resnet_block(x, branches, scale, name, auto=None, activation="relu"):
    """One Inception-ResNet block: ``activation(x + scale * up(concat(branches(x))))``.

    Args:
        x: input tensor.
        branches: per branch, the (filters, kernel) of its convolutions (conv + BN +
            ReLU each), e.g. `V2.blocks["block35"]`.
        scale: the residual scale (`ResidualScaling`).
        name: block prefix, e.g. ``"block35_1"``: layers ``{name}_mixed`` (the
            concatenation), ``{name}_conv`` (the linear 1x1 ``up`` convolution with
            bias), ``{name}_scale`` and ``{name}_ac``.
        auto: an `AutoNames` for the branch convolutions' names (keras.applications
            leaves them unnamed), or None for ``{name}_b{i}_{j}``.
        activation: the activation after the addition, or None (v2's last block).

    Returns:
        The block's output, of the input's shape.
    """
    outputs = []
    for i, branch in enumerate(branches):
        y = x
        for j, (filters, kernel) in enumerate(branch, start=1):
            y = conv_bn(y, filters, kernel, name=sub_name(auto, name, i, j))
        outputs.append(y)
    mixed = layers.Concatenate(name=f"{name}_mixed")(outputs)
    # [1] §3.2: no batch normalization on the summations' path; the linear 1x1
    # convolution has a bias instead (as in TF-slim and keras.applications).
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv")(mixed)
    x = ResidualScaling(scale, name=f"{name}_scale")([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def reduction_b(x, filters, name, auto=None):
    """Reduction-B ([1] Figure 12 for v1, Figure 18 for v2): 17x17 -> 8x8.

    Args:
        x: the 17x17 input.
        filters: per conv branch, the 1x1's filters then the 3x3s'; the last 3x3 has
            stride 2 and valid padding. A 3x3 / 2 max pooling branch comes last.
        name: name of the concatenation and prefix of the other layers.
        auto: an `AutoNames` (keras.applications' unnamed layers) or None.

    Returns:
        The concatenated 8x8 output.
    """
    outputs = []
    for i, branch in enumerate(filters):
        y = x
        for j, f in enumerate(branch, start=1):
            last = j == len(branch)
            y = conv_bn(
                y,
                f,
                1 if j == 1 else 3,
                strides=2 if last else 1,
                padding="valid" if last else "same",
                name=sub_name(auto, name, i, j),
            )
        outputs.append(y)
    pool_name = auto("max_pooling2d") if auto is not None else f"{name}_b{len(filters)}_pool"
    outputs.append(layers.MaxPooling2D(3, strides=2, padding="valid", name=pool_name)(x))
    return layers.Concatenate(name=name)(outputs)


def _v1_stem(x, auto):
    # [1] Figure 14: 299x299x3 -> 35x35x256 ("V": valid padding).
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name="stem_conv1")
    x = conv_bn(x, 32, 3, padding="valid", name="stem_conv2")
    x = conv_bn(x, 64, 3, name="stem_conv3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    x = conv_bn(x, 80, 1, name="stem_conv4")
    x = conv_bn(x, 192, 3, padding="valid", name="stem_conv5")
    return conv_bn(x, 256, 3, strides=2, padding="valid", name="stem_conv6")


def _v2_paper_stem(x, auto):
    # [1] Figure 3 (Inception-v4's stem): 299x299x3 -> 35x35x384; BatchNormalization
    # without scale, as in the rest of the family.
    return inception_v4_stem(x, scale=False)


def _v2_stem(x, auto):
    # keras.applications / TF-slim: Inception-v3's stem (299 -> 35x35x192) and a
    # 35x35 Inception module, mixed_5b (-> 35x35x320), instead of [1] Figure 3.
    return inception_module_35(inception_v3_stem(x, auto), 96, 64, "mixed_5b", auto)


@dataclasses.dataclass(frozen=True)
class Version:
    """One Inception-ResNet: its residual blocks, how many, and its reductions."""

    blocks: dict[str, Branches]
    repeats: dict[str, int]
    reduction_a: tuple[int, int, int, int]  # [1] Table 1: (k, l, m, n)
    # Reduction-B ([1] Figures 12 / 18): each branch's filters, 1x1 then the 3x3s
    # (the last one stride 2, valid).
    reduction_b: tuple[tuple[int, ...], ...]
    # The stem, ``stem(x, auto) -> x``, 299x299 to 35x35.
    stem: Callable
    # keras.applications' layout (v2, the authors' TF-slim code): its unnamed layers
    # get the names Keras gives them (`AutoNames`), the last 8x8 block is unscaled
    # (1.0) and without ReLU, and a 1x1 convolution to 1536 channels (conv_7b) follows.
    keras_layout: bool
    # [1] Figure 15: 299x299 by default; the stem's and the reductions' valid
    # convolutions need at least 75x75.
    input: ImageInput


V1 = Version(
    blocks={
        # [1] Figure 10 (35x35x256), Figure 11 (17x17x896), Figure 13 (8x8x1792).
        "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (32, 3), (32, 3))),
        "block17": (((128, 1),), ((128, 1), (128, (1, 7)), (128, (7, 1)))),
        "block8": (((192, 1),), ((192, 1), (192, (1, 3)), (192, (3, 1)))),
    },
    repeats={"block35": 5, "block17": 10, "block8": 5},  # [1] Figure 15
    reduction_a=(192, 192, 256, 384),  # [1] Table 1, Inception-ResNet-v1
    reduction_b=((256, 384), (256, 256), (256, 256, 256)),  # [1] Figure 12
    stem=_v1_stem,
    keras_layout=False,
    input=ImageInput("inception_resnet_v1", (299, 299, 3), min_size=75),
)
V2 = Version(
    blocks={
        # [1] Figure 16 (35x35x320), Figure 17 (17x17x1088), Figure 19 (8x8x2080).
        "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
        "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
        "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
    },
    # TF-slim's (Figure 15 has 5, 10 and 5: V2_PAPER).
    repeats={"block35": 10, "block17": 20, "block8": 10},
    reduction_a=(256, 256, 384, 384),  # [1] Table 1, Inception-ResNet-v2
    reduction_b=((256, 384), (256, 288), (256, 288, 320)),  # [1] Figure 18
    stem=_v2_stem,
    keras_layout=True,
    input=ImageInput("inception_resnet_v2", (299, 299, 3), min_size=75),
)
V2_PAPER = dataclasses.replace(
    V2,
    repeats={"block35": 5, "block17": 10, "block8": 5},  # [1] Figure 15
    stem=_v2_paper_stem,  # [1] Figure 3, per Figure 15's caption
    keras_layout=False,
    input=ImageInput("inception_resnet_v2_paper", (299, 299, 3), min_size=75),
)
# 2 is keras.applications' (TF-slim's) Inception-ResNet-v2, "2-paper" [1]'s.
VERSIONS = {1: V1, 2: V2, "2-paper": V2_PAPER}


def inception_resnet(
    version,
    include_top=True,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet",
    dropout=DROPOUT,
):
    """Build Inception-ResNet-v1 or -v2 ([1] Figure 15).

    Args:
        version: 1, 2 (keras.applications' layout) or ``"2-paper"`` ([1]'s).
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool``, ``top_dropout`` and ``predictions``; without it the model
            ends at the last 8x8 block, ``block8_5_ac`` (v1 and "2-paper"), or at
            ``conv_7b_ac`` (v2). Default input 299x299x3, at least 75x75 (the
            valid convolutions of the stem and the reductions).
        dropout: dropout rate before the classifier ([1] Figure 15: keep 0.8); 0 for none.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown version or pooling, a bad or too small input_shape,
            an unknown classifier activation or channels-first data format.
    """
    if version not in VERSIONS:
        raise ValueError(
            f"Inception-ResNet version must be one of {', '.join(map(repr, VERSIONS))}, "
            f"got {version!r}"
        )
    spec = VERSIONS[version]
    inputs, top = spec.input.start(
        include_top, input_shape, pooling, classes, classifier_activation
    )
    auto = AutoNames() if spec.keras_layout else None
    x = _residual_stages(spec.stem(inputs, auto), spec, auto)
    if spec.keras_layout:
        x = layers.Conv2D(1536, 1, use_bias=False, name="conv_7b")(x)
        x = FusedBatchNormalization(scale=False, name="conv_7b_bn")(x)
        x = layers.Activation("relu", name="conv_7b_ac")(x)
    return keras.Model(inputs, top(x, global_pool=True, dropout=dropout), name=name)


def _residual_stages(x, spec, auto):
    # [1] Figure 15: the 35x35 blocks, reduction-A, the 17x17 blocks, reduction-B,
    # the 8x8 blocks.
    reductions = {
        "block35": lambda y: reduction_a(y, spec.reduction_a, "mixed_6a", auto),
        "block17": lambda y: reduction_b(y, spec.reduction_b, "mixed_7a", auto),
    }
    for block in ("block35", "block17", "block8"):
        repeats = spec.repeats[block]
        for idx in range(1, repeats + 1):
            unscaled = spec.keras_layout and block == "block8" and idx == repeats
            x = inception_resnet_block(
                x,
                spec.blocks[block],
                1.0 if unscaled else SCALES[block],
                f"{block}_{idx}",
                auto,
                activation=None if unscaled else "relu",
            )
        if block in reductions:
            x = reductions[block](x)
    return x


_SZEGEDY2016 = (
    'C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet and the '
    'Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261)'
)
_TABLE2 = "Szegedy et al. 2017, Table 2 (single crop, single model)"

# Derived from [1] Figures 10-15 and Table 1 (convolution kernels, BN offsets but no
# BN scale, biases on the ``up`` convolutions), as measured on the built model: stem
# 614,896; 5 x block35 of 77,248 (branches 52,416, up 96 * 256 + 256); reduction-A
# 1,709,056; 10 x block17 of 689,536 (459,264 + 256 * 896 + 896); reduction-B
# 3,344,256; 5 x block8 of 1,600,000 (910,080 + 384 * 1792 + 1792); classifier
# 1792 * 1000 + 1000 = 1,793,000.
INCEPTION_RESNET_V1_PARAMS = 22_742_808
# Derived from [1] Figures 3, 7 (Table 1's 256, 256, 384, 384), 15-19 with the same
# conventions as v1; a conv k_h x k_w, c_in -> c_out counts k_h * k_w * c_in * c_out
# + c_out (its BN offsets), an up convolution 1 * 1 * c_in * c_out + c_out (its bias):
#   stem (Figure 3): 3*3*3*32 + 32 (896) + 3*3*32*32 + 32 (9,248) + 3*3*32*64 + 64
#       (18,496) + 3*3*64*96 + 96 (55,392); mixed_4a on 160: 2 * (160*64 + 64)
#       (2 * 10,304) + 2 * (7*64*64 + 64) (2 * 28,736) + 2 * (3*3*64*96 + 96)
#       (2 * 55,392) = 188,864; 3*3*192*192 + 192 (331,968)                  =    604,864
#   5 x block35 on 384 (Figure 16): 3 * (384*32 + 32) (3 * 12,320) + 3*3*32*32 + 32
#       (9,248) + 3*3*32*48 + 48 (13,872) + 3*3*48*64 + 64 (27,712) + up
#       128*384 + 384 (49,536) = 137,328 each                                =    686,640
#   reduction-A on 384: 3*3*384*384 + 384 (1,327,488) + 384*256 + 256 (98,560)
#       + 3*3*256*256 + 256 (590,080) + 3*3*256*384 + 384 (885,120); out 1152  =  2,901,248
#   10 x block17 on 1152 (Figure 17): 1152*192 + 192 (221,376) + 1152*128 + 128
#       (147,584) + 7*128*160 + 160 (143,520) + 7*160*192 + 192 (215,232) + up
#       384*1152 + 1152 (443,520) = 1,171,232 each                           = 11,712,320
#   reduction-B on 1152 (Figure 18): 3 * (1152*256 + 256) (3 * 295,168) + 3*3*256*384
#       + 384 (885,120) + 2 * (3*3*256*288 + 288) (2 * 663,840) + 3*3*288*320 + 320
#       (829,760); out 1152 + 384 + 288 + 320 = 2144                         =  3,928,064
#   5 x block8 on 2144 (Figure 19): 2 * (2144*192 + 192) (2 * 411,840) + 3*192*224
#       + 224 (129,248) + 3*224*256 + 256 (172,288) + up 448*2144 + 2144 (962,656)
#       = 2,087,872 each                                                     = 10,439,360
#   classifier: 2144 * 1000 + 1000                                           =  2,145,000
INCEPTION_RESNET_V2_PAPER_PARAMS = 32_417_496
# keras.applications.InceptionResNetV2: 55,873,736 weights in all, of which the
# BatchNormalization moving means and variances (2 x 30,272) are not trained.
INCEPTION_RESNET_V2_PARAMS = 55_813_192


def _card(name, section, params, top1, top5, notes, **card):
    # What the two Inception-ResNets' cards share: the paper, ImageNet, the recipe.
    return ModelCard(
        name=name,
        family="inception_resnet",
        paper=_SZEGEDY2016,
        section=section,
        input_shape=(299, 299, 3),
        num_classes=1000,
        trainable_params=params,
        default_recipe="szegedy2016",
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": top1, "imagenet2012_val_top5_error": top5},
        published_source=_TABLE2,
        notes=notes,
        **card,
    )


inception_resnet_v1 = MODELS.variant(
    inception_resnet,
    _card(
        "inception_resnet_v1",
        "Figures 10-15 (Inception-ResNet-v1), Table 1 (reduction-A k, l, m, n = "
        "192, 192, 256, 384)",
        INCEPTION_RESNET_V1_PARAMS,
        21.3,
        5.5,
        "Residual scales 0.17 / 0.1 / 0.2 per block type (the paper gives only "
        "'0.1 to 0.3'; these are the authors' code's values for v2). BatchNormalization "
        "without scale, as in v2.",
    ),
    {"version": 1},
)
inception_resnet_v2 = MODELS.variant(
    inception_resnet,
    _card(
        "inception_resnet_v2",
        "Figures 7 and 16-19 (Inception-ResNet-v2's blocks, Table 1's reduction-A k, l, "
        "m, n = 256, 256, 384, 384) in the layout of the authors' TF-slim code and "
        "keras.applications.InceptionResNetV2, not Figures 3 and 15's",
        INCEPTION_RESNET_V2_PARAMS,
        19.9,
        4.9,
        "Layer for layer keras.applications.InceptionResNetV2 (55,873,736 weights in "
        "all), so weights='imagenet' takes its weights; plus Figure 15's dropout 0.2 "
        "before the classifier (no weights). TF-slim's layout departs from the paper's: "
        "Inception-v3's stem and a 35x35 Inception module (mixed_5b, 320 wide) for "
        "Figure 3's stem, 10 / 20 / 10 blocks for Figure 15's 5 / 10 / 5, the last 8x8 "
        "block unscaled and without ReLU, and a 1x1 convolution to 1536 (conv_7b); the "
        "paper's network is inception_resnet_v2_paper.",
        keras_application="InceptionResNetV2",
    ),
    {"version": 2},
)
inception_resnet_v2_paper = MODELS.variant(
    inception_resnet,
    _card(
        "inception_resnet_v2_paper",
        "Figure 15 (layout: 5 / 10 / 5 blocks, average pooling, dropout keep 0.8), "
        "Figure 3 (stem, Inception-v4's), Figures 16, 17 and 19 (Inception-ResNet-A, -B, "
        "-C), Figure 7 with Table 1's k, l, m, n = 256, 256, 384, 384 (reduction-A), "
        "Figure 18 (reduction-B), §3.2 (BN not on the sums), §3.3 (residual scaling)",
        INCEPTION_RESNET_V2_PAPER_PARAMS,
        19.9,
        4.9,
        "The network the paper describes, section by section as listed. Its residual "
        "blocks keep their input's width (384, 1152 = 384 + 384 + 384 after reduction-A, "
        "2144 = 1152 + 384 + 288 + 320 after reduction-B), as a sum needs, where "
        "Figures 17 and 19 print 1154 and 2048. Residual scales 0.17 / 0.1 / 0.2 per "
        "block type (§3.3 gives only '0.1 to 0.3'; the authors' code's values); "
        "BatchNormalization without scale, as the family's other nets. Differs from "
        "inception_resnet_v2 (TF-slim's layout, for keras.applications' weights): "
        "there the stem is Inception-v3's plus a 35x35 Inception module (320 wide), the "
        "blocks 10 / 20 / 10, the last block unscaled and a 1x1 conv to 1536 follows. "
        "No pretrained weights; layer names as inception_resnet_v1's (stem: "
        "inception_v4's).",
    ),
    {"version": "2-paper"},
)

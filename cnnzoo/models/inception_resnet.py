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
    repeats={"block35": 10, "block17": 20, "block8": 10},  # [1] Figure 15 / TF-slim
    reduction_a=(256, 256, 384, 384),  # [1] Table 1, Inception-ResNet-v2
    reduction_b=((256, 384), (256, 288), (256, 288, 320)),  # [1] Figure 18
    stem=_v2_stem,
    keras_layout=True,
    input=ImageInput("inception_resnet_v2", (299, 299, 3), min_size=75),
)
VERSIONS = {1: V1, 2: V2}


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
        version: 1 or 2.
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool``, ``top_dropout`` and ``predictions``; without it the model
            ends at the last 8x8 block (v1, ``block8_5_ac``) or at ``conv_7b_ac``
            (v2). Default input 299x299x3, at least 75x75 (the valid convolutions
            of the stem and the reductions).
        dropout: dropout rate before the classifier ([1] Figure 15: keep 0.8); 0 for none.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown version or pooling, a bad or too small input_shape,
            an unknown classifier activation or channels-first data format.
    """
    if version not in VERSIONS:
        raise ValueError(f"Inception-ResNet version must be 1 or 2, got {version!r}")
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
        "Figures 3, 7, 15-19 (Inception-ResNet-v2) as in the authors' TF-slim code "
        "and keras.applications.InceptionResNetV2",
        INCEPTION_RESNET_V2_PARAMS,
        19.9,
        4.9,
        "Layer for layer keras.applications.InceptionResNetV2 (55,873,736 weights in "
        "all), so weights='imagenet' takes its weights; plus Figure 15's dropout 0.2 "
        "before the classifier (no weights).",
        keras_application="InceptionResNetV2",
    ),
    {"version": 2},
)

"""Inception v3 and Inception v4, with the building blocks the Inception family shares.

Papers:
    [1] C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the
        Inception Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567):
        Table 1 and Figures 5, 6, 7, 10 (the network), §4 and Figure 8 (the
        auxiliary classifier, batch-normalized in Inception-v3, §7 / Table 3),
        Table 3 (results).
    [2] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet
        and the Impact of Residual Connections on Learning", AAAI 2017
        (arXiv:1602.07261): Figures 3-9 (Inception-v4), Table 1 (reduction-A
        filters), Table 2 (results).

`inception_v3` is layer for layer `keras.applications.InceptionV3`: the same layers
in the same order with the same names and weight shapes, so keras.applications'
ImageNet weights copy across by name (`cnnzoo.pretrained`). keras.applications
leaves most of its layers unnamed, so they are called what Keras calls unnamed
layers in a fresh session (``conv2d``, ``conv2d_1``, ..., ``batch_normalization_93``,
``activation_93``); `cnnzoo.models._common.AutoNames` hands out those names from a
counter of the model's own, so they do not depend on what else the process has
built. Convolutions have no bias and their BatchNormalization no scale (the ReLU
that follows makes it redundant), as in keras.applications.

`inception_v3_paper` is [1] Table 1's layout with Figures 5, 6 (n = 7) and 7: its
own stem, 3 x Figure 5 (the 5x5 as two 3x3), 5 x Figure 6, 2 x Figure 7; filters the
paper leaves open are TF-slim's (see `V3_PAPER_BLOCK35`, `V3_PAPER_C7`). Its layers
have meaningful names (``stem_conv1_conv``, ``mixed_5b_b2_3_bn``, ``mixed_6a``), and
it has no pretrained weights.

`inception_v4` follows [2] Figures 3-9 with the filter orders of the authors'
TF-slim code (as timm's ``inception_v4``), BatchNormalization with scale and offset
after every convolution, and [2] Figure 9's dropout (keep 0.8) before the classifier.
Its layers have meaningful names: ``stem_conv1_conv``, ``mixed_5b_b2_3_bn``,
``mixed_6a`` (TF-slim's block names, lower case). Its stem, [2] Figure 3, is in
`cnnzoo.models._inception_v4_stem`, as Inception-ResNet-v2 ([2]'s) shares it.
"""

from __future__ import annotations

from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.models._common import (
    AutoNames,
    conv_bn,
    inception_module_35,
    inception_v3_stem,
    reduction_a,
    sub_name,
)
from cnnzoo.models._inception_v4_stem import inception_v4_stem
from cnnzoo.models._variants import Catalog

MODELS = Catalog()

# ---------------------------------------------------------------------- Inception v3


# The 17x17 modules, the 8x8 modules and the two grid reductions serve both
# inception_v3 (keras.applications' names, `auto`: an `AutoNames`) and
# inception_v3_paper (``{name}_b{branch}_{j}`` names, `auto` None); with `auto` the
# layers are created in keras.applications' order, which its names count.


def _keras_or(auto, keras_prefix, name):
    # The next keras.applications name of an unnamed layer, or our own name.
    return auto(keras_prefix) if auto is not None else name


def _tower(x, convs, name, auto, branch):
    # One branch of a module: conv + BN + ReLU for each (filters, kernel), in turn.
    for j, (filters, kernel) in enumerate(convs, start=1):
        x = conv_bn(x, filters, kernel, name=sub_name(auto, name, branch, j))
    return x


def _v3_reduction35(x, name, auto=None):
    # [1] Figure 10's scheme with TF-slim's filters: 35x35x288 -> 17x17x768.
    b0 = conv_bn(x, 384, 3, strides=2, padding="valid", name=sub_name(auto, name, 0, 1))
    b1 = conv_bn(x, 64, 1, name=sub_name(auto, name, 1, 1))
    b1 = conv_bn(b1, 96, 3, name=sub_name(auto, name, 1, 2))
    b1 = conv_bn(b1, 96, 3, strides=2, padding="valid", name=sub_name(auto, name, 1, 3))
    bp = layers.MaxPooling2D(3, strides=2, name=_keras_or(auto, "max_pooling2d", f"{name}_b2_pool"))
    return layers.Concatenate(name=name)([b0, b1, bp(x)])


def _v3_block17(x, c7, name, auto=None):
    # [1] Figure 6 with n = 7: the 7x7 convolutions factorized into 1x7 and 7x1
    # (TF-slim's order of the two within the double tower).
    b0 = conv_bn(x, 192, 1, name=sub_name(auto, name, 0, 1))
    b1 = _tower(x, ((c7, 1), (c7, (1, 7)), (192, (7, 1))), name, auto, 1)
    b2 = _tower(
        x, ((c7, 1), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))), name, auto, 2
    )
    pool = _keras_or(auto, "average_pooling2d", f"{name}_b3_pool")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=pool)(x)
    b3 = conv_bn(b3, 192, 1, name=sub_name(auto, name, 3, 1))
    return layers.Concatenate(name=name)([b0, b1, b2, b3])


def _v3_reduction17(x, name, auto=None):
    # [1] Figure 10's scheme with TF-slim's filters: 17x17x768 -> 8x8x1280.
    b0 = conv_bn(x, 192, 1, name=sub_name(auto, name, 0, 1))
    b0 = conv_bn(b0, 320, 3, strides=2, padding="valid", name=sub_name(auto, name, 0, 2))
    b1 = conv_bn(x, 192, 1, name=sub_name(auto, name, 1, 1))
    b1 = conv_bn(b1, 192, (1, 7), name=sub_name(auto, name, 1, 2))
    b1 = conv_bn(b1, 192, (7, 1), name=sub_name(auto, name, 1, 3))
    b1 = conv_bn(b1, 192, 3, strides=2, padding="valid", name=sub_name(auto, name, 1, 4))
    bp = layers.MaxPooling2D(3, strides=2, name=_keras_or(auto, "max_pooling2d", f"{name}_b2_pool"))
    return layers.Concatenate(name=name)([b0, b1, bp(x)])


def _v3_split(x, name, auto, branch, j, split_name):
    # [1] Figure 7's split output: 1x3 and 3x1 (384 each) side by side.
    a = conv_bn(x, 384, (1, 3), name=sub_name(auto, name, branch, j))
    b = conv_bn(x, 384, (3, 1), name=sub_name(auto, name, branch, j + 1))
    return layers.Concatenate(name=split_name)([a, b])


def _v3_block8(x, name, auto=None, split_name=None):
    # [1] Figure 7: the expanded 8x8 module with split 1x3 / 3x1 outputs; TF-slim's
    # filters (320 + 768 + 768 + 192 = 2048, [1] §6's "2048 for each tile").
    # split_name: keras.applications' name of the first split (``mixed9_{i}``).
    b0 = conv_bn(x, 320, 1, name=sub_name(auto, name, 0, 1))
    b1 = conv_bn(x, 384, 1, name=sub_name(auto, name, 1, 1))
    b1 = _v3_split(b1, name, auto, 1, 2, split_name or f"{name}_b1")
    b2 = conv_bn(x, 448, 1, name=sub_name(auto, name, 2, 1))
    b2 = conv_bn(b2, 384, 3, name=sub_name(auto, name, 2, 2))
    b2 = _v3_split(b2, name, auto, 2, 3, _keras_or(auto, "concatenate", f"{name}_b2"))
    pool = _keras_or(auto, "average_pooling2d", f"{name}_b3_pool")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=pool)(x)
    b3 = conv_bn(b3, 192, 1, name=sub_name(auto, name, 3, 1))
    return layers.Concatenate(name=name)([b0, b1, b2, b3])


# [1] Figure 8 / Table 1: the auxiliary classifier reads the last 17x17 grid: 5x5 / 3
# average pooling (-> 5x5), 1x1 conv 128, 5x5 conv 768, then the classifier.
V3_AUX_POOL, V3_AUX_STRIDE, V3_AUX_REDUCE, V3_AUX_CONV = 5, 3, 128, 768


def inception_v3_aux_head(x, top):
    """The auxiliary classifier of [1] Figure 8, batch-normalized ([1] §7, "BN-auxiliary").

    Layers: ``aux_avg_pool`` (5x5 / 3), ``aux_conv1`` (1x1, 128), ``aux_conv2``
    (5x5 valid, 768; each conv + BN + ReLU), ``aux_global_pool`` (1x1 at 299x299,
    so it equals the authors' flatten there and allows larger inputs) and
    ``aux_predictions``. The layout of the authors' TF-slim code and torchvision.

    Args:
        x: the ``mixed7`` output (17x17x768 at 299x299).
        top: the model's `cnnzoo.models._common.Top` (classes and activation).

    Returns:
        The ``aux_predictions`` tensor.

    Raises:
        ValueError: if the grid is smaller than 17x17 (inputs under 299x299), where
            the 5x5 convolution after the 5x5 / 3 pooling has nothing to read.
    """
    if any(d is not None and d < 17 for d in x.shape[1:3]):
        raise ValueError(
            "the inception_v3 auxiliary head needs the 17x17 grid of [1] Table 1 "
            f"(inputs of at least 299x299), got a {tuple(x.shape[1:3])} grid"
        )
    x = layers.AveragePooling2D(V3_AUX_POOL, strides=V3_AUX_STRIDE, name="aux_avg_pool")(x)
    x = conv_bn(x, V3_AUX_REDUCE, 1, name="aux_conv1")
    x = conv_bn(x, V3_AUX_CONV, 5, padding="valid", name="aux_conv2")
    x = layers.GlobalAveragePooling2D(name="aux_global_pool")(x)
    return top.classifier(x, "aux_predictions")


_RETHINKING = (
    'C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the '
    'Inception Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567)'
)
_RETHINKING_TABLE3 = (
    "Szegedy et al. 2016 (Rethinking), Table 3 (Inception-v3, single crop, single model)"
)


def _rethinking_card(name, section, params, notes, **card):
    # What the two Inception-v3 cards share: [1], ImageNet at 299x299, the recipe, and
    # [1] Table 3's errors (Inception-v3: Table 1's network, BN-auxiliary, RMSProp,
    # label smoothing).
    return ModelCard(
        name=name,
        family="inception",
        paper=_RETHINKING,
        section=section,
        input_shape=(299, 299, 3),
        num_classes=1000,
        trainable_params=params,
        default_recipe="szegedy2015",
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": 21.2, "imagenet2012_val_top5_error": 5.6},
        published_source=_RETHINKING_TABLE3,
        notes=notes,
        **card,
    )


# keras.applications' (TF-slim's) four 17x17 modules: the 7x7 towers' filters (c7).
V3_KERAS_C7 = (128, 160, 160, 192)


@MODELS.add(
    _rethinking_card(
        "inception_v3",
        "Table 1, Figures 5-7 and 10; auxiliary classifier Figure 8",
        # keras.applications.InceptionV3: 23,851,784 weights, of which the 2 x 17,216
        # BatchNormalization moving means and variances are not trained.
        23_817_352,
        "Layer for layer keras.applications.InceptionV3 (names, shapes, order), so "
        "weights='imagenet' takes its weights. aux_heads=True adds the batch-normalized "
        "auxiliary classifier on the 17x17 grid (outputs [predictions, aux_predictions]). "
        "It is the authors' TF-slim layout, not Table 1's (stem, 35x35 modules with a 5x5 "
        "branch, 4 rather than 5 17x17 modules): the paper's is inception_v3_paper.",
        keras_application="InceptionV3",
    ),
    min_size=75,  # the stem's and reductions' valid layers (keras.applications checks it)
)
def inception_v3(inputs, top, aux_heads=False):
    """Build Inception-v3 ([1] Table 1), layer for layer keras.applications.InceptionV3.

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool`` and ``predictions``; without it the model ends at
            ``mixed10``. Default input 299x299x3, at least 75x75 (the valid
            convolutions and poolings of the stem and the grid reductions need it,
            as keras.applications checks).
        aux_heads: add the auxiliary classifier of [1] Figure 8 on ``mixed7``; the
            model then returns ``[predictions, aux_predictions]``. Needs the top.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown pooling, a bad or too small input_shape, an unknown
            classifier activation, channels-first data format, or aux_heads without
            the top.
    """
    top.check_aux_heads(aux_heads)
    auto = AutoNames()
    x = inception_v3_stem(inputs, auto)
    # 3 x Figure 5 modules at 35x35 (pool projections 32, 64, 64).
    for i, pool_filters in enumerate((32, 64, 64)):
        x = inception_module_35(x, 64, pool_filters, f"mixed{i}", auto)
    x = _v3_reduction35(x, "mixed3", auto)
    # 4 x Figure 6 modules at 17x17; the 7x7 towers widen from 128 to 192 filters.
    for i, c7 in enumerate(V3_KERAS_C7):
        x = _v3_block17(x, c7, f"mixed{4 + i}", auto)
    aux = inception_v3_aux_head(x, top) if aux_heads else None
    x = _v3_reduction17(x, "mixed8", auto)
    # 2 x Figure 7 modules at 8x8.
    for i in range(2):
        x = _v3_block8(x, f"mixed{9 + i}", auto, split_name=f"mixed9_{i}")
    x = top(x, global_pool=True)
    return [x, aux] if aux_heads else x


# ------------------------------------------------------- Inception v3, the paper's layout

# Filters [1] leaves open, taken from TF-slim's inception_v3 (= keras.applications'):
# Figure 5 (1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | 3x3 average pooling -> 1x1): TF-slim's
# 35x35 module's, its 5x5 branch (1x1 48 -> 5x5 64) being the figure's single 3x3
# (1x1 48 -> 3x3 64), per branch the (filters, kernel) of each convolution; the pooling
# projection 64 in all three, so that each gives 64 + 64 + 96 + 64 = 288, [1] §6's
# "3 traditional inception modules at the 35x35 with 288 filters each" (TF-slim's
# first has 32, 256 in all).
V3_PAPER_BLOCK35 = (((64, 1),), ((48, 1), (64, 3)), ((64, 1), (96, 3), (96, 3)))
V3_PAPER_BLOCK35_POOL = 64
# [1] Table 1: 5 x Figure 6 at 17x17, n = 7. TF-slim has four (c7 = 128, 160, 160,
# 192); the fifth repeats its last.
V3_PAPER_C7 = (*V3_KERAS_C7, 192)

# Derived from [1] Table 1 and Figures 5-7 with the filters above (convolutions without
# bias, BatchNormalization offsets without scale, as inception_v3); a conv k_h x k_w,
# c_in -> c_out, counts k_h * k_w * c_in * c_out + c_out:
#   stem: 3*3*3*32 + 32 (896) + 3*3*32*32 + 32 (9,248) + 3*3*32*64 + 64 (18,496)
#         + 3*3*64*80 + 80 (46,160) + 3*3*80*192 + 192 (138,432)
#         + 3*3*192*288 + 288 (497,952)                                   =    711,184
#   3 x Figure 5 on 288: 3 * 288*64 + 64 (3 * 18,496) + 288*48 + 48 (13,872)
#         + 3*3*48*64 + 64 (27,712) + 3*3*64*96 + 96 (55,392)
#         + 3*3*96*96 + 96 (83,040) = 235,504 each                          =    706,512
#   reduction 35 -> 17: 3*3*288*384 + 384 (995,712) + 18,496 + 55,392
#         + 83,040 (3x3/2 96)                                               =  1,152,640
#   5 x Figure 6 on 768, 2 * (768*192 + 192) + 2 * (768*c7 + c7) + 4 * (7*c7*c7 + c7)
#         + 2 * (7*c7*192 + 192) = 295,680 + 4,230 c7 + 28 c7^2: c7 = 128: 1,295,872;
#         160: 1,689,280 (x 2); 192: 2,140,032 (x 2)                        =  8,954,496
#   reduction 17 -> 8: 2 * (768*192 + 192) (2 * 147,648) + 3*3*192*320 + 320
#         (553,280) + 2 * (7*192*192 + 192) (2 * 258,240) + 3*3*192*192 + 192
#         (331,968)                                                         =  1,697,024
#   2 x Figure 7, c_in*(320 + 384 + 448 + 192) + 1,344 + 4 * (3*384*384 + 384)
#         + 3*3*448*384 + 384 = 1,344 c_in + 3,321,024: c_in = 1,280: 5,041,344;
#         2,048: 6,073,536                                                  = 11,114,880
#   classifier: 2048 * 1000 + 1000                                          =  2,049,000
INCEPTION_V3_PAPER_PARAMS = 26_385_736


def _v3_paper_stem(x):
    # [1] Table 1, the filters read from its input-size column: 299 -> 35x35x288.
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name="stem_conv1")  # 149
    x = conv_bn(x, 32, 3, padding="valid", name="stem_conv2")  # 147
    x = conv_bn(x, 64, 3, name="stem_conv3")  # "conv padded": 147
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)  # 73
    x = conv_bn(x, 80, 3, padding="valid", name="stem_conv4")  # 71
    x = conv_bn(x, 192, 3, strides=2, padding="valid", name="stem_conv5")  # 35
    # Table 1 does not mark this one padded, but the next row's input is 35x35x288,
    # which only a padded convolution gives: the mark is taken to be missing.
    return conv_bn(x, 288, 3, name="stem_conv6")


def _v3_paper_block35(x, name):
    # [1] Figure 5: the 5x5 convolution of the original module as two 3x3 ones.
    outputs = [_tower(x, convs, name, None, i) for i, convs in enumerate(V3_PAPER_BLOCK35)]
    pool = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_pool")(x)
    outputs.append(conv_bn(pool, V3_PAPER_BLOCK35_POOL, 1, name=f"{name}_b3_1"))
    return layers.Concatenate(name=name)(outputs)


@MODELS.add(
    _rethinking_card(
        "inception_v3_paper",
        "Table 1 (layout, stem), Figure 5 (35x35), Figure 6 with n = 7 (17x17), "
        "Figure 7 (8x8), §5 / Figure 10 (grid reductions); auxiliary classifier Figure 8 "
        "and §7 (BN-auxiliary)",
        INCEPTION_V3_PAPER_PARAMS,
        "Table 1 row by row: its stem (3x3/2 32, 3x3 32, padded 3x3 64, 3x3/2 max "
        "pooling, 3x3 80, 3x3/2 192, 3x3 288, this last one padded as the next row's "
        "35x35x288 needs), 3 x Figure 5, a §5 grid reduction to 17x17x768, 5 x Figure 6 "
        "(n = 7), a reduction to 8x8x1280, 2 x Figure 7 (2048 wide, §6), 8x8 average "
        "pooling, linear, softmax; no dropout (Table 1 has none). Filters the paper leaves "
        "open are TF-slim's (keras.applications'): Figure 5 as 64 | 48-3x3 64 | 64-3x3 "
        "96-3x3 96 | pool-64 (288 wide, §6), Figure 6's c7 = 128, 160, 160, 192 and a "
        "fifth 192, the grid reductions and Figure 7 as TF-slim's. Differs from "
        "inception_v3 (TF-slim's layout, for keras.applications' weights): there the stem "
        "is 1x1 80, 3x3 192 and a max pooling to 35x35x192, the 35x35 modules have a 5x5 "
        "branch for Figure 5's single 3x3 (widths 256, 288, 288), and there are four "
        "17x17 modules; layer names here are TF-slim-like (stem_conv1, mixed_5b, mixed_6a). "
        "No pretrained weights. aux_heads=True adds Figure 8's batch-normalized auxiliary "
        "classifier on the last 17x17 module (mixed_6f).",
    ),
    min_size=75,  # the stem's and the reductions' valid layers, as inception_v3
)
def inception_v3_paper(inputs, top, aux_heads=False):
    """Build Inception-v3 as [1] Table 1 lays it out (Figures 5, 6 and 7).

    Takes, returns and raises what `inception_v3` does, but for the layer names:
    without the top the model ends at ``mixed_7c`` (8x8x2048), and ``aux_heads``
    puts [1] Figure 8's classifier on ``mixed_6f``, the last 17x17 module.
    """
    top.check_aux_heads(aux_heads)
    x = _v3_paper_stem(inputs)
    # TF-slim's block names: Mixed_5b-5d, Mixed_6a, Mixed_6b-6f, Mixed_7a, Mixed_7b-7c.
    for letter in "bcd":
        x = _v3_paper_block35(x, f"mixed_5{letter}")
    x = _v3_reduction35(x, "mixed_6a")
    for letter, c7 in zip("bcdef", V3_PAPER_C7, strict=True):
        x = _v3_block17(x, c7, f"mixed_6{letter}")
    aux = inception_v3_aux_head(x, top) if aux_heads else None
    x = _v3_reduction17(x, "mixed_7a")
    for letter in "bc":
        x = _v3_block8(x, f"mixed_7{letter}")
    x = top(x, global_pool=True)
    return [x, aux] if aux_heads else x


# ---------------------------------------------------------------------- Inception v4

# [2] Table 1: reduction-A's (k, l, m, n) in Inception-v4.
V4_REDUCTION_A = (192, 224, 256, 384)
# [2] Figure 9: 4 x Inception-A, 7 x Inception-B, 3 x Inception-C.
V4_BLOCKS = (4, 7, 3)
V4_DROPOUT = 0.2  # [2] Figure 9: "Dropout (keep 0.8)"


def _v4_conv(x, filters, kernel, strides=1, padding="same", *, name):
    # [2] §3.2 / timm's convention: BatchNormalization with scale and offset.
    return conv_bn(x, filters, kernel, strides=strides, padding=padding, name=name, scale=True)


def inception_v4_a(x, name):
    """Inception-A of [2] Figure 4 (35x35x384 -> 35x35x384)."""
    b0 = _v4_conv(x, 96, 1, name=f"{name}_b0_1")
    b1 = _v4_conv(x, 64, 1, name=f"{name}_b1_1")
    b1 = _v4_conv(b1, 96, 3, name=f"{name}_b1_2")
    b2 = _v4_conv(x, 64, 1, name=f"{name}_b2_1")
    b2 = _v4_conv(b2, 96, 3, name=f"{name}_b2_2")
    b2 = _v4_conv(b2, 96, 3, name=f"{name}_b2_3")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_pool")(x)
    b3 = _v4_conv(b3, 96, 1, name=f"{name}_b3_1")
    return layers.Concatenate(name=name)([b0, b1, b2, b3])


def inception_v4_b(x, name):
    """Inception-B of [2] Figure 5 (17x17x1024 -> 17x17x1024)."""
    b0 = _v4_conv(x, 384, 1, name=f"{name}_b0_1")
    b1 = _v4_conv(x, 192, 1, name=f"{name}_b1_1")
    b1 = _v4_conv(b1, 224, (1, 7), name=f"{name}_b1_2")
    b1 = _v4_conv(b1, 256, (7, 1), name=f"{name}_b1_3")
    b2 = _v4_conv(x, 192, 1, name=f"{name}_b2_1")
    b2 = _v4_conv(b2, 192, (7, 1), name=f"{name}_b2_2")
    b2 = _v4_conv(b2, 224, (1, 7), name=f"{name}_b2_3")
    b2 = _v4_conv(b2, 224, (7, 1), name=f"{name}_b2_4")
    b2 = _v4_conv(b2, 256, (1, 7), name=f"{name}_b2_5")
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_pool")(x)
    b3 = _v4_conv(b3, 128, 1, name=f"{name}_b3_1")
    return layers.Concatenate(name=name)([b0, b1, b2, b3])


def inception_v4_reduction_b(x, name):
    """Reduction-B of [2] Figure 8 (17x17x1024 -> 8x8x1536)."""
    b0 = _v4_conv(x, 192, 1, name=f"{name}_b0_1")
    b0 = _v4_conv(b0, 192, 3, strides=2, padding="valid", name=f"{name}_b0_2")
    b1 = _v4_conv(x, 256, 1, name=f"{name}_b1_1")
    b1 = _v4_conv(b1, 256, (1, 7), name=f"{name}_b1_2")
    b1 = _v4_conv(b1, 320, (7, 1), name=f"{name}_b1_3")
    b1 = _v4_conv(b1, 320, 3, strides=2, padding="valid", name=f"{name}_b1_4")
    b2 = layers.MaxPooling2D(3, strides=2, name=f"{name}_b2_pool")(x)
    return layers.Concatenate(name=name)([b0, b1, b2])


def inception_v4_c(x, name):
    """Inception-C of [2] Figure 6 (8x8x1536 -> 8x8x1536)."""
    b0 = _v4_conv(x, 256, 1, name=f"{name}_b0_1")
    b1 = _v4_conv(x, 384, 1, name=f"{name}_b1_1")
    b1 = layers.Concatenate(name=f"{name}_b1")(
        [
            _v4_conv(b1, 256, (1, 3), name=f"{name}_b1_2a"),
            _v4_conv(b1, 256, (3, 1), name=f"{name}_b1_2b"),
        ]
    )
    b2 = _v4_conv(x, 384, 1, name=f"{name}_b2_1")
    b2 = _v4_conv(b2, 448, (3, 1), name=f"{name}_b2_2")
    b2 = _v4_conv(b2, 512, (1, 3), name=f"{name}_b2_3")
    b2 = layers.Concatenate(name=f"{name}_b2")(
        [
            _v4_conv(b2, 256, (1, 3), name=f"{name}_b2_4a"),
            _v4_conv(b2, 256, (3, 1), name=f"{name}_b2_4b"),
        ]
    )
    b3 = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_b3_pool")(x)
    b3 = _v4_conv(b3, 256, 1, name=f"{name}_b3_1")
    return layers.Concatenate(name=name)([b0, b1, b2, b3])


@MODELS.add(
    ModelCard(
        name="inception_v4",
        family="inception",
        paper='C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, '
        'Inception-ResNet and the Impact of Residual Connections on Learning", AAAI 2017 '
        "(arXiv:1602.07261)",
        section="Figures 3-9 (Inception-v4), Table 1 (reduction-A k, l, m, n = 192, 224, 256, 384)",
        input_shape=(299, 299, 3),
        num_classes=1000,
        # Convolutions without bias, BatchNormalization with scale and offset: timm's
        # inception_v4 count (its parameters, not its BN running-statistics buffers).
        trainable_params=42_679_816,
        default_recipe="szegedy2016",
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": 20.0, "imagenet2012_val_top5_error": 5.0},
        published_source="Szegedy et al. 2017, Table 2 (single crop, single model)",
        notes="Filter orders of the authors' TF-slim code (as timm's inception_v4); dropout "
        "0.2 before the classifier (Figure 9).",
    ),
    min_size=75,  # the stem's and the reductions' valid convolutions
)
def inception_v4(inputs, top, dropout=V4_DROPOUT):
    """Build Inception-v4 ([2] Figure 9).

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool``, ``top_dropout`` and ``predictions``; without it the model
            ends at ``mixed_7d`` (8x8x1536). Default input 299x299x3, at least
            75x75 (the stem's and the reductions' valid convolutions).
        dropout: dropout rate before the classifier ([2] Figure 9: keep 0.8); 0 for none.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown pooling, a bad or too small input_shape, an unknown
            classifier activation or channels-first data format.
    """
    x = inception_v4_stem(inputs)
    n_a, n_b, n_c = V4_BLOCKS
    # TF-slim's block names: Mixed_5b-5e, Mixed_6a, Mixed_6b-6h, Mixed_7a, Mixed_7b-7d.
    for i in range(n_a):
        x = inception_v4_a(x, f"mixed_5{'bcde'[i]}")
    x = reduction_a(x, V4_REDUCTION_A, "mixed_6a", scale=True)
    for i in range(n_b):
        x = inception_v4_b(x, f"mixed_6{'bcdefgh'[i]}")
    x = inception_v4_reduction_b(x, "mixed_7a")
    for i in range(n_c):
        x = inception_v4_c(x, f"mixed_7{'bcd'[i]}")
    return top(x, global_pool=True, dropout=dropout)

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

`inception_v4` follows [2] Figures 3-9 with the filter orders of the authors'
TF-slim code (as timm's ``inception_v4``), BatchNormalization with scale and offset
after every convolution, and [2] Figure 9's dropout (keep 0.8) before the classifier.
Its layers have meaningful names: ``stem_conv1_conv``, ``mixed_5b_b2_3_bn``,
``mixed_6a`` (TF-slim's block names, lower case).
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
)
from cnnzoo.models._variants import Catalog

MODELS = Catalog()

# ---------------------------------------------------------------------- Inception v3


def _v3_reduction35(x, auto):
    # [1] Figure 10: 35x35x288 -> 17x17x768.
    b3 = conv_bn(x, 384, 3, strides=2, padding="valid", name=auto)
    bd = conv_bn(x, 64, 1, name=auto)
    bd = conv_bn(bd, 96, 3, name=auto)
    bd = conv_bn(bd, 96, 3, strides=2, padding="valid", name=auto)
    bp = layers.MaxPooling2D(3, strides=2, name=auto("max_pooling2d"))(x)
    return layers.Concatenate(name="mixed3")([b3, bd, bp])


def _v3_block17(x, c7, name, auto):
    # [1] Figure 6 with n = 7: the 7x7 convolutions factorized into 1x7 and 7x1.
    b1 = conv_bn(x, 192, 1, name=auto)
    b7 = conv_bn(x, c7, 1, name=auto)
    b7 = conv_bn(b7, c7, (1, 7), name=auto)
    b7 = conv_bn(b7, 192, (7, 1), name=auto)
    bd = conv_bn(x, c7, 1, name=auto)
    bd = conv_bn(bd, c7, (7, 1), name=auto)
    bd = conv_bn(bd, c7, (1, 7), name=auto)
    bd = conv_bn(bd, c7, (7, 1), name=auto)
    bd = conv_bn(bd, 192, (1, 7), name=auto)
    bp = layers.AveragePooling2D(3, strides=1, padding="same", name=auto("average_pooling2d"))(x)
    bp = conv_bn(bp, 192, 1, name=auto)
    return layers.Concatenate(name=name)([b1, b7, bd, bp])


def _v3_reduction17(x, auto):
    # 17x17x768 -> 8x8x1280, [1] Figure 10's scheme.
    b3 = conv_bn(x, 192, 1, name=auto)
    b3 = conv_bn(b3, 320, 3, strides=2, padding="valid", name=auto)
    b7 = conv_bn(x, 192, 1, name=auto)
    b7 = conv_bn(b7, 192, (1, 7), name=auto)
    b7 = conv_bn(b7, 192, (7, 1), name=auto)
    b7 = conv_bn(b7, 192, 3, strides=2, padding="valid", name=auto)
    bp = layers.MaxPooling2D(3, strides=2, name=auto("max_pooling2d"))(x)
    return layers.Concatenate(name="mixed8")([b3, b7, bp])


def _v3_block8(x, i, auto):
    # [1] Figure 7: the expanded 8x8 module with split 1x3 / 3x1 outputs.
    b1 = conv_bn(x, 320, 1, name=auto)
    b3 = conv_bn(x, 384, 1, name=auto)
    b3 = layers.Concatenate(name=f"mixed9_{i}")(
        [conv_bn(b3, 384, (1, 3), name=auto), conv_bn(b3, 384, (3, 1), name=auto)]
    )
    bd = conv_bn(x, 448, 1, name=auto)
    bd = conv_bn(bd, 384, 3, name=auto)
    bd = layers.Concatenate(name=auto("concatenate"))(
        [conv_bn(bd, 384, (1, 3), name=auto), conv_bn(bd, 384, (3, 1), name=auto)]
    )
    bp = layers.AveragePooling2D(3, strides=1, padding="same", name=auto("average_pooling2d"))(x)
    bp = conv_bn(bp, 192, 1, name=auto)
    return layers.Concatenate(name=f"mixed{9 + i}")([b1, b3, bd, bp])


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


@MODELS.add(
    ModelCard(
        name="inception_v3",
        family="inception",
        paper='C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the '
        'Inception Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567)',
        section="Table 1, Figures 5-7 and 10; auxiliary classifier Figure 8",
        input_shape=(299, 299, 3),
        num_classes=1000,
        # keras.applications.InceptionV3: 23,851,784 weights, of which the 2 x 17,216
        # BatchNormalization moving means and variances are not trained.
        trainable_params=23_817_352,
        default_recipe="szegedy2015",
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": 21.2, "imagenet2012_val_top5_error": 5.6},
        published_source="Szegedy et al. 2016 (Rethinking), Table 3 (Inception-v3, "
        "single crop, single model)",
        notes="Layer for layer keras.applications.InceptionV3 (names, shapes, order), so "
        "weights='imagenet' takes its weights. aux_heads=True adds the batch-normalized "
        "auxiliary classifier on the 17x17 grid (outputs [predictions, aux_predictions]).",
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
    x = _v3_reduction35(x, auto)
    # 4 x Figure 6 modules at 17x17; the 7x7 towers widen from 128 to 192 filters.
    for i, c7 in enumerate((128, 160, 160, 192)):
        x = _v3_block17(x, c7, f"mixed{4 + i}", auto)
    aux = inception_v3_aux_head(x, top) if aux_heads else None
    x = _v3_reduction17(x, auto)
    # 2 x Figure 7 modules at 8x8.
    for i in range(2):
        x = _v3_block8(x, i, auto)
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


def inception_v4_stem(x):
    """The stem of [2] Figure 3: 299x299x3 -> 35x35x384 ("V" convolutions are valid)."""
    x = _v4_conv(x, 32, 3, strides=2, padding="valid", name="stem_conv1")
    x = _v4_conv(x, 32, 3, padding="valid", name="stem_conv2")
    x = _v4_conv(x, 64, 3, name="stem_conv3")
    b0 = layers.MaxPooling2D(3, strides=2, name="mixed_3a_b0_pool")(x)
    b1 = _v4_conv(x, 96, 3, strides=2, padding="valid", name="mixed_3a_b1_1")
    x = layers.Concatenate(name="mixed_3a")([b0, b1])
    b0 = _v4_conv(x, 64, 1, name="mixed_4a_b0_1")
    b0 = _v4_conv(b0, 96, 3, padding="valid", name="mixed_4a_b0_2")
    b1 = _v4_conv(x, 64, 1, name="mixed_4a_b1_1")
    b1 = _v4_conv(b1, 64, (1, 7), name="mixed_4a_b1_2")
    b1 = _v4_conv(b1, 64, (7, 1), name="mixed_4a_b1_3")
    b1 = _v4_conv(b1, 96, 3, padding="valid", name="mixed_4a_b1_4")
    x = layers.Concatenate(name="mixed_4a")([b0, b1])
    b0 = _v4_conv(x, 192, 3, strides=2, padding="valid", name="mixed_5a_b0_1")
    b1 = layers.MaxPooling2D(3, strides=2, name="mixed_5a_b1_pool")(x)
    return layers.Concatenate(name="mixed_5a")([b0, b1])


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

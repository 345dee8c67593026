"""Xception: Inception modules replaced by depthwise separable convolutions.

Paper:
    [1] F. Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions",
        CVPR 2017 (arXiv:1610.02357): §3 and Figure 5 (the architecture: entry flow,
        middle flow repeated eight times, exit flow), §4.3 (dropout 0.5 before the
        classifier on ImageNet), §4.5 / Table 3 (22,855,952 parameters), Table 1
        (results).

Every convolution and separable convolution is followed by batch normalization
([1] Figure 5: "all Convolution and SeparableConvolution layers are followed by
batch normalization"); separable convolutions have no ReLU between their depthwise
and pointwise steps (§4.7). The entry and exit flows end their blocks with a 3x3 / 2
max pooling and add a strided 1x1 convolution of the block's input (a projection
shortcut); the middle flow's blocks add their input unchanged.

`xception` is layer for layer `keras.applications.Xception` (the code of [1]'s
author): its named layers (``block2_sepconv1``, ``block14_sepconv2_act``, ...) and,
for the shortcut convolutions, their batch normalizations and the additions that
keras.applications leaves unnamed, the names Keras gives them in a fresh session
(``conv2d`` ... ``conv2d_3``, ``batch_normalization`` ..., ``add`` ... ``add_11``;
see `cnnzoo.models._common.AutoNames`), so its weights copy across by name. [1]
§4.3's dropout before the classifier (``top_dropout``, no weights) is not in
keras.applications.
"""

from __future__ import annotations

from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.models._common import AutoNames
from cnnzoo.models._variants import Catalog

# [1] Figure 5: the entry flow's blocks 2-4 and the exit flow's block 13, each two
# separable convolutions (filters) and a max pooling, with a projection shortcut.
ENTRY_FILTERS = ((128, 128), (256, 256), (728, 728))
EXIT_FILTERS = (728, 1024)
MIDDLE_BLOCKS, MIDDLE_FILTERS = 8, 728  # [1] Figure 5: "repeated 8 times", 728 channels
FINAL_FILTERS = (1536, 2048)  # [1] Figure 5: the exit flow's last two separable convs
DROPOUT = 0.5  # [1] §4.3: "a dropout layer of rate 0.5 ... before the logistic regression"

MODELS = Catalog()


def _sepconv_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return FusedBatchNormalization(name=f"{name}_bn")(x)


def _pooled_block(x, filters, block, auto, relu_first=True):
    """An entry- or exit-flow block: [ReLU] sepconv, ReLU, sepconv, max pool, + projection.

    The first entry block (block2) reads the stem's ReLU output, so it starts with the
    separable convolution; its second ReLU keeps keras.applications' name
    ``block2_sepconv2_act``.
    """
    residual = layers.Conv2D(
        filters[-1], 1, strides=2, padding="same", use_bias=False, name=auto("conv2d")
    )(x)
    residual = FusedBatchNormalization(name=auto("batch_normalization"))(residual)
    for i, f in enumerate(filters, start=1):
        if relu_first or i > 1:
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _sepconv_bn(x, f, f"block{block}_sepconv{i}")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
    return layers.Add(name=auto("add"))([x, residual])


@MODELS.add(
    ModelCard(
        name="xception",
        family="xception",
        paper='F. Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", '
        "CVPR 2017 (arXiv:1610.02357)",
        section="§3, Figure 5 (entry, middle x 8 and exit flows)",
        input_shape=(299, 299, 3),
        num_classes=1000,
        # [1] Table 3: 22,855,952 parameters; keras.applications.Xception has
        # 22,910,480 weights in all, the other 54,528 being BN moving statistics.
        trainable_params=22_855_952,
        default_recipe=None,
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": 21.0, "imagenet2012_val_top5_error": 5.5},
        published_source="Chollet 2017, Table 1 (single crop, single model: top-1 "
        "accuracy 0.790, top-5 0.945)",
        notes="Layer for layer keras.applications.Xception, so weights='imagenet' takes its "
        "weights; plus §4.3's dropout 0.5 before the classifier (no weights). No default "
        "recipe: [1] §4.2 trains with SGD, momentum 0.9, lr 0.045 decayed x0.94 every 2 "
        "epochs.",
        keras_application="Xception",
    ),
    min_size=71,  # two valid 3x3 convs, four stride-2 blocks (keras.applications checks it)
)
def xception(inputs, top, dropout=DROPOUT):
    """Build Xception ([1] Figure 5), layer for layer keras.applications.Xception.

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool``, ``top_dropout`` and ``predictions``; without it the model
            ends at ``block14_sepconv2_act``. Default input 299x299x3, at least 71x71
            (the stem's two valid 3x3 convolutions and four stride-2 blocks, as
            keras.applications checks).
        dropout: dropout rate before the classifier ([1] §4.3: 0.5); 0 for none.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown pooling, a bad or too small input_shape, an unknown
            classifier activation or channels-first data format.
    """
    auto = AutoNames()
    x = _entry_flow(inputs, auto)
    # Middle flow: eight residual blocks of three ReLU + separable convolutions.
    for block in range(5, 5 + MIDDLE_BLOCKS):
        residual = x
        for i in range(1, 4):
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
            x = _sepconv_bn(x, MIDDLE_FILTERS, f"block{block}_sepconv{i}")
        x = layers.Add(name=auto("add"))([x, residual])
    # Exit flow: block 13, then two separable convolutions each followed by ReLU.
    x = _pooled_block(x, EXIT_FILTERS, 5 + MIDDLE_BLOCKS, auto)
    for i, f in enumerate(FINAL_FILTERS, start=1):
        x = _sepconv_bn(x, f, f"block14_sepconv{i}")
        x = layers.Activation("relu", name=f"block14_sepconv{i}_act")(x)
    return top(x, global_pool=True, dropout=dropout)


def _entry_flow(x, auto):
    # [1] Figure 5: two valid 3x3 convolutions (32 / 2, 64), then blocks 2-4.
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(x)
    x = FusedBatchNormalization(name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = FusedBatchNormalization(name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    for block, filters in enumerate(ENTRY_FILTERS, start=2):
        x = _pooled_block(x, filters, block, auto, relu_first=block > 2)
    return x

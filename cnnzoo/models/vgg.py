"""The VGG networks of Simonyan and Zisserman: configurations A, A-LRN, B, C, D and E.

Paper:
    [1] K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
        Image Recognition", ICLR 2015 (arXiv:1409.1556): §2.1-2.2 and Table 1
        (configurations), Table 2 (parameters), §3.1 (dropout), Table 3 (results).

All nets ([1] §2.1, Table 1): a 224x224 RGB image, five blocks of 3x3 convolutions
with stride 1 and 1-pixel padding ("same"), each followed by ReLU, a 2x2 / 2 max
pooling after every block, then two fully connected layers of 4096 units with ReLU
and dropout 0.5 ([1] §3.1) and a 1000-way softmax. Block widths are 64, 128, 256,
512, 512; configurations differ in the number of convolutions per block (`CONFIGS`):
C has 1x1 convolutions as the third layer of blocks 3-5, A-LRN puts a local
response normalization after the first convolution ([1] Table 1: "conv3-64 LRN").

Layer names and weight shapes are those of `keras.applications.VGG16` / `VGG19`
(``block{b}_conv{i}`` with the ReLU inside the convolution, ``block{b}_pool``,
``flatten``, ``fc1``, ``fc2``, ``predictions``), so weights copy across by name;
the dropout layers (``fc1_dropout``, ``fc2_dropout``) and ``block1_lrn`` have no
weights, and keras.applications has no dropout (it only matters in training).
"""

from __future__ import annotations

import keras
from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.models._common import ImageInput, check_choice
from cnnzoo.models._variants import Catalog

# [1] Table 1: output channels of the five blocks, and the kernel size of every
# convolution in each block per configuration ("conv3-256" -> 3, "conv1-256" -> 1).
BLOCK_FILTERS = (64, 128, 256, 512, 512)
CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}
FC_UNITS = 4096
DROPOUT = 0.5  # [1] §3.1: "dropout ratio set to 0.5" for the first two FC layers
# [1] §2.1: "the parameters for the LRN layer are those of (Krizhevsky et al., 2012)",
# i.e. n = 5, k = 2, alpha = 1e-4, beta = 0.75 with alpha on the plain sum.
LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA = 5, 2.0, 1e-4, 0.75

_INPUT = ImageInput("vgg", (224, 224, 3))
MODELS = Catalog()


def vgg_block(x, filters, kernel_sizes, lrn=False, name=None):
    """One block of [1] Table 1: convolutions with ReLU, then 2x2 / 2 max pooling.

    Args:
        x: input tensor.
        filters: output channels of every convolution in the block.
        kernel_sizes: kernel size of each convolution (3, or 1 in configuration C).
        lrn: put a `LocalResponseNormalization` (``{name}_lrn``) after the first
            convolution's ReLU (A-LRN).
        name: block prefix, e.g. ``"block1"``.

    Returns:
        Output tensor of ``{name}_pool``.
    """
    for i, kernel in enumerate(kernel_sizes, start=1):
        x = layers.Conv2D(
            filters, kernel, activation="relu", padding="same", name=f"{name}_conv{i}"
        )(x)
        if lrn and i == 1:
            x = LocalResponseNormalization(
                LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA, alpha_convention="paper", name=f"{name}_lrn"
            )(x)
    return layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"{name}_pool")(x)


def vgg(
    config,
    lrn=False,
    include_top=True,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg",
):
    """Build VGG configuration `config` of [1] Table 1.

    Args:
        config: ``"A"``, ``"B"``, ``"C"``, ``"D"`` or ``"E"`` (see `CONFIGS`).
        lrn: local response normalization after the first convolution (A-LRN).
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``flatten``, ``fc1`` and ``fc2`` (ReLU, dropout 0.5 ``fc1_dropout`` /
            ``fc2_dropout``) and ``predictions``; without it the model ends at
            ``block5_pool``. Default input 224x224x3.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown config or pooling, a bad input_shape, an unknown
            classifier activation or channels-first data format.
    """
    check_choice(config, CONFIGS, "VGG config")
    inputs, top = _INPUT.start(include_top, input_shape, pooling, classes, classifier_activation)
    x = inputs
    for b, (filters, kernels) in enumerate(zip(BLOCK_FILTERS, CONFIGS[config], strict=True)):
        x = vgg_block(x, filters, kernels, lrn=lrn and b == 0, name=f"block{b + 1}")
    if top.include:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            x = layers.Dense(FC_UNITS, activation="relu", name=fc)(x)
            x = layers.Dropout(DROPOUT, name=f"{fc}_dropout")(x)
    return keras.Model(inputs, top(x), name=name)


# --------------------------------------------------------------------------- variants

_SIMONYAN2014 = (
    'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image '
    'Recognition", ICLR 2015 (arXiv:1409.1556)'
)


def _simonyan(name, config, lrn, params, top1, top5, label, layers_, **card):
    """Declare `name`, configuration `config` of [1] Table 1, and its card; return its builder."""
    # Published figures: [1] Table 3, ILSVRC-2012 validation, single test scale,
    # training scale S = 256 (test Q = 256), top-1 / top-5 error (%).
    card = ModelCard(
        name=name,
        family="vgg",
        paper=_SIMONYAN2014,
        section=f"Table 1, configuration {label} ({layers_} weight layers)",
        input_shape=(224, 224, 3),
        num_classes=1000,
        trainable_params=params,
        default_recipe="simonyan2014",
        dataset="imagenet2012",
        published={"imagenet2012_val_top1_error": top1, "imagenet2012_val_top5_error": top5},
        published_source=f"Simonyan & Zisserman 2015, Table 3 ({label}, train S=256, "
        "test Q=256, single scale)",
        **card,
    )
    return MODELS.variant(vgg, card, {"config": config, "lrn": lrn})


# Exact trainable counts of what `vgg` builds; [1] Table 2 rounds them to 133, 133,
# 134, 138 and 144 million. D: conv 14,714,688 + fc1 25088*4096+4096 + fc2
# 4096*4097 + predictions 4097*1000 = 138,357,544, keras.applications.VGG16's count.
# C replaces three 3x3 convs by 1x1 ones: D - (256*256 + 2 * 512*512) * 8 = 133,638,952.
vgg11 = _simonyan("vgg11", "A", False, 132_863_336, 29.6, 10.4, "A", 11)
vgg11_lrn = _simonyan(
    "vgg11_lrn",
    "A",
    True,
    132_863_336,
    29.7,
    10.5,
    "A-LRN",
    11,
    notes="LRN (no weights) after the first convolution's ReLU; [1] §4.1 finds it "
    "does not help. LRN parameters of Krizhevsky et al. 2012 in their convention.",
)
vgg13 = _simonyan("vgg13", "B", False, 133_047_848, 28.7, 9.9, "B", 13)
vgg16_c = _simonyan(
    "vgg16_c",
    "C",
    False,
    133_638_952,
    28.1,
    9.4,
    "C",
    16,
    notes="1x1 convolutions (with ReLU) as the third layer of blocks 3, 4 and 5.",
)
vgg16 = _simonyan(
    "vgg16",
    "D",
    False,
    138_357_544,
    27.0,
    8.8,
    "D",
    16,
    notes="Layer names and weight shapes those of keras.applications.VGG16.",
    keras_application="VGG16",
)
vgg19 = _simonyan(
    "vgg19",
    "E",
    False,
    143_667_240,
    27.3,
    9.0,
    "E",
    19,
    notes="Layer names and weight shapes those of keras.applications.VGG19.",
    keras_application="VGG19",
)

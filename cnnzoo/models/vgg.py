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

import dataclasses
from collections.abc import Callable

import keras
from keras import layers

from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.models._common import check_builder_args, top_tail
from cnnzoo.registry import ModelCard, register_model

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
        include_top: whether to end with ``flatten``, ``fc1`` and ``fc2`` (ReLU,
            dropout 0.5) and the ``predictions`` classifier; without it the model
            ends at ``block5_pool``.
        input_shape: (height, width, channels), channels last; default (224, 224, 3).
            With the top, another size changes fc1's fan-in.
        pooling: with ``include_top=False``: ``None`` returns the ``block5_pool``
            map, ``"avg"`` / ``"max"`` global average / max pooling of it. Ignored
            when ``include_top=True`` (the Keras convention).
        classes: outputs of the classifier.
        classifier_activation: activation of the classifier (name or callable,
            ``None`` for logits).
        name: model name.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown config or pooling, a bad input_shape, an unknown
            classifier activation or channels-first data format.
    """
    if config not in CONFIGS:
        raise ValueError(f"unknown VGG config {config!r}; expected one of {tuple(CONFIGS)}")
    input_shape = check_builder_args(
        include_top, input_shape, pooling, classifier_activation, (224, 224, 3), "vgg"
    )

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for b, (filters, kernels) in enumerate(zip(BLOCK_FILTERS, CONFIGS[config], strict=True)):
        x = vgg_block(x, filters, kernels, lrn=lrn and b == 0, name=f"block{b + 1}")
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            x = layers.Dense(FC_UNITS, activation="relu", name=fc)(x)
            x = layers.Dropout(DROPOUT, name=f"{fc}_dropout")(x)
    x = top_tail(x, include_top, pooling, classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


# --------------------------------------------------------------------------- variants

_SIMONYAN2014 = (
    'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image '
    'Recognition", ICLR 2015 (arXiv:1409.1556)'
)


@dataclasses.dataclass(frozen=True)
class VggVariant:
    """One registered configuration: its Table 1 column, LRN or not, and its card."""

    config: str
    lrn: bool
    card: ModelCard


def _simonyan(name, config, lrn, params, top1, top5, label, layers_, note=""):
    # Published figures: [1] Table 3, ILSVRC-2012 validation, single test scale,
    # training scale S = 256 (test Q = 256), top-1 / top-5 error (%).
    return VggVariant(
        config,
        lrn,
        ModelCard(
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
            notes=note,
        ),
    )


# Exact trainable counts of what `vgg` builds; [1] Table 2 rounds them to 133, 133,
# 134, 138 and 144 million. D: conv 14,714,688 + fc1 25088*4096+4096 + fc2
# 4096*4097 + predictions 4097*1000 = 138,357,544, keras.applications.VGG16's count.
# C replaces three 3x3 convs by 1x1 ones: D - (256*256 + 2 * 512*512) * 8 = 133,638,952.
VARIANTS: dict[str, VggVariant] = {
    "vgg11": _simonyan("vgg11", "A", False, 132_863_336, 29.6, 10.4, "A", 11),
    "vgg11_lrn": _simonyan(
        "vgg11_lrn",
        "A",
        True,
        132_863_336,
        29.7,
        10.5,
        "A-LRN",
        11,
        note="LRN (no weights) after the first convolution's ReLU; [1] §4.1 finds it "
        "does not help. LRN parameters of Krizhevsky et al. 2012 in their convention.",
    ),
    "vgg13": _simonyan("vgg13", "B", False, 133_047_848, 28.7, 9.9, "B", 13),
    "vgg16_c": _simonyan(
        "vgg16_c",
        "C",
        False,
        133_638_952,
        28.1,
        9.4,
        "C",
        16,
        note="1x1 convolutions (with ReLU) as the third layer of blocks 3, 4 and 5.",
    ),
    "vgg16": _simonyan(
        "vgg16",
        "D",
        False,
        138_357_544,
        27.0,
        8.8,
        "D",
        16,
        note="Layer names and weight shapes those of keras.applications.VGG16.",
    ),
    "vgg19": _simonyan(
        "vgg19",
        "E",
        False,
        143_667_240,
        27.3,
        9.0,
        "E",
        19,
        note="Layer names and weight shapes those of keras.applications.VGG19.",
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
    ):
        return vgg(
            variant.config,
            lrn=variant.lrn,
            include_top=include_top,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
        )

    builder.__name__ = builder.__qualname__ = variant_name
    builder.__doc__ = (
        f"{variant_name}: {variant.card.section}; {variant.card.paper}.\n\n"
        "Args and returns as `vgg` (its `config` and `lrn` fixed by the variant)."
    )
    return register_model(variant.card)(builder)


vgg11 = _make_builder("vgg11")
vgg11_lrn = _make_builder("vgg11_lrn")
vgg13 = _make_builder("vgg13")
vgg16_c = _make_builder("vgg16_c")
vgg16 = _make_builder("vgg16")
vgg19 = _make_builder("vgg19")

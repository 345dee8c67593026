"""The baseline CNNs of W. Wu's 2016 thesis: a LeNet-like MNIST net and a CIFAR-10 net.

Paper:
    [1] W. Wu, "Image classification with deep residual learning", thesis, South
        China Normal University, 2016: §3.1.1 (the MNIST network), §3.2.1 (the
        CIFAR-10 network). Both are Caffe networks, listed there layer by layer.

The nets are written as [1] lists them, as a sequence of Caffe layers: each
convolutional `Stage` of a net is a convolution followed by its pooling and
ReLU *in the order given* (``order``), so the MNIST net has no nonlinearity in its
convolutional part at all and the CIFAR net applies pool1 before relu1 but relu2
and relu3 before their pools. Then ``flatten``, ``fc1``, ``fc1_relu`` and the
``predictions`` classifier (softmax by default).

Pooling: Caffe rounds pooled sizes up ("ceil mode"), so [1]'s 3x3 / 2 poolings
take 32x32 to 16x16, 8x8 and 4x4. Keras's ``padding="same"`` gives those sizes
with the same windows (the extra row and column at the bottom / right), and its
average pooling, like Caffe's here, divides by the number of pixels inside the
image. Convolutions are ``"valid"`` (MNIST) or ``"same"`` with 2-pixel padding
(CIFAR), as [1] lists them.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.models._common import ImageInput
from cnnzoo.models._variants import Catalog

_POOLS = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}
_STEPS = ("conv", "pool", "relu")

_INPUT = ImageInput("wu2016", (32, 32, 3))
MODELS = Catalog()


@dataclasses.dataclass(frozen=True)
class Stage:
    """One convolutional stage: conv{i}, pool{i} and (optionally) relu{i}, in `order`.

    Attributes:
        filters: output maps of the convolution.
        kernel_size: square kernel of the convolution (stride 1).
        conv_padding: ``"valid"`` or ``"same"``.
        pool: ``"max"`` or ``"avg"``.
        pool_size: square pooling window.
        pool_stride: pooling stride.
        pool_padding: ``"valid"``, or ``"same"`` for Caffe's ceil-mode sizes.
        order: the stage's layers in [1]'s order, a permutation of ``("conv",
            "pool", "relu")`` or of ``("conv", "pool")`` for a stage without ReLU.
    """

    filters: int
    kernel_size: int
    conv_padding: str
    pool: str
    pool_size: int
    pool_stride: int
    pool_padding: str
    order: tuple[str, ...]


def wu2016(
    stages,
    fc_units,
    include_top=True,
    input_shape=(32, 32, 3),
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="wu2016",
):
    """Build a Caffe-style plain CNN from a table of `Stage`s.

    Args:
        stages: sequence of `Stage`; stage i (from 1) names its layers ``conv{i}``,
            ``pool{i}``, ``relu{i}``.
        fc_units: width of the hidden fully connected layer ``fc1`` (ReLU ``fc1_relu``).
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``flatten``, ``fc1``, ``fc1_relu`` and ``predictions``; without it the
            model ends at the last stage. Default input 32x32x3.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for a malformed stage, an unknown pooling, a bad input_shape, an
            unknown classifier activation or channels-first data format.
    """
    for stage in stages:
        _check_stage(stage)
    inputs, top = _INPUT.start(include_top, input_shape, pooling, classes, classifier_activation)
    x = inputs
    for i, stage in enumerate(stages, start=1):
        for step in stage.order:
            x = _STEP_LAYERS[step](stage, i)(x)
    if top.include:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(fc_units, name="fc1")(x)
        x = layers.Activation("relu", name="fc1_relu")(x)
    return keras.Model(inputs, top(x), name=name)


def _check_stage(stage):
    """Raise unless `stage` is a well-formed `Stage`."""
    if stage.pool not in _POOLS:
        raise ValueError(f"unknown pool {stage.pool!r}; expected one of {tuple(_POOLS)}")
    steps = sorted(stage.order)
    if steps not in (sorted(_STEPS), ["conv", "pool"]) or stage.order[0] != "conv":
        raise ValueError(
            f"stage order must start with 'conv' and hold 'conv', 'pool' and at most "
            f"one 'relu', each once; got {stage.order!r}"
        )


# The layer each step of stage i makes, in [1]'s Caffe order.
_STEP_LAYERS = {
    "conv": lambda s, i: layers.Conv2D(
        s.filters, s.kernel_size, padding=s.conv_padding, name=f"conv{i}"
    ),
    "pool": lambda s, i: _POOLS[s.pool](
        s.pool_size, s.pool_stride, padding=s.pool_padding, name=f"pool{i}"
    ),
    "relu": lambda s, i: layers.Activation("relu", name=f"relu{i}"),
}


# --------------------------------------------------------------------------- variants

_WU = (
    'W. Wu, "Image classification with deep residual learning", thesis, '
    "South China Normal University, 2016"
)


def _wu(name, stages, fc_units, **card):
    """Declare `name`, a `wu2016` net, and its card; return its builder."""
    card = ModelCard(name=name, family="wu2016", paper=_WU, **card)
    return MODELS.variant(wu2016, card, {"stages": stages, "fc_units": fc_units})


# [1] §3.1.1: conv1 20@5x5, pool1 max 2x2/2, conv2 40@5x5, pool2 max 2x2/2,
# fc1 200 + ReLU, fc 10; no ReLU after the convolutions. 28 -> 24 -> 12 -> 8 -> 4.
# Params: 20*(25+1) + 40*(20*25+1) + 200*(4*4*40+1) + 10*(200+1)
# = 520 + 20,040 + 128,200 + 2,010 = 150,770.
wu2016_mnist = _wu(
    "wu2016_mnist",
    (
        Stage(20, 5, "valid", "max", 2, 2, "valid", ("conv", "pool")),
        Stage(40, 5, "valid", "max", 2, 2, "valid", ("conv", "pool")),
    ),
    200,
    section="§3.1.1 (MNIST network: 2 conv + pool stages, FC 200, FC 10)",
    input_shape=(28, 28, 1),
    num_classes=10,
    trainable_params=150_770,
    default_recipe="wu2016_mnist_caffe",
    dataset="mnist",
    # 99.14% test accuracy.
    published={"mnist_test_error": 0.86},
    published_source="W. Wu 2016, §3.1.1: 99.14% MNIST test accuracy",
    notes="As the thesis lists it: no nonlinearity between the convolutional "
    "layers, only after fc1 (the layout of Caffe's MNIST LeNet example, narrower).",
)
# [1] §3.2.1: conv1 24@5x5 pad 2, pool1 max 3x3/2, relu1; conv2 32@5x5 pad 2, relu2,
# pool2 avg 3x3/2; conv3 64@5x5 pad 2, relu3, pool3 avg 3x3/2; fc1 64 + ReLU; fc 10.
# 32 -> 16 -> 8 -> 4 (ceil mode). Params: 24*(75+1) + 32*(24*25+1) + 64*(32*25+1)
# + 64*(4*4*64+1) + 10*(64+1) = 1,824 + 19,232 + 51,264 + 65,600 + 650 = 138,570.
wu2016_cifar = _wu(
    "wu2016_cifar",
    (
        Stage(24, 5, "same", "max", 3, 2, "same", ("conv", "pool", "relu")),
        Stage(32, 5, "same", "avg", 3, 2, "same", ("conv", "relu", "pool")),
        Stage(64, 5, "same", "avg", 3, 2, "same", ("conv", "relu", "pool")),
    ),
    64,
    section="§3.2.1 (CIFAR-10 network: 3 conv stages, FC 64, FC 10)",
    input_shape=(32, 32, 3),
    num_classes=10,
    trainable_params=138_570,
    default_recipe="wu2016_cifar",
    dataset="cifar10",
    # 74.90% test accuracy.
    published={"cifar10_test_error": 25.1},
    published_source="W. Wu 2016, §3.2.1: 74.90% CIFAR-10 test accuracy",
    notes="The layout of Caffe's cifar10_quick example (24 conv1 maps, a ReLU "
    "after fc1): pool1 before relu1, relu2/relu3 before their (average) pools; "
    "ceil-mode pooling reproduced with padding='same' (32 -> 16 -> 8 -> 4).",
)

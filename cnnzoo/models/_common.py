"""What the model families share: keras.applications' arguments and top, names, blocks.

keras.applications' arguments. Every public builder takes ``include_top``,
``input_shape``, ``pooling``, ``classes``, ``classifier_activation`` and ``name``
(see the Keras ``applications`` modules), with one meaning across the zoo:

    include_top: end with the family's top (its own layers, then the fully
        connected ``predictions`` classifier); without it the model ends at the
        family's last feature map, or at its pooling.
    input_shape: (height, width, channels), channels last; ``None`` for the card's
        default. A family may need a minimum size (its valid convolutions and
        poolings); with a flattening top, another size changes the first fully
        connected layer's fan-in.
    pooling: with ``include_top=False``: ``None`` returns the last 4-D feature map,
        ``"avg"`` (``avg_pool``) or ``"max"`` (``max_pool``) its global average or max
        pooling. Ignored when ``include_top=True`` (the Keras convention).
    classes: outputs of the classifier (and of any auxiliary classifier).
    classifier_activation: activation of the classifiers (name or callable, ``None``
        for logits).
    name: model name.

`ImageInput.start` checks them the same way in every family and `Top` ends the
model, so layer names and error messages agree across the zoo. `AutoNames` gives
the layers keras.applications leaves unnamed the names Keras would, and the
convolution helpers name their layers the keras.applications way. Last come the
blocks that several Inception families share: `conv_bn`, reduction-A (Inception-v4
and Inception-ResNet), and keras.applications' Inception-v3 stem and 35x35 module
(InceptionV3 and InceptionResNetV2).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import keras
from keras import layers

from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.recursion import recursion_limit  # noqa: F401  (the families' import)

POOLINGS = (None, "avg", "max")


# --------------------------------------------------------------------------- arguments


@dataclasses.dataclass(frozen=True)
class Top:
    """How a builder ends: keras.applications' ``include_top``, ``pooling``, ``classes``.

    Attributes:
        include: `include_top`.
        pooling: ``None``, ``"avg"`` or ``"max"`` (used without the top).
        classes: outputs of the classifier.
        activation: the classifier's activation (``None`` for logits).
    """

    include: bool
    pooling: str | None
    classes: int
    activation: Any

    def __call__(self, x, *, global_pool=False, dropout=0.0, dropout_name="top_dropout"):
        """End the model on `x`: the classifier with the top, the pooling without.

        Args:
            x: with the top, the flat (batch, features) tensor the classifier reads,
                or the last 4-D map when `global_pool`; without, the last 4-D map.
            global_pool: with the top, global average pooling (``avg_pool``) first.
            dropout: with the top, the dropout rate before the classifier (0: none).
            dropout_name: that dropout layer's name.

        Returns:
            Output tensor of ``predictions``, `x` itself, or the pooled tensor.
        """
        if self.include:
            if global_pool:
                x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            if dropout:
                x = layers.Dropout(dropout, name=dropout_name)(x)
            return self.classifier(x, "predictions")
        if self.pooling == "avg":
            return layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if self.pooling == "max":
            return layers.GlobalMaxPooling2D(name="max_pool")(x)
        return x

    def classifier(self, x, name):
        """A fully connected classifier `name` (``predictions``, or an auxiliary one)."""
        return layers.Dense(self.classes, activation=self.activation, name=name)(x)

    def check_aux_heads(self, aux_heads):
        """Raise if auxiliary classifiers are asked for without the top.

        Raises:
            ValueError: `aux_heads` with ``include_top=False``.
        """
        if aux_heads and not self.include:
            raise ValueError("aux_heads=True needs include_top=True (the heads are classifiers)")


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """A family's image input: its name in error messages, default shape, smallest size.

    Attributes:
        family: builder name for the error messages, e.g. ``"vgg"``.
        default: (height, width, channels) used when `input_shape` is ``None``.
        min_size: the smallest height and width the family builds (its valid
            convolutions and poolings), or None.
    """

    family: str
    default: tuple[int, int, int]
    min_size: int | None = None

    def start(self, include_top, input_shape, pooling, classes, classifier_activation):
        """Check keras.applications' arguments; return the model's input and its `Top`.

        Args:
            include_top, input_shape, pooling, classes, classifier_activation: the
                builder's arguments (module docstring). The activation is checked
                only with the top, as it is unused without.

        Returns:
            (``keras.Input`` of the checked shape, `Top`).

        Raises:
            ValueError: for an unknown pooling, an input_shape not of length 3 or under
                `min_size`, an unknown classifier activation or channels-first format.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
        input_shape = self.default if input_shape is None else tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
        if keras.config.image_data_format() != "channels_last":
            raise ValueError(f"{self.family} builds channels-last models only")
        small = [d for d in input_shape[:2] if d is not None and d < (self.min_size or 0)]
        if small:
            raise ValueError(
                f"{self.family} needs inputs of at least {self.min_size}x{self.min_size} "
                f"pixels, got input_shape={input_shape}"
            )
        if include_top:
            # Fails early, with Keras's message, on an unknown activation name.
            keras.activations.get(classifier_activation)
        top = Top(bool(include_top), pooling, classes, classifier_activation)
        return keras.Input(shape=input_shape), top


def check_choice(value, choices, what):
    """Raise unless `value` is one of `choices`.

    Raises:
        ValueError: ``unknown {what} {value!r}; expected one of {choices}``.
    """
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {tuple(choices)}")


def choice_or_default(value, default, choices, what):
    """`value`, or `default` for ``None``, checked with `check_choice`."""
    value = default if value is None else value
    check_choice(value, choices, what)
    return value


# --------------------------------------------------------------------------- names


class AutoNames:
    """The names Keras gives unnamed layers in a fresh session, from a counter of our own.

    keras.applications' InceptionV3, InceptionResNetV2 and Xception leave many layers
    unnamed; Keras calls the first unnamed ``Conv2D`` ``conv2d``, the next ``conv2d_1``
    and so on (`keras.src.utils.naming.uniquify`), counting per name across the whole
    process. Calling an `AutoNames` with ``"conv2d"`` returns the same sequence, but
    counted per model, so a cnnzoo model's names are stable and equal to those of a
    keras.applications model built first in its process.
    """

    def __init__(self):
        self._count: collections.Counter[str] = collections.Counter()

    def __call__(self, prefix: str) -> str:
        """The next name for an unnamed layer whose class snake-cases to `prefix`."""
        n = self._count[prefix]
        self._count[prefix] += 1
        return prefix if n == 0 else f"{prefix}_{n}"


def layer_name(name, suffix, auto_prefix):
    """``f"{name}_{suffix}"`` for a str prefix, or the next Keras name for an `AutoNames`."""
    if isinstance(name, AutoNames):
        return name(auto_prefix)
    return f"{name}_{suffix}"


def sub_name(auto, name, branch, j):
    """The `auto` names, or ``{name}_b{branch}_{j}``: the j-th layer of a module's branch."""
    return auto if auto is not None else f"{name}_b{branch}_{j}"


# --------------------------------------------------------------------------- layers


def caffe_conv(x, filters, kernel_size, stride, kernel_initializer, name, use_bias=False):
    """Convolution ``{name}_conv``, padded as Caffe and Torch pad the papers' nets.

    Keras's "same" pads a strided convolution asymmetrically (more on the bottom
    right); the papers' code pads ``kernel_size // 2`` on every side. The two give
    different outputs and different weights' meaning, so a strided conv gets an
    explicit ``{name}_pad`` and "valid" padding.
    """
    padding = "same"
    if stride > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )(x)


def batch_norm(x, name, epsilon, momentum):
    """BatchNormalization ``{name}_bn`` over the channels."""
    return FusedBatchNormalization(axis=-1, epsilon=epsilon, momentum=momentum, name=f"{name}_bn")(
        x
    )


def relu(x, name):
    """ReLU ``{name}_relu``."""
    return layers.Activation("relu", name=f"{name}_relu")(x)


def conv_bn(x, filters, kernel_size, strides=1, padding="same", *, name, scale=False):
    """Conv2D without bias, BatchNormalization and ReLU: the unit of every Inception net.

    Args:
        x: input tensor.
        filters: output channels.
        kernel_size: int or (rows, cols), e.g. ``(1, 7)``.
        strides: convolution stride.
        padding: ``"same"`` or ``"valid"``.
        name: a str prefix (layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``)
            or an `AutoNames` (``conv2d_N``, ``batch_normalization_N``,
            ``activation_N``: keras.applications' unnamed ``conv2d_bn``).
        scale: whether BatchNormalization has a scale (gamma) as well as an offset.

    Returns:
        The ReLU's output tensor.
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        name=layer_name(name, "conv", "conv2d"),
    )(x)
    x = FusedBatchNormalization(scale=scale, name=layer_name(name, "bn", "batch_normalization"))(x)
    return layers.Activation("relu", name=layer_name(name, "relu", "activation"))(x)


def reduction_a(x, filters, name, auto=None, scale=False):
    """Reduction-A of Szegedy et al. 2017 (Inception-v4, Inception-ResNet) Figure 7: 35x35 -> 17x17.

    The branches are in TF-slim's (and keras.applications') order: the n-filter
    3x3 / 2, the 1x1 k -> 3x3 l -> 3x3 / 2 m stack, then 3x3 / 2 max pooling.

    Args:
        x: the 35x35 input.
        filters: (k, l, m, n) of the paper's Table 1.
        name: name of the concatenation, and prefix of the other layers.
        auto: an `AutoNames` to draw keras.applications' names from (the other
            layers are then unnamed there), or None for ``{name}_b{i}_{j}`` names.
        scale: BatchNormalization with a scale (see `conv_bn`).

    Returns:
        The concatenated 17x17 output (n + m + input channels).
    """
    k, mid, m, n = filters
    b0 = conv_bn(x, n, 3, strides=2, padding="valid", name=sub_name(auto, name, 0, 1), scale=scale)
    b1 = conv_bn(x, k, 1, name=sub_name(auto, name, 1, 1), scale=scale)
    b1 = conv_bn(b1, mid, 3, name=sub_name(auto, name, 1, 2), scale=scale)
    b1 = conv_bn(b1, m, 3, strides=2, padding="valid", name=sub_name(auto, name, 1, 3), scale=scale)
    pool_name = auto("max_pooling2d") if auto is not None else f"{name}_b2_pool"
    b2 = layers.MaxPooling2D(3, strides=2, padding="valid", name=pool_name)(x)
    return layers.Concatenate(name=name)([b0, b1, b2])


def inception_v3_stem(x, auto):
    """keras.applications' Inception-v3 stem, unnamed layers from `auto`: 299 -> 35x35x192.

    Szegedy et al. 2016 ("Rethinking the Inception Architecture") Table 1: 299 -> 149
    -> 147 -> 147 -> 73 -> 73 -> 71 -> 35. keras.applications' InceptionResNetV2 (the
    authors' TF-slim code) starts with it too.
    """
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name=auto)
    x = conv_bn(x, 32, 3, padding="valid", name=auto)
    x = conv_bn(x, 64, 3, name=auto)
    x = layers.MaxPooling2D(3, strides=2, name=auto("max_pooling2d"))(x)
    x = conv_bn(x, 80, 1, padding="valid", name=auto)
    x = conv_bn(x, 192, 3, padding="valid", name=auto)
    return layers.MaxPooling2D(3, strides=2, name=auto("max_pooling2d"))(x)


def inception_module_35(x, filters_1x1, pool_filters, name, auto):
    """keras.applications' 35x35 Inception module, unnamed layers from `auto`.

    1x1 `filters_1x1` | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | 3x3 average
    pooling -> 1x1 `pool_filters`: Szegedy et al. 2016 ("Rethinking") Figure 5 with the
    5x5 kept in one branch, as in the authors' code. InceptionV3's mixed0-2 have 64
    on the 1x1 branch, InceptionResNetV2's mixed_5b 96.
    """
    b1 = conv_bn(x, filters_1x1, 1, name=auto)
    b5 = conv_bn(x, 48, 1, name=auto)
    b5 = conv_bn(b5, 64, 5, name=auto)
    b3 = conv_bn(x, 64, 1, name=auto)
    b3 = conv_bn(b3, 96, 3, name=auto)
    b3 = conv_bn(b3, 96, 3, name=auto)
    bp = layers.AveragePooling2D(3, strides=1, padding="same", name=auto("average_pooling2d"))(x)
    bp = conv_bn(bp, pool_filters, 1, name=auto)
    return layers.Concatenate(name=name)([b1, b5, b3, bp])

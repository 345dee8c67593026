"""What every model family shares: the keras.applications argument checks and top.

Each public builder takes keras.applications' `include_top`, `input_shape`,
`pooling`, `classes`, `classifier_activation` and `name` (see the Keras
``applications`` modules). `check_builder_args` validates them the same way in
every family and `top_tail` ends the model (the ``predictions`` classifier, or
the ``include_top=False`` pooling), so layer names and error messages agree
across the zoo.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnzoo.layers.batch_norm import FusedBatchNormalization

POOLINGS = (None, "avg", "max")


def check_builder_args(
    include_top, input_shape, pooling, classifier_activation, default_shape, family
):
    """Validate the keras.applications-style arguments of a builder.

    Args:
        include_top: the builder's `include_top`; the classifier activation is
            checked only with the top, as it is unused without.
        input_shape: the builder's `input_shape`, or ``None`` for `default_shape`.
        pooling: ``None``, ``"avg"`` or ``"max"``.
        classifier_activation: activation name or callable (``None`` for logits).
        default_shape: (height, width, channels) used when `input_shape` is ``None``.
        family: builder name for the error messages, e.g. ``"vgg"``.

    Returns:
        The input shape to build with, a 3-tuple.

    Raises:
        ValueError: for an unknown pooling, an input_shape not of length 3, an
            unknown classifier activation or channels-first data format.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    input_shape = default_shape if input_shape is None else tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(f"{family} builds channels-last models only")
    if include_top:
        # Fails early, with Keras's message, on an unknown activation name.
        keras.activations.get(classifier_activation)
    return input_shape


def top_tail(x, include_top, pooling, classes, classifier_activation):
    """End a builder the keras.applications way: the classifier, or the pooling.

    The family's own top layers (flatten, hidden fully connected layers, a global
    pooling) come before it, under ``if include_top``.

    Args:
        x: with `include_top`, the flat (batch, features) tensor the classifier
            reads; without, the last 4-D feature map.
        include_top: end with the fully connected ``predictions`` layer; otherwise
            apply `pooling` (ignored with the top, the Keras convention).
        pooling: ``None`` (return `x`), ``"avg"`` (``avg_pool``, global average
            pooling) or ``"max"`` (``max_pool``, global max pooling).
        classes: outputs of the classifier.
        classifier_activation: its activation (name or callable, ``None`` for logits).

    Returns:
        Output tensor of ``predictions``, `x` itself, or the pooled (batch, channels)
        tensor.
    """
    if include_top:
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


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

"""Scaled residual addition for the Inception-ResNet networks.

Szegedy, Ioffe, Vanhoucke & Alemi 2016, "Inception-v4, Inception-ResNet and
the Impact of Residual Connections on Learning", §3.3 and Figure 20: with more
than about 1000 filters the residual networks "simply died early in the
training"; "scaling down the residuals before adding them to the previous layer
activation seemed to stabilize the training", with "scaling factors between 0.1
and 0.3". `ResidualScaling` is that addition: ``shortcut + scale * branch``.
"""

from __future__ import annotations

import math
import numbers

import keras


@keras.saving.register_keras_serializable(package="cnnzoo")
class ResidualScaling(keras.layers.Layer):
    """``shortcut + scale * branch``: the scaled residual addition of Szegedy et al. 2016 §3.3.

    Called on a pair ``[shortcut, branch]`` of tensors of one shape. The scale is
    a constant, not a weight: the layer has no weights, so a model using it has
    the weights of keras.applications' InceptionResNetV2, whose scaling layer
    (``CustomScaleLayer``, a ``Lambda`` in older Keras) has none either, and it
    computes the same ``inputs[0] + inputs[1] * scale``. It serializes, so saved
    ``.keras`` files load with ``safe_mode=True`` once `cnnzoo` is imported (a
    ``Lambda`` would not).

    Args:
        scale: the factor of the residual branch; a finite number (the paper uses
            0.1-0.3; 1.0 is the plain residual addition).
        **kwargs: standard `keras.layers.Layer` arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        if (
            not isinstance(scale, numbers.Real)
            or isinstance(scale, bool)
            or not math.isfinite(scale)
        ):
            raise ValueError(f"scale must be a finite number, got {scale!r}")
        self.scale = float(scale)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"{self.name}: expected a pair [shortcut, branch] of inputs, got {input_shape}"
            )
        shortcut, branch = (tuple(s) for s in input_shape)
        if len(shortcut) != len(branch) or any(
            a is not None and b is not None and a != b
            for a, b in zip(shortcut, branch, strict=True)
        ):
            raise ValueError(
                f"{self.name}: shortcut and branch must have one shape, got {shortcut} and {branch}"
            )
        self.built = True

    def call(self, inputs):
        shortcut, branch = inputs
        # The same expression, in the same order, as keras.applications'
        # CustomScaleLayer, so transplanted weights give bit-identical sums.
        return shortcut + branch * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config

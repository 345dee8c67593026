"""Layers the papers need and Keras does not ship; all serializable without custom_objects.

Importing this package registers every layer with `keras.saving`, so a saved
``.keras`` file that uses them loads with `keras.saving.load_model` alone.
"""

from cnnzoo.layers.activations import scaled_tanh
from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.layers.residual_scaling import ResidualScaling
from cnnzoo.layers.shortcuts import ZeroPadShortcut
from cnnzoo.layers.stochastic_pooling import StochasticPooling2D

__all__ = [
    "FusedBatchNormalization",
    "LocalResponseNormalization",
    "ResidualScaling",
    "StochasticPooling2D",
    "ZeroPadShortcut",
    "scaled_tanh",
]

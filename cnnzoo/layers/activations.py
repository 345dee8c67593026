"""Activation functions of the papers, registered so saved models load in safe mode."""

from __future__ import annotations

import keras
from keras import ops

# LeCun et al. 1998, Appendix A: "A is chosen to be 1.7159", "S = 2/3", so that
# f(1) = 1 and f(-1) = -1 and the second derivative is largest at +-1.
SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0


@keras.saving.register_keras_serializable(package="cnnzoo", name="scaled_tanh")
def scaled_tanh(x):
    """LeCun et al. 1998 Appendix A's squashing function, ``1.7159 * tanh(2/3 * x)``.

    Lives in `cnnzoo.layers` (imported by `import cnnzoo`) so that a saved LeNet-5
    finds it by name (``"cnnzoo>scaled_tanh"``) when loaded.

    Args:
        x: a tensor.

    Returns:
        The tensor, squashed element-wise into (-1.7159, 1.7159).
    """
    return SCALED_TANH_A * ops.tanh(SCALED_TANH_S * x)

"""Local response normalization across channels (AlexNet).

Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep
convolutional neural networks", §3.3:

    b^i_{x,y} = a^i_{x,y} / (k + α Σ_{j=max(0, i−n/2)}^{min(N−1, i+n/2)} (a^j_{x,y})²)^β

with k = 2, n = 5, α = 1e-4, β = 0.75 in the paper. The paper multiplies α by
the plain sum; Caffe's ``LRN`` layer, PyTorch's ``nn.LocalResponseNorm`` and
``tf.nn.local_response_normalization(depth_radius=n // 2, alpha=α / n)`` divide
it by n first, so the same α means a normalisation n times weaker there.
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

from cnnzoo.layers._checks import channels_last

ALPHA_CONVENTIONS = ("paper", "caffe")


@keras.saving.register_keras_serializable(package="cnnzoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Cross-channel local response normalization, channels-last (Krizhevsky et al. 2012 §3.3).

    Each activation is divided by ``(k + α' · S)^β``, where ``S`` is the sum of
    squares over the ``size`` channels centred on it (the window is cut at the
    first and last channel, not wrapped or zero-weighted differently), and
    ``α' = alpha`` under ``alpha_convention="paper"`` (the AlexNet formula) or
    ``α' = alpha / size`` under ``alpha_convention="caffe"`` (Caffe, PyTorch
    ``nn.LocalResponseNorm``, and ``tf.nn.local_response_normalization`` with
    ``depth_radius=size // 2, bias=k, alpha=alpha / size``).

    The windowed sum and the power are computed in float32 whatever the dtype
    policy: under ``mixed_float16`` the squares of activations above ~256
    overflow float16 and the whole output becomes inf/NaN. The output is cast
    back to the layer's compute dtype. The window sum uses padding and shifted
    slices, so the layer compiles under XLA (``jit_compile=True``), unlike
    ``tf.nn.local_response_normalization``. It has no weights.

    Inputs are channels-last tensors of any rank >= 2, e.g. (batch, height,
    width, channels); the output has the input's shape.

    Args:
        size: n, the number of channels in the window; an odd int >= 1.
        k: the additive constant (the paper's k, "bias" in TensorFlow); > 0.
        alpha: the scale α of the sum of squares; >= 0.
        beta: the exponent β; >= 0.
        alpha_convention: "paper" (α multiplies the sum) or "caffe" (α / size does).
        **kwargs: standard `keras.layers.Layer` arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        size: int = 5,  # §3.3: "k = 2, n = 5, α = 10^-4, and β = 0.75"
        k: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        alpha_convention: str = "paper",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
            raise ValueError(
                f"size must be an odd positive int (the window is centred on each "
                f"channel), got {size!r}"
            )
        for arg, value, lowest, strict in (
            ("k", k, 0.0, True),
            ("alpha", alpha, 0.0, False),
            ("beta", beta, 0.0, False),
        ):
            if (
                not isinstance(value, numbers.Real)
                or isinstance(value, bool)
                or not math.isfinite(value)
            ):
                raise ValueError(f"{arg} must be a finite number, got {value!r}")
            if value < lowest or (strict and value == lowest):
                bound = "> 0" if strict else ">= 0"
                raise ValueError(f"{arg} must be {bound}, got {value!r}")
        if alpha_convention not in ALPHA_CONVENTIONS:
            raise ValueError(
                f"alpha_convention must be one of {ALPHA_CONVENTIONS}, got {alpha_convention!r}"
            )
        self.size = int(size)
        self.k = float(k)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.alpha_convention = alpha_convention

    @property
    def effective_alpha(self) -> float:
        """The factor that multiplies the plain windowed sum of squares."""
        return self.alpha if self.alpha_convention == "paper" else self.alpha / self.size

    def build(self, input_shape):
        channels_last(self.name, input_shape)
        self.built = True

    def call(self, inputs):
        # float32 at least (float16 squares overflow); float64 inputs stay float64.
        wide = (
            "float64" if keras.backend.standardize_dtype(inputs.dtype) == "float64" else "float32"
        )
        x = ops.cast(inputs, wide)
        squares = ops.square(x)
        channels = x.shape[-1]
        half = self.size // 2
        # Zero channels on both sides make every window `size` long, so the sum of
        # shifted slices equals the paper's sum clipped to [0, N-1].
        pad = [[0, 0]] * (len(x.shape) - 1) + [[half, half]]
        padded = ops.pad(squares, pad)
        window_sum = padded[..., 0:channels]
        for offset in range(1, self.size):
            window_sum = window_sum + padded[..., offset : offset + channels]
        scale = ops.power(self.k + self.effective_alpha * window_sum, -self.beta)
        return ops.cast(x * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "k": self.k,
                "alpha": self.alpha,
                "beta": self.beta,
                "alpha_convention": self.alpha_convention,
            }
        )
        return config

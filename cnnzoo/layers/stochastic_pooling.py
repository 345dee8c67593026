"""Stochastic pooling (Zeiler & Fergus 2013).

Zeiler & Fergus 2013, "Stochastic pooling for regularization of deep
convolutional neural networks", §3 (eqs. 3-4) and §3.1 (eq. 5); also W. Wu's
2016 thesis §1.4.3. In training, each pooling region R_j outputs one of its
activations a_k sampled with probability p_k = a_k / Σ_{l∈R_j} a_l; at test time
it outputs the probabilistic weighted average Σ_{k∈R_j} p_k a_k. The paper
assumes non-negative (post-ReLU) activations.
"""

from __future__ import annotations

import keras
from keras import ops

from cnnzoo.layers._checks import channels_last

PADDINGS = ("valid", "same")


def _pair(value, arg: str) -> tuple[int, int]:
    """Normalise an int or a pair of ints to a pair of positive ints."""
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)):
        pair = tuple(value)
    else:
        pair = ()
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"{arg} must be a positive int or a pair of them, got {value!r}")
    return pair


def _pooled_size(size, pool: int, stride: int, padding: str):
    """Output length along one axis, as MaxPooling2D computes it."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return max((size - pool) // stride + 1, 0)


@keras.saving.register_keras_serializable(package="cnnzoo")
class StochasticPooling2D(keras.layers.Layer):
    """2-D stochastic pooling over channels-last inputs (Zeiler & Fergus 2013).

    Negative activations are clipped to 0 first (the paper assumes post-ReLU
    inputs). With ``training=True`` each window outputs one of its activations,
    drawn with probability ``p_i = a_i / Σ_j a_j``; with ``training=False`` (the
    default outside ``fit``) it outputs ``Σ_i p_i a_i = Σ a² / Σ a``. A window
    whose activations are all zero outputs 0 in both modes. With
    ``padding="same"`` the padded positions are zeros, which carry probability 0,
    so they never change the result. The output shape is MaxPooling2D's for the
    same arguments. It has no weights; the probabilities are computed in float32
    (sums of squares overflow float16) and cast back to the compute dtype.

    Args:
        pool_size: window size, an int or (height, width).
        strides: step between windows, an int or (height, width).
        padding: "valid" or "same", as in `keras.layers.MaxPooling2D`.
        seed: int seed of the layer's `keras.random.SeedGenerator`, for
            reproducible sampling; None draws a random seed.
        **kwargs: standard `keras.layers.Layer` arguments (``name``, ``dtype``, ...).

    The defaults are overlapping 3×3 windows with stride 2.
    """

    def __init__(self, pool_size=3, strides=2, padding: str = "valid", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides")
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.padding = padding
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        channels_last(self.name, input_shape, rank=4)
        self.built = True

    def _windows(self, x):
        """(batch, out_h, out_w, pool_h * pool_w, channels) windows of the clipped input."""
        channels = x.shape[-1]
        patches = ops.image.extract_patches(
            x,
            size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
        )
        # extract_patches flattens each window as (row, column, channel), channel fastest.
        shape = ops.shape(patches)
        window = self.pool_size[0] * self.pool_size[1]
        return ops.reshape(patches, (shape[0], shape[1], shape[2], window, channels))

    def call(self, inputs, training=False):
        x = ops.relu(ops.cast(inputs, "float32"))
        windows = self._windows(x)
        if training:
            # Inverse-CDF sampling: the first position whose cumulative sum exceeds
            # u · total, u ~ U[0, 1). Zero activations add nothing to the cumulative
            # sum, so they can never be the first to exceed it (strict >).
            cumulative = ops.cumsum(windows, axis=-2)
            total = cumulative[..., -1:, :]
            shape = ops.shape(total)
            u = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator)
            exceeded = ops.cast(cumulative > u * total, "int32")
            # argmax returns the first maximum; an all-zero window has no True and
            # picks position 0, whose value is 0.
            index = ops.argmax(exceeded, axis=-2)
            pooled = ops.squeeze(
                ops.take_along_axis(windows, ops.expand_dims(index, -2), axis=-2), -2
            )
        else:
            total = ops.sum(windows, axis=-2)
            squares = ops.sum(ops.square(windows), axis=-2)
            positive = total > 0
            pooled = ops.where(positive, squares / ops.where(positive, total, 1.0), 0.0)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            _pooled_size(height, self.pool_size[0], self.strides[0], self.padding),
            _pooled_size(width, self.pool_size[1], self.strides[1], self.padding),
            channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "seed": self.seed,
            }
        )
        return config

"""Parameter-free shortcut layers for residual networks.

He et al. 2016, "Deep residual learning for image recognition", §3.3 option (A):
"The shortcut still performs identity mapping, with extra zero entries padded for
increasing dimensions. This option introduces no extra parameter"; when the
shortcut goes across feature maps of two sizes it is "performed with a stride
of 2". `ZeroPadShortcut` is that shortcut.
"""

from __future__ import annotations

import keras
from keras import ops

from cnnzoo.layers._checks import channels_last

# How the option-A shortcut halves the size: take every other position, or the
# maximum of each window (seed 003 §5.4).
SUBSAMPLES = ("stride", "max_pool")


@keras.saving.register_keras_serializable(package="cnnzoo")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut that subsamples space and zero-pads channels (option A).

    The output is ``x[:, ::strides, ::strides, :]`` followed by
    ``filters - channels`` all-zero channels appended at the end of the channel
    axis, the same as fb.resnet.torch's ``SpatialAveragePooling(1, 1, s, s)`` +
    ``Concat(Identity, MulConstant(0))``. It has no weights, so the shortcut
    adds no parameters; for inputs of odd size it keeps ``ceil(size / strides)``
    positions, the size a "same"-padded strided convolution produces.

    Inputs are channels-last, (batch, height, width, channels).

    The survey (seed 003, §5.4) describes the size-halving shortcut as a stride-2
    *max pooling* instead: ``subsample="max_pool"`` takes the maximum of each
    ``strides`` x ``strides`` window ("same" padding, so the same output size).

    Args:
        filters: number of output channels; at least the number of input channels.
        strides: spatial subsampling factor (positive int).
        subsample: ``"stride"`` (default: every ``strides``-th position, He et al.
            and fb.resnet.torch) or ``"max_pool"`` (the survey's).
        **kwargs: standard `keras.layers.Layer` arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, filters: int, strides: int = 1, subsample: str = "stride", **kwargs):
        super().__init__(**kwargs)
        if subsample not in SUBSAMPLES:
            raise ValueError(f"subsample must be one of {SUBSAMPLES}, got {subsample!r}")
        self.subsample = subsample
        if int(filters) != filters or filters < 1:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        if int(strides) != strides or strides < 1:
            raise ValueError(f"strides must be a positive int, got {strides!r}")
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = channels_last(self.name, input_shape, rank=4)
        if channels > self.filters:
            raise ValueError(
                f"{self.name}: cannot zero-pad {channels} channels down to "
                f"filters={self.filters}; expected filters >= input channels"
            )
        self.built = True

    def call(self, inputs):
        x = inputs
        if self.strides > 1 and self.subsample == "max_pool":
            x = ops.max_pool(x, self.strides, self.strides, padding="same")
        elif self.strides > 1:
            # x[:, ::s, ::s, :] as a 1x1 average pooling of stride s: the same values
            # (the mean of one value), computed by oneDNN's pooling kernel, where
            # TensorFlow's strided slice took 7.4 against 2.2 ms for a 256x32x32x16
            # float32 batch (5.8 against 1.7 in bfloat16; 2-core Xeon): 14% of
            # ResNet-20's inference time went to its two subsampling shortcuts.
            x = ops.average_pool(x, pool_size=1, strides=self.strides, padding="valid")
        extra = self.filters - inputs.shape[-1]
        if extra > 0:
            # ops.pad keeps the input dtype, so the zeros follow the compute dtype
            # (float16 under a mixed policy) and the Add that follows sees one dtype.
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return x

    def compute_output_shape(self, input_shape):
        def subsample(size):
            return None if size is None else -(-size // self.strides)

        batch, height, width, _ = input_shape
        return (batch, subsample(height), subsample(width), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        if self.subsample != "stride":
            # Only when set: the configs of every model saved before it existed stay as they were.
            config["subsample"] = self.subsample
        return config

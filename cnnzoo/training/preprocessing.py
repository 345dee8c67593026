"""The recipe's input preprocessing, as the first layers of the trained model.

Putting the preprocessing inside the model means evaluation, export and apps
feed raw pixels and always use the numbers the model was trained with. Only
built-in Keras layers are used, so the head serializes without custom objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np


def _rescale(scale: float, offset: float = 0.0):
    def layers(train_images):
        return [keras.layers.Rescaling(scale, offset=offset, name="preprocess_scale")]

    return layers


def _mean(per_pixel: bool, unscaled: bool):
    """Subtract the training images' per-pixel or per-channel mean (on [0,1] or [0,255])."""

    def layers(train_images):
        from cnnzoo.pipelines import stats

        if per_pixel:
            mean, axis = stats.per_pixel_mean(train_images), (1, 2, 3)
        else:
            mean, axis = stats.channel_mean_std(train_images)[0], -1
        if unscaled:
            mean = mean * np.float32(255.0)
        norm = keras.layers.Normalization(
            axis=axis, mean=mean, variance=np.ones_like(mean), name="preprocess_mean"
        )
        return [norm] if unscaled else [_scale_01(), norm]

    return layers


def _standardize(per_pixel: bool):
    """(x/255 - mean) / std, with the training images' per-channel or per-dimension statistics."""

    def layers(train_images):
        from cnnzoo.pipelines import stats

        if per_pixel:
            (mean, std), axis = stats.per_pixel_mean_std(train_images), (1, 2, 3)
        else:
            (mean, std), axis = stats.channel_mean_std(train_images), -1
        # W. Wu's thesis §2.1: a dimension of variance 0 (MNIST's always-blank
        # corners) is shifted, not scaled; Keras would divide it by 1e-7.
        std = np.where(std > 0, std, np.float32(1.0))
        norm = keras.layers.Normalization(
            axis=axis, mean=mean, variance=np.square(std), name="preprocess_standardize"
        )
        return [_scale_01(), norm]

    return layers


def _scale_01():
    return keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale")


class Preprocessor(NamedTuple):
    """``layers(train_images) -> [keras layers]``, and whether it needs those images."""

    layers: Callable[[np.ndarray | None], list]
    needs_images: bool = False


# Mode (`cnnzoo.training.recipe.PREPROCESSING`) -> its layers.
PREPROCESSORS = {
    # He et al. 2016 §4.2: subtract the training set's per-pixel mean ([0, 1] pixels).
    "per_pixel_mean": Preprocessor(_mean(per_pixel=True, unscaled=False), True),
    # Simonyan & Zisserman §2.1: subtract the mean RGB value.
    "per_channel_mean": Preprocessor(_mean(per_pixel=False, unscaled=False), True),
    # The same on unscaled [0, 255] pixels, as Caffe does for the thesis nets,
    # AlexNet and VGG: with their tiny Gaussian initializations the 255x larger
    # inputs are what lets the signal through (keras.applications' "caffe" mode too).
    "per_pixel_mean_255": Preprocessor(_mean(per_pixel=True, unscaled=True), True),
    "per_channel_mean_255": Preprocessor(_mean(per_pixel=False, unscaled=True), True),
    # (x/255 - mean_c) / std_c.
    "per_channel_standardize": Preprocessor(_standardize(per_pixel=False), True),
    # W. Wu, 2016 thesis §2.1: every input dimension (pixel and channel) minus its
    # training-set mean, divided by its training-set standard deviation (not where
    # that is 0); the same shift and scale for every later input.
    "per_pixel_standardize": Preprocessor(_standardize(per_pixel=True), True),
    # W. Wu (SCNU) §3.2: x * 2/255 - 1.
    "scale_pm1": Preprocessor(_rescale(2.0 / 255.0, offset=-1.0)),
    "scale_01": Preprocessor(_rescale(1.0 / 255.0)),
    # LeCun et al. 1998 §II.A: background -0.1, ink 1.175.
    "lecun": Preprocessor(_rescale(1.275 / 255.0, offset=-0.1)),
    "none": Preprocessor(lambda train_images: []),
}


def preprocessing_layers(mode: str, train_images: np.ndarray | None = None, pad: int = 0) -> list:
    """Layers mapping raw pixels in [0, 255] to the network's input.

    Args:
        mode: a key of `PREPROCESSORS` (the recipe's ``data.preprocessing``).
        train_images: uint8 (N, H, W, C) training images; needed for the
            statistics of the mean-subtracting modes (never the test set).
        pad: zero-pad this many pixels per side first (LeNet-5 sees MNIST at 32x32).

    Returns:
        A list of Keras layers to apply in order.
    """
    if mode not in PREPROCESSORS:
        raise ValueError(f"unknown preprocessing {mode!r}; known: {sorted(PREPROCESSORS)}")
    preprocessor = PREPROCESSORS[mode]
    if preprocessor.needs_images and train_images is None:
        raise ValueError(f"preprocessing {mode!r} needs the training images for its statistics")
    # Padding raw pixels with 0 pads with the background of MNIST-like images,
    # whatever the scaling after it.
    head = [keras.layers.ZeroPadding2D(pad, name="preprocess_pad")] if pad else []
    return head + preprocessor.layers(train_images)


def with_preprocessing(net: keras.Model, layers: list, name: str | None = None) -> keras.Model:
    """Wrap `net` so that it takes raw pixels: ``net(layers(x))``.

    Args:
        net: the architecture, as built by `cnnzoo.build`.
        layers: from `preprocessing_layers`.
        name: model name (defaults to the net's).

    Returns:
        A functional model with input float32 (None, H, W, C) in [0, 255].
    """
    pad = sum(
        layer.padding[0][0] for layer in layers if isinstance(layer, keras.layers.ZeroPadding2D)
    )
    h, w, c = net.input_shape[1:]
    inputs = keras.Input(shape=(h - 2 * pad, w - 2 * pad, c), name="images")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, net(x), name=name or net.name)

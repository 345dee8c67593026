"""The recipe's input preprocessing, as the first layers of the trained model.

Putting the preprocessing inside the model means evaluation, export and apps
feed raw pixels and always use the numbers the model was trained with. Only
built-in Keras layers are used, so the head serializes without custom objects.
"""

from __future__ import annotations

import keras
import numpy as np


def preprocessing_layers(mode: str, train_images: np.ndarray | None = None, pad: int = 0) -> list:
    """Layers mapping raw pixels in [0, 255] to the network's input.

    Args:
        mode: "per_pixel_mean" (He et al. 2016 §4.2: subtract the per-pixel mean of
            the training images, pixels scaled to [0, 1]), "per_channel_mean"
            (Simonyan & Zisserman §2.1: subtract the mean RGB value),
            "per_pixel_mean_255" / "per_channel_mean_255" (the same on unscaled
            [0, 255] pixels, as Caffe does for the thesis nets, AlexNet and VGG: with
            their tiny Gaussian initializations the 255x larger inputs are what
            lets the signal through; keras.applications' "caffe" mode too),
            "per_channel_standardize" ((x/255 - mean_c) / std_c), "scale_pm1" (Wu:
            x * 2/255 - 1), "scale_01" (x / 255), "lecun" (LeCun et al. 1998 §II.A:
            background -0.1, ink 1.175) or "none".
        train_images: uint8 (N, H, W, C) training images; needed for the
            statistics of the mean-subtracting modes.
        pad: zero-pad this many pixels per side first (LeNet-5 sees MNIST at 32x32).

    Returns:
        A list of Keras layers to apply in order.
    """
    from cnnzoo.pipelines import stats

    # Padding raw pixels with 0 pads with the background of MNIST-like images,
    # whatever the scaling after it.
    head = [keras.layers.ZeroPadding2D(pad, name="preprocess_pad")] if pad else []
    if mode == "none":
        return head
    if mode == "scale_pm1":
        return head + [keras.layers.Rescaling(2.0 / 255.0, offset=-1.0, name="preprocess_scale")]
    if mode == "scale_01":
        return head + [keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale")]
    if mode == "lecun":
        return head + [keras.layers.Rescaling(1.275 / 255.0, offset=-0.1, name="preprocess_scale")]
    if train_images is None:
        raise ValueError(f"preprocessing {mode!r} needs the training images for its statistics")
    scale = keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale")
    base, unscaled = mode.removesuffix("_255"), mode.endswith("_255")
    if base in ("per_pixel_mean", "per_channel_mean"):
        if base == "per_pixel_mean":
            mean, axis = stats.per_pixel_mean(train_images), (1, 2, 3)
        else:
            mean, axis = stats.channel_mean_std(train_images)[0], -1
        if unscaled:
            mean = mean * np.float32(255.0)
        norm = keras.layers.Normalization(
            axis=axis, mean=mean, variance=np.ones_like(mean), name="preprocess_mean"
        )
        if unscaled:
            return head + [norm]
    elif mode == "per_channel_standardize":
        mean, std = stats.channel_mean_std(train_images)
        norm = keras.layers.Normalization(
            axis=-1, mean=mean, variance=np.square(std), name="preprocess_standardize"
        )
    else:
        raise ValueError(f"unknown preprocessing {mode!r}")
    return head + [scale, norm]


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

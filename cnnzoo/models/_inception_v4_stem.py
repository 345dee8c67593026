"""The stem of Inception-v4, which Inception-ResNet-v2 shares: 299x299x3 -> 35x35x384.

Paper:
    [1] C. Szegedy, S. Ioffe, V. Vanhoucke, A. Alemi, "Inception-v4, Inception-ResNet
        and the Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261),
        Figure 3 (the stem of Inception-v4, and of Inception-ResNet-v2 per Figure 15's
        caption).

`cnnzoo.models.inception.inception_v4` and
`cnnzoo.models.inception_resnet.inception_resnet_v2_paper` both start with it.
"""

from __future__ import annotations

from keras import layers

from cnnzoo.models._common import conv_bn


def inception_v4_stem(x, scale=True):
    """The stem of [1] Figure 3: 299x299x3 -> 35x35x384 ("V" convolutions are valid).

    The 7x1 / 1x7 pair of ``mixed_4a`` is in the order of the authors' TF-slim code
    (1x7 first, as timm's); the parameter count does not depend on it. ``mixed_5a``'s
    3x3 convolution has stride 2, as its 35x35 output needs (Figure 3 omits it).

    Args:
        x: the 299x299x3 input (at least 75x75).
        scale: BatchNormalization with a scale as well as an offset (Inception-v4,
            as timm) or without (the Inception-ResNets, as keras.applications).

    Returns:
        The ``mixed_5a`` concatenation, 35x35x384 (192 convolved + 192 pooled).
    """

    def conv(y, filters, kernel, strides=1, padding="same", *, name):
        return conv_bn(y, filters, kernel, strides=strides, padding=padding, name=name, scale=scale)

    x = conv(x, 32, 3, strides=2, padding="valid", name="stem_conv1")
    x = conv(x, 32, 3, padding="valid", name="stem_conv2")
    x = conv(x, 64, 3, name="stem_conv3")
    b0 = layers.MaxPooling2D(3, strides=2, name="mixed_3a_b0_pool")(x)
    b1 = conv(x, 96, 3, strides=2, padding="valid", name="mixed_3a_b1_1")
    x = layers.Concatenate(name="mixed_3a")([b0, b1])
    b0 = conv(x, 64, 1, name="mixed_4a_b0_1")
    b0 = conv(b0, 96, 3, padding="valid", name="mixed_4a_b0_2")
    b1 = conv(x, 64, 1, name="mixed_4a_b1_1")
    b1 = conv(b1, 64, (1, 7), name="mixed_4a_b1_2")
    b1 = conv(b1, 64, (7, 1), name="mixed_4a_b1_3")
    b1 = conv(b1, 96, 3, padding="valid", name="mixed_4a_b1_4")
    x = layers.Concatenate(name="mixed_4a")([b0, b1])
    b0 = conv(x, 192, 3, strides=2, padding="valid", name="mixed_5a_b0_1")
    b1 = layers.MaxPooling2D(3, strides=2, name="mixed_5a_b1_pool")(x)
    return layers.Concatenate(name="mixed_5a")([b0, b1])

"""AlexNet, the ImageNet network of Krizhevsky, Sutskever and Hinton.

Paper:
    [1] A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with
        Deep Convolutional Neural Networks", NIPS 2012: §3 (architecture, Fig. 2),
        §3.3 (local response normalization), §3.4 (overlapping pooling), §4.2
        (dropout), Table 2 (ILSVRC-2012 results).

The net ([1] §3.5, Fig. 2): five convolutional and three fully connected layers.
conv1 96 kernels of 11x11x3 with stride 4; conv2 256 of 5x5; conv3 384 of 3x3;
conv4 384 of 3x3; conv5 256 of 3x3; fc6 and fc7 4096 units; a 1000-way softmax.
ReLU after every layer but the last (§3.1); response normalization after the
ReLU of conv1 and conv2 (§3.3, §3.5); overlapping 3x3 / 2 max pooling after both
normalizations and after conv5 (§3.4); dropout 0.5 after fc6 and fc7 (§4.2).

Variants ([1]'s own comparisons):
    * ``alexnet_nonoverlap_pool``: 2x2 / 2 pooling, the non-overlapping scheme [1] §3.4
      compares with (overlap lowers top-1 / top-5 error by 0.4% / 0.3%; seed 002,
      "Overlapping Pooling");
    * ``alexnet_conv6``: Table 2's CNN*, "with an extra sixth convolutional layer over
      the last pooling layer" ([1] §6; seed 002: CNN* adds one convolutional layer to
      the five).

Conventions:
    * the input is 227x227: [1] writes 224x224, but an unpadded 11x11 / 4
      convolution yields the 55x55 maps of Fig. 2 only from 227 pixels (as in
      Caffe's reference model);
    * conv2..conv5 pad to keep their size ("same": 2 pixels for 5x5, 1 for 3x3),
      so the maps are 55, 27, 13, 13, 13 and 6x6x256 reach fc6;
    * ``groups=2`` splits conv2, conv4 and conv5 in two halves that see only the
      half of the previous layer's maps on their GPU ([1] §3.2: "the kernels of
      layer 3 take input from all kernel maps in layer 2"; those of 2, 4 and 5
      only from their own GPU), with Keras's grouped ``Conv2D(groups=2)``: the
      two-tower net of Fig. 2. ``groups=1`` (default) is the usual one-tower net
      with full connections, as most reimplementations have it. The fully
      connected layers are full in both ([1] §3.5: "connected to all neurons in
      the previous layer");
    * `LocalResponseNormalization` with [1] §3.3's k = 2, n = 5, alpha = 1e-4,
      beta = 0.75 and [1]'s convention (alpha multiplies the plain sum).
"""

from __future__ import annotations

from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.models._variants import Catalog

# [1] §3.5 / Fig. 2: (filters, kernel, stride) of conv1..conv5, and which layers are
# split across the two GPUs (groups=2).
CONVS = (
    (96, 11, 4),
    (256, 5, 1),
    (384, 3, 1),
    (384, 3, 1),
    (256, 3, 1),
)
# conv6 (alexnet_conv6): [1] §6 adds "a sixth convolutional layer over the last pooling
# layer" without its size; 256 3x3 kernels keep pool5's 6x6x256, so fc6 is unchanged.
CONV6 = (256, 3, 1)
GROUPED = {"conv2", "conv4", "conv5", "conv6"}
FC_UNITS = 4096
DROPOUT = 0.5  # [1] §4.2
POOL_SIZE, POOL_STRIDE = 3, 2  # [1] §3.4: s = 2, z = 3
# [1] §3.4's ablation: "the non-overlapping scheme s = 2, z = 2, which produces output of
# equivalent dimensions" (floor((55-2)/2)+1 = 27, then 13, then 6, as with z = 3).
NONOVERLAP_POOL_SIZE = 2
# [1] §3.3: "k = 2, n = 5, alpha = 10^-4, and beta = 0.75".
LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA = 5, 2.0, 1e-4, 0.75

# conv1 96*(11*11*3+1) + conv2 256*(96*25+1) + conv3 384*(256*9+1) + conv4
# 384*(384*9+1) + conv5 256*(384*9+1) + fc6 4096*(6*6*256+1) + fc7 4096*(4096+1)
# + fc8 1000*(4096+1) = 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992
# + 37,752,832 + 16,781,312 + 4,097,000. [1] §3 says "60 million parameters".
ALEXNET_PARAMS = 62_378_344
# groups=2 halves the kernels of conv2, conv4, conv5: 307,200 + 663,552 + 442,368 fewer.
ALEXNET_GROUPED_PARAMS = 60_965_224
# alexnet_conv6: alexnet + conv6 256*(256*9+1) = 62,378,344 + 590,080; with groups=2,
# conv6 sees half of pool5's maps: 60,965,224 + 256*(128*9+1) = 60,965,224 + 295,168.
ALEXNET_CONV6_PARAMS = 62_968_424
ALEXNET_CONV6_GROUPED_PARAMS = 61_260_392

MODELS = Catalog()


def alexnet_features(x, groups=1, lrn=True, pool_size=POOL_SIZE, conv6=False):
    """conv1..pool5 of [1] Fig. 2: the five convolutional layers with LRN and pooling.

    Args:
        x: input tensor (batch, height, width, 3).
        groups: 1 (one tower) or 2 (conv2, conv4, conv5 split as on two GPUs).
        lrn: whether to put ``lrn1`` / ``lrn2`` after the ReLUs of conv1 / conv2.
        pool_size: the max-pooling window, stride 2: 3 (overlapping, [1] §3.4) or 2
            (the ablation's non-overlapping pooling).
        conv6: add ``conv6`` / ``conv6_relu`` over ``pool5`` ([1] §6, Table 2's CNN*).

    Returns:
        The ``pool5`` tensor (6x6x256 on a 227x227 input), or ``conv6_relu``'s.
    """

    def conv(x, i, filters, kernel, stride):
        name = f"conv{i}"
        x = layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="valid" if i == 1 else "same",
            groups=groups if name in GROUPED else 1,
            name=name,
        )(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)

    for i, spec in enumerate(CONVS, start=1):
        x = conv(x, i, *spec)
        if i in (1, 2):
            if lrn:
                x = LocalResponseNormalization(
                    LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA, alpha_convention="paper", name=f"lrn{i}"
                )(x)
            x = layers.MaxPooling2D(pool_size, POOL_STRIDE, name=f"pool{i}")(x)
    x = layers.MaxPooling2D(pool_size, POOL_STRIDE, name="pool5")(x)
    return conv(x, 6, *CONV6) if conv6 else x


_KRIZHEVSKY2012 = (
    'A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep '
    'Convolutional Neural Networks", NIPS 2012'
)


# What every AlexNet-family card shares: [1]'s input, classes, recipe and dataset.
_FAMILY_CARD = {
    "family": "alexnet",
    "paper": _KRIZHEVSKY2012,
    "input_shape": (227, 227, 3),
    "num_classes": 1000,
    "default_recipe": "krizhevsky2012",
    "dataset": "imagenet2012",
}


def _card(name, section, params, published, published_source, notes) -> ModelCard:
    """An AlexNet-family card: `_FAMILY_CARD` and what differs."""
    return ModelCard(
        name,
        section=section,
        trainable_params=params,
        published=published,
        published_source=published_source,
        notes=notes,
        **_FAMILY_CARD,
    )


def _alexnet(inputs, top, groups, lrn, pool_size=POOL_SIZE, conv6=False):
    """The net of [1] Fig. 2 with the pooling window and the optional sixth convolution."""
    if groups not in (1, 2):
        raise ValueError(f"groups must be 1 or 2 (one or two GPU towers), got {groups!r}")
    x = alexnet_features(inputs, groups=groups, lrn=lrn, pool_size=pool_size, conv6=conv6)
    if top.include:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc6", "fc7"):
            x = layers.Dense(FC_UNITS, name=fc)(x)
            x = layers.Activation("relu", name=f"{fc}_relu")(x)
            x = layers.Dropout(DROPOUT, name=f"{fc}_dropout")(x)
    return top(x)


@MODELS.add(
    _card(
        "alexnet",
        "§3, Fig. 2 (5 conv + 3 FC, LRN after conv1/conv2, overlapping pooling)",
        ALEXNET_PARAMS,
        {"imagenet2012_val_top1_error": 40.7, "imagenet2012_val_top5_error": 18.2},
        "Krizhevsky et al. 2012, Table 2 (1 CNN, ILSVRC-2012 validation)",
        "227x227 input (the paper's 224 does not give its 55x55 maps). groups=1 by "
        f"default (one tower); groups=2 is the two-GPU net of Fig. 2 with "
        f"{ALEXNET_GROUPED_PARAMS:,} parameters.",
    )
)
def alexnet(inputs, top, groups=1, lrn=True):
    """Build AlexNet ([1] Fig. 2).

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``flatten``, fc6 and fc7 (each with ReLU and dropout 0.5) and
            ``predictions``; without it the model ends at ``pool5``. Default input
            227x227x3; with the top, another size changes fc6's fan-in.
        groups: 1 (full connections, the default) or 2 (conv2, conv4, conv5 split
            in two groups as on [1]'s two GPUs).
        lrn: whether to include the response-normalization layers ``lrn1``/``lrn2``.

    Weights start from Keras's default initializers; [1] §5's N(0, 0.01^2) kernels
    and unit biases in conv2, conv4, conv5, fc6, fc7 belong to the training recipe's
    init scheme, which finds the layers by name.

    Returns:
        A `keras.Model`; layers ``conv1, conv1_relu, lrn1, pool1, conv2, ..., conv5_relu,
        pool5`` (+ ``flatten, fc6, fc6_relu, fc6_dropout, fc7, fc7_relu, fc7_dropout,
        predictions`` with the top).

    Raises:
        ValueError: for groups not 1 or 2, an unknown pooling, a bad input_shape, an
            unknown classifier activation or channels-first data format.
    """
    return _alexnet(inputs, top, groups, lrn)


def _variant(doc: str, **fixed):
    """The ``net(inputs, top, groups, lrn)`` of a variant: `_alexnet` with `fixed`."""

    def net(inputs, top, groups=1, lrn=True):
        return _alexnet(inputs, top, groups, lrn, **fixed)

    net.__doc__ = doc + _VARIANT_ARGS
    return net


_VARIANT_ARGS = """

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name,
            groups, lrn: as `alexnet`.

    Raises:
        ValueError: as `alexnet`.
    """

alexnet_nonoverlap_pool = MODELS.add(
    _card(
        "alexnet_nonoverlap_pool",
        "§3.4 (the ablation's non-overlapping pooling, s = z = 2), otherwise §3, Fig. 2",
        ALEXNET_PARAMS,
        # [1] §3.4 gives only the difference to `alexnet` (seed 002, "Overlapping
        # Pooling": overlap lowers top-1 / top-5 error by 0.4% / 0.3%).
        {
            "imagenet2012_top1_error_above_alexnet": 0.4,
            "imagenet2012_top5_error_above_alexnet": 0.3,
        },
        'Krizhevsky et al. 2012, §3.4: overlapping pooling "reduces the top-1 and top-5 error '
        "rates by 0.4% and 0.3%, respectively, as compared with the non-overlapping scheme "
        's = 2, z = 2" (seed 002, Overlapping Pooling)',
        "pool1, pool2, pool5 are 2x2 / 2 instead of 3x3 / 2. On 227x227 the maps stay 27, 13 "
        "and 6 ([1] §3.4: the scheme 'produces output of equivalent dimensions'), so the "
        "weights have alexnet's shapes and count.",
    )
)(
    _variant(
        """Build AlexNet with non-overlapping 2x2 / 2 max pooling ([1] §3.4's ablation).

    Returns a `keras.Model` with `alexnet`'s layer names and weight shapes; only the
    pooling windows of ``pool1``, ``pool2`` and ``pool5`` differ (2 instead of 3).""",
        pool_size=NONOVERLAP_POOL_SIZE,
    )
)

alexnet_conv6 = MODELS.add(
    _card(
        "alexnet_conv6",
        "§6, Table 2 (CNN*: one more, sixth convolutional layer over the last pooling layer)",
        ALEXNET_CONV6_PARAMS,
        {"imagenet2012_val_top1_error": 39.0, "imagenet2012_val_top5_error": 16.6},
        "Krizhevsky et al. 2012, §6 and Table 2 (1 CNN*: pretrained on the whole ImageNet "
        "Fall 2011 release, 15M images / 22K categories, then fine-tuned on ILSVRC-2012; "
        "validation)",
        "conv6 (256 3x3 kernels, padding 'same', ReLU) on pool5: [1] gives neither its size "
        "nor its grouping, so it keeps pool5's 6x6x256 (fc6 unchanged) and is split like "
        "conv5 with groups=2 "
        f"({ALEXNET_CONV6_GROUPED_PARAMS:,} parameters). The published figures need the "
        "22K-class pretraining; seed 002 says only that CNN* adds one convolutional layer "
        "to the five.",
    )
)(
    _variant(
        """Build AlexNet with a sixth convolutional layer over pool5 ([1] §6, Table 2's CNN*).

    Returns a `keras.Model` with `alexnet`'s layers plus ``conv6`` and ``conv6_relu``
    after ``pool5`` (256 3x3 kernels, padding "same": fc6 still sees 6x6x256).""",
        conv6=True,
    )
)

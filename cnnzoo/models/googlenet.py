"""GoogLeNet (Inception v1) and BN-Inception (Inception v2).

Papers:
    [1] C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan,
        V. Vanhoucke, A. Rabinovich, "Going Deeper with Convolutions", CVPR 2015
        (arXiv:1409.4842): §5 and Table 1 (the network), Figure 3 (where the local
        response normalizations are), §5 (dropout 0.4, the auxiliary classifiers),
        Table 3 (results).
    [2] S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift", ICML 2015 (arXiv:1502.03167):
        Appendix, Figure 5 (the network), §4.2.1 (no dropout, no LRN).

GoogLeNet ([1] Table 1): every convolution has a bias and a ReLU, there is no batch
normalization; "same" padding keeps the sizes of Table 1 (112, 56, 28, 14, 7). A
local response normalization follows the first max pooling and the 3x3 convolution
conv2 ([1] Figure 3). Its parameters are not in [1]; the authors' Caffe model
(BVLC ``bvlc_googlenet``) uses local_size 5, alpha 1e-4, beta 0.75 and k = 1 in
Caffe's convention (alpha divided by the window size). The two auxiliary classifiers
of [1] §5 read the outputs of 4a and 4d.

BN-Inception ([2] Figure 5): the 5x5 convolutions become two 3x3 ones, 28x28 has
three modules (3a-3c), modules pool with average or max pooling, 3c and 4e reduce
the grid with stride-2 branches and a max-pooling pass-through, and every
convolution is followed by batch normalization (with scale and offset, [2] §3) and
a ReLU; convolutions have no bias (§3.2: "the bias b can be ignored" before batch
normalization). [2] §4.2.1 removes dropout and LRN. Figure 5's filter columns make
4c and 4d 608 channels wide (160 + 160 + 160 + 128, 96 + 192 + 192 + 128) where its
output column says 576, so 4e outputs 192 + 256 + 608 = 1056 channels, not 1024;
the columns are followed, as the authors' released Caffe model does (its 5a reads
1056 channels).
"""

from __future__ import annotations

from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.batch_norm import FusedBatchNormalization
from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.models._variants import Catalog

MODELS = Catalog()

# [1] Table 1: per module, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# [1] Table 1: a 3x3 / 2 max pooling after 3b and after 4e.
GOOGLENET_POOL_AFTER = {"3b", "4e"}
GOOGLENET_DROPOUT = 0.4  # [1] Table 1: "dropout (40%)" before the linear layer
# bvlc_googlenet's LRN: local_size 5, alpha 1e-4 (Caffe: divided by 5), beta 0.75, k 1.
LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA = 5, 1.0, 1e-4, 0.75
# [1] §5, the auxiliary classifiers: "An average pooling layer with 5x5 filter size
# and stride 3", "A 1x1 convolution with 128 filters", "A fully connected layer with
# 1024 units", "A dropout layer with 70% ratio of dropped outputs".
AUX_POOL, AUX_STRIDE, AUX_FILTERS, AUX_UNITS, AUX_DROPOUT = 5, 3, 128, 1024, 0.7
AUX_AFTER = ("4a", "4d")

# conv1 7*7*3*64+64 + conv2_reduce 64*64+64 + conv2 9*64*192+192 + the nine modules
# of Table 1 + classifier 1024*1000+1000, all with biases: [1] Table 1's figures.
GOOGLENET_PARAMS = 6_998_552
# Each head: 1x1 conv (512 or 528)*128+128, FC 4*4*128*1024+1024, classifier
# 1024*1000+1000 = 3,188,840 (after 4a) + 3,190,888 (after 4d).
GOOGLENET_AUX_PARAMS = 13_378_280


def googlenet_module(x, filters, name):
    """An Inception module of [1] Figure 2(b) / Table 1 (convolutions with ReLU).

    Args:
        x: input tensor.
        filters: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
        name: module prefix, e.g. ``"inception_3a"`` (layers ``{name}_1x1``,
            ``{name}_3x3_reduce``, ``{name}_3x3``, ``{name}_5x5_reduce``,
            ``{name}_5x5``, ``{name}_pool``, ``{name}_pool_proj``, ``{name}_output``:
            the Caffe model's names).

    Returns:
        The concatenated output.
    """
    n1, n3r, n3, n5r, n5, proj = filters

    def conv(y, f, k, suffix):
        return layers.Conv2D(f, k, padding="same", activation="relu", name=f"{name}_{suffix}")(y)

    b1 = conv(x, n1, 1, "1x1")
    b3 = conv(conv(x, n3r, 1, "3x3_reduce"), n3, 3, "3x3")
    b5 = conv(conv(x, n5r, 1, "5x5_reduce"), n5, 5, "5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv(bp, proj, 1, "pool_proj")
    return layers.Concatenate(name=f"{name}_output")([b1, b3, b5, bp])


def googlenet_aux_head(x, top, name):
    """An auxiliary classifier of [1] §5 (``{name}_avg_pool`` ... ``{name}_predictions``).

    `top` (`cnnzoo.models._common.Top`) gives its classes and activation.

    Raises:
        ValueError: if the grid is under 5x5 (inputs under 65x65), too small for the
            5x5 average pooling.
    """
    if any(d is not None and d < AUX_POOL for d in x.shape[1:3]):
        raise ValueError(
            f"the googlenet auxiliary heads need the 4a / 4d grid to be at least "
            f"{AUX_POOL}x{AUX_POOL} (inputs of at least 65x65), got {tuple(x.shape[1:3])}"
        )
    x = layers.AveragePooling2D(AUX_POOL, strides=AUX_STRIDE, name=f"{name}_avg_pool")(x)
    x = layers.Conv2D(AUX_FILTERS, 1, activation="relu", name=f"{name}_conv")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(AUX_UNITS, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(AUX_DROPOUT, name=f"{name}_dropout")(x)
    return top.classifier(x, f"{name}_predictions")


_SZEGEDY2014 = (
    "C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, "
    'A. Rabinovich, "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842)'
)


@MODELS.add(
    ModelCard(
        name="googlenet",
        family="googlenet",
        paper=_SZEGEDY2014,
        section="Table 1, Figure 3 (LRN), §5 (dropout 0.4, auxiliary classifiers)",
        input_shape=(224, 224, 3),
        num_classes=1000,
        trainable_params=GOOGLENET_PARAMS,
        default_recipe="szegedy2014",
        dataset="imagenet2012",
        published={"imagenet2012_val_top5_error": 10.07},
        published_source="Szegedy et al. 2015, Table 3 (1 model, 1 crop)",
        notes=f"aux_heads=True adds the two auxiliary classifiers after 4a and 4d "
        f"({GOOGLENET_AUX_PARAMS:,} parameters in all; outputs [predictions, "
        "aux1_predictions, aux2_predictions], auxiliary loss weight 0.3 each in [1] §5). "
        "LRN parameters of the BVLC Caffe model.",
    )
)
def googlenet(inputs, top, aux_heads=False):
    """Build GoogLeNet ([1] Table 1).

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool`` (global average pooling: [1]'s 7x7 / 1 average pooling at
            224x224), ``dropout`` (0.4) and ``predictions``; without it the model
            ends at ``inception_5b_output``. Default input 224x224x3; every layer
            pads, so any size builds, but the auxiliary heads need 65x65.
        aux_heads: add [1] §5's auxiliary classifiers on 4a and 4d; the model then
            returns ``[predictions, aux1_predictions, aux2_predictions]``. Needs the top.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown pooling, a bad input_shape, an unknown classifier
            activation, channels-first data format, aux_heads without the top, or
            aux_heads on inputs under 65x65.
    """
    top.check_aux_heads(aux_heads)
    x = _googlenet_stem(inputs)
    aux = []
    for module, filters in GOOGLENET_MODULES.items():
        x = googlenet_module(x, filters, f"inception_{module}")
        if aux_heads and module in AUX_AFTER:
            aux.append(googlenet_aux_head(x, top, f"aux{AUX_AFTER.index(module) + 1}"))
        if module in GOOGLENET_POOL_AFTER:
            stage = int(module[0])
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{stage}_3x3_s2")(x)
    x = top(x, global_pool=True, dropout=GOOGLENET_DROPOUT, dropout_name="dropout")
    return [x, *aux] if aux_heads else x


def _googlenet_stem(x):
    # [1] Table 1 and Figure 3, with the Caffe model's layer names.
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1_7x7_s2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = _lrn(x, "pool1_norm1")
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_3x3_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3")(x)
    x = _lrn(x, "conv2_norm2")
    return layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)


def _lrn(x, name):
    return LocalResponseNormalization(
        LRN_SIZE, LRN_K, LRN_ALPHA, LRN_BETA, alpha_convention="caffe", name=name
    )(x)


# ----------------------------------------------------------------------- BN-Inception

# [2] Figure 5: per module, #1x1 (0: none), #3x3 reduce, #3x3, double #3x3 reduce,
# double #3x3, pooling ("avg" / "max") and pool projection (0: pass-through), stride.
BN_INCEPTION_MODULES = {
    "3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "5b": (352, 192, 320, 192, 224, "max", 128, 1),
}
# Derived from [2] Figure 5 (convolutions without bias, BatchNormalization with scale
# and offset), as measured: kernels 10,240,192 + BN 2 x 10,016 channels + classifier
# 1024*1000+1000 = 11,285,224: 0.2% above the 11.26M surveys quote for "Inception v2"
# ([2] gives no count).
BN_INCEPTION_PARAMS = 11_285_224


def _conv_bn_relu(x, filters, kernel, name, strides=1):
    # [2] §3.2: batch normalization "immediately before the nonlinearity".
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(
        x
    )
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def bn_inception_module(x, spec, name):
    """A module of [2] Figure 5: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool [-> 1x1].

    Args:
        x: input tensor.
        spec: (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pooling,
            pool projection, stride); stride 2 (3c, 4e) puts the stride on the last
            3x3 of both 3x3 branches and on a 3x3 / 2 max pooling passed through
            without projection, and drops the 1x1 branch.
        name: module prefix, e.g. ``"inception_3a"`` (the Caffe model's names:
            ``{name}_1x1``, ``{name}_3x3_reduce``, ``{name}_double_3x3_1``, ...).

    Returns:
        The concatenated output.
    """
    n1, n3r, n3, nd_r, nd, pool, proj, stride = spec
    outputs = []
    if n1:
        outputs.append(_conv_bn_relu(x, n1, 1, f"{name}_1x1"))
    b3 = _conv_bn_relu(x, n3r, 1, f"{name}_3x3_reduce")
    outputs.append(_conv_bn_relu(b3, n3, 3, f"{name}_3x3", strides=stride))
    bd = _conv_bn_relu(x, nd_r, 1, f"{name}_double_3x3_reduce")
    bd = _conv_bn_relu(bd, nd, 3, f"{name}_double_3x3_1")
    outputs.append(_conv_bn_relu(bd, nd, 3, f"{name}_double_3x3_2", strides=stride))
    pooling = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    bp = pooling(3, strides=stride, padding="same", name=f"{name}_pool")(x)
    if proj:
        bp = _conv_bn_relu(bp, proj, 1, f"{name}_pool_proj")
    outputs.append(bp)
    return layers.Concatenate(name=f"{name}_output")(outputs)


@MODELS.add(
    ModelCard(
        name="bn_inception",
        family="googlenet",
        paper='S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network '
        'Training by Reducing Internal Covariate Shift", ICML 2015 (arXiv:1502.03167)',
        section="Appendix, Figure 5 (the Inception variant trained with batch normalization)",
        input_shape=(224, 224, 3),
        num_classes=1000,
        trainable_params=BN_INCEPTION_PARAMS,
        default_recipe="ioffe2015",
        dataset="imagenet2012",
        notes="Figure 5's filter columns are followed where its output sizes disagree "
        "(4c, 4d 608 channels; 4e 1056), as in the authors' Caffe model. No dropout and "
        "no LRN ([2] §4.2.1). Default recipe ioffe2015: [2] §4.2.1-4.2.2's BN-x30 "
        "(GoogLeNet's recipe with the rate 0.045, decayed 6x faster, weight decay / 5); "
        "ioffe2015_x5 is BN-x5.",
    )
)
def bn_inception(inputs, top):
    """Build BN-Inception ([2] Figure 5).

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``avg_pool`` (global average pooling: the 7x7 average pooling at
            224x224) and ``predictions``; without it the model ends at
            ``inception_5b_output``. Default input 224x224x3; every layer pads, so
            any size builds.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown pooling, a bad input_shape, an unknown classifier
            activation or channels-first data format.
    """
    x = _conv_bn_relu(inputs, 64, 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = _conv_bn_relu(x, 64, 1, "conv2_3x3_reduce")
    x = _conv_bn_relu(x, 192, 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    # [2] Appendix: "no across the board pooling layers between any two Inception
    # modules"; 3c and 4e reduce the grid themselves.
    for module, spec in BN_INCEPTION_MODULES.items():
        x = bn_inception_module(x, spec, f"inception_{module}")
    return top(x, global_pool=True)

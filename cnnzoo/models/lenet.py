"""LeNet-5, the convolutional network of LeCun et al. for handwritten digits.

Paper:
    [1] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied
        to document recognition", Proceedings of the IEEE 86(11), 1998, §II.B
        (architecture, Fig. 2), Appendix A (the squashing function), §III.B and
        Fig. 14 (results).

The net ([1] §II.B): a 32x32 input (the 28x28 MNIST digit padded by 2 pixels, done
by the training recipe, not here), C1 6 maps of 5x5 convolutions, S2 2x2 / 2
subsampling, C3 16 maps of 5x5 convolutions, S4 2x2 / 2 subsampling, C5 120 maps
of 5x5 convolutions (1x1 outputs on a 32x32 input), F6 84 units, and the 10-way
output layer.

Deviations from [1], all of them the usual ones:
    * C3 connects every one of its 16 maps to all 6 S2 maps; [1] Table I
      connects each to a subset of 3, 4 or 6 ("to break the symmetry"), 1,516
      trainable parameters instead of 2,416.
    * S2 and S4 are plain pooling layers: [1]'s subsampling units multiply the
      2x2 sum by a trainable coefficient, add a trainable bias and squash
      (12 + 32 parameters); here they average (``activation="scaled_tanh"``) or
      take the maximum (``activation="relu"``) with no weights and no squashing.
    * The output layer is a fully connected softmax classifier trained with
      cross-entropy, instead of [1]'s Euclidean RBF units with fixed 7x12
      bitmap codes and the MAP criterion (§II.B, §II.C).
So the net has 61,706 trainable parameters (counted in `LENET5_PARAMS`) where
[1] reports about 60,000.

The squashing function of [1] Appendix A, f(a) = A tanh(S a) with A = 1.7159 and
S = 2/3, is `scaled_tanh`, a registered Keras function: a saved ``.keras`` file
refers to it by name (``"cnnzoo>scaled_tanh"``) and loads in safe mode once this
module has been imported (``import cnnzoo.models`` does).
"""

from __future__ import annotations

from keras import layers

from cnnzoo.cards import ModelCard
from cnnzoo.layers.activations import scaled_tanh
from cnnzoo.models._common import check_choice
from cnnzoo.models._variants import Catalog

# [1] §II.B: feature maps of C1, C3 and C5, units of F6; all kernels 5x5, all
# subsampling 2x2 with stride 2.
C1_FILTERS, C3_FILTERS, C5_FILTERS, F6_UNITS = 6, 16, 120, 84
KERNEL_SIZE = 5
POOL_SIZE = 2

# C1 6*(25+1) + C3 16*(6*25+1) + C5 120*(16*25+1) + F6 84*(120+1) + out 10*(84+1)
# = 156 + 2,416 + 48,120 + 10,164 + 850.
LENET5_PARAMS = 61_706

# activation -> (the activation of C1, C3, C5 and F6, the subsampling layer of S2, S4):
# [1] Appendix A's squashing with averaging, or the modern ReLU with max pooling.
ACTIVATIONS = {
    "scaled_tanh": (scaled_tanh, layers.AveragePooling2D),
    "relu": ("relu", layers.MaxPooling2D),
}

MODELS = Catalog()


_LECUN1998 = (
    'Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to '
    'document recognition", Proc. IEEE 86(11), 1998'
)


@MODELS.add(
    ModelCard(
        name="lenet5",
        family="lenet",
        paper=_LECUN1998,
        section="§II.B, Fig. 2 (LeNet-5); Appendix A (scaled tanh)",
        input_shape=(32, 32, 1),
        num_classes=10,
        trainable_params=LENET5_PARAMS,
        default_recipe="lecun1998_distorted",
        dataset="mnist",
        # LeNet-5: 0.95% test error without distortions, 0.8% with them.
        published={"mnist_test_error": 0.8, "mnist_test_error_no_distortions": 0.95},
        published_source="LeCun et al. 1998, §III.C and Fig. 14 (LeNet-5 [distortions])",
        notes="C3 fully connected to S2 (the paper's Table I connects each C3 map to 3-6 "
        "S2 maps); S2/S4 are plain average (scaled_tanh) or max (relu) pooling without the "
        "paper's trainable coefficient and bias; the RBF output layer is replaced by a "
        "softmax classifier. The 28x28 MNIST digits are padded to 32x32 by the recipe.",
    )
)
def lenet5(inputs, top, activation="scaled_tanh"):
    """Build LeNet-5 ([1] §II.B, with the deviations listed in the module docstring).

    Args:
        include_top, input_shape, pooling, classes, classifier_activation, name:
            keras.applications' arguments (`cnnzoo.models._common`). The top is
            ``flatten``, F6 and ``predictions``; without it the model ends at C5,
            1x1x120 on the default 32x32x1 input. Larger inputs build, with more C5
            positions (and so more F6 weights).
        activation: ``"scaled_tanh"`` ([1] Appendix A, with average-pooling
            subsampling) or ``"relu"`` (with max-pooling subsampling, the modern
            variant). C1, C3, C5 and F6 use it.

    Returns:
        A `keras.Model`; layers ``c1, s2, c3, s4, c5`` (+ ``flatten, f6,
        predictions`` with the top).

    Raises:
        ValueError: for an unknown activation or pooling, a bad input_shape, an
            unknown classifier activation or channels-first data format.
    """
    check_choice(activation, ACTIVATIONS, "activation")
    act, pool = ACTIVATIONS[activation]
    x = layers.Conv2D(C1_FILTERS, KERNEL_SIZE, activation=act, name="c1")(inputs)
    x = pool(POOL_SIZE, name="s2")(x)
    x = layers.Conv2D(C3_FILTERS, KERNEL_SIZE, activation=act, name="c3")(x)
    x = pool(POOL_SIZE, name="s4")(x)
    x = layers.Conv2D(C5_FILTERS, KERNEL_SIZE, activation=act, name="c5")(x)
    if top.include:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(F6_UNITS, activation=act, name="f6")(x)
    return top(x)

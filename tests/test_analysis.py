"""cnnzoo.analysis: block surgery, path counts, lesion and response mechanics on small random nets.

No test here checks the science (that needs trained weights); each checks that a
mechanism computes what it claims: all gates on is the model itself, all off is
its shortcut-only function, the identity order changes nothing, the path counts
are the binomial.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.analysis.surgery import BlockSurgery

CIFAR_SMALL = (16, 16, 3)
IMAGENET_SMALL = (64, 64, 3)


def _images(shape, n=2, seed=0):
    # Unit-scale inputs: raw 0..255 pixels into a net without preprocessing saturate
    # the softmax and hide differences.
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _trained_like(net):
    """A trained model's layout: preprocessing layers, then the net nested as a layer."""
    inputs = keras.Input(net.input_shape[1:], name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)
    return keras.Model(inputs, net(x), name=net.name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,options,shape",
    [
        ("resnet20", {}, CIFAR_SMALL),
        ("resnet20", {"shortcut": "B"}, CIFAR_SMALL),
        ("preact_resnet32", {}, CIFAR_SMALL),
        ("wu_resnet32", {}, CIFAR_SMALL),
        ("plain20", {}, CIFAR_SMALL),
        ("resnet18", {}, IMAGENET_SMALL),
        ("resnet50", {}, IMAGENET_SMALL),
        ("preact_resnet50", {}, IMAGENET_SMALL),
    ],
)
def test_all_gates_on_is_the_model_itself(name, options, shape):
    net = cnnzoo.build(name, input_shape=shape, **options)
    x = _images(shape)
    for model in (net, _trained_like(net)):
        rebuilt = BlockSurgery(model).build()
        np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(model(x)))


def _shortcut_only(net, x):
    """resnet20 (option A) by hand with every branch removed: stem, shortcuts, ReLUs, head."""
    layer = {la.name: la for la in net.layers}
    h = layer["conv1_relu"](layer["conv1_bn"](layer["conv1_conv"](x)))
    for stage, count in ((2, 3), (3, 3), (4, 3)):
        for b in range(1, count + 1):
            unit = f"conv{stage}_block{b}"
            if f"{unit}_0_pad" in layer:
                h = layer[f"{unit}_0_pad"](h)
            h = layer[f"{unit}_out"](h)
    return layer["predictions"](layer["avg_pool"](h))


def test_all_gates_off_is_the_shortcut_only_function():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    model = surgery.build()
    surgery.delete(surgery.gated)
    x = _images(CIFAR_SMALL)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(_shortcut_only(net, x)), atol=1e-6)
    surgery.set_on({})  # all on again, without rebuilding
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(net(x)))


def test_deleting_a_plain_unit_passes_its_input_on():
    net = cnnzoo.build("plain20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    # conv3_block1 and conv4_block1 change the shape: no gate, they cannot be removed.
    assert "conv3_block1" not in surgery.gated and len(surgery.gated) == 7
    probe = keras.Model(net.input, net.get_layer("conv2_block1_out").output)
    gated = BlockSurgery(probe)
    gated.delete(["conv2_block1"])
    x = _images(CIFAR_SMALL)
    stem = keras.Model(net.input, net.get_layer("conv1_relu").output)
    np.testing.assert_array_equal(np.asarray(gated.build()(x)), np.asarray(stem(x)))
    with pytest.raises(ValueError, match="cannot be deleted"):
        surgery.delete(["conv3_block1"])


def test_identity_order_is_the_model_and_a_swap_is_not():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    x = _images(CIFAR_SMALL)
    n = len(surgery.blocks)
    np.testing.assert_array_equal(np.asarray(surgery.build(range(n))(x)), np.asarray(net(x)))
    swapped = list(range(n))
    swapped[1], swapped[2] = 2, 1  # conv2_block2 <-> conv2_block3
    assert not np.array_equal(np.asarray(surgery.build(swapped)(x)), np.asarray(net(x)))
    wrong = list(range(n))
    wrong[0], wrong[3] = 3, 0  # conv3_block1 changes the shape
    with pytest.raises(ValueError, match="same input and output shape"):
        surgery.build(wrong)


def test_rebuilt_model_shares_the_weights():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    rebuilt = BlockSurgery(net).build()
    shared = {id(v) for v in rebuilt.weights}
    assert all(id(v) in shared for v in net.weights)
    kernel = net.get_layer("conv2_block1_1_conv").kernel
    kernel.assign(kernel * 2.0)
    x = _images(CIFAR_SMALL)
    np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(net(x)))


def test_gradient_routing_leaves_the_forward_values():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    model = surgery.build(probe=True)
    x = _images(CIFAR_SMALL)
    probe = np.zeros((2, *surgery.blocks[0].input.shape[1:]), "float32")
    surgery.route_gradient(set(surgery.gated[:2]))
    np.testing.assert_array_equal(np.asarray(model([x, probe])), np.asarray(net(x)))


def test_a_model_without_units_is_refused():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    with pytest.raises(ValueError, match="no residual units"):
        BlockSurgery(model)

"""SGDL2: weight decay added to the gradient before momentum, as in Caffe and the papers."""

import keras
import numpy as np
import pytest

from cnnzoo.training.optimizer import SGDL2


def _step_twice(opt, k, b):
    for _ in range(2):
        opt.apply([np.ones((2, 2), "float32"), np.ones(2, "float32")], [k, b])


def test_coupled_l2_matches_hand_computation():
    k = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    b = keras.Variable(np.ones(2, "float32"), name="bias")
    _step_twice(SGDL2(l2=0.5, learning_rate=0.1, momentum=0.9), k, b)
    # step 1: v = -0.1 * (1 + 0.5*1) = -0.15 -> w = 0.85
    # step 2: v = 0.9*(-0.15) - 0.1*(1 + 0.5*0.85) = -0.2775 -> w = 0.5725
    np.testing.assert_allclose(k.numpy(), 0.5725, rtol=1e-6)
    # biases are not decayed: plain momentum SGD, 1 - 0.1 - 0.19 = 0.71
    np.testing.assert_allclose(b.numpy(), 0.71, rtol=1e-6)


def test_zero_l2_is_plain_sgd():
    k1 = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    b1 = keras.Variable(np.ones(2, "float32"), name="bias")
    k2 = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    b2 = keras.Variable(np.ones(2, "float32"), name="bias")
    _step_twice(SGDL2(l2=0.0, learning_rate=0.1, momentum=0.9), k1, b1)
    _step_twice(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), k2, b2)
    np.testing.assert_allclose(k1.numpy(), k2.numpy())


def test_config_round_trip_and_errors():
    opt = SGDL2(l2=1e-4, learning_rate=0.1, momentum=0.9)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, SGDL2) and again.l2 == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        SGDL2(l2=-1.0)
    with pytest.raises(ValueError, match="do not also pass weight_decay"):
        SGDL2(l2=1e-4, weight_decay=1e-4)


def test_lr_multiplier_scales_matching_variables():
    k = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    b = keras.Variable(np.ones(2, "float32"), name="bias")
    opt = SGDL2(learning_rate=0.1, momentum=0.0, lr_multipliers=[("bias$", 2.0)])
    opt.apply([np.ones((2, 2), "float32"), np.ones(2, "float32")], [k, b])
    np.testing.assert_allclose(k.numpy(), 0.9, rtol=1e-6)  # 1 - 0.1 * 1
    np.testing.assert_allclose(b.numpy(), 0.8, rtol=1e-6)  # 1 - 2 * 0.1 * 1
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert again.lr_multipliers == [("bias$", 2.0)]


def test_rmsprop_l2_adds_decay_before_the_rmsprop_update():
    from cnnzoo.training.optimizer import RMSpropL2

    k = keras.Variable(np.full((2, 2), 2.0, "float32"), name="kernel")
    b = keras.Variable(np.ones(2, "float32"), name="bias")
    opt = RMSpropL2(l2=0.5, learning_rate=0.1, rho=0.9, epsilon=1.0)
    opt.apply([np.ones((2, 2), "float32"), np.ones(2, "float32")], [k, b])
    # Kernel gradient 1 + 0.5*2 = 2: ms = 0.1*4 = 0.4, step 0.1*2/sqrt(0.4 + 1), the
    # TensorFlow RMSProp the paper used (epsilon inside the square root).
    np.testing.assert_allclose(k.numpy(), 2.0 - 0.2 / np.sqrt(1.4), rtol=1e-5)
    # Bias gradient 1 (no decay): ms = 0.1, step 0.1/sqrt(0.1 + 1).
    np.testing.assert_allclose(b.numpy(), 1.0 - 0.1 / np.sqrt(1.1), rtol=1e-5)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, RMSpropL2) and again.l2 == 0.5 and again.epsilon == 1.0

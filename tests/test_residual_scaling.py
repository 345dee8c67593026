"""ResidualScaling: shortcut + scale * branch (Szegedy et al. 2016 §3.3), serializable."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cnnzoo  # noqa: F401  (registers the layer for safe_mode loading)
from cnnzoo.layers import ResidualScaling


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shortcut = rng.standard_normal((2, 5, 5, 8)).astype(np.float32)
    branch = rng.standard_normal((2, 5, 5, 8)).astype(np.float32)
    return shortcut, branch


@pytest.mark.parametrize("scale", [0.17, 0.1, 0.2, 1.0, 0.0, -0.5])
def test_output_is_shortcut_plus_scaled_branch(pair, scale):
    shortcut, branch = pair
    got = keras.ops.convert_to_numpy(ResidualScaling(scale)([shortcut, branch]))
    np.testing.assert_allclose(got, shortcut + scale * branch, rtol=1e-6, atol=1e-7)
    # The scale is really applied: the unscaled sum differs.
    if scale != 1.0:
        assert np.abs(got - (shortcut + branch)).max() > 1e-2


def test_no_weights_and_config(pair):
    layer = ResidualScaling(0.17, name="block35_1_scale")
    layer(list(pair))
    assert layer.weights == [] and layer.count_params() == 0
    assert layer.get_config()["scale"] == 0.17
    assert keras.saving.get_registered_name(ResidualScaling) == "cnnzoo>ResidualScaling"


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), "0.1", True, None])
def test_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale must be a finite number"):
        ResidualScaling(scale)


def test_rejects_mismatched_or_single_inputs():
    a, b = keras.Input((4, 4, 8)), keras.Input((4, 4, 16))
    with pytest.raises(ValueError, match="one shape"):
        ResidualScaling(0.1)([a, b])
    with pytest.raises(ValueError, match="pair"):
        ResidualScaling(0.1)([a, a, a])


def test_round_trips_through_keras_file_in_safe_mode(tmp_path, pair):
    # A small residual block, saved and loaded with safe_mode=True and no custom_objects.
    inputs = keras.Input((5, 5, 8))
    branch = keras.layers.Conv2D(8, 1, name="up")(inputs)
    out = ResidualScaling(0.17, name="scale")([inputs, branch])
    model = keras.Model(inputs, keras.layers.Activation("relu", name="ac")(out))
    path = tmp_path / "residual.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("scale")
    assert isinstance(layer, ResidualScaling) and layer.scale == 0.17
    x = pair[0]
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-7)

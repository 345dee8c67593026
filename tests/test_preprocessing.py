"""The recipe's preprocessing as the model's first layers: values, and safe-mode round trip."""

import keras
import numpy as np
import pytest

from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)


def _identity_net():
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="net")


def _apply(mode, images, x):
    model = with_preprocessing(_identity_net(), preprocessing_layers(mode, images))
    return model, np.asarray(model(x))


def test_per_pixel_mean(images):
    x = images[:4].astype("float32")
    _, got = _apply("per_pixel_mean", images, x)
    mean = images.astype("float64").mean(axis=0) / 255.0  # He et al. 2016 §4.2
    np.testing.assert_allclose(got, x / 255.0 - mean, atol=1e-5)


@pytest.mark.parametrize("mode", ["per_pixel_mean_255", "per_channel_mean_255"])
def test_caffe_mean_subtraction_keeps_the_255_scale(images, mode):
    x = images[:4].astype("float32")
    _, got = _apply(mode, images, x)
    # Caffe's convention (thesis nets, AlexNet, VGG): raw pixels minus the mean, unscaled.
    axes = 0 if mode == "per_pixel_mean_255" else (0, 1, 2)
    mean = images.astype("float64").mean(axis=axes)
    np.testing.assert_allclose(got, x - mean, atol=1e-3)
    assert np.abs(got).max() > 100


def test_scale_pm1(images):
    x = np.array([[[[0, 127.5, 255]]]], "float32").repeat(8, 1).repeat(8, 2)
    _, got = _apply("scale_pm1", images, x)
    np.testing.assert_allclose(got[0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)


def test_per_channel_standardize(images):
    x = images[:4].astype("float32")
    _, got = _apply("per_channel_standardize", images, x)
    scaled = images.astype("float64") / 255.0
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    np.testing.assert_allclose(got, (x / 255.0 - mean) / std, atol=1e-4)


def test_per_pixel_standardize(images):
    # W. Wu, 2016 thesis §2.1: every dimension minus its training mean, over its std.
    x = images[:4].astype("float32")
    _, got = _apply("per_pixel_standardize", images, x)
    scaled = images.astype("float64") / 255.0
    mean, std = scaled.mean(axis=0), scaled.std(axis=0)
    np.testing.assert_allclose(got, (x / 255.0 - mean) / std, atol=1e-3)
    # Standardized on the training images: each dimension has mean 0 and std 1 there.
    _, train = _apply("per_pixel_standardize", images, images.astype("float32"))
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-3)


def test_per_pixel_standardize_leaves_constant_dimensions_unscaled(images):
    # §2.1: "dimensions of variance 0 need no variance normalization".
    blank = images.copy()
    blank[:, 0, 0, :] = 0  # a corner that is always 0, as MNIST's are
    x = np.full((1, 8, 8, 3), 51.0, "float32")
    _, got = _apply("per_pixel_standardize", blank, x)
    np.testing.assert_allclose(got[0, 0, 0], [0.2, 0.2, 0.2], atol=1e-6)  # 51/255 - 0
    assert np.isfinite(got).all()


def test_round_trip_in_safe_mode(images, tmp_path):
    model, before = _apply("per_pixel_mean", images, images[:2].astype("float32"))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(images[:2].astype("float32"))), before, atol=1e-6)


def test_statistics_need_training_images():
    with pytest.raises(ValueError, match="needs the training images"):
        preprocessing_layers("per_pixel_mean", None)
    assert preprocessing_layers("none") == []

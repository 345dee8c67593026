"""Dense evaluation: FC -> conv conversion equals the original; score maps; dense_predict."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _tiny_models import tiny_model

import cnnzoo
from cnnzoo import cli_args
from cnnzoo.evaluation.dense import (
    DENSE_POOLING,
    MeanImageOrChannelMean,
    cached_fully_convolutional,
    classifier_model,
    dense_predict,
    main_output_index,
    mean_substitutions,
    pool_score_map,
    score_map,
    to_fully_convolutional,
)
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing

# Simonyan & Zisserman 2015 §3.2 / the issue: outputs equal the original's to 1e-4.
TOL = 1e-4


def _pixels(shape, seed=0, high=255.0):
    return np.random.default_rng(seed).uniform(0, high, size=shape).astype("float32")


def _flat_net(activation="softmax", input_shape=(16, 16, 3), seed=0):
    """Valid conv -> pool -> Flatten -> Dense -> Dropout -> Dense: a VGG head in miniature.

    With "valid" layers only, the score map on a larger image is exactly the original
    applied to each window (stride 2), which the tests check location by location.
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)  # 7x7x4 on 16x16
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(8, activation="relu", kernel_initializer=init, name="fc1")(x)
    x = keras.layers.Dropout(0.5, name="fc1_dropout")(x)
    x = keras.layers.Dense(5, activation=activation, kernel_initializer=init, name="predictions")(x)
    return keras.Model(inputs, x, name="flat_net")


@pytest.mark.parametrize("activation", ["softmax", None])
def test_flat_head_becomes_convolutions_equal_to_the_original(activation):
    model = _flat_net(activation)
    fc = to_fully_convolutional(model)
    assert fc.input_shape == (None, None, None, 3)
    fc1, predictions = fc.get_layer("fc1"), fc.get_layer("predictions")
    assert isinstance(fc1, keras.layers.Conv2D) and fc1.kernel.shape == (7, 7, 4, 8)
    assert isinstance(predictions, keras.layers.Conv2D) and predictions.kernel.shape == (1, 1, 8, 5)
    x = _pixels((4, 16, 16, 3), high=1.0)
    expected = model(x).numpy()
    got = fc(x).numpy()
    assert got.shape == (4, 1, 1, 5)
    np.testing.assert_allclose(got[:, 0, 0], expected, atol=TOL, rtol=1e-5)


def test_score_map_on_a_larger_image_is_the_original_on_each_window():
    model = _flat_net()
    fc = to_fully_convolutional(model)
    image = _pixels((1, 22, 20, 3), high=1.0)
    _assert_windows(score_map(fc, image), model, image)


def _assert_windows(scores, model, image):
    """`scores` of a 22x20 image is `model` on each of its 16x16 windows."""
    # conv 3x3 valid, pool 2: a 16x16 window every 2 pixels -> (22-16)/2+1 x (20-16)/2+1.
    assert scores.shape == (1, 4, 3, 5)
    for i in range(4):
        for j in range(3):
            window = image[:, 2 * i : 2 * i + 16, 2 * j : 2 * j + 16]
            np.testing.assert_allclose(scores[0, i, j], model(window).numpy()[0], atol=TOL)


def test_vgg_fc1_becomes_a_map_sized_convolution():
    # A 64x64 VGG-11: block5 ends at 2x2x512, so fc1 becomes a 2x2 convolution
    # (7x7 at the paper's 224x224).
    model = cnnzoo.build("vgg11", input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    fc = to_fully_convolutional(model)
    assert fc.get_layer("fc1").kernel.shape == (2, 2, 512, 4096)
    assert fc.get_layer("fc2").kernel.shape == (1, 1, 4096, 4096)
    assert fc.get_layer("predictions").kernel.shape == (1, 1, 4096, 10)
    x = _pixels((2, 64, 64, 3), high=1.0)
    expected = model(x).numpy()
    got = fc(x).numpy()[:, 0, 0]
    np.testing.assert_allclose(got, expected, atol=TOL * max(1.0, np.abs(expected).max()))
    # 96x128: block5 is 3x4, so 2x3 positions of the 2x2 fc1 window.
    assert score_map(fc, _pixels((1, 96, 128, 3))).shape == (1, 2, 3, 10)


def test_alexnet_fc6_becomes_a_map_sized_convolution():
    # 99x99 input: conv1 23, pool1 11, pool2 5, pool5 2 -> fc6 is a 2x2 convolution
    # (6x6 at 227x227, Krizhevsky et al. 2012 Fig. 2).
    model = cnnzoo.build("alexnet", input_shape=(99, 99, 3), classes=10)
    fc = to_fully_convolutional(model)
    assert fc.get_layer("fc6").kernel.shape == (2, 2, 256, 4096)
    x = _pixels((2, 99, 99, 3), high=1.0)
    np.testing.assert_allclose(fc(x).numpy()[:, 0, 0], model(x).numpy(), atol=TOL)
    assert score_map(fc, _pixels((1, 131, 163, 3))).shape == (1, 2, 3, 10)


def test_global_pooling_head_stays_and_gives_a_1x1_map():
    model = cnnzoo.build("resnet20")
    fc = to_fully_convolutional(model)
    assert isinstance(fc.get_layer("avg_pool"), keras.layers.GlobalAveragePooling2D)
    assert isinstance(fc.get_layer("predictions"), keras.layers.Dense)
    x = _pixels((2, 32, 32, 3), high=1.0)
    np.testing.assert_allclose(fc(x).numpy()[:, 0, 0], model(x).numpy(), atol=TOL)
    assert score_map(fc, _pixels((1, 48, 40, 3))).shape == (1, 1, 1, 10)


def _wrapped(preprocessing, seed=0, n=20):
    """`_flat_net` inside a trained model's wrapper; also the training images."""
    train = np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    return with_preprocessing(_flat_net(), preprocessing_layers(preprocessing, train)), train


def test_trained_model_wrapper_with_per_channel_mean_converts():
    model, _ = _wrapped("per_channel_mean")
    fc = to_fully_convolutional(model)
    x = _pixels((3, 16, 16, 3))
    np.testing.assert_allclose(fc(x).numpy()[:, 0, 0], model(x).numpy(), atol=TOL)
    assert score_map(fc, _pixels((1, 20, 18, 3))).shape == (1, 3, 2, 5)


def test_per_pixel_mean_goes_dense_with_its_channel_mean_at_other_sizes():
    model, train = _wrapped("per_pixel_mean")
    fc = to_fully_convolutional(model)
    assert isinstance(fc.get_layer("preprocess_mean"), MeanImageOrChannelMean)
    # At the training size the mean image itself: the original's output.
    x = _pixels((3, 16, 16, 3))
    np.testing.assert_allclose(fc(x).numpy()[:, 0, 0], model(x).numpy(), atol=TOL)
    # Elsewhere, by hand: pixels / 255 minus the training set's mean of each channel
    # (the mean image averaged over height and width), then the net on each window.
    channel_mean = train.reshape(-1, 3).astype("float64").mean(axis=0) / 255.0
    image = _pixels((1, 22, 20, 3))
    centred = (image / 255.0 - channel_mean).astype("float32")
    _assert_windows(score_map(fc, image), model.get_layer("flat_net"), centred)
    (record,) = mean_substitutions(model)
    assert (record.layer, record.size) == ("preprocess_mean", (16, 16))
    np.testing.assert_allclose(record.channel_mean, channel_mean, rtol=1e-5)
    assert record.describe().startswith(
        "preprocess_mean: the 16x16 per-pixel mean image is replaced by its per-channel mean"
    )
    assert mean_substitutions(_flat_net()) == ()


def test_substituted_mean_follows_sizes_unknown_when_traced():
    # score_map's tf.function relaxes to (None, None, None, 3) after a few sizes; the
    # layer then chooses per call, and the training size still gets the mean image.
    model, _ = _wrapped("per_pixel_mean_255", seed=1, n=8)
    fc = to_fully_convolutional(model)
    for shape in [(1, 18, 17, 3), (1, 19, 23, 3), (1, 20, 16, 3)]:
        score_map(fc, _pixels(shape))
    x = _pixels((2, 16, 16, 3))
    np.testing.assert_allclose(score_map(fc, x)[:, 0, 0], model(x).numpy(), atol=TOL)


def test_max_and_mean_pooling_of_a_constructed_score_map():
    assert DENSE_POOLING == cli_args.DENSE_POOLING == ("mean", "max")
    # 2x2 locations, 3 classes: class 0 is fairly likely everywhere, classes 1 and 2
    # are very likely at one location each.
    scores = np.array(
        [[[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], [[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]]]], "float32"
    )
    mean = pool_score_map(scores, "mean")
    # (0.7+0.1+0.1+0.6)/4, (0.2+0.8+0.1+0.3)/4, (0.1+0.1+0.8+0.1)/4
    np.testing.assert_allclose(mean, [[0.375, 0.35, 0.275]], atol=1e-6)
    peak = pool_score_map(scores, "max")
    # max per class 0.7, 0.8, 0.8, divided by their sum 2.3
    np.testing.assert_allclose(peak, [[0.7 / 2.3, 0.8 / 2.3, 0.8 / 2.3]], atol=1e-6)
    assert mean.argmax() == 0 and peak.argmax() in (1, 2)
    with pytest.raises(ValueError, match="unknown dense pooling 'sum'"):
        pool_score_map(scores, "sum")


def test_dense_predict_max_pools_each_map_then_averages_the_mirror():
    fc = to_fully_convolutional(_flat_net())
    images = _pixels((2, 22, 20, 3), high=1.0)
    maps, mirrored = score_map(fc, images), score_map(fc, images[:, :, ::-1])
    peak = maps.max(axis=(1, 2))
    peak_mirrored = mirrored.max(axis=(1, 2))
    expected = (
        peak / peak.sum(axis=1, keepdims=True)
        + peak_mirrored / peak_mirrored.sum(axis=1, keepdims=True)
    ) / 2
    got = dense_predict(fc, images, pooling="max")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(got, dense_predict(fc, images), atol=1e-4)


def test_unconvertible_heads_are_errors():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    x = keras.layers.BatchNormalization(name="flat_bn")(x)  # per flat feature, not channel
    with pytest.raises(ValueError, match="flat_bn.*between Flatten and Dense"):
        to_fully_convolutional(keras.Model(inputs, keras.layers.Dense(3)(x)))
    features = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs), name="features")
    with pytest.raises(ValueError, match="not a class-score vector"):
        to_fully_convolutional(features)


def test_auxiliary_outputs_are_dropped_for_the_main_one():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    aux = keras.layers.Dense(3, activation="softmax", name="aux1_predictions")(x)
    main = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, [aux, main])
    assert main_output_index(model) == 1
    x = _pixels((2, 8, 8, 3), high=1.0)
    np.testing.assert_allclose(classifier_model(model)(x).numpy(), model(x)[1].numpy())
    fc = to_fully_convolutional(model)
    np.testing.assert_allclose(fc(x).numpy()[:, 0, 0], model(x)[1].numpy(), atol=TOL)


def test_dense_predict_averages_posterior_maps_and_mirrors():
    model = _flat_net()
    fc = to_fully_convolutional(model)
    images = _pixels((2, 22, 20, 3), high=1.0)
    maps = score_map(fc, images)
    mirrored = score_map(fc, images[:, :, ::-1])
    expected = (maps.mean(axis=(1, 2)) + mirrored.mean(axis=(1, 2))) / 2
    np.testing.assert_allclose(dense_predict(fc, images), expected, atol=1e-6)
    np.testing.assert_allclose(
        dense_predict(fc, images, mirror=False), maps.mean(axis=(1, 2)), atol=1e-6
    )
    # Posteriors are averaged even for a logits model: softmax at each location first.
    logits_fc = to_fully_convolutional(_flat_net(activation=None))
    np.testing.assert_allclose(
        dense_predict(logits_fc, images, from_logits=True), expected, atol=1e-5
    )


def test_tiny_global_pooling_model_dense_predict_sums_to_one():
    fc = to_fully_convolutional(tiny_model())
    probs = dense_predict(fc, _pixels((3, 40, 36, 3)))
    assert probs.shape == (3, 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_real_vgg16_dense_at_224_and_256():
    # Simonyan & Zisserman 2015 §3.2: fc6 (our fc1) -> 7x7 conv; a 256x256 image gives
    # a 2x2 map (block5 8x8, 7x7 window).
    model = cnnzoo.build("vgg16", classifier_activation=None)
    fc = to_fully_convolutional(model)
    assert fc.get_layer("fc1").kernel.shape == (7, 7, 512, 4096)
    x = _pixels((1, 224, 224, 3), high=1.0)
    expected = model(x).numpy()
    np.testing.assert_allclose(
        fc(x).numpy()[:, 0, 0], expected, atol=TOL * max(1.0, np.abs(expected).max())
    )
    assert score_map(fc, _pixels((1, 256, 256, 3))).shape == (1, 2, 2, 1000)


def test_cached_conversion_follows_the_original_weights(tmp_path):
    model = _flat_net()
    n_weights = len(model.weights)
    fc = cached_fully_convolutional(model)
    assert cached_fully_convolutional(model) is fc
    # Training the original between evaluations: the cached copy is refreshed.
    fc1 = model.get_layer("fc1")
    fc1.kernel.assign(fc1.kernel * 2.0)
    x = _pixels((2, 16, 16, 3), high=1.0)
    np.testing.assert_allclose(
        cached_fully_convolutional(model)(x).numpy()[:, 0, 0], model(x).numpy(), atol=TOL
    )
    # The cache rides on the model object but is no part of the model.
    assert len(model.weights) == n_weights
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)

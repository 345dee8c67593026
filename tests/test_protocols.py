"""Test protocols: multi-view predictions equal the mean of views computed one at a time."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from _tiny_models import tiny_model
from cnnzoo.pipelines import views

from cnnzoo.cli import main
from cnnzoo.evaluation import protocols
from cnnzoo.evaluation.dense import dense_predict, to_fully_convolutional
from cnnzoo.model_io import save_trained
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing

CROP = 8  # the tiny models' input side
CLASSES = 6
TOL = 1e-5


@pytest.fixture(scope="module")
def model():
    return tiny_model((CROP, CROP, 3), CLASSES, seed=0)


def _images(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def _labels(n, seed=0):
    return np.random.default_rng(seed).integers(0, CLASSES, size=n)


def _one(model, crop):
    """The model on one view, alone in its batch."""
    return model(np.asarray(crop, dtype="float32")[None], training=False).numpy()[0]


def _ref_ten_crop(model, image, q):
    # Krizhevsky et al. 2012 §2 and §4.1: shorter side to q, the central q x q square,
    # its corners and centre and their mirrors, one model call per view.
    resized = views.resize_shorter(image, q).numpy()
    h, w = resized.shape[:2]
    square = resized[(h - q) // 2 : (h - q) // 2 + q, (w - q) // 2 : (w - q) // 2 + q]
    m = q - CROP
    offsets = [(0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2)]
    crops = [square[t : t + CROP, left : left + CROP] for t, left in offsets]
    crops += [c[:, ::-1] for c in crops]
    return np.mean([_one(model, c) for c in crops], axis=0)


def test_ten_crop_equals_the_mean_of_views_one_at_a_time(model):
    images = _images(5, 11, 14)
    labels = _labels(5)
    # batch_size 20: two images' views per model call, so calls mix images.
    probs, y = protocols.predict_views(
        model, images, labels, views="10crop", scales=(10,), batch_size=20
    )
    assert probs.shape == (5, CLASSES)
    np.testing.assert_array_equal(y, labels)
    for i in range(5):
        np.testing.assert_allclose(probs[i], _ref_ten_crop(model, images[i], 10), atol=TOL)


def test_images_of_different_sizes_and_tf_data_give_the_same_predictions(model):
    sizes = [(11, 14), (14, 9), (10, 10), (16, 12)]
    images = [_images(1, h, w, seed=i)[0] for i, (h, w) in enumerate(sizes)]
    labels = _labels(4)
    probs, _ = protocols.predict_views(model, images, labels, views="10crop", scales=(10,))
    for i, image in enumerate(images):
        np.testing.assert_allclose(probs[i], _ref_ten_crop(model, image, 10), atol=TOL)
    ds = tf.data.Dataset.from_generator(
        lambda: zip(images, labels, strict=True),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)),
    )
    from_ds, y = protocols.predict_views(model, ds, views="10crop", scales=(10,), batch_size=30)
    np.testing.assert_allclose(from_ds, probs, atol=TOL)
    np.testing.assert_array_equal(y, labels)


def test_144_crops_equal_the_mean_of_views_one_at_a_time(model):
    image = _images(1, 9, 12, seed=3)[0]
    scales = (8, 9, 10, 12)
    probs, _ = protocols.predict_views(model, image[None], [0], views="144crop", scales=scales)
    crops = views.crops_144(image, CROP, scales).numpy()
    assert len(crops) == 144
    expected = np.mean([_one(model, c) for c in crops], axis=0)
    np.testing.assert_allclose(probs[0], expected, atol=TOL)


def test_center_and_multiscale_center(model):
    images = _images(3, 12, 15)
    probs, _ = protocols.predict_views(model, images, _labels(3), views="center", scales=(10,))
    for i in range(3):
        crop = views.center_crop(views.resize_shorter(images[i], 10), CROP).numpy()
        np.testing.assert_allclose(probs[i], _one(model, crop), atol=TOL)
    # Several Q: the mean over scales of each scale's prediction.
    multi, _ = protocols.predict_views(model, images, _labels(3), views="center", scales=(9, 12))
    per_scale = [
        protocols.predict_views(model, images, _labels(3), views="center", scales=(q,))[0]
        for q in (9, 12)
    ]
    np.testing.assert_allclose(multi, np.mean(per_scale, axis=0), atol=TOL)


def test_dense_protocol_and_its_combination_with_multi_crop(model):
    images = _images(3, 12, 15)
    labels = _labels(3)
    dense, _ = protocols.predict_views(model, images, labels, views="dense", scales=(16,))
    fc = to_fully_convolutional(model)
    expected = dense_predict(fc, views.resize_shorter(images, 16))
    np.testing.assert_allclose(dense, expected, atol=TOL)
    # Simonyan & Zisserman 2015 Table 5: multi-crop & dense = mean of the two.
    crops, _ = protocols.predict_views(model, images, labels, views="10crop", scales=(16,))
    both, _ = protocols.predict_views(
        model, images, labels, views=("10crop", "dense"), scales=(16,)
    )
    np.testing.assert_allclose(both, (crops + dense) / 2, atol=TOL)


def test_multiscale_is_dense_over_vggs_scales(model):
    assert protocols.DEFAULT_SCALES["multiscale"] == (256, 384, 512)  # VGG Table 4
    images, labels = _images(2, 12, 15), _labels(2)
    multi = protocols.evaluate_views(model, images, labels, views="multiscale", scales=(8, 12))
    dense = protocols.evaluate_views(model, images, labels, views="dense", scales=(8, 12))
    assert multi["scales"] == dense["scales"] == [8, 12]
    assert multi["views_per_image"] == dense["views_per_image"] == 4  # image and mirror, 2 Q
    probs, _ = protocols.predict_views(model, images, labels, views="multiscale", scales=(8, 12))
    expected, _ = protocols.predict_views(model, images, labels, views="dense", scales=(8, 12))
    np.testing.assert_allclose(probs, expected, atol=TOL)


def _per_pixel_mean_model(seed=0):
    """The tiny model behind a per-pixel mean on [0, 255] pixels (AlexNet's preprocessing)."""
    train = np.random.default_rng(seed).integers(0, 256, (12, CROP, CROP, 3), dtype=np.uint8)
    net = tiny_model((CROP, CROP, 3), CLASSES, seed=seed)
    model = with_preprocessing(net, preprocessing_layers("per_pixel_mean_255", train))
    return model, net, train.reshape(-1, 3).astype("float64").mean(axis=0)


def test_per_pixel_mean_model_dense_and_multiscale_use_the_channel_mean():
    model, fixed_net, channel_mean = _per_pixel_mean_model()
    # The same net taking any size (its layers keep their weights' shapes).
    net = tiny_model((None, None, 3), CLASSES)
    net.set_weights(fixed_net.get_weights())
    images, labels = _images(3, 12, 15), _labels(3)
    report = protocols.evaluate_views(model, images, labels, views="multiscale", scales=(10, 14))
    # By hand: at each Q, the image less the per-channel mean of the mean image, through
    # the global-pooling net, averaged with its mirror; then the mean over the two Q.
    per_scale = []
    for q in (10, 14):
        centred = (views.resize_shorter(images, q).numpy() - channel_mean).astype("float32")
        per_scale.append((net(centred).numpy() + net(centred[:, :, ::-1]).numpy()) / 2)
    expected = np.mean(per_scale, axis=0)
    assert report == {
        **protocols.score(expected, labels),
        "views": "multiscale",
        "scales": [10, 14],
        "views_per_image": 4,
        "dense_pooling": "mean",
        "mean_substitution": f"{model.name}: preprocess_mean: the {CROP}x{CROP} per-pixel "
        f"mean image is replaced by its per-channel mean "
        f"({', '.join(f'{m:.2f}' for m in channel_mean)}) at input sizes other than "
        f"{CROP}x{CROP}",
    }
    probs, _ = protocols.predict_views(model, images, labels, views="multiscale", scales=(10, 14))
    np.testing.assert_allclose(probs, expected, atol=TOL)


def test_per_pixel_mean_at_its_own_size_is_not_substituted():
    model, _, _ = _per_pixel_mean_model(seed=1)
    images, labels = _images(2, CROP, CROP), _labels(2)
    report = protocols.evaluate_views(model, images, labels, views="dense", scales=(CROP,))
    assert "mean_substitution" not in report and report["dense_pooling"] == "mean"
    flips = (model(images.astype("float32")) + model(images[:, :, ::-1].astype("float32"))) / 2
    probs, _ = protocols.predict_views(model, images, labels, views="dense", scales=(CROP,))
    np.testing.assert_allclose(probs, flips.numpy(), atol=TOL)


def test_dense_max_pooling_option(model):
    images, labels = _images(2, 12, 15), _labels(2)
    report = protocols.evaluate_views(
        model, images, labels, views="dense", scales=(16,), dense_pooling="max"
    )
    probs, _ = protocols.predict_views(
        model, images, labels, views="dense", scales=(16,), dense_pooling="max"
    )
    fc = to_fully_convolutional(model)
    expected = dense_predict(fc, views.resize_shorter(images, 16), pooling="max")
    np.testing.assert_allclose(probs, expected, atol=TOL)
    assert report["dense_pooling"] == "max" and "mean_substitution" not in report
    with pytest.raises(ValueError, match="unknown dense_pooling 'sum'"):
        protocols.evaluate_views(model, images, labels, views="dense", dense_pooling="sum")
    with pytest.raises(ValueError, match="dense_pooling='max' pools the score maps"):
        protocols.evaluate_views(model, images, labels, scales=(10,), dense_pooling="max")


def test_cifar_flip_and_translate_tta(model):
    images = _images(4, CROP, CROP)
    labels = _labels(4)
    single, _ = protocols.predict_views(model, images, labels, views="single")
    np.testing.assert_allclose(single, model(images.astype("float32")).numpy(), atol=TOL)
    flip, _ = protocols.predict_views(model, images, labels, views="flip")
    mirrored = model(images[:, :, ::-1].astype("float32")).numpy()
    np.testing.assert_allclose(flip, (single + mirrored) / 2, atol=TOL)
    shifted, _ = protocols.predict_views(model, images, labels, views="translate", pad=2)
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)])
    for i in range(4):
        windows = [
            padded[i, dy : dy + CROP, dx : dx + CROP] for dy in (0, 2, 4) for dx in (0, 2, 4)
        ]
        windows += [w[:, ::-1] for w in windows]
        expected = np.mean([_one(model, w) for w in windows], axis=0)
        np.testing.assert_allclose(shifted[i], expected, atol=TOL)


def test_ensemble_is_the_mean_of_its_members(model):
    other = tiny_model((CROP, CROP, 3), CLASSES, seed=1)
    images, labels = _images(6, 12, 12), _labels(6)
    kw = {"views": "10crop", "scales": (10,)}
    members = [protocols.predict_views(m, images, labels, **kw)[0] for m in (model, other)]
    mean, y = protocols.ensemble_predict([model, other], images, labels, **kw)
    np.testing.assert_allclose(mean, np.mean(members, axis=0), atol=TOL)
    report = protocols.evaluate_ensemble([model, other], images, labels, **kw)
    assert report == {
        **protocols.score(mean, y),
        "views": "10crop",
        "scales": [10],
        "views_per_image": 10,
        "members": [protocols.score(p, y) for p in members],
    }


def test_auxiliary_outputs_are_ignored():
    inputs = keras.Input((CROP, CROP, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    aux = keras.layers.Dense(CLASSES, activation="softmax", name="aux1_predictions")(x)
    main = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    images = _images(3, CROP, CROP)
    got, _ = protocols.predict_views(keras.Model(inputs, [aux, main]), images, [0, 1, 2], "flip")
    want, _ = protocols.predict_views(keras.Model(inputs, main), images, [0, 1, 2], "flip")
    np.testing.assert_allclose(got, want, atol=TOL)


def test_score_counts_top1_top5_and_reports_errors_in_percent():
    probs = np.array(
        [
            [0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02],  # label 0: top-1
            [0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02],  # label 4: top-5 only
            [0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02],  # label 6: neither
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # label 6: top-1
        ]
    )
    result = protocols.score(probs, np.array([0, 4, 6, 6]))
    assert result == {
        "images": 4,
        "top1_correct": 2,
        "top5_correct": 3,
        "top1_accuracy": 0.5,
        "top5_accuracy": 0.75,
        "top1_error": 50.0,
        "top5_error": 25.0,
    }
    # Fewer than five classes: top-5 is always right.
    assert protocols.score(np.eye(3), np.array([1, 2, 0]))["top5_correct"] == 3


def test_evaluate_views_report_and_max_images(model):
    images, labels = _images(10, 12, 12), _labels(10)
    report = protocols.evaluate_views(
        model, images, labels, views="10crop", scales=(10,), max_images=7, batch_size=20
    )
    probs, _ = protocols.predict_views(model, images[:7], labels[:7], views="10crop", scales=(10,))
    assert report == {
        **protocols.score(probs, labels[:7]),
        "views": "10crop",
        "scales": [10],
        "views_per_image": 10,
    }


def test_bad_arguments_are_errors(model):
    images, labels = _images(2, 12, 12), _labels(2)
    with pytest.raises(ValueError, match="unknown views 'five'"):
        protocols.evaluate_views(model, images, labels, views="five")
    with pytest.raises(ValueError, match="at their own size"):
        protocols.evaluate_views(model, images, labels, views="flip", scales=(10,))
    with pytest.raises(ValueError, match="feeds the images as they are"):
        protocols.evaluate_views(model, images, labels, views="single")
    with pytest.raises(ValueError, match="differs from"):
        protocols.evaluate_views(model, images, labels, crop_size=10, scales=(12,))
    with pytest.raises(ValueError, match="smaller than"):
        protocols.evaluate_views(model, images, labels, views="10crop", scales=(6,))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        protocols.evaluate_views(model, images, [0, 1, 2], scales=(10,))


def test_cli_prints_the_substitution_and_takes_dense_pooling(tmp_path, capsys):
    # `cnnzoo evaluate` on a class-folder tree: the note names the substituted mean.
    model, _, _ = _per_pixel_mean_model()
    names = [f"c{k}" for k in range(CLASSES)]
    path = tmp_path / "tiny.keras"
    save_trained(model, path, {"dataset": "folder", "class_names": names})
    root = tmp_path / "images"
    for i, image in enumerate(_images(4, 12, 15)):
        folder = root / names[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    args = ["evaluate", "--model", str(path), "--data", str(root), "--views", "dense"]
    assert main([*args, "--scales", "10", "--dense-pooling", "max"]) == 0
    out = capsys.readouterr().out
    assert "note: dense evaluation, tiny: preprocess_mean: the 8x8 per-pixel mean image" in out
    assert "protocol dense at scales [10]" in out

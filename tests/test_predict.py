"""predict_files: image files in, the model's own top-k out, bad files reported in place."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from _tiny_models import CLASS_NAMES, random_images, save_tiny_model, tiny_model

from cnnzoo import predict as predict_module
from cnnzoo.export import export_saved_model
from cnnzoo.model_io import load_trained
from cnnzoo.predict import ClassScore, FileError, Prediction, format_predictions, predict_files


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny model as `.keras` and as an export, and its in-process twin."""
    root = tmp_path_factory.mktemp("predict")
    model_path = save_tiny_model(root)
    export_dir = export_saved_model(model_path, root / "saved_model")
    model, _ = load_trained(model_path, compile=False)
    return {"keras": model_path, "saved_model": export_dir, "model": model}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Image files of every kind predict must handle, and the pixels the model should see."""
    root = tmp_path_factory.mktemp("images")
    rgb = random_images(2, seed=1)
    gray = random_images(1, (32, 32, 1), seed=2)[0]
    big = random_images(1, (40, 40, 3), seed=3)[0]
    (root / "a.png").write_bytes(tf.io.encode_png(rgb[0]).numpy())
    (root / "b.jpg").write_bytes(tf.io.encode_jpeg(rgb[1], quality=90).numpy())
    (root / "gray.png").write_bytes(tf.io.encode_png(gray).numpy())
    (root / "big.png").write_bytes(tf.io.encode_png(big).numpy())
    (root / "bad.png").write_text("this is not an image\n")
    files = [root / name for name in ("a.png", "bad.png", "b.jpg", "missing.png", "gray.png")]
    files.append(root / "big.png")
    # What the model should see: the PNG pixels exactly, the JPEG as decoded.
    pixels = {
        "a.png": rgb[0],
        "b.jpg": tf.io.decode_jpeg((root / "b.jpg").read_bytes()).numpy(),
        "gray.png": np.repeat(gray, 3, axis=-1),
    }
    return {"root": root, "files": files, "pixels": pixels}


@pytest.fixture(scope="module", params=["keras", "saved_model"])
def results(request, models, images):
    """predict_files on all the test files, with a `.keras` file and with the export."""
    return predict_files(models[request.param], images["files"], top_k=5)


def test_results_follow_the_order_of_the_files(results, images):
    assert [r.file for r in results] == [str(f) for f in images["files"]]
    kinds = [type(r) for r in results]
    assert kinds == [Prediction, FileError, Prediction, FileError, Prediction, Prediction]


@pytest.mark.parametrize("name", ["a.png", "b.jpg", "gray.png"])
def test_top5_is_the_models_own_prediction(results, images, models, name):
    (result,) = [r for r in results if r.file.endswith(name)]
    probs = models["model"].predict(images["pixels"][name][None].astype(np.float32), verbose=0)[0]
    best = np.argsort(-probs, kind="stable")[:5]
    assert [s.index for s in result.top] == best.tolist()
    assert [s.name for s in result.top] == [CLASS_NAMES[i] for i in best]
    np.testing.assert_allclose([s.probability for s in result.top], probs[best], atol=1e-5)


def test_conversions_are_noticed(results):
    by_name = {r.file.rsplit("/", 1)[-1]: r for r in results}
    assert by_name["a.png"].notices == []
    assert by_name["b.jpg"].notices == []
    assert by_name["gray.png"].notices == ["converted from 1 to 3 channels"]
    assert by_name["big.png"].notices == ["resized from 40x40 to 32x32"]
    assert len(by_name["big.png"].top) == 5
    assert sum(s.probability for s in by_name["big.png"].top) <= 1.0 + 1e-5


def test_bad_files_are_errors_naming_the_file(results, images):
    errors = {r.file: r.message for r in results if isinstance(r, FileError)}
    bad, missing = str(images["root"] / "bad.png"), str(images["root"] / "missing.png")
    assert set(errors) == {bad, missing}
    assert errors[bad].startswith(f"{bad}: not a readable image (")
    assert "function_node" not in errors[bad] and "[Op:" not in errors[bad]
    assert errors[missing] == f"{missing}: no such file"


def test_keras_file_and_export_agree(models, images):
    from_keras = predict_files(models["keras"], images["files"])
    from_export = predict_files(models["saved_model"], images["files"])
    for a, b in zip(from_keras, from_export, strict=True):
        assert type(a) is type(b)
        if isinstance(a, Prediction):
            assert [s.index for s in a.top] == [s.index for s in b.top]
            np.testing.assert_allclose(
                [s.probability for s in a.top], [s.probability for s in b.top], atol=1e-5
            )


def test_class_names_default_to_class_i(tmp_path, images):
    export_dir = export_saved_model(tiny_model(num_classes=3), tmp_path / "sm")
    (result,) = predict_files(export_dir, [images["root"] / "a.png"], top_k=5)
    assert len(result.top) == 3
    assert sorted(s.name for s in result.top) == ["class_0", "class_1", "class_2"]


def test_grayscale_model_gets_grayscale(tmp_path, images):
    model_path = save_tiny_model(tmp_path, input_shape=(32, 32, 1))
    (result,) = predict_files(model_path, [images["root"] / "a.png"], top_k=1)
    assert result.notices == ["converted from 3 to 1 channels"]
    assert result.top[0].name in CLASS_NAMES


def test_not_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a SavedModel directory"):
        predict_files(tmp_path, [])
    with pytest.raises(ValueError, match="top_k must be at least 1, got 0"):
        predict_files(tmp_path, [], top_k=0)


def test_format_predictions():
    results = [
        Prediction("cat.png", [ClassScore(1, "cat", 0.8123), ClassScore(2, "dog", 0.1)]),
        Prediction("big.png", [ClassScore(0, "airplane", 0.5)], ["resized from 40x40 to 32x32"]),
        FileError("bad.png", "bad.png: not a readable image (Unknown image file format)"),
    ]
    assert format_predictions(results) == (
        "cat.png\n"
        "  cat  0.8123\n"
        "  dog  0.1000\n"
        "big.png\n"
        "  airplane  0.5000\n"
        "  note: resized from 40x40 to 32x32\n"
        "bad.png\n"
        "  error: bad.png: not a readable image (Unknown image file format)\n"
    )
    assert format_predictions([]) == ""


def test_batches_keep_file_order(models, images, monkeypatch):
    whole = predict_files(models["keras"], images["files"])
    monkeypatch.setattr(predict_module, "BATCH_SIZE", 2)
    batched = predict_files(models["keras"], images["files"])
    assert [type(r) for r in batched] == [type(r) for r in whole]
    for a, b in zip(whole, batched, strict=True):
        if isinstance(a, Prediction):
            assert [s.index for s in a.top] == [s.index for s in b.top]
            np.testing.assert_allclose(
                [s.probability for s in a.top], [s.probability for s in b.top], atol=1e-6
            )

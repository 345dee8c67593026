"""`cnnzoo evaluate` over sources and protocols: the same images through two sources agree."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines import cifar10

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.evaluation.evaluate import evaluate_protocol
from cnnzoo.model_io import save_trained
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing

IMAGES = 600


def _cifar_model(path, train_images, seed):
    keras.utils.set_random_seed(seed)
    net = cnnzoo.build("resnet20")
    model = with_preprocessing(net, preprocessing_layers("per_channel_standardize", train_images))
    names = list(cifar10.CLASS_NAMES)
    save_trained(model, path, {"dataset": "cifar10", "class_names": names})
    return path


@pytest.fixture(scope="module")
def cifar_tree(cifar10_dir, tmp_path_factory):
    """The first test images of CIFAR-10 as a PNG class-folder tree, and two models."""
    images, labels = cifar10.load_split("test", cifar10_dir.parent)
    root = tmp_path_factory.mktemp("cifar_png")
    for i, (image, label) in enumerate(zip(images[:IMAGES], labels[:IMAGES], strict=True)):
        folder = root / cifar10.CLASS_NAMES[label]
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}.png").write_bytes(tf.io.encode_png(image).numpy())
    models = [_cifar_model(root.parent / f"m{s}.keras", images[:512], s) for s in (0, 1)]
    return root, models, cifar10_dir.parent


@pytest.mark.slow
def test_folder_and_binary_sources_give_the_same_scores(cifar_tree):
    root, (model, _), data_dir = cifar_tree
    binary = evaluate_protocol(model, "cifar10", data_dir, views="single", max_images=IMAGES)
    folder = evaluate_protocol(model, str(root), data_dir, views="single")
    assert binary["images"] == folder["images"] == IMAGES
    for key in ("top1_correct", "top5_correct"):
        assert binary[key] == folder[key]
    flipped = evaluate_protocol(model, str(root), data_dir, views="flip")
    assert flipped["views_per_image"] == 2 and flipped["images"] == IMAGES


@pytest.mark.slow
def test_ensemble_through_the_cli(cifar_tree, capsys):
    root, models, data_dir = cifar_tree
    code = main(
        ["evaluate", "--ensemble", *map(str, models), "--data", str(root), "--views", "flip"]
        + ["--data-dir", str(data_dir)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("top-1 error") == 3  # two members and the ensemble
    assert "ensemble flip" in out and f"{IMAGES} images, 2 views each" in out


def test_folder_with_a_class_the_model_lacks_is_an_error(tmp_path, capsys):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    )
    save_trained(model, tmp_path / "m.keras", {"dataset": "fake", "class_names": ["cat", "dog"]})
    for name in ("cat", "zebra"):
        (tmp_path / "tree" / name).mkdir(parents=True)
        image = np.zeros((8, 8, 3), np.uint8)
        (tmp_path / "tree" / name / "a.png").write_bytes(tf.io.encode_png(image).numpy())
    code = main(
        ["evaluate", "--model", str(tmp_path / "m.keras"), "--data", str(tmp_path / "tree")]
        + ["--views", "single"]
    )
    assert code == 2
    assert "classes ['zebra'] are not among the model's 2 classes" in capsys.readouterr().err


def test_bad_scales_and_unknown_source(tmp_path, capsys):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    save_trained(model, tmp_path / "m.keras", {"dataset": "fake", "class_names": ["a", "b"]})
    assert main(["evaluate", "--model", str(tmp_path / "m.keras"), "--scales", "256,x"]) == 2
    assert "expected comma-separated integers" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "m.keras"), "--data", "nowhere"]) == 2
    assert "--data 'nowhere': not one of" in capsys.readouterr().err

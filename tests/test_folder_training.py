"""`cnnzoo fit --data ROOT`: training from train/ and val/ image folders, and resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from _recipes import fake_recipe

from cnnzoo.cli import main
from cnnzoo.training.inputs import folder_inputs

pytestmark = pytest.mark.slow


def _tree(root, per_class=12, size=(40, 52)):
    """Two classes told apart by colour, at a size other than the model's."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label, name in enumerate(("blue", "red")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                image = rng.integers(0, 80, (*size, 3), dtype=np.uint8)
                image[..., 2 - 2 * label] += 150
                (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root


def _recipe(**changes):
    base = fake_recipe(preprocessing="per_channel_standardize", batch_size=8, total_steps=6)
    return base.override(augment=True, image_augment="inception", **changes)


def test_folder_inputs_shapes_and_views(tmp_path):
    root = _tree(tmp_path / "tree")
    inputs = folder_inputs(_recipe(), root, crop=32, seed=0)
    assert inputs.class_names == ("blue", "red") and inputs.n_train == 24
    assert inputs.stats_images.shape == (24, 32, 32, 3)
    x, y = next(iter(inputs.train_stream(0)))
    assert x.shape == (8, 32, 32, 3) and x.dtype == tf.float32
    # Resuming at epoch 1 yields what the uninterrupted stream yields there.
    whole = [b[1].numpy() for b in inputs.train_stream(0).take(6)]
    resumed = [b[1].numpy() for b in inputs.train_stream(1).take(3)]
    for a, b in zip(whole[3:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    images, labels = next(iter(inputs.val))
    assert images.shape == (16, 32, 32, 3) and sorted(set(labels.numpy())) == [0, 1]


def test_missing_val_folder_is_a_clear_error(tmp_path):
    (tmp_path / "t" / "train" / "a").mkdir(parents=True)
    image = tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)).numpy()
    (tmp_path / "t" / "train" / "a" / "0.png").write_bytes(image)
    with pytest.raises(FileNotFoundError, match=r"expected the class folders of the val images"):
        folder_inputs(_recipe(), tmp_path / "t", crop=32, seed=0)


def test_fit_from_folders_through_the_cli(tmp_path, monkeypatch):
    import cnnzoo.training.recipes as recipes

    root = _tree(tmp_path / "tree")
    monkeypatch.setitem(recipes.RECIPES, "test", _recipe())
    run = tmp_path / "run"
    args = ["fit", "--arch", "resnet20", "--recipe", "test", "--data", str(root)]
    args += ["--model-dir", str(run), "--verbose", "0"]
    assert main(args) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["iterations"] == 6 and results["test_images"] == 24
    meta = json.loads((run / "model.json").read_text())
    assert meta["class_names"] == ["blue", "red"] and meta["input_shape"] == [32, 32, 3]
    assert json.loads((run / "run.json").read_text())["data"] == str(root)


def test_prefetch_to_accelerator_is_a_no_op_without_one():
    from cnnzoo.training.inputs import prefetch_to_accelerator

    ds = tf.data.Dataset.range(3)
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present: the staging path is taken instead")
    assert prefetch_to_accelerator(ds) is ds

"""Dataset sources: the table of names, what `--data` names, and the errors met first."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines.folder_source import SkippedFiles
from cnnzoo.pipelines.sources import (
    DATASETS,
    SOURCES,
    load_dataset,
    open_test_images,
    train_val_folders,
)
from cnnzoo.pipelines.tfrecord_source import write_tfrecord

from cnnzoo.cli import main
from cnnzoo.evaluation.evaluate import open_source


def _tree(root, classes, n=2):
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(n):
            image = np.full((6, 5, 3), 40 * i, np.uint8)
            (root / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root


# ---- datasets by name -----------------------------------------------------------------


def test_the_table_holds_the_in_memory_and_the_streamed_datasets():
    assert DATASETS == ("cifar10", "mnist", "fake")
    assert set(SOURCES) == {*DATASETS, "imagenet2012"}
    for source in SOURCES.values():
        # Every name opens a test split; one that cannot load says what it needs.
        assert source.load is not None or (source.open_test and source.needs)


def test_imagenet_is_not_in_memory_and_the_error_says_what_it_needs(tmp_path):
    with pytest.raises(ValueError) as info:
        load_dataset("imagenet2012", str(tmp_path / "tfds"))
    message = str(info.value)
    assert "dataset 'imagenet2012' is not an in-memory dataset" in message
    assert "--data ROOT" in message
    assert "ROOT/train/<class>/" in message and "ROOT/val/<class>/" in message
    assert "ILSVRC2012_img_train.tar" in message and "ILSVRC2012_img_val.tar" in message
    assert str(tmp_path / "tfds" / "downloads" / "manual") in message


def test_fit_resnet50_without_data_says_what_imagenet_needs(tmp_path, capsys):
    # The defect of issue 17: this reached load_dataset and said "unknown dataset".
    code = main(["fit", "--arch", "resnet50", "--model-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "unknown dataset" not in err
    assert "'imagenet2012' is not an in-memory dataset" in err and "--data ROOT" in err
    assert "downloads/manual" in err


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known datasets: cifar10, mnist"):
        load_dataset("nope")


def test_fake_takes_its_sizes_from_the_caller():
    data = load_dataset("fake", train_size=64, test_size=16)
    assert data.name == "fake" and len(data.train[0]) == 64 and len(data.test[0]) == 16
    default = load_dataset("fake")
    assert (len(default.train[0]), len(default.test[0])) == (2048, 512)
    # The first images do not depend on how many follow.
    np.testing.assert_array_equal(data.train[0][:8], default.train[0][:8])
    with pytest.raises(TypeError, match="train_size"):
        load_dataset("cifar10", train_size=10)


# ---- what --data names ----------------------------------------------------------------


def test_a_dataset_name_opens_its_test_arrays():
    test = open_test_images("fake")
    expected = load_dataset("fake").test
    np.testing.assert_array_equal(test.images, expected[0])
    np.testing.assert_array_equal(test.labels, expected[1])
    assert test.class_names == tuple(f"class_{i}" for i in range(10)) and test.skipped is None


def test_tfrecords_by_file_glob_or_directory_carry_no_class_names(tmp_path):
    images = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    path = write_tfrecord(tmp_path / "val.tfrecord-00000", images, [2, 0, 1])
    for data in (str(path), str(tmp_path / "*.tfrecord*"), str(tmp_path)):
        test = open_test_images(data)
        assert test.labels is None and test.class_names is None
        assert [int(y) for _, y in test.images] == [2, 0, 1]


def test_a_class_folder_tree_and_skipping(tmp_path):
    root = _tree(tmp_path / "tree", ["dog", "cat"])
    test = open_test_images(str(root), skip_corrupt=True)
    assert test.class_names == ("cat", "dog") and isinstance(test.skipped, SkippedFiles)
    assert [int(y) for _, y in test.images] == [0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="--data 'nowhere': not one of"):
        open_test_images("nowhere")


def test_evaluation_maps_array_labels_to_the_models_classes_by_name():
    names = [f"class_{i}" for i in range(10)]
    images, labels, skipped = open_source("fake", class_names=names[::-1])
    np.testing.assert_array_equal(labels, 9 - load_dataset("fake").test[1])
    assert skipped is None and len(images) == len(labels)
    with pytest.raises(ValueError, match=r"classes \['class_9'\] are not among"):
        open_source("fake", class_names=names[:9])


def test_train_and_val_folders_of_data_root(tmp_path):
    _tree(tmp_path / "train", ["a", "b"])
    with pytest.raises(FileNotFoundError, match=r"val images in .*val \(ROOT/train/<class>"):
        train_val_folders(tmp_path)
    _tree(tmp_path / "val", ["a", "c"], n=1)
    with pytest.raises(ValueError, match=r"different classes \(e.g. \['b', 'c'\]\)"):
        train_val_folders(tmp_path)
    (tmp_path / "val" / "c").rename(tmp_path / "val" / "b")
    train, val = train_val_folders(tmp_path)
    assert (len(train), len(val)) == (4, 2) and train.class_names == val.class_names == ("a", "b")

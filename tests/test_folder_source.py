"""The class-folder source: listing, decoding, corrupt files, epochs, and CIFAR-10 parity."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines import cifar10
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.folder_source import (
    SkippedFiles,
    decode_files,
    epoch_order,
    folder_dataset,
    folder_epoch,
    list_image_folder,
)
from PIL import Image


def _png(path, image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _jpeg_bytes(image, quality=90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def tree(tmp_path):
    """root/{cat,ant}/ with 3 and 2 random PNGs (different sizes); returns (root, {path: image})."""
    rng = np.random.default_rng(0)
    images = {}
    for cls, count in (("cat", 3), ("ant", 2)):
        for i in range(count):
            image = rng.integers(0, 256, size=(6 + i, 9, 3), dtype=np.uint8)
            path = tmp_path / "root" / cls / f"{i}.png"
            _png(path, image)
            images[str(path)] = image
    return tmp_path / "root", images


def _listed(root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean tree lists without any warning
        return list_image_folder(root)


def test_lists_sorted_classes_and_files_with_labels(tree):
    root, _ = tree
    index = _listed(root)
    assert index.class_names == ("ant", "cat")
    assert [p.split("/")[-2:] for p in index.paths] == [
        ["ant", "0.png"],
        ["ant", "1.png"],
        ["cat", "0.png"],
        ["cat", "1.png"],
        ["cat", "2.png"],
    ]
    assert index.labels.tolist() == [0, 0, 1, 1, 1] and index.labels.dtype == np.int64
    assert len(index) == 5 and index.num_classes == 2 and index.ignored == 0


def test_finds_images_in_subfolders_and_any_case_of_extension(tree):
    root, _ = tree
    image = np.zeros((4, 4, 3), np.uint8)
    _png(root / "ant" / "deeper" / "x.PNG", image)
    (root / "ant" / "y.JPEG").write_bytes(_jpeg_bytes(image))
    index = _listed(root)
    assert sum(p.endswith(("x.PNG", "y.JPEG")) for p in index.paths) == 2
    assert index.labels.tolist() == [0] * 4 + [1] * 3


def test_non_images_are_ignored_with_one_warning_counting_them(tree):
    root, _ = tree
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "ant" / "labels.csv").write_text("a,b")
    (root / "README").write_text("top-level file")
    (root / ".ipynb_checkpoints").mkdir()  # hidden folder: not a class
    with pytest.warns(UserWarning) as record:
        index = list_image_folder(root)
    assert len(record) == 1
    message = str(record[0].message)
    assert "ignored 3 file(s)" in message and "notes.txt" in message
    assert index.ignored == 3 and len(index) == 5 and index.class_names == ("ant", "cat")


def test_empty_class_folders_are_errors_naming_each(tree):
    root, _ = tree
    (root / "empty").mkdir()
    (root / "texts").mkdir()
    (root / "texts" / "a.txt").write_text("x")
    with pytest.raises(DataError) as info:
        list_image_folder(root)
    message = str(info.value)
    assert "2 class folder(s) hold no image files" in message
    assert str(root / "empty") in message and str(root / "texts") in message


def test_missing_root_and_flat_folder_are_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        list_image_folder(tmp_path / "nowhere")
    flat = tmp_path / "flat"
    _png(flat / "a.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DataError, match=r"no class folders.*1 of them images"):
        list_image_folder(flat)


def test_dataset_yields_the_exact_pixels_and_labels_in_index_order(tree):
    root, images = tree
    index = _listed(root)
    got = list(folder_dataset(index).as_numpy_iterator())
    assert len(got) == len(index)
    for (image, label), path, expected_label in zip(got, index.paths, index.labels, strict=True):
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, images[path])
        assert label == expected_label
    # The root itself is accepted in place of an index.
    assert len(list(folder_dataset(root))) == 5


def test_every_decodable_format_gives_three_channels(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    _png(tmp_path / "r" / "c" / "gray.png", gray)
    Image.fromarray(rgb).save(tmp_path / "r" / "c" / "a.bmp")
    Image.fromarray(rgb).save(tmp_path / "r" / "c" / "b.gif")
    (tmp_path / "r" / "c" / "c.jpg").write_bytes(_jpeg_bytes(rgb))
    index = _listed(tmp_path / "r")
    shapes = {
        p.rsplit("/", 1)[-1]: x.shape
        for (x, _), p in zip(folder_dataset(index), index.paths, strict=True)
    }
    assert shapes == {n: (5, 7, 3) for n in ("a.bmp", "b.gif", "c.jpg", "gray.png")}


@pytest.fixture
def broken_tree(tree):
    """The tree plus a truncated JPEG and a text file named .jpg."""
    root, images = tree
    good = np.random.default_rng(2).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    jpeg = _jpeg_bytes(good)
    (root / "ant" / "2_truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "cat" / "3_text.jpg").write_text("this is not an image\n")
    return root, images


def test_an_undecodable_file_stops_the_stream_with_its_name(broken_tree):
    root, _ = broken_tree
    index = _listed(root)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(folder_dataset(index))
    message = str(info.value)
    assert "cannot decode image file" in message
    assert str(root / "ant" / "2_truncated.jpg") in message
    assert "skip_corrupt" in message  # says how to go on


def test_text_file_named_jpg_is_reported_too(broken_tree):
    root, _ = broken_tree
    index = _listed(root)
    only_text = [i for i, p in enumerate(index.paths) if p.endswith("3_text.jpg")]
    with pytest.raises(tf.errors.InvalidArgumentError, match="3_text.jpg"):
        list(decode_files(index.paths, index.labels, tf.constant(only_text)))


def test_skip_corrupt_skips_counts_and_names(broken_tree, capfd):
    root, images = broken_tree
    index = _listed(root)
    skipped = SkippedFiles()
    got = list(folder_dataset(index, skip_corrupt=True, skipped=skipped).as_numpy_iterator())
    # Every good image, in order, with its label; the two bad ones are gone.
    good = [(p, y) for p, y in zip(index.paths, index.labels, strict=True) if p in images]
    assert len(got) == len(good) == 5
    for (image, label), (path, expected) in zip(got, good, strict=True):
        np.testing.assert_array_equal(image, images[path])
        assert label == expected
    assert skipped.count == 2 and skipped.attempted == 7
    assert skipped.paths == [
        str(root / "ant" / "2_truncated.jpg"),
        str(root / "cat" / "3_text.jpg"),
    ]
    summary = str(skipped)
    assert summary.startswith("skipped 2 of 7 images that could not be decoded (2 distinct)")
    assert "2_truncated.jpg" in summary and "3_text.jpg" in summary
    # Each is also named on stderr as it is met.
    assert "2_truncated.jpg" in capfd.readouterr().err


def test_skipped_files_are_counted_each_epoch_but_named_once(broken_tree):
    root, _ = broken_tree
    index = _listed(root)
    skipped = SkippedFiles()
    ds = folder_dataset(index, skip_corrupt=True, skipped=skipped)
    for _ in range(2):
        assert sum(1 for _ in ds) == 5
    assert skipped.count == 4 and skipped.attempted == 14 and len(skipped.paths) == 2


def test_a_clean_run_reports_nothing_skipped(tree):
    root, _ = tree
    skipped = SkippedFiles()
    assert sum(1 for _ in folder_dataset(_listed(root), skip_corrupt=True, skipped=skipped)) == 5
    assert skipped.count == 0 and skipped.paths == []
    assert str(skipped) == "skipped no images (5 decoded)"


def test_a_file_that_vanished_is_never_skipped_as_corrupt(tree):
    root, _ = tree
    index = _listed(root)
    (root / "cat" / "1.png").unlink()
    with pytest.raises(tf.errors.NotFoundError, match="1.png"):
        list(folder_dataset(index, skip_corrupt=True))


def test_epochs_are_reproducible_permutations(tree):
    root, images = tree
    index = _listed(root)
    source = folder_epoch(index, seed=3)

    def labels_and_sums(epoch):
        ds = source(tf.constant(epoch, tf.int64))
        return [(int(y), int(x.sum())) for x, y in ds.as_numpy_iterator()]

    first, again, second = labels_and_sums(0), labels_and_sums(0), labels_and_sums(1)
    assert first == again
    expected = sorted(
        (int(y), int(images[p].sum())) for p, y in zip(index.paths, index.labels, strict=True)
    )
    assert sorted(first) == sorted(second) == expected
    orders = {tuple(epoch_order(5, 3, e).numpy()) for e in range(6)}
    assert len(orders) > 1  # fresh orders across epochs


# ---- CIFAR-10 exported to PNG gives the binary reader's images ------------------------

# Enough images that a mismatch in order or labels cannot hide (the issue asks for
# "a few thousand"), few enough to write and read back in seconds.
CIFAR_EXPORT = 3000


@pytest.fixture(scope="module")
def cifar_png_tree(cifar10_dir, tmp_path_factory):
    images, labels = cifar10.load_split("test", cifar10_dir)
    images, labels = images[:CIFAR_EXPORT], labels[:CIFAR_EXPORT]
    root = tmp_path_factory.mktemp("cifar10_png")
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        _png(root / cifar10.CLASS_NAMES[label] / f"{i:05d}.png", image)
    return root, images, labels


@pytest.mark.realdata
@pytest.mark.slow
def test_cifar10_png_tree_matches_the_binary_reader(cifar_png_tree):
    root, images, labels = cifar_png_tree
    index = _listed(root)
    # CIFAR-10's class order is alphabetical, so sorted folder names keep its labels.
    assert index.class_names == cifar10.CLASS_NAMES
    got = list(folder_dataset(index).as_numpy_iterator())
    assert len(got) == CIFAR_EXPORT
    source = np.array([int(p.rsplit("/", 1)[-1][:-4]) for p in index.paths])
    got_images = np.stack([x for x, _ in got])
    got_labels = np.array([y for _, y in got])
    np.testing.assert_array_equal(got_labels, labels[source])
    np.testing.assert_array_equal(got_images, images[source])
    assert sorted(source.tolist()) == list(range(CIFAR_EXPORT))

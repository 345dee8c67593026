"""The TFRecord source: round trip, the ImageNet label convention, malformed records, epochs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines import cifar10
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.folder_source import SkippedFiles
from cnnzoo.pipelines.tfrecord_source import (
    IMAGE_KEY,
    LABEL_KEY,
    check_first_record,
    list_tfrecord_files,
    tfrecord_dataset,
    tfrecord_epoch,
    write_tfrecord,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(5 + i % 3, 6, 3), dtype=np.uint8) for i in range(12)]
    return images, [i % 4 for i in range(12)]


def _write_example(path, features: dict) -> None:
    """One record holding exactly ``features`` (name -> tf.train.Feature)."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        example = tf.train.Example(features=tf.train.Features(feature=features))
        writer.write(example.SerializeToString())


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def test_round_trip_gives_exact_pixels_and_zero_based_labels(tmp_path, data):
    images, labels = data
    path = write_tfrecord(tmp_path / "train-00000-of-00001", images, labels)
    # The ImageNet convention stores 1-based labels (build_imagenet_data.py)...
    stored = [
        tf.train.Example.FromString(r.numpy()).features.feature[LABEL_KEY].int64_list.value[0]
        for r in tf.data.TFRecordDataset(str(path))
    ]
    assert stored == [y + 1 for y in labels]
    # ...which the reader turns back into 0-based ones.
    got = list(tfrecord_dataset(path).as_numpy_iterator())
    assert [int(y) for _, y in got] == labels
    for (image, _), expected in zip(got, images, strict=True):
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, expected)


def test_zero_based_files_and_other_keys(tmp_path, data):
    images, labels = data
    path = write_tfrecord(
        tmp_path / "a.tfrecord",
        images,
        labels,
        label_offset=0,
        image_format="jpeg",
        image_key="image",
        label_key="label",
    )
    got = list(
        tfrecord_dataset(
            path, image_key="image", label_key="label", label_offset=0
        ).as_numpy_iterator()
    )
    assert [int(y) for _, y in got] == labels
    assert [x.shape for x, _ in got] == [x.shape for x in images]


def test_several_files_by_glob_all_records_in_a_fixed_order(tmp_path, data):
    images, labels = data
    for shard in range(3):
        part = slice(4 * shard, 4 * shard + 4)
        write_tfrecord(tmp_path / f"train-{shard:05d}-of-00003", images[part], labels[part])
    files = list_tfrecord_files(str(tmp_path / "train-*"))
    assert [f.rsplit("/", 1)[-1] for f in files] == [f"train-{s:05d}-of-00003" for s in range(3)]
    assert list_tfrecord_files(tmp_path) == files  # a directory lists its files

    def sums():
        return [(int(x.sum()), int(y)) for x, y in tfrecord_dataset(files).as_numpy_iterator()]

    first = sums()
    assert first == sums()
    assert sorted(first) == sorted((int(x.sum()), y) for x, y in zip(images, labels, strict=True))


def test_no_matching_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no TFRecord files match"):
        list_tfrecord_files(str(tmp_path / "train-*"))
    with pytest.raises(DataError, match="do not exist"):
        list_tfrecord_files([str(tmp_path / "missing.tfrecord")])


def test_first_record_without_a_feature_names_file_feature_and_keys(tmp_path):
    path = tmp_path / "tfds_style.tfrecord"
    _write_example(path, {"image": _bytes(b"x"), "label": _int(3)})
    with pytest.raises(DataError) as info:
        tfrecord_dataset(path)
    message = str(info.value)
    assert str(path) in message and f"no feature {IMAGE_KEY!r}" in message
    assert "it holds image, label" in message


def test_first_record_with_a_float_label_names_expected_and_found(tmp_path):
    path = tmp_path / "floats.tfrecord"
    label = tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))
    _write_example(path, {IMAGE_KEY: _bytes(b"x"), LABEL_KEY: label})
    with pytest.raises(
        DataError, match=r"feature 'image/class/label': expected int64_list, got float_list"
    ):
        check_first_record(str(path))


def test_not_a_tfrecord_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "junk.tfrecord"
    path.write_bytes(b"definitely not a TFRecord file, just bytes")
    with pytest.raises(DataError, match="junk.tfrecord"):
        tfrecord_dataset(path)


def test_later_record_missing_a_feature_names_file_record_and_feature(tmp_path, data):
    images, labels = data
    path = tmp_path / "mixed.tfrecord"
    good = tf.io.encode_png(images[0]).numpy()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for features in (
            {IMAGE_KEY: _bytes(good), LABEL_KEY: _int(1)},
            {IMAGE_KEY: _bytes(good), LABEL_KEY: _int(2)},
            {IMAGE_KEY: _bytes(good)},  # record 2: no label
        ):
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(tfrecord_dataset(path))
    message = str(info.value)
    assert f"{path}[record 2]" in message and f"no feature {LABEL_KEY};" in message


def test_label_out_of_range_is_named(tmp_path, data):
    images, _ = data
    path = write_tfrecord(tmp_path / "a.tfrecord", images[:3], [0, 1, 7])
    assert len(list(tfrecord_dataset(path))) == 3  # no class count given: any label >= 0
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(tfrecord_dataset(path, num_classes=5))
    message = str(info.value)
    assert f"{path}[record 2]" in message and "expected a label in [1, 6)" in message
    assert "8" in message  # the stored value
    # 0 in a 1-based file is below the offset.
    zero = write_tfrecord(tmp_path / "zero.tfrecord", images[:1], [0], label_offset=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected a label >= 1"):
        list(tfrecord_dataset(zero))


def test_corrupt_image_in_a_record_is_named_or_skipped(tmp_path, data):
    images, labels = data
    encoded = [tf.io.encode_jpeg(x).numpy() for x in images[:4]]
    encoded[1] = encoded[1][: len(encoded[1]) // 2]  # truncated JPEG
    encoded[3] = b"plain text, not an image"
    path = write_tfrecord(tmp_path / "c.tfrecord", encoded, labels[:4])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"c\.tfrecord\[record 1\]"):
        list(tfrecord_dataset(path))
    skipped = SkippedFiles()
    got = list(tfrecord_dataset(path, skip_corrupt=True, skipped=skipped).as_numpy_iterator())
    assert [int(y) for _, y in got] == [labels[0], labels[2]]
    assert skipped.count == 2 and skipped.attempted == 4
    assert skipped.paths == [f"{path}[record 1]", f"{path}[record 3]"]


def test_epochs_are_reproducible_shuffles_of_every_record(tmp_path, data):
    images, labels = data
    for shard in range(3):
        part = slice(4 * shard, 4 * shard + 4)
        write_tfrecord(tmp_path / f"train-{shard}", images[part], labels[part])
    source = tfrecord_epoch(str(tmp_path / "train-*"), seed=5, shuffle_buffer=6)

    def epoch(e):
        ds = source(tf.constant(e, tf.int64))
        return [(int(x.sum()), int(y)) for x, y in ds.as_numpy_iterator()]

    first = epoch(0)
    assert first == epoch(0)
    expected = sorted((int(x.sum()), y) for x, y in zip(images, labels, strict=True))
    assert sorted(first) == expected
    assert any(epoch(e) != first for e in (1, 2, 3))
    assert all(sorted(epoch(e)) == expected for e in (1, 2))


@pytest.mark.realdata
@pytest.mark.slow
def test_cifar10_through_tfrecords_matches_the_binary_reader(cifar10_dir, tmp_path):
    images, labels = cifar10.load_split("test", cifar10_dir)
    images, labels = images[:1000], labels[:1000]
    # One file, so the stored order is the reading order; PNG keeps pixels exact.
    path = write_tfrecord(tmp_path / "cifar-test", images, labels)
    got = list(tfrecord_dataset(path, num_classes=cifar10.NUM_CLASSES).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([x for x, _ in got]), images)
    np.testing.assert_array_equal(np.array([y for _, y in got]), labels)


@pytest.mark.fault
def test_a_corrupted_record_names_its_file_or_ends_that_file(tmp_path, data, caplog):
    """A checksum failure inside a file: TensorFlow's own error names no file (issue 19)."""
    import logging

    images, labels = data
    encoded = [tf.io.encode_png(x).numpy() for x in images[:6]]
    path = write_tfrecord(tmp_path / "bad.tfrecord", encoded, labels[:6])
    good = write_tfrecord(tmp_path / "good.tfrecord", encoded[:2], labels[:2])
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside the fourth record's payload
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"bad\.tfrecord: record 3 is corrupted"):
        tfrecord_dataset([path, good])
    with caplog.at_level(logging.WARNING):
        got = list(tfrecord_dataset([path, good], skip_corrupt=True).as_numpy_iterator())
    assert sorted(int(y) for _, y in got) == sorted([*labels[:3], *labels[:2]])
    assert "skipping the rest of the file (3 records read)" in caplog.text

"""The CIFAR-10 binary reader on real and broken files (shared parts: test_releases.py)."""

from __future__ import annotations

import numpy as np
import pytest
from cnnzoo.pipelines import cifar10
from cnnzoo.pipelines.cifar10 import RECORD_BYTES, find_local_dir, load_split, read_binary_file
from cnnzoo.pipelines.errors import DataError


def _records(labels, images=None) -> bytes:
    """Binary-release records: a label byte, then the R, G and B planes."""
    labels = np.asarray(labels, dtype=np.uint8)
    if images is None:
        images = np.zeros((len(labels), 32, 32, 3), dtype=np.uint8)
    planes = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(labels), -1)
    return np.concatenate([labels[:, None], planes], axis=1).tobytes()


# ---- real data (the rest: test_releases.py) --------------------------------------------


@pytest.mark.realdata
def test_class_names_match_release_metadata(cifar10_dir):
    names = (cifar10_dir / "batches.meta.txt").read_text().split()
    assert tuple(names) == cifar10.CLASS_NAMES


# ---- layout on synthetic records -----------------------------------------------------


def test_records_are_decoded_to_nhwc(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "small.bin"
    path.write_bytes(_records([0, 9, 4], images))
    got_images, got_labels = read_binary_file(path, num_records=None)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.tolist() == [0, 9, 4] and got_labels.dtype == np.int64
    # The first plane is red: the second byte of a record is pixel (0, 0) of channel 0.
    assert got_images[0, 0, 0, 0] == path.read_bytes()[1]


# ---- broken files --------------------------------------------------------------------


def test_wrong_size_names_file_expected_and_got(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(_records([1] * 5))
    with pytest.raises(DataError) as info:
        read_binary_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "30,730,000" in message and f"{5 * RECORD_BYTES:,}" in message


def test_partial_record_is_rejected(tmp_path):
    path = tmp_path / "odd.bin"
    path.write_bytes(_records([1, 2]) + b"\x00" * 10)
    with pytest.raises(DataError, match=r"multiple of 3073 bytes.*6,156"):
        read_binary_file(path, num_records=None)


def test_label_out_of_range_names_file_record_and_value(tmp_path):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(_records([0, 1, 2, 10, 3]))
    with pytest.raises(DataError) as info:
        read_binary_file(path, num_records=5)
    message = str(info.value)
    assert str(path) in message and "record 3" in message and "label 10" in message
    assert "0-9" in message


def test_missing_batch_names_files_and_directory(tmp_path):
    batches = tmp_path / "cifar-10-batches-bin"
    batches.mkdir()
    for name in ("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "test_batch.bin"):
        (batches / name).touch()
    with pytest.raises(DataError) as info:
        load_split("train", tmp_path)
    message = str(info.value)
    assert str(batches) in message
    assert "data_batch_4.bin" in message and "data_batch_5.bin" in message
    assert "missing" in message


@pytest.mark.parametrize("layout", ["py_dir", "pickle_files"])
def test_pickle_version_is_refused_with_pointer_to_binary(tmp_path, layout):
    if layout == "py_dir":
        (tmp_path / "cifar-10-batches-py").mkdir()
    else:
        (tmp_path / "data_batch_1").write_bytes(b"not unpickled")
    with pytest.raises(DataError) as info:
        find_local_dir(tmp_path)
    message = str(info.value)
    assert "pickle" in message and "cifar-10-binary.tar.gz" in message
    assert str(tmp_path) in message

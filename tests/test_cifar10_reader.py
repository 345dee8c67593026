"""The CIFAR-10 source: the binary reader on real and on broken files, the tfds fallback, stats."""

from __future__ import annotations

import time

import numpy as np
import pytest
from cnnzoo.pipelines import cifar10, stats
from cnnzoo.pipelines.cifar10 import (
    RECORD_BYTES,
    find_local_dir,
    load_cifar10,
    load_split,
    read_binary_file,
)
from cnnzoo.pipelines.errors import DataError, DataUnavailableError


def _records(labels, images=None) -> bytes:
    """Binary-release records: a label byte, then the R, G and B planes."""
    labels = np.asarray(labels, dtype=np.uint8)
    if images is None:
        images = np.zeros((len(labels), 32, 32, 3), dtype=np.uint8)
    planes = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(labels), -1)
    return np.concatenate([labels[:, None], planes], axis=1).tobytes()


# ---- real data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_cifar10(cifar10_dir):
    return load_cifar10(cifar10_dir.parent)


@pytest.mark.realdata
def test_real_splits_have_official_sizes_and_layout(real_cifar10):
    (x_train, y_train), (x_test, y_test) = real_cifar10["train"], real_cifar10["test"]
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 32, 32, 3) and x_test.dtype == np.uint8
    assert y_train.shape == (50000,) and y_train.dtype == np.int64
    assert y_test.shape == (10000,) and y_test.dtype == np.int64
    # The release is balanced: 5,000 training and 1,000 test images per class.
    assert np.bincount(y_train, minlength=10).tolist() == [5000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    # First labels of data_batch_1.bin (frog, truck, truck, deer, automobile, ...).
    assert y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]


@pytest.mark.realdata
def test_real_train_statistics_match_published_values(real_cifar10):
    images = real_cifar10["train"][0]
    mean, std = stats.channel_mean_std(images)
    # The widely quoted CIFAR-10 training-set figures (../shared/README.md).
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=1e-4)
    np.testing.assert_allclose(std, [0.2470, 0.2435, 0.2616], atol=1e-4)
    pixel_mean = stats.per_pixel_mean(images)
    assert pixel_mean.shape == (32, 32, 3) and pixel_mean.dtype == np.float32
    np.testing.assert_allclose(pixel_mean.mean(axis=(0, 1)), mean, atol=1e-5)


@pytest.mark.realdata
def test_real_dir_is_found_from_root_or_batches_dir(cifar10_dir):
    assert find_local_dir(cifar10_dir.parent) == cifar10_dir
    assert find_local_dir(cifar10_dir) == cifar10_dir


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


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'valid'.*'train', 'test'"):
        load_split("valid", tmp_path)


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


def test_explicit_dir_without_cifar_names_path_and_expectation(tmp_path):
    with pytest.raises(DataError) as info:
        find_local_dir(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "cifar-10-batches-bin" in message
    with pytest.raises(DataError, match="does not exist"):
        find_local_dir(tmp_path / "nowhere")


def test_no_dir_given_means_none(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    assert find_local_dir() is None
    # The environment variable names a shared data root; one without CIFAR-10 is no error.
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path))
    assert find_local_dir() is None


# ---- tensorflow-datasets fallback ----------------------------------------------------


def test_network_probe_is_false_when_offline():
    # conftest makes every non-loopback connection fail, as an offline machine would.
    assert cifar10._network_reachable() is False


def test_offline_without_any_copy_fails_fast(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(cifar10, "_network_reachable", lambda: False)
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10(tfds_data_dir=tmp_path / "tfds")
    # An offline tfds.load would retry for minutes; the probe must stop it at once.
    assert time.perf_counter() - start < 20
    message = str(info.value)
    assert "--data-dir" in message and "CNNZOO_DATA_DIR" in message
    assert "cifar-10-batches-bin" in message


# ---- statistics on synthetic data ----------------------------------------------------


def test_stats_match_numpy_across_chunks():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(37, 5, 4, 3), dtype=np.uint8)
    scaled = images / 255.0
    pixel_mean = stats.per_pixel_mean(images, chunk_size=8)
    np.testing.assert_allclose(pixel_mean, scaled.mean(axis=0), atol=1e-6)
    mean, std = stats.channel_mean_std(images, chunk_size=8)
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 1, 2)), atol=1e-6)
    with pytest.raises(ValueError, match="got shape"):
        stats.channel_mean_std(images[0])

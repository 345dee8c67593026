"""The MNIST source: the IDX reader on real and on broken files, the tfds fallback, stats."""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest
from cnnzoo.pipelines import mnist, stats
from cnnzoo.pipelines.errors import DataError, DataUnavailableError
from cnnzoo.pipelines.mnist import find_local_dir, load_mnist, load_split, read_idx
from cnnzoo.pipelines.sources import load_dataset


def _idx(array, magic=None) -> bytes:
    """An IDX file of unsigned bytes: big-endian magic, big-endian int32 dims, then the data."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = {3: mnist.IMAGES_MAGIC, 1: mnist.LABELS_MAGIC}[array.ndim]
    dims = np.asarray(array.shape, dtype=">i4").tobytes()
    return magic.to_bytes(4, "big") + dims + array.tobytes()


def _write(directory, name, content: bytes, compress: bool = True):
    """Write ``name`` (an official base name) gzip-compressed as ``name.gz``, or unpacked."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"{name}.gz" if compress else name)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def _write_split(directory, split, images, labels, compress=True):
    images_name, labels_name = mnist._SPLIT_FILES[split]
    return (
        _write(directory, images_name, _idx(images), compress),
        _write(directory, labels_name, _idx(labels), compress),
    )


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


# ---- real data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_mnist(mnist_dir):
    return load_mnist(mnist_dir.parent)


@pytest.mark.realdata
def test_real_splits_have_official_sizes_and_layout(real_mnist):
    (x_train, y_train), (x_test, y_test) = real_mnist["train"], real_mnist["test"]
    assert x_train.shape == (60000, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28, 1) and x_test.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.int64
    assert y_test.shape == (10000,) and y_test.dtype == np.int64
    # The official per-digit counts (not balanced, unlike CIFAR-10).
    train_counts = np.bincount(y_train, minlength=10)
    test_counts = np.bincount(y_test, minlength=10)
    assert train_counts.sum() == 60000 and test_counts.sum() == 10000
    assert train_counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test_counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # First labels of train-labels-idx1-ubyte.
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


@pytest.mark.realdata
def test_real_train_statistics_match_published_values(real_mnist):
    mean, std = stats.channel_mean_std(real_mnist["train"][0])
    # The widely quoted MNIST training-set figures (../shared/README.md): 0.1307, 0.3081.
    np.testing.assert_allclose(mean, [0.1307], atol=1e-4)
    np.testing.assert_allclose(std, [0.3081], atol=1e-4)


@pytest.mark.realdata
def test_real_dir_is_found_from_root_or_mnist_dir(mnist_dir):
    assert find_local_dir(mnist_dir.parent) == mnist_dir
    assert find_local_dir(mnist_dir) == mnist_dir


@pytest.mark.realdata
def test_load_dataset_mnist(mnist_dir, real_mnist):
    data = load_dataset("mnist", str(mnist_dir.parent))
    assert data.name == "mnist" and data.input_shape == (28, 28, 1)
    assert data.num_classes == 10 and data.class_names == mnist.CLASS_NAMES
    assert len(data.train[0]) == 60000 and len(data.test[0]) == 10000
    np.testing.assert_array_equal(data.test[1], real_mnist["test"][1])


# ---- round trip on synthetic files ---------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_round_trip(tmp_path, compress):
    root = tmp_path / "mnist"
    train_images, test_images = _images(3, seed=1), _images(2, seed=2)
    _write_split(root, "train", train_images, [0, 9, 4], compress)
    _write_split(root, "test", test_images, [7, 1], compress)

    assert find_local_dir(tmp_path) == root and find_local_dir(root) == root
    splits = load_mnist(tmp_path)
    x_train, y_train = splits["train"]
    assert x_train.shape == (3, 28, 28, 1) and x_train.dtype == np.uint8
    assert y_train.tolist() == [0, 9, 4] and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[..., 0], train_images)
    np.testing.assert_array_equal(splits["test"][0][..., 0], test_images)
    assert splits["test"][1].tolist() == [7, 1]
    # An ordinary array, not a read-only view of the file's bytes.
    assert x_train.flags.writeable

    data = load_dataset("mnist", str(root))
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10


def test_gzip_is_recognised_by_content(tmp_path):
    # A compressed file saved without its .gz suffix still reads.
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(_idx([3, 1, 4])))
    assert read_idx(path).tolist() == [3, 1, 4]


# ---- broken files --------------------------------------------------------------------


def test_bad_magic_names_file_expected_and_got(tmp_path):
    path = _write(tmp_path, "train-images-idx3-ubyte", _idx(_images(2), magic=2050))
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "2051" in message and "2049" in message and "got 2050" in message


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_truncated_data_names_file_expected_and_got(tmp_path, compress):
    content = _idx(_images(5))
    path = _write(tmp_path, "train-images-idx3-ubyte", content[: 16 + 3 * 784], compress)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "truncated" in message
    assert "3,920" in message and "2,352" in message  # 5 vs 3 images of 784 bytes


def test_truncated_header_and_trailing_bytes_are_rejected(tmp_path):
    path = _write(tmp_path, "t10k-images-idx3-ubyte", _idx(_images(1))[:10])
    with pytest.raises(DataError, match=r"16-byte header; got a 10-byte file"):
        read_idx(path)
    path = _write(tmp_path, "t10k-labels-idx1-ubyte", _idx([1, 2]) + b"\x00")
    with pytest.raises(DataError, match=r"trailing bytes.*2 data bytes.*got 3"):
        read_idx(path)


def test_wrong_image_dims_name_file_and_shapes(tmp_path):
    images = np.zeros((2, 28, 27), dtype=np.uint8)
    images_path = _write(tmp_path, "t10k-images-idx3-ubyte", _idx(images))
    _write(tmp_path, "t10k-labels-idx1-ubyte", _idx([1, 2]))
    with pytest.raises(DataError) as info:
        load_split("test", tmp_path)
    message = str(info.value)
    assert str(images_path) in message and "(N, 28, 28)" in message and "(2, 28, 27)" in message


def test_labels_file_in_place_of_images_is_rejected(tmp_path):
    images_path = _write(tmp_path, "t10k-images-idx3-ubyte", _idx([1, 2]))
    _write(tmp_path, "t10k-labels-idx1-ubyte", _idx([1, 2]))
    with pytest.raises(DataError, match=r"expected images of shape.*got shape \(2,\)") as info:
        load_split("test", tmp_path)
    assert str(images_path) in str(info.value)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    images_path, labels_path = _write_split(tmp_path, "train", _images(3), [0, 1, 2, 3])
    with pytest.raises(DataError) as info:
        load_split("train", tmp_path)
    message = str(info.value)
    assert str(images_path) in message and str(labels_path) in message
    assert "3 images" in message and "4 labels" in message


def test_label_out_of_range_names_file_index_and_value(tmp_path):
    _, labels_path = _write_split(tmp_path, "test", _images(4), [0, 1, 10, 3])
    with pytest.raises(DataError) as info:
        load_split("test", tmp_path)
    message = str(info.value)
    assert str(labels_path) in message and "label 2 is 10" in message and "0-9" in message


@pytest.mark.parametrize("damage", ["not_gzip", "cut_off", "flipped_byte"])
def test_corrupt_gzip_names_file(tmp_path, damage):
    packed = gzip.compress(_idx(_images(4)))
    if damage == "not_gzip":
        content = b"this is not gzip data at all"
    elif damage == "cut_off":
        content = packed[: len(packed) // 2]
    else:
        # Damage the deflate stream (or its CRC): gzip must not hand back garbage.
        content = bytearray(packed)
        content[len(content) - 6] ^= 0xFF
        content = bytes(content)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a valid gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_names_directory_and_file(tmp_path):
    root = tmp_path / "mnist"
    _write(root, "train-images-idx3-ubyte", _idx(_images(1)))
    with pytest.raises(DataError) as info:
        load_split("train", tmp_path)
    message = str(info.value)
    assert str(root) in message and "missing train-labels-idx1-ubyte" in message
    with pytest.raises(DataError, match="does not exist"):
        read_idx(root / "t10k-images-idx3-ubyte")


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'valid'.*'train', 'test'"):
        load_split("valid", tmp_path)


def test_explicit_dir_without_mnist_names_path_and_expected_files(tmp_path):
    with pytest.raises(DataError) as info:
        find_local_dir(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "mnist/" in message
    for name in mnist.FILES:
        assert name in message
    with pytest.raises(DataError, match="does not exist"):
        find_local_dir(tmp_path / "nowhere")
    afile = tmp_path / "afile"
    afile.touch()
    with pytest.raises(DataError, match="is not a directory"):
        find_local_dir(afile)


def test_no_dir_given_means_none(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    assert find_local_dir() is None
    # The environment variable names a shared data root; one without MNIST is no error.
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path))
    assert find_local_dir() is None


# ---- tensorflow-datasets fallback ----------------------------------------------------


def test_network_probe_is_false_when_offline():
    # conftest makes every non-loopback connection fail, as an offline machine would.
    assert mnist._network_reachable() is False


def test_offline_without_any_copy_fails_fast(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(mnist, "_network_reachable", lambda: False)
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(tfds_data_dir=tmp_path / "tfds")
    # An offline tfds.load would retry for minutes; the probe must stop it at once.
    assert time.perf_counter() - start < 20
    message = str(info.value)
    assert "--data-dir" in message and "CNNZOO_DATA_DIR" in message and "mnist/" in message
    for name in mnist.FILES:
        assert name in message

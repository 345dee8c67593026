"""The MNIST IDX reader on synthetic and broken files (real data: test_releases.py)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from cnnzoo.pipelines import mnist
from cnnzoo.pipelines.errors import DataError
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

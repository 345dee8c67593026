"""What the CIFAR-10 and MNIST readers share: the real releases, finding them, the fallback."""

from __future__ import annotations

import time

import numpy as np
import pytest
from cnnzoo.pipelines import cifar10, mnist, stats
from cnnzoo.pipelines.errors import DataError, DataUnavailableError
from cnnzoo.pipelines.releases import SPLITS
from cnnzoo.pipelines.sources import load_dataset
from cnnzoo.pipelines.tfds_source import host_reachable

# Each reader, its loader, and what its messages must name for a user to fix the data.
READERS = {
    "cifar10": (cifar10, cifar10.load_cifar10, ("cifar-10-batches-bin",)),
    "mnist": (mnist, mnist.load_mnist, ("mnist/", *mnist.FILES)),
}


# What the official releases hold (train, test): split sizes, image shape, images per
# class, the first training labels, and the widely quoted per-channel mean and std of
# the training images (../shared/README.md).
OFFICIAL = {
    "cifar10": {
        "sizes": (50000, 10000),
        "shape": (32, 32, 3),
        "counts": ([5000] * 10, [1000] * 10),  # balanced
        "first": [6, 9, 9, 4, 1, 1, 2, 7, 8, 3],  # data_batch_1.bin: frog, truck, truck, ...
        "mean": [0.4914, 0.4822, 0.4465],
        "std": [0.2470, 0.2435, 0.2616],
    },
    "mnist": {
        "sizes": (60000, 10000),
        "shape": (28, 28, 1),
        "counts": (
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        ),
        "first": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],  # train-labels-idx1-ubyte
        "mean": [0.1307],
        "std": [0.3081],
    },
}


@pytest.fixture(params=sorted(READERS))
def reader(request):
    return READERS[request.param]


@pytest.fixture(scope="module", params=sorted(OFFICIAL))
def real(request):
    """(name, its directory, its splits) of a real release; skips where the files are absent."""
    name = request.param
    directory = request.getfixturevalue(f"{name}_dir")
    return name, directory, READERS[name][1](directory.parent)


@pytest.mark.realdata
def test_real_splits_have_official_sizes_and_layout(real):
    name, _, splits = real
    official = OFFICIAL[name]
    for split, size, counts in zip(SPLITS, official["sizes"], official["counts"], strict=True):
        images, labels = splits[split]
        assert images.shape == (size, *official["shape"]) and images.dtype == np.uint8
        assert labels.shape == (size,) and labels.dtype == np.int64
        assert np.bincount(labels, minlength=10).tolist() == counts
    assert splits["train"][1][:10].tolist() == official["first"]


@pytest.mark.realdata
def test_real_train_statistics_match_published_values(real):
    name, _, splits = real
    images = splits["train"][0]
    mean, std = stats.channel_mean_std(images)
    np.testing.assert_allclose(mean, OFFICIAL[name]["mean"], atol=1e-4)
    np.testing.assert_allclose(std, OFFICIAL[name]["std"], atol=1e-4)
    pixel_mean = stats.per_pixel_mean(images)
    assert pixel_mean.shape == OFFICIAL[name]["shape"] and pixel_mean.dtype == np.float32
    np.testing.assert_allclose(pixel_mean.mean(axis=(0, 1)), mean, atol=1e-5)


@pytest.mark.realdata
def test_real_dir_is_found_from_root_or_its_own_folder(real):
    name, directory, _ = real
    module = READERS[name][0]
    assert module.find_local_dir(directory.parent) == directory
    assert module.find_local_dir(directory) == directory


@pytest.mark.realdata
def test_load_dataset_gives_the_release(real):
    name, directory, splits = real
    data = load_dataset(name, str(directory.parent))
    assert data.name == name and data.input_shape == OFFICIAL[name]["shape"]
    assert data.num_classes == 10 and data.class_names == READERS[name][0].CLASS_NAMES
    assert (len(data.train[0]), len(data.test[0])) == OFFICIAL[name]["sizes"]
    np.testing.assert_array_equal(data.test[1], splits["test"][1])


def test_no_dir_given_means_none(reader, monkeypatch, tmp_path):
    module, _, _ = reader
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    assert module.find_local_dir() is None
    # The environment variable names a shared data root; one without the dataset is no error.
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path))
    assert module.find_local_dir() is None


def test_explicit_dir_without_the_dataset_names_path_and_expectation(reader, tmp_path):
    module, _, named = reader
    with pytest.raises(DataError) as info:
        module.find_local_dir(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    for name in named:
        assert name in message
    with pytest.raises(DataError, match="does not exist"):
        module.find_local_dir(tmp_path / "nowhere")
    afile = tmp_path / "afile"
    afile.touch()
    with pytest.raises(DataError, match="is not a directory"):
        module.find_local_dir(afile)


def test_unknown_split_is_rejected(reader, tmp_path):
    module, _, _ = reader
    with pytest.raises(ValueError, match="'valid'.*'train', 'test'"):
        module.load_split("valid", tmp_path)


def test_network_probe_is_false_when_offline(reader):
    # conftest makes every non-loopback connection fail, as an offline machine would.
    module, _, _ = reader
    assert host_reachable(module.DOWNLOAD_HOST) is False


def test_offline_without_any_copy_fails_fast(reader, monkeypatch, tmp_path):
    # Offline as conftest makes every test: the download host's probe fails at once.
    _, load, named = reader
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load(tfds_data_dir=tmp_path / "tfds")
    # An offline tfds.load would retry for minutes; the probe must stop it at once.
    assert time.perf_counter() - start < 20
    message = str(info.value)
    assert "--data-dir" in message and "CNNZOO_DATA_DIR" in message
    for name in named:
        assert name in message

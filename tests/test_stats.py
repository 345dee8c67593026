"""Image statistics: of in-memory arrays in chunks, and of streams in one pass; their files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines import stats as array_stats
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.imagenet_augment import compute_pca
from cnnzoo.pipelines.stats import ImageStats, compute_stats, load_stats, save_stats

# ---- in-memory arrays, in chunks ------------------------------------------------------


def test_stats_match_numpy_across_chunks():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(37, 5, 4, 3), dtype=np.uint8)
    scaled = images / 255.0
    pixel_mean = array_stats.per_pixel_mean(images, chunk_size=8)
    np.testing.assert_allclose(pixel_mean, scaled.mean(axis=0), atol=1e-6)
    mean, std = array_stats.channel_mean_std(images, chunk_size=8)
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 1, 2)), atol=1e-6)
    with pytest.raises(ValueError, match="got shape"):
        array_stats.channel_mean_std(images[0])


# ---- streams, in one pass -------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(8)
    # Correlated channels, so the covariance has distinct eigenvalues.
    base = rng.integers(0, 200, (40, 8, 10, 1))
    noise = rng.integers(0, 56, (40, 8, 10, 3))
    return (base + noise * np.array([1, 0.5, 0.2])).astype(np.uint8)


def test_stats_of_an_array_match_numpy(images):
    stats = compute_stats(images, batch_size=7)
    mean, std = array_stats.channel_mean_std(images)
    np.testing.assert_allclose(stats.channel_mean, mean, atol=1e-6)
    np.testing.assert_allclose(stats.channel_std, std, atol=1e-6)
    np.testing.assert_allclose(stats.pixel_mean, array_stats.per_pixel_mean(images), atol=1e-6)
    assert stats.images == 40 and stats.pixels == 40 * 8 * 10
    pixels = images.reshape(-1, 3).astype(np.float64) / 255
    covariance = np.cov(pixels, rowvar=False, bias=True)
    rebuilt = stats.eigvec @ np.diag(stats.eigval) @ stats.eigvec.T
    np.testing.assert_allclose(rebuilt, covariance, atol=1e-6)
    np.testing.assert_allclose(stats.eigvec.T @ stats.eigvec, np.eye(3), atol=1e-5)
    assert list(stats.eigval) == sorted(stats.eigval, reverse=True)
    eigval, eigvec = compute_pca(images)
    np.testing.assert_array_equal(eigval, stats.eigval)
    np.testing.assert_array_equal(eigvec, stats.eigvec)


def test_stats_from_a_stream_of_different_sizes(images):
    sizes = [(8, 10), (12, 9), (6, 14)]
    parts = [tf.image.resize(images[i], sizes[i % 3]).numpy().astype(np.uint8) for i in range(9)]
    ds = tf.data.Dataset.from_generator(
        lambda: ((x, 0) for x in parts),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int32)),
    )
    stats = compute_stats(ds, pixel_mean_size=6)
    flat = np.concatenate([p.reshape(-1, 3) for p in parts]).astype(np.float64)
    np.testing.assert_allclose(stats.channel_mean, flat.mean(axis=0) / 255, atol=1e-6)
    assert stats.pixels == len(flat) and stats.pixel_mean.shape == (6, 6, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="images differ in size"):
        compute_stats(ds)
    assert compute_stats(ds, max_images=1, pixel_mean_size=6).images == 1


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_stats_round_trip_exactly(images, tmp_path, suffix):
    stats = compute_stats(images)
    loaded = load_stats(save_stats(stats, tmp_path / f"stats{suffix}"))
    assert isinstance(loaded, ImageStats)
    for field in ("channel_mean", "channel_std", "eigval", "eigvec", "pixel_mean"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(stats, field))
    assert (loaded.images, loaded.pixels) == (stats.images, stats.pixels)


def test_bad_stats_files_are_named(images, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_stats(tmp_path / "none.json")
    path = save_stats(compute_stats(images), tmp_path / "s.json")
    fields = json.loads(path.read_text())
    fields["pca_eigvec"] = [1.0, 2.0, 3.0]
    path.write_text(json.dumps(fields))
    with pytest.raises(DataError, match=r"s\.json: field 'pca_eigvec': expected shape \(3, 3\)"):
        load_stats(path)
    del fields["channel_std"]
    path.write_text(json.dumps(fields))
    with pytest.raises(DataError, match="missing field 'channel_std'"):
        load_stats(path)
    path.write_text(json.dumps({"mean": [0.5]}))
    with pytest.raises(DataError, match="field 'format'"):
        load_stats(path)
    with pytest.raises(ValueError, match=".json or .npz"):
        save_stats(compute_stats(images), tmp_path / "s.txt")

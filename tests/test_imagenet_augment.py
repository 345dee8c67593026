"""ImageNet training augmentation, the training stream, and the stored statistics."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines.folder_source import folder_dataset, folder_epoch, list_image_folder
from cnnzoo.pipelines.imagenet_augment import (
    AUGMENTATIONS,
    RESNET_SCALES,
    VGG_FIXED_SCALES,
    VGG_SCALES,
    alexnet_train,
    center_crop,
    make_augment,
    pca_lighting,
    random_resized_crop,
    resize_shorter_side,
    scale_jitter,
    train_stream,
)
from cnnzoo.pipelines.seeds import augment_seed
from cnnzoo.pipelines.stats import compute_stats, load_stats
from PIL import Image

_REPO = Path(__file__).resolve().parents[1]


def _seed(i: int) -> tf.Tensor:
    return tf.constant([7, i], tf.int64)


def _ramp(height: int, width: int) -> tf.Tensor:
    """float32 image whose channel 0 is the column index and channel 1 the row index.

    After a bilinear resize and crop, the step between neighbouring output pixels
    is (source pixels per output pixel), which reveals the scale that was drawn.
    """
    cols = np.broadcast_to(np.arange(width, dtype=np.float32), (height, width))
    rows = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    return tf.constant(np.stack([cols, rows, np.zeros_like(cols)], axis=-1))


def _steps(out) -> tuple[float, float]:
    """Median |step| along columns (of channel 0) and rows (of channel 1)."""
    out = np.asarray(out)
    return (
        float(np.median(np.abs(np.diff(out[1:-1, 1:-1, 0], axis=1)))),
        float(np.median(np.abs(np.diff(out[1:-1, 1:-1, 1], axis=0)))),
    )


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((300, 400), (256, 341)),
        ((400, 300), (341, 256)),
        ((100, 100), (256, 256)),
        ((512, 769), (256, 385)),  # 384.5 rounds up, as the evaluation views round it
    ],
)
def test_resize_shorter_side(shape, expected):
    out = resize_shorter_side(tf.zeros((*shape, 3), tf.uint8), 256)
    assert tuple(out.shape) == (*expected, 3) and out.dtype == tf.float32


def test_alexnet_crop_is_a_window_of_the_central_square_or_its_mirror():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8))
    # Scaled-down sizes (side 40, crop 32) keep the brute-force search small.
    square = center_crop(resize_shorter_side(image, 40), 40).numpy()
    seen = set()
    for i in range(12):
        out = alexnet_train(image, _seed(i), size=32, side=40).numpy()
        assert out.shape == (32, 32, 3) and out.dtype == np.float32
        matches = [
            (top, left, flip)
            for top in range(9)
            for left in range(9)
            for flip in (False, True)
            if np.array_equal(
                out,
                square[top : top + 32, left : left + 32][:, ::-1]
                if flip
                else square[top : top + 32, left : left + 32],
            )
        ]
        assert matches, f"seed {i}: crop is not a window of the central square"
        seen.add(matches[0])
    assert len(seen) > 6 and {m[2] for m in seen} == {False, True}


def test_same_seed_same_crop_other_seed_other_crop():
    image = tf.constant(np.random.default_rng(1).integers(0, 256, (80, 120, 3), dtype=np.uint8))
    for augment in (make_augment("alexnet"), make_augment("resnet"), make_augment("inception")):
        a, b, c = (augment(image, _seed(s)).numpy() for s in (0, 0, 1))
        assert a.shape == (224, 224, 3)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


@pytest.mark.parametrize(("scales", "name"), [(VGG_SCALES, "vgg"), (RESNET_SCALES, "resnet")])
def test_scale_jitter_draws_the_shorter_side_over_the_whole_range(scales, name):
    image = _ramp(100, 150)  # shorter side 100: a drawn S shows as a step of 100 / S
    sides = []
    # One traced graph for all draws: eager op dispatch would dominate the test's time.
    jitter = tf.function(lambda x, s: scale_jitter(x, s, scales=scales))
    for i in range(60):
        out = jitter(image, _seed(i)).numpy()
        assert out.shape == (224, 224, 3)
        col_step, row_step = _steps(out)
        assert col_step == pytest.approx(row_step, rel=0.02)  # aspect ratio kept
        sides.append(100 / row_step)
    low, high = scales
    assert low - 2 <= min(sides) and max(sides) <= high + 2
    # Uniform over the range: 60 draws reach both ends' quarters.
    span = high - low
    assert min(sides) < low + span / 4 and max(sides) > high - span / 4
    # The named augmentation is the same function.
    np.testing.assert_array_equal(
        make_augment(name)(image, _seed(0)), scale_jitter(image, _seed(0), scales=scales)
    )


@pytest.mark.parametrize("side", VGG_FIXED_SCALES)
def test_vgg_single_scale_training_keeps_s_fixed(side):
    # Simonyan & Zisserman 2014 §3.1: single-scale training at S = 256 or 384.
    image = _ramp(100, 150)
    augment = tf.function(make_augment(f"vgg_s{side}"))
    for i in range(5):
        out = augment(image, _seed(i)).numpy()
        assert out.shape == (224, 224, 3)
        col_step, row_step = _steps(out)
        assert 100 / row_step == pytest.approx(side, rel=0.01)
        assert 100 / col_step == pytest.approx(side, rel=0.01)
    assert {"vgg_s256", "vgg_s384"} <= set(AUGMENTATIONS)


def test_augmentation_names_match_the_recipe_choices():
    from cnnzoo.training.recipe import IMAGE_AUGMENTATIONS

    assert set(IMAGE_AUGMENTATIONS) == {"", *AUGMENTATIONS}


def test_random_resized_crop_respects_area_and_aspect_ratio():
    height, width = 300, 400
    image = _ramp(height, width)
    areas, ratios = [], []
    crop = tf.function(lambda x, s: random_resized_crop(x, s, size=64))
    for i in range(80):
        out = crop(image, _seed(i)).numpy()
        assert out.shape == (64, 64, 3)
        col_step, row_step = _steps(out)
        crop_w, crop_h = col_step * 64, row_step * 64  # source pixels across the output
        areas.append(crop_w * crop_h / (height * width))
        ratios.append(crop_w / crop_h)
    # Szegedy et al. 2015 §6: area 8-100%, aspect ratio 3/4-4/3 (rounding tolerance).
    assert 0.08 * 0.9 <= min(areas) and max(areas) <= 1.02
    assert 0.75 * 0.95 <= min(ratios) and max(ratios) <= 4 / 3 * 1.05
    assert min(areas) < 0.3 and max(areas) > 0.7  # spread over the range
    assert min(ratios) < 0.9 and max(ratios) > 1.15


def test_random_resized_crop_falls_back_to_a_centred_clamped_crop():
    # A 10:1 strip: no full-area crop with ratio <= 4/3 fits, so the fallback is used.
    image = tf.constant(np.random.default_rng(2).integers(0, 256, (20, 200, 3), dtype=np.uint8))
    out = random_resized_crop(image, _seed(0), size=16, area=(1.0, 1.0), flip=False)
    crop_w = round(20 * 4 / 3)  # 27 columns, centred
    left = (200 - crop_w) // 2
    expected = tf.image.resize(
        image[:, left : left + crop_w], [16, 16], method="bilinear", antialias=True
    )
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_inception_size_299():
    image = tf.zeros((120, 90, 3), tf.uint8)
    assert make_augment("inception", size=299)(image, _seed(0)).shape == (299, 299, 3)


def test_pca_lighting_adds_the_papers_offset():
    eigval = np.array([0.2175, 0.0188, 0.0045], np.float32)
    eigvec = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))[0].astype(np.float32)
    image = tf.constant(np.random.default_rng(4).integers(0, 256, (4, 5, 3), dtype=np.uint8))
    alphas = []
    lighting = tf.function(lambda x, s: pca_lighting(x, s, eigval, eigvec))
    for i in range(300):
        out = lighting(image, _seed(i)).numpy()
        offset = out - image.numpy().astype(np.float32)
        # One RGB offset for the whole image.
        np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0], offset.shape), atol=1e-4)
        alpha = (eigvec.T @ (offset[0, 0] / 255.0)) / eigval  # undo eigvec @ (alpha * eigval)
        if i == 0:
            expected = tf.random.stateless_normal([3], _seed(0), stddev=0.1).numpy()
            np.testing.assert_allclose(alpha, expected, rtol=1e-3, atol=1e-4)
        alphas.append(alpha)
    # Krizhevsky et al. 2012 §4.1: alpha ~ N(0, 0.1), independent per component.
    alphas = np.array(alphas)
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.2)
    np.testing.assert_allclose(alphas.mean(axis=0), 0.0, atol=0.025)


def test_make_augment_with_pca_is_the_crop_plus_a_constant_offset():
    image = tf.constant(np.random.default_rng(5).integers(0, 256, (70, 90, 3), dtype=np.uint8))
    pca = (np.array([0.2, 0.02, 0.005]), np.eye(3))
    seed = _seed(3)
    crop_seed, _ = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    plain = alexnet_train(image, crop_seed).numpy()
    coloured = make_augment("alexnet", pca=pca)(image, seed).numpy()
    offset = coloured - plain
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0], offset.shape), atol=1e-3)
    assert np.abs(offset[0, 0]).max() > 0
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_augment("mixup")


# ---- the training stream ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(6)
    for cls in ("a", "b", "c"):
        (root / cls).mkdir()
        for i in range(5):
            image = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / cls / f"{i}.png")
    return list_image_folder(root)


def _crop16(image, seed):
    return random_resized_crop(image, seed, size=16)


def _batches(index, start_epoch, count, seed=4):
    ds = train_stream(
        folder_epoch(index, seed=seed), _crop16, 4, seed=seed, start_epoch=start_epoch
    )
    return [(x, y) for x, y in ds.take(count).as_numpy_iterator()]


def test_stream_batches_epochs_and_resumes_exactly(small_tree):
    steps = len(small_tree) // 4  # 15 images: 3 full batches per epoch, 3 dropped
    full = _batches(small_tree, 0, 3 * steps)
    x, y = full[0]
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.float32
    assert y.dtype == np.int32
    for e in range(3):
        labels = np.concatenate([y for _, y in full[e * steps : (e + 1) * steps]])
        assert np.bincount(labels, minlength=3).sum() == 12
    resumed = _batches(small_tree, 1, 2 * steps)
    for (xa, ya), (xb, yb) in zip(full[steps:], resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(full[0][0], _batches(small_tree, 0, 1, seed=5)[0][0])


def test_augment_seed_is_a_pure_function_of_seed_epoch_position():
    a = augment_seed(1, 2, 3).numpy()
    np.testing.assert_array_equal(a, augment_seed(1, tf.constant(2, tf.int64), 3).numpy())
    others = [augment_seed(*args).numpy().tolist() for args in ((0, 2, 3), (1, 1, 3), (1, 2, 4))]
    assert a.tolist() not in others


# ---- the statistics tool ---------------------------------------------------------------


def _load_tool(name: str):
    """Import a script from tools/ (not a package) in-process: no second TensorFlow start-up."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", _REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compute_stats_command_writes_what_compute_stats_computes(small_tree, tmp_path, capsys):
    tool = _load_tool("compute_stats")
    out = tmp_path / "stats.json"
    argv = ["--folder", str(small_tree.root), "--out", str(out), "--pixel-mean-size", "16"]
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "15 images" in printed
    stored = load_stats(out)
    expected = compute_stats(folder_dataset(small_tree), pixel_mean_size=16)
    np.testing.assert_allclose(stored.channel_mean, expected.channel_mean, atol=1e-7)
    np.testing.assert_allclose(stored.eigval, expected.eigval, atol=1e-7)
    assert stored.pixel_mean.shape == (16, 16, 3)
    # A random sample across classes, and the size hint when sizes differ.
    assert tool.main(argv[:4] + ["--pixel-mean-size", "16", "--max-images", "4"]) == 0
    assert "4 images" in capsys.readouterr().out
    assert tool.main(argv[:4]) == 1
    assert "--pixel-mean-size" in capsys.readouterr().err

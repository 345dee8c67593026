"""Evaluation views: crop boxes and cut views against NumPy references, view by view."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from cnnzoo.pipelines import views


def _image(h, w, seed=0, c=3):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)


# ------------------------------------------------------------------ NumPy references
# Written from the papers' words, independently of cnnzoo.pipelines.views.


def _ref_five_boxes(h, w, s):
    # Krizhevsky et al. 2012 §4.1: "the four corner patches and the center patch".
    return [
        (0, 0, s, s),
        (0, w - s, s, s),
        (h - s, 0, s, s),
        (h - s, w - s, s, s),
        ((h - s) // 2, (w - s) // 2, s, s),
    ]


def _ref_squares(h, w):
    # Szegedy et al. 2015 §7: left, centre, right squares (top, centre, bottom if portrait).
    side = min(h, w)
    if w >= h:
        return [(0, x, side) for x in (0, (w - side) // 2, w - side)]
    return [(y, 0, side) for y in (0, (h - side) // 2, h - side)]


def _cut(image, box):
    top, left, height, width = box
    return image[top : top + height, left : left + width]


def _ref_ten_views(image, s):
    h, w = image.shape[:2]
    crops = [_cut(image, b) for b in _ref_five_boxes(h, w, s)]
    return crops + [c[:, ::-1] for c in crops]


def _ref_144_views(image, size, scales):
    crops = []
    for q in scales:
        resized = views.resize_shorter(image, q).numpy()
        for top, left, side in _ref_squares(*resized.shape[:2]):
            square = resized[top : top + side, left : left + side]
            crops += [_cut(square, b) for b in _ref_five_boxes(side, side, size)]
            crops.append(tf.image.resize(square, (size, size), antialias=True).numpy())
    return crops + [c[:, ::-1] for c in crops]


# ------------------------------------------------------------------ geometry


@pytest.mark.parametrize(
    "h, w, q, expected",
    [
        (300, 400, 256, (256, 341)),  # 341.33 -> 341
        (400, 300, 256, (341, 256)),
        (375, 500, 256, (256, 341)),
        (2, 3, 1, (1, 2)),  # 1.5 rounds half up
        (256, 256, 256, (256, 256)),
        (100, 90, 256, (284, 256)),  # upscaling: 284.44 -> 284
    ],
)
def test_shorter_side_size_static_and_dynamic_agree(h, w, q, expected):
    assert views.shorter_side_size(h, w, q) == expected
    dynamic = views.shorter_side_size(tf.constant(h), tf.constant(w), q)
    assert tuple(int(v) for v in dynamic) == expected


def test_resize_shorter_shapes_dtype_and_identity():
    image = _image(30, 40)
    out = views.resize_shorter(image, 24)
    assert out.shape == (24, 32, 3) and out.dtype == tf.float32
    batch = views.resize_shorter(np.stack([image, image]), 24)
    assert batch.shape == (2, 24, 32, 3)
    # Already at the scale: the pixels as they are, as float32.
    np.testing.assert_array_equal(views.resize_shorter(image, 30).numpy(), image)


def test_center_box_puts_odd_margins_bottom_right():
    assert views.center_box(7, 10, 4) == (1, 3, 4, 4)
    np.testing.assert_array_equal(
        views.center_crop(_image(7, 10), 4).numpy(), _image(7, 10)[1:5, 3:7]
    )
    with pytest.raises(ValueError, match="does not fit"):
        views.center_box(7, 10, 8)


@pytest.mark.parametrize("h, w, s", [(37, 50, 20), (50, 37, 20), (24, 24, 24), (9, 13, 4)])
def test_ten_crop_boxes_and_views_match_numpy(h, w, s):
    assert views.ten_crop_boxes(h, w, s) == _ref_five_boxes(h, w, s)
    image = _image(h, w, seed=h + w)
    out = views.ten_crop(image, s).numpy()
    ref = _ref_ten_views(image, s)
    assert out.shape == (10, s, s, 3) and out.dtype == np.uint8
    for i in range(10):
        np.testing.assert_array_equal(out[i], ref[i], err_msg=f"view {i}")


def test_ten_crop_of_a_batch_is_per_image():
    batch = np.stack([_image(20, 30, seed=i) for i in range(3)])
    out = views.ten_crop(batch, 16).numpy()
    assert out.shape == (3, 10, 16, 16, 3)
    for b in range(3):
        for i, view in enumerate(_ref_ten_views(batch[b], 16)):
            np.testing.assert_array_equal(out[b, i], view)


@pytest.mark.parametrize("h, w", [(20, 30), (30, 20), (21, 21)])
def test_crops_144_boxes_and_views_match_numpy(h, w):
    size, scales = 8, (8, 10, 13, 16)
    image = _image(h, w, seed=h * w)
    boxes = views.crops_144_boxes(h, w, size, scales)
    expected = []
    for q in scales:
        qh, qw = views.shorter_side_size(h, w, q)
        for top, left, side in _ref_squares(qh, qw):
            for b_top, b_left, bh, bw in _ref_five_boxes(side, side, size):
                expected.append((q, top + b_top, left + b_left, bh, bw))
            expected.append((q, top, left, side, side))
    assert boxes == expected
    out = views.crops_144(image, size, scales).numpy()
    ref = _ref_144_views(image, size, scales)
    assert out.shape == (144, size, size, 3) == (len(ref), *ref[0].shape)
    for i in range(144):
        np.testing.assert_allclose(out[i], ref[i], atol=1e-4, err_msg=f"view {i}")


def test_crops_144_defaults_are_googlenets():
    # Szegedy et al. 2015 §7: 4 scales x 3 squares x 6 crops x 2 mirrors = 144.
    assert views.GOOGLENET_SCALES == (256, 288, 320, 352)
    assert len(views.crops_144_boxes(375, 500)) == 72
    out = views.crops_144(_image(260, 300))
    assert out.shape == (144, 224, 224, 3) and out.dtype == tf.float32


def test_views_traced_with_unknown_sizes_equal_eager_ones():
    # What a tf.data map over decoded images of varying size sees: (None, None, 3).
    images = [_image(20, 30, seed=1), _image(30, 20, seed=2), _image(19, 19, seed=3)]
    fns = {
        "ten": lambda x: views.ten_crop(views.resize_shorter(x, 18), 16),
        "144": lambda x: views.crops_144(x, 8, (8, 12)),
        "center": lambda x: views.center_crop(views.resize_shorter(x, 18), 16),
    }
    spec = tf.TensorSpec((None, None, 3), tf.uint8)
    for name, fn in fns.items():
        traced = tf.function(fn, input_signature=[spec], autograph=False)
        for image in images:
            np.testing.assert_allclose(
                traced(image).numpy(), fn(image).numpy(), atol=1e-4, err_msg=name
            )


def test_flip_views_are_image_and_mirror():
    image = _image(5, 7)
    out = views.flip_views(image).numpy()
    np.testing.assert_array_equal(out[0], image)
    np.testing.assert_array_equal(out[1], image[:, ::-1])


def test_translate_views_are_windows_of_the_zero_padded_image():
    image = _image(8, 8)
    out = views.translate_views(image, pad=2).numpy()
    padded = np.pad(image, [(2, 2), (2, 2), (0, 0)])
    windows = [padded[dy : dy + 8, dx : dx + 8] for dy in (0, 2, 4) for dx in (0, 2, 4)]
    assert out.shape == (18, 8, 8, 3) and out.dtype == np.uint8
    for i, window in enumerate(windows + [w[:, ::-1] for w in windows]):
        np.testing.assert_array_equal(out[i], window, err_msg=f"view {i}")
    np.testing.assert_array_equal(out[4], image)  # the centre window
    assert views.translate_views(image[None], pad=2, mirror=False).shape == (1, 9, 8, 8, 3)


def test_bad_crops_are_errors():
    with pytest.raises(ValueError, match="does not fit"):
        views.ten_crop(_image(10, 20), 12)
    with pytest.raises(ValueError, match="smaller than"):
        views.crops_144_boxes(300, 400, 224, scales=(200,))
    with pytest.raises(ValueError, match="outside"):
        views.crop(_image(10, 10), (5, 5, 6, 6))
    with pytest.raises(ValueError, match="expected an image"):
        views.ten_crop(np.zeros((4, 4)), 2)


@pytest.mark.parametrize("name", sorted(views.VIEW_SETS))
def test_each_view_set_yields_its_count_of_views(name):
    view_set = views.VIEW_SETS[name]
    if view_set.default_scales is None:  # the image as it is
        q, shape, out = None, (10, 11, 3), (10, 11, 3)
    else:
        q, shape, out = 12, (14, 17, 3), (8, 8, 3)
    fn = views.view_function(name, q, 8)
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert tuple(fn(image).shape) == (view_set.count, *out)
    assert tuple(fn(np.stack([image, image])).shape) == (2, view_set.count, *out)


def test_unknown_view_sets_and_too_small_scales_are_errors():
    with pytest.raises(ValueError, match="unknown views 'five'"):
        views.view_function("five", 10, 8)
    with pytest.raises(ValueError, match="scale 6 is smaller than the \\(8, 8\\) crop"):
        views.view_function("10crop", 6, 8)
    with pytest.raises(ValueError, match="144 crops are square"):
        views.view_function("144crop", 12, (8, 10))

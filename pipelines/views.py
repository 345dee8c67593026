"""Evaluation views: the crops and mirrors that the papers' test protocols average over.

Papers:
    [1] A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
        Convolutional Neural Networks", NIPS 2012: §2 (shorter side to 256, central
        256x256 patch), §4.1 (ten 224x224 patches: four corners, centre, mirrors).
    [2] C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
        (arXiv:1409.4842), §7: the 144 crops of GoogLeNet.
    [3] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016 (arXiv:1512.03385), §4.2: CIFAR images padded by 4
        pixels and cropped back to 32x32 in training.

Every function takes one decoded image (H, W, C) or a batch of same-sized images
(B, H, W, C), of any dtype and size, and works eagerly or inside a `tf.data` map
(sizes then come from ``tf.shape``). Multi-view functions return the views on a new
axis just before the image axes: (V, h, w, C) for an image, (B, V, h, w, C) for a
batch, so that a caller can reshape them into one larger batch for the model.

`VIEW_SETS` names each protocol's views (``single``, ``flip``, ``translate``,
``center``, ``10crop``, ``144crop``) with their count and the papers' scales;
`view_function` builds one for a scale and a crop size.

The crop geometry is exposed as plain ``(top, left, height, width)`` tuples
(`ten_crop_boxes`, `crops_144_boxes`, `translate_boxes`) and the image functions
cut exactly those boxes, so tests can compare each view with a NumPy slice. A view
is cut at integer offsets; only boxes larger than the output (the full squares of
the 144 crops) and `resize_shorter` resample. Resized pixels are float32 with the
input's value range; crops that do not resample keep the input's dtype.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable

import tensorflow as tf

# [1] §2: "rescaled the image such that the shorter side was of length 256".
DEFAULT_SCALE = 256
# [2] §7: "the shorter dimension (height or width) is 256, 288, 320 and 352".
GOOGLENET_SCALES = (256, 288, 320, 352)
# [1] §4.1 and [2] §7: 224x224 network inputs.
DEFAULT_CROP = 224
# [3] §4.2: "4 pixels are padded on each side".
CIFAR_PAD = 4


# --------------------------------------------------------------------------- helpers


def _hw(images):
    """Height and width: Python ints when static, scalar int32 tensors otherwise."""
    static = tf.TensorShape(images.shape)
    if static.rank not in (3, 4):
        raise ValueError(f"expected an image (H, W, C) or a batch (B, H, W, C), got shape {static}")
    h, w = static[-3], static[-2]
    if h is None or w is None:
        dynamic = tf.shape(images)
        h = dynamic[-3] if h is None else h
        w = dynamic[-2] if w is None else w
    return h, w


def _is_static(*values) -> bool:
    # numbers.Integral covers NumPy integers too; tensors are the dynamic case.
    return all(isinstance(v, numbers.Integral) for v in values)


def _select(cond, a, b):
    """``a if cond else b`` for Python bools and for scalar bool tensors."""
    if isinstance(cond, tf.Tensor):
        return tf.where(cond, a, b)
    return a if cond else b


def _check_fits(h, w, height, width, what):
    if _is_static(h, w) and (height > h or width > w):
        raise ValueError(f"{what}: a {height}x{width} crop does not fit a {h}x{w} image")


def _pair(size):
    if isinstance(size, int):
        return size, size
    height, width = size
    return height, width


def _same_size(box, height, width) -> bool:
    """Whether a box already has the output size (statically, or as the same tensors)."""
    if _is_static(box[2], box[3], height, width):
        return (box[2], box[3]) == (height, width)
    return box[2] is height and box[3] is width


def _flip(images):
    return tf.reverse(images, axis=[-2])


# --------------------------------------------------------------------------- geometry


def shorter_side_size(h, w, q):
    """The (height, width) an h x w image gets when its shorter side is resized to q.

    The longer side keeps the aspect ratio, rounded half up: ``round(long * q / short)``
    computed in integers, so Python ints and tensors agree exactly.

    Args:
        h, w: image height and width (ints, or scalar int32 tensors).
        q: target length of the shorter side.

    Returns:
        ``(new_h, new_w)``, of the same kind as ``h`` and ``w``.
    """
    if _is_static(h, w):
        if h <= 0 or w <= 0:
            raise ValueError(f"cannot resize an empty {h}x{w} image")
        if h <= w:
            return q, (2 * w * q + h) // (2 * h)
        return (2 * h * q + w) // (2 * w), q
    h = tf.convert_to_tensor(h, tf.int32)
    w = tf.convert_to_tensor(w, tf.int32)
    portrait = h > w
    new_h = tf.where(portrait, (2 * h * q + w) // (2 * w), q)
    new_w = tf.where(portrait, q, (2 * w * q + h) // (2 * h))
    return new_h, new_w


def center_box(h, w, size):
    """The centred ``size`` crop of an h x w image, as ``(top, left, height, width)``.

    Odd margins put the extra pixel at the bottom / right (``top = (h - height) // 2``).
    """
    height, width = _pair(size)
    _check_fits(h, w, height, width, "center crop")
    return ((h - height) // 2, (w - width) // 2, height, width)


def ten_crop_boxes(h, w, size):
    """The five crop boxes of [1] §4.1: four corners and the centre.

    Args:
        h, w: image height and width.
        size: crop side (int) or (height, width).

    Returns:
        ``[top_left, top_right, bottom_left, bottom_right, centre]``, each
        ``(top, left, height, width)``. The ten views are these five crops and then
        their mirror images, in the same order.
    """
    height, width = _pair(size)
    _check_fits(h, w, height, width, "ten crop")
    return [
        (0, 0, height, width),
        (0, w - width, height, width),
        (h - height, 0, height, width),
        (h - height, w - width, height, width),
        center_box(h, w, (height, width)),
    ]


def square_boxes(h, w):
    """The three squares of [2] §7: left, centre, right (top, centre, bottom if portrait).

    Args:
        h, w: image height and width.

    Returns:
        Three ``(top, left, side, side)`` boxes, ``side = min(h, w)``, in order along
        the longer side. A square image gives the same square three times, which keeps
        the count of views (and their weights in the mean) at [2]'s 144.
    """
    static = _is_static(h, w)
    side = min(h, w) if static else tf.minimum(h, w)
    extra = abs(h - w)  # how far the square slides along the longer side
    portrait = h > w
    boxes = []
    for along in (0, extra // 2, extra):
        boxes.append((_select(portrait, along, 0), _select(portrait, 0, along), side, side))
    return boxes


def crops_144_boxes(h, w, size=DEFAULT_CROP, scales=GOOGLENET_SCALES):
    """The 72 unmirrored crop boxes of [2] §7, scale by scale.

    For each scale q the image is resized so that its shorter side is q
    (`shorter_side_size`); in it, each of the three `square_boxes` gives the four
    corner and the centre ``size`` crops of the square, and the square itself (to be
    resized to ``size``). 4 scales x 3 squares x 6 = 72 views, and their 72 mirrors
    make [2]'s 144.

    Args:
        h, w: size of the original image.
        size: network input side (int).
        scales: shorter sides of the rescaled images.

    Returns:
        72 tuples ``(q, top, left, height, width)``: the box in the image resized to
        shorter side ``q``. In the order scale, square, then [four corners, centre,
        whole square]; the mirrored views follow in the same order.
    """
    boxes = []
    for q in scales:
        if q < size:
            raise ValueError(f"144 crops: scale {q} is smaller than the {size}x{size} crop")
        qh, qw = shorter_side_size(h, w, q)
        for top, left, side, _ in square_boxes(qh, qw):
            for c_top, c_left, c_h, c_w in ten_crop_boxes(side, side, size):
                boxes.append((q, top + c_top, left + c_left, c_h, c_w))
            boxes.append((q, top, left, side, side))
    return boxes


def translate_boxes(h, w, pad=CIFAR_PAD):
    """Windows of the zero-padded image for pad-and-translate test-time augmentation.

    The image is padded by ``pad`` pixels on each side (as in training, [3] §4.2) and
    cut back to h x w at the nine offsets {0, pad, 2 pad}^2: the centre (the image
    itself) and shifts by ``pad`` pixels in the eight directions. Each is a view the
    training augmentation could have drawn.

    Args:
        h, w: image height and width.
        pad: padding per side, > 0.

    Returns:
        Nine ``(top, left, h, w)`` boxes in the padded image, row-major over
        (vertical, horizontal) offset.
    """
    if pad <= 0:
        raise ValueError(f"pad must be > 0 for translated views, got {pad}")
    return [(dy, dx, h, w) for dy in (0, pad, 2 * pad) for dx in (0, pad, 2 * pad)]


# --------------------------------------------------------------------------- images


def resize_shorter(images, q, method="bilinear", antialias=True):
    """Resize an image or a batch so that the shorter side is ``q`` (aspect kept).

    Args:
        images: (H, W, C) or (B, H, W, C) tensor or array, any dtype.
        q: target shorter side (int).
        method: `tf.image.resize` method.
        antialias: low-pass filter when shrinking (as PIL does), so downscaled
            ImageNet photographs do not alias.

    Returns:
        float32 images (values in the input's range) with shorter side ``q``; an
        input whose shorter side already is ``q`` is only cast to float32.
    """
    images = tf.convert_to_tensor(images)
    h, w = _hw(images)
    new_h, new_w = shorter_side_size(h, w, q)
    if _is_static(h, w) and (new_h, new_w) == (h, w):
        return tf.cast(images, tf.float32)
    target = (new_h, new_w) if _is_static(new_h, new_w) else tf.stack([new_h, new_w])
    out = tf.image.resize(images, target, method=method, antialias=antialias)
    return tf.cast(out, tf.float32)


def crop(images, box):
    """Cut ``box = (top, left, height, width)`` from an image or a batch."""
    top, left, height, width = box
    h, w = _hw(images)
    if _is_static(h, w, top, left, height, width):
        if top < 0 or left < 0 or top + height > h or left + width > w:
            raise ValueError(f"crop box {tuple(box)} is outside the {h}x{w} image")
        # One strided slice: crop_to_bounding_box's runtime checks would add a dozen
        # ops per view, which makes the 144-view graph slow to trace.
        return images[..., top : top + height, left : left + width, :]
    return tf.image.crop_to_bounding_box(images, top, left, height, width)


def center_crop(images, size):
    """The centred ``size`` crop (int or (height, width)) of an image or a batch."""
    images = tf.convert_to_tensor(images)
    h, w = _hw(images)
    return crop(images, center_box(h, w, size))


def crop_views(images, boxes, size, mirror=True, antialias=True):
    """Cut each box, resize it to ``size`` if it is larger, and optionally add mirrors.

    Args:
        images: (H, W, C) or (B, H, W, C).
        boxes: ``(top, left, height, width)`` tuples.
        size: output side (int) or (height, width).
        mirror: append the left-right mirror of every view, in the same order.
        antialias: for the views that are resized.

    Returns:
        (V, h, w, C) or (B, V, h, w, C) with ``V = len(boxes)`` (x2 with mirrors);
        float32 if any view was resized, else the input's dtype.
    """
    images = tf.convert_to_tensor(images)
    out_h, out_w = _pair(size)
    views = []
    for box in boxes:
        view = crop(images, box)
        if not _same_size(box, out_h, out_w):
            view = tf.image.resize(view, (out_h, out_w), antialias=antialias)
        views.append(view)
    if any(v.dtype != images.dtype for v in views):
        views = [tf.cast(v, tf.float32) for v in views]
    if mirror:
        views += [_flip(v) for v in views]
    return tf.stack(views, axis=-4)


def ten_crop(images, size=DEFAULT_CROP):
    """The ten views of [1] §4.1: four corners, centre, and their mirrors.

    Args:
        images: (H, W, C) or (B, H, W, C), at least ``size`` on each side.
        size: crop side (int) or (height, width).

    Returns:
        (10, h, w, C) or (B, 10, h, w, C), in the order of `ten_crop_boxes`, the
        five unmirrored views first.
    """
    images = tf.convert_to_tensor(images)
    h, w = _hw(images)
    return crop_views(images, ten_crop_boxes(h, w, size), size)


def crops_144(image, size=DEFAULT_CROP, scales=GOOGLENET_SCALES, antialias=True):
    """The 144 views of GoogLeNet's test protocol ([2] §7).

    "We resize the image to 4 scales where the shorter dimension (height or width) is
    256, 288, 320 and 352 respectively, take the left, center and right square of these
    resized images (in the case of portrait images, we take the top, center and bottom
    squares). For each square, we then take the 4 corners and the center 224x224 crop
    as well as the square resized to 224x224, and their mirrored versions."

    Args:
        image: (H, W, C) or a batch (B, H, W, C) of same-sized images.
        size: network input side.
        scales: shorter sides; with the default, [2]'s four.
        antialias: for the rescaling and the resized squares.

    Returns:
        float32 (144, size, size, C) or (B, 144, size, size, C) (``6 * 3 * 2 *
        len(scales)`` views in general): the 72 views of `crops_144_boxes` in its
        order, then their mirrors in the same order.
    """
    image = tf.convert_to_tensor(image)
    h, w = _hw(image)
    boxes = crops_144_boxes(h, w, size, scales)
    per_scale = len(boxes) // len(scales)
    views = []
    for i, q in enumerate(scales):
        resized = resize_shorter(image, q, antialias=antialias)
        scale_boxes = [b[1:] for b in boxes[i * per_scale : (i + 1) * per_scale]]
        views.append(crop_views(resized, scale_boxes, size, mirror=False, antialias=antialias))
    views = tf.concat(views, axis=-4)
    return tf.concat([views, _flip(views)], axis=-4)


def flip_views(images):
    """The image and its left-right mirror: (2, H, W, C) or (B, 2, H, W, C)."""
    images = tf.convert_to_tensor(images)
    return tf.stack([images, _flip(images)], axis=-4)


def translate_views(images, pad=CIFAR_PAD, mirror=True):
    """Pad-and-translate test-time augmentation for small (CIFAR) images.

    The nine windows of `translate_boxes` (zero padding, as `cnnzoo.pipelines.augment`
    pads in training), and with ``mirror`` their mirrors: 18 views.

    Args:
        images: (H, W, C) or (B, H, W, C).
        pad: padding per side.
        mirror: add the mirrored views.

    Returns:
        (V, H, W, C) or (B, V, H, W, C) in the input's dtype, the centre window
        (the image itself) fifth.
    """
    images = tf.convert_to_tensor(images)
    h, w = _hw(images)
    spatial = [[pad, pad], [pad, pad], [0, 0]]
    padded = tf.pad(images, spatial if images.shape.rank == 3 else [[0, 0], *spatial])
    return crop_views(padded, translate_boxes(h, w, pad), (h, w), mirror=mirror)


# --------------------------------------------------------------------------- view sets


@dataclasses.dataclass(frozen=True)
class ViewSet:
    """The views a test protocol takes of one image at one scale.

    Attributes:
        make: ``(q, crop, pad, antialias) -> views``, where ``views`` maps an image
            (H, W, C) to (V, h, w, C) and a batch (B, H, W, C) to (B, V, h, w, C);
            ``q`` is the shorter side the image is first resized to, ``crop`` the
            model's (height, width), ``pad`` the translation of ``translate``.
        count: V, the views per image.
        default_scales: the papers' shorter sides Q; None for the sets that take
            the image at its own size (``q`` is then None).
    """

    make: Callable[..., Callable]
    count: int
    default_scales: tuple[int, ...] | None


def _single(q, crop, pad, antialias):
    return lambda x: tf.expand_dims(x, -4)


def _mirrored(q, crop, pad, antialias):
    return flip_views


def _translated(q, crop, pad, antialias):
    return lambda x: translate_views(x, pad=pad)


def _centre(q, crop, pad, antialias):
    return lambda x: tf.expand_dims(
        center_crop(resize_shorter(x, q, antialias=antialias), crop), -4
    )


def _ten_crops(q, crop, pad, antialias):
    # [1] §2: the central Q x Q square of the rescaled image, then [1] §4.1's crops.
    return lambda x: ten_crop(center_crop(resize_shorter(x, q, antialias=antialias), q), crop)


def _googlenet_crops(q, crop, pad, antialias):
    if crop[0] != crop[1]:
        raise ValueError(f"144 crops are square; the model takes {crop}")
    return lambda x: crops_144(x, crop[0], scales=(q,), antialias=antialias)


VIEW_SETS: dict[str, ViewSet] = {
    "single": ViewSet(_single, 1, None),
    "flip": ViewSet(_mirrored, 2, None),
    "translate": ViewSet(_translated, 18, None),  # 9 windows and their mirrors
    "center": ViewSet(_centre, 1, (DEFAULT_SCALE,)),
    "10crop": ViewSet(_ten_crops, 10, (DEFAULT_SCALE,)),
    # 6 views of each of 3 squares per scale; the 72 mirrored ones come with them.
    "144crop": ViewSet(_googlenet_crops, 36, GOOGLENET_SCALES),
}


def view_function(name: str, q: int | None, crop, pad: int = CIFAR_PAD, antialias: bool = True):
    """The views of the set `name` at shorter side ``q`` for a model taking ``crop``.

    Args:
        name: a key of `VIEW_SETS`.
        q: the shorter side the image is resized to; None for the sets that take
            the image as it is.
        crop: the model's input (height, width), or an int for a square.
        pad: padding per side of the ``translate`` views.
        antialias: low-pass filter when resizing.

    Returns:
        ``views(images)``: (H, W, C) -> (V, h, w, C), (B, H, W, C) -> (B, V, h, w, C).
    """
    if name not in VIEW_SETS:
        raise ValueError(f"unknown views {name!r}; expected one of {tuple(VIEW_SETS)}")
    view_set = VIEW_SETS[name]
    crop = _pair(crop)
    if view_set.default_scales is not None and q < max(crop):
        raise ValueError(f"views={name!r}: scale {q} is smaller than the {crop} crop")
    return view_set.make(q, crop, pad, antialias)

"""The papers' test protocols: multi-crop, dense and multi-scale evaluation, and ensembles.

Papers:
    [1] A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
        Convolutional Neural Networks", NIPS 2012, §2 and §4.1: ten 224x224 patches of
        the central 256x256 square; "averaging the predictions made by the network's
        softmax layer on the ten patches".
    [2] K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
        Image Recognition", ICLR 2015 (arXiv:1409.1556): §3.2 (dense evaluation),
        §4.2 and Table 4 (multi-scale, Q in {256, 384, 512}), §4.3 and Table 5
        (multi-crop and dense combined by averaging their soft-max outputs), §4.4
        and Table 6 (ensembles: "averaging their soft-max class posteriors").
    [3] C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, §7: 144 crops;
        "the softmax probabilities are averaged over multiple crops".
    [4] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016, §3.4: 10-crop testing and the fully-convolutional
        form averaged over scales.

Protocols (``views``):
    ``single``     the image as it is (it must have the model's input size): CIFAR.
    ``flip``       the image and its mirror (CIFAR test-time augmentation).
    ``translate``  pad-and-translate: 9 shifted windows of the zero-padded image and
                   their mirrors (`cnnzoo.pipelines.views.translate_views`).
    ``center``     shorter side to Q, the centre crop.
    ``10crop``     shorter side to Q, the central Q x Q square ([1] §2), its four
                   corner and centre crops and their mirrors ([1] §4.1).
    ``144crop``    GoogLeNet's crops ([3] §7), 36 per scale.
    ``dense``      the fully-convolutional model on the whole image at shorter side Q
                   and on its mirror ([2] §3.2, `cnnzoo.evaluation.dense`).
    ``multiscale`` ``dense`` over Q in {256, 384, 512} ([2] Table 4); any other
                   protocol becomes multi-scale by passing several ``scales``.
A sequence of protocols, e.g. ``("10crop", "dense")``, averages their predictions
([2] Table 5, "multi-crop & dense").

How predictions combine, all in softmax posteriors: the views of one scale are
averaged, then the scales of one protocol, then the protocols, then (for an
ensemble) the models. Each step averages with equal weights.

Views of several images go through the model as one batch (``batch_size`` crops per
call), so 10 crops cost about ten single crops, not ten model calls per image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnzoo.evaluation import dense as dense_eval
from cnnzoo.pipelines import views as pv

CROP_PROTOCOLS = ("single", "flip", "translate", "center", "10crop", "144crop")
PROTOCOLS = (*CROP_PROTOCOLS, "dense", "multiscale")
# The protocols that look at the image as it is, without rescaling it to a scale Q.
UNSCALED = ("single", "flip", "translate")
DEFAULT_SCALES: dict[str, tuple[int, ...]] = {
    "center": (pv.DEFAULT_SCALE,),  # [1] §2: shorter side 256
    "10crop": (pv.DEFAULT_SCALE,),
    "144crop": pv.GOOGLENET_SCALES,  # [3] §7
    "dense": (pv.DEFAULT_SCALE,),
    "multiscale": (256, 384, 512),  # [2] §4.2, Table 4: Q = {256, 384, 512}
}
# Views per image at one scale.
VIEW_COUNTS = {"single": 1, "flip": 2, "translate": 18, "center": 1, "10crop": 10, "144crop": 36}
DEFAULT_BATCH_SIZE = 64
TOP_K = 5  # ILSVRC's top-5 error


@dataclasses.dataclass(frozen=True)
class _Protocol:
    name: str  # one of CROP_PROTOCOLS, or "dense"
    scales: tuple[int | None, ...]  # (None,) for the unscaled protocols

    @property
    def views_per_image(self) -> int:
        per_scale = 2 if self.name == "dense" else VIEW_COUNTS[self.name]
        return per_scale * len(self.scales)


def _protocols(views, scales) -> list[_Protocol]:
    names = [views] if isinstance(views, str) else list(views)
    if not names:
        raise ValueError("views: expected at least one protocol")
    out = []
    for name in names:
        if name not in PROTOCOLS:
            raise ValueError(f"unknown views {name!r}; expected one of {PROTOCOLS}")
        if name in UNSCALED:
            if scales is not None:
                raise ValueError(
                    f"views={name!r} evaluates the images at their own size; "
                    f"scales={scales!r} applies to {PROTOCOLS[3:]}"
                )
            out.append(_Protocol(name, (None,)))
            continue
        qs = tuple(int(q) for q in (DEFAULT_SCALES[name] if scales is None else scales))
        if not qs or min(qs) <= 0:
            raise ValueError(f"scales must be positive shorter sides, got {scales!r}")
        out.append(_Protocol("dense" if name == "multiscale" else name, qs))
    return out


# Compiled view functions; they depend on the protocol and sizes only, not on a model.
_VIEW_FUNCTIONS: dict[tuple, Callable] = {}


class _Member:
    """One model of the evaluation: its classifier, crop size and compiled functions.

    Compiled functions and the dense conversion live in the model's own cache
    (`cnnzoo.evaluation.dense.model_cache`), so evaluating the same model again
    (another protocol, another benchmark run) does not trace it again.
    """

    def __init__(self, model: keras.Model, crop_size, from_logits: bool):
        self.cache = dense_eval.model_cache(model)
        if "classifier" not in self.cache:
            self.cache["classifier"] = dense_eval.classifier_model(model)
        self.original = model
        self.model = self.cache["classifier"]
        fixed = tuple(self.model.input_shape[1:3])
        if crop_size is None:
            if None in fixed:
                raise ValueError(
                    f"{model.name} takes images of any size; pass crop_size for its crops"
                )
            crop_size = fixed
        crop = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        if None not in fixed and crop != fixed:
            raise ValueError(f"crop_size {crop} differs from {model.name}'s input size {fixed}")
        self.crop = crop
        self.from_logits = from_logits
        self._fc = None

    @property
    def fc(self) -> keras.Model:
        # Converted on first use only (crop protocols never need it); its copied
        # weights are refreshed once per evaluation.
        if self._fc is None:
            self._fc = dense_eval.cached_fully_convolutional(self.original)
        return self._fc

    def views_fn(self, name, q, pad, antialias) -> Callable:
        """The compiled view function of a crop protocol at scale q (`_view_fn`)."""
        key = (name, q, self.crop, pad, antialias)
        if key not in _VIEW_FUNCTIONS:
            # reduce_retracing: after two image sizes, one trace serves them all.
            fn = _view_fn(name, q, self.crop, pad, antialias)
            _VIEW_FUNCTIONS[key] = tf.function(fn, reduce_retracing=True, autograph=False)
        return _VIEW_FUNCTIONS[key]

    def mean_over_views(self, views) -> np.ndarray:
        """(n, V, h, w, C) views -> (n, K) NumPy mean posteriors, in one model call.

        One compiled function serves every protocol and scale, so the model is traced
        once or twice, not once per scale.
        """
        key = ("mean_over_views", self.from_logits)
        if key not in self.cache:
            model, from_logits = self.model, self.from_logits

            def mean_over_views(views):
                shape = tf.shape(views)
                flat = tf.reshape(views, tf.concat([[shape[0] * shape[1]], shape[2:]], axis=0))
                out = model(tf.cast(flat, tf.float32), training=False)
                if from_logits:
                    out = tf.nn.softmax(out, axis=-1)
                return tf.reduce_mean(tf.reshape(out, [shape[0], shape[1], -1]), axis=1)

            self.cache[key] = tf.function(mean_over_views, reduce_retracing=True, autograph=False)
        return self.cache[key](views).numpy()


def _view_fn(name: str, q: int | None, crop, pad: int, antialias: bool) -> Callable:
    """(H, W, C) -> (V, h, w, C) and (B, H, W, C) -> (B, V, h, w, C) for a crop protocol."""
    if name in ("center", "10crop", "144crop") and q < max(crop):
        raise ValueError(f"views={name!r}: scale {q} is smaller than the {crop} crop")

    if name == "single":
        return lambda x: tf.expand_dims(x, -4)
    if name == "flip":
        return pv.flip_views
    if name == "translate":
        return lambda x: pv.translate_views(x, pad=pad)
    if name == "center":
        return lambda x: tf.expand_dims(
            pv.center_crop(pv.resize_shorter(x, q, antialias=antialias), crop), -4
        )
    if name == "10crop":
        # [1] §2: the central Q x Q square of the rescaled image, then [1] §4.1's crops.
        return lambda x: pv.ten_crop(
            pv.center_crop(pv.resize_shorter(x, q, antialias=antialias), q), crop
        )
    if name == "144crop":
        if crop[0] != crop[1]:
            raise ValueError(f"144 crops are square; the model takes {crop}")
        return lambda x: pv.crops_144(x, crop[0], scales=(q,), antialias=antialias)
    raise AssertionError(name)


def _crop_predict(member: _Member, chunk, proto: _Protocol, q, batch_size, pad, antialias):
    """Mean posteriors (n, K) of a chunk of images over one crop protocol at one scale."""
    if proto.name in UNSCALED:
        # Checked here, not in the compiled function: a trace relaxed to any size
        # would no longer see the sizes.
        sizes = {tuple(x.shape[:2]) for x in chunk} if isinstance(chunk, list) else None
        for size in sizes or {tuple(chunk.shape[1:3])}:
            if size != member.crop:
                raise ValueError(
                    f"views={proto.name!r} feeds the images as they are, but they are "
                    f"{size} and the model takes {member.crop}; use 'center' to resize"
                )
    views_fn = member.views_fn(proto.name, q, pad, antialias)
    per_call = max(1, batch_size // VIEW_COUNTS[proto.name])  # images filling one call
    out = []
    for i in range(0, len(chunk), per_call):
        part = chunk[i : i + per_call]
        if isinstance(part, list):
            # Images of different sizes: each gets its views, then they share a batch.
            # Each goes in as a batch of one, so the compiled function only ever sees
            # rank-4 inputs and relaxes to (None, None, None, C), not to any rank.
            views = tf.concat([views_fn(x[None]) for x in part], axis=0)
        else:
            views = views_fn(part)
        out.append(member.mean_over_views(views))
    return np.concatenate(out)


def _dense_predict(member: _Member, chunk, q, batch_size, antialias):
    """Mean posteriors (n, K) of a chunk over dense evaluation at shorter side q."""
    crop_area = member.crop[0] * member.crop[1]
    if isinstance(chunk, list):
        # Different sizes cannot share a batch: one image (and its mirror) per call.
        return np.concatenate(
            [
                dense_eval.dense_predict(
                    member.fc,
                    pv.resize_shorter(x, q, antialias=antialias)[None],
                    from_logits=member.from_logits,
                )
                for x in chunk
            ]
        )
    qh, qw = pv.shorter_side_size(int(chunk.shape[1]), int(chunk.shape[2]), q)
    # Keep a call's pixels near batch_size crops' worth (image and mirror count twice).
    per_call = max(1, (batch_size * crop_area) // (2 * qh * qw))
    out = []
    for i in range(0, len(chunk), per_call):
        resized = pv.resize_shorter(chunk[i : i + per_call], q, antialias=antialias)
        out.append(dense_eval.dense_predict(member.fc, resized, from_logits=member.from_logits))
    return np.concatenate(out)


def _predict_chunk(member, chunk, protocols, batch_size, pad, antialias) -> np.ndarray:
    per_protocol = []
    for proto in protocols:
        per_scale = []
        for q in proto.scales:
            if proto.name == "dense":
                per_scale.append(_dense_predict(member, chunk, q, batch_size, antialias))
            else:
                per_scale.append(_crop_predict(member, chunk, proto, q, batch_size, pad, antialias))
        per_protocol.append(np.mean(per_scale, axis=0))
    return np.mean(per_protocol, axis=0)


# --------------------------------------------------------------------------- data


def _as_image(x):
    return x if isinstance(x, tf.Tensor) else np.asarray(x)


def _pack(images: list, labels: list):
    """A chunk: one (n, H, W, C) array when the images share a size, else a list."""
    labels = np.asarray(labels)
    if len({tuple(x.shape) for x in images}) == 1:
        return np.stack([np.asarray(x) for x in images]), labels
    return list(images), labels


def _chunks(images, labels, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Chunks of at most `size` images with their labels, in order."""
    if labels is not None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        labels = np.asarray(labels)
        if isinstance(images, (np.ndarray, tf.Tensor)):
            if len(images.shape) != 4:
                raise ValueError(f"expected images (N, H, W, C), got shape {images.shape}")
            for i in range(0, len(images), size):
                yield images[i : i + size], labels[i : i + size]
            return
        for i in range(0, len(images), size):
            yield _pack([_as_image(x) for x in images[i : i + size]], labels[i : i + size])
        return
    buffer, buffer_labels = [], []
    for element in images:
        try:
            x, y = element
        except (TypeError, ValueError) as err:
            raise ValueError(
                "without labels, images must yield (images, labels) pairs, "
                f"got an element of type {type(element).__name__}"
            ) from err
        x = _as_image(x)
        if len(x.shape) == 4:
            if buffer:
                yield _pack(buffer, buffer_labels)
                buffer, buffer_labels = [], []
            y = np.asarray(y)
            for i in range(0, len(x), size):
                yield x[i : i + size], y[i : i + size]
        elif len(x.shape) == 3:
            buffer.append(x)
            buffer_labels.append(np.asarray(y))
            if len(buffer) == size:
                yield _pack(buffer, buffer_labels)
                buffer, buffer_labels = [], []
        else:
            raise ValueError(f"expected images (H, W, C) or batches (B, H, W, C), got {x.shape}")
    if buffer:
        yield _pack(buffer, buffer_labels)


def _class_labels(labels: np.ndarray) -> np.ndarray:
    # One-hot (or smoothed) targets: the class is the largest entry.
    return labels.argmax(axis=-1) if labels.ndim == 2 else labels.astype(np.int64)


def _member_predictions(
    models,
    images,
    labels,
    views,
    scales,
    crop_size,
    batch_size,
    pad,
    from_logits,
    antialias,
    max_images,
) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Per chunk: each model's (n, K) posteriors, and the chunk's labels."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    protocols = _protocols(views, scales)
    members = [_Member(m, crop_size, from_logits) for m in models]
    if not members:
        raise ValueError("no models to evaluate")
    seen = 0
    for chunk, chunk_labels in _chunks(images, labels, batch_size):
        if max_images is not None:
            if seen >= max_images:
                return
            chunk, chunk_labels = chunk[: max_images - seen], chunk_labels[: max_images - seen]
        seen += len(chunk)
        probs = [_predict_chunk(m, chunk, protocols, batch_size, pad, antialias) for m in members]
        yield probs, _class_labels(chunk_labels)


# --------------------------------------------------------------------------- public API


def top_k_hits(probs: np.ndarray, labels: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Whether each label is among the `k` highest posteriors (all True if k >= classes)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if k >= probs.shape[-1]:
        return np.ones(len(labels), dtype=bool)
    top = np.argpartition(-probs, k - 1, axis=-1)[:, :k]
    return (top == labels[:, None]).any(axis=1)


def score(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | int]:
    """Top-1 / top-5 accuracy, error and counts of posteriors against labels.

    Args:
        probs: (N, K) posteriors (or any scores ranked the same way).
        labels: (N,) integer labels.

    Returns:
        ``{"images", "top1_correct", "top5_correct", "top1_accuracy", "top5_accuracy",
        "top1_error", "top5_error"}``: accuracies as fractions in [0, 1] (as
        `cnnzoo.evaluation.evaluate` reports them), errors in percent (as the papers
        and the model cards report them).
    """
    labels = _class_labels(np.asarray(labels))
    n = len(labels)
    if n == 0:
        raise ValueError("no images were evaluated")
    top1 = int((np.asarray(probs).argmax(axis=-1) == labels).sum())
    top5 = int(top_k_hits(probs, labels).sum())
    return {
        "images": n,
        "top1_correct": top1,
        "top5_correct": top5,
        "top1_accuracy": top1 / n,
        "top5_accuracy": top5 / n,
        "top1_error": 100.0 * (1 - top1 / n),
        "top5_error": 100.0 * (1 - top5 / n),
    }


def _describe(views, scales) -> dict[str, Any]:
    protocols = _protocols(views, scales)
    return {
        "views": views if isinstance(views, str) else "+".join(views),
        "scales": sorted({q for p in protocols for q in p.scales if q is not None}),
        "views_per_image": sum(p.views_per_image for p in protocols),
    }


def predict_views(
    model: keras.Model,
    images,
    labels=None,
    views="center",
    scales=None,
    crop_size=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pad: int = pv.CIFAR_PAD,
    from_logits: bool = False,
    antialias: bool = True,
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class posteriors of every image under a test protocol (the mean over its views).

    Args:
        Those of `evaluate_views`.

    Returns:
        ``(probs, labels)``: (N, K) float32 mean posteriors and (N,) int64 labels
        (one-hot label rows become their argmax).
    """
    probs, y = _ensemble(
        [model],
        images,
        labels,
        views,
        scales,
        crop_size,
        batch_size,
        pad,
        from_logits,
        antialias,
        max_images,
    )
    return probs[0], y


def evaluate_views(
    model: keras.Model,
    images,
    labels=None,
    views="center",
    scales=None,
    crop_size=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pad: int = pv.CIFAR_PAD,
    from_logits: bool = False,
    antialias: bool = True,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Top-1 / top-5 error of a model under one of the papers' test protocols.

    Args:
        model: a Keras classifier taking raw pixels (a trained cnnzoo model, or a
            `cnnzoo.build` model); with several outputs, the main one
            (`cnnzoo.evaluation.dense.main_output_index`) is evaluated.
        images: a NumPy array or tensor (N, H, W, C); a sequence of (H, W, C) images
            of any sizes; or, with ``labels=None``, an iterable (a `tf.data.Dataset`,
            a generator) of ``(images, labels)`` pairs, each a batch (B, H, W, C) or
            one image (H, W, C). Decoded pixels (uint8, or float in [0, 255]), not yet
            rescaled or cropped: the protocol does that.
        labels: (N,) integer labels (or one-hot rows) for array or sequence images.
        views: a protocol of `PROTOCOLS` (see the module docstring), or a sequence of
            them whose predictions are averaged (``("10crop", "dense")``).
        scales: shorter sides Q, e.g. ``(256, 384, 512)``; None for each protocol's
            `DEFAULT_SCALES`. Must be None for ``single``, ``flip``, ``translate``.
        crop_size: crop side (int) or (height, width); default the model's input size.
        batch_size: crops per model call: the views of ``batch_size // views``
            images make one call. Dense evaluation puts about as many pixels in one.
        pad: padding of the ``translate`` views (default 4, He et al. 2016 §4.2).
        from_logits: the model outputs logits: apply a softmax before averaging.
            cnnzoo models output posteriors (the default).
        antialias: low-pass filter when rescaling (as PIL does).
        max_images: evaluate the first N images only.

    Returns:
        `score`'s dict (counts, accuracies as fractions, errors in percent) plus
        ``views`` (the protocol), ``scales`` (the Q used, sorted) and
        ``views_per_image`` (model inputs per image; dense counts image and mirror).
    """
    probs, y = predict_views(
        model,
        images,
        labels,
        views,
        scales,
        crop_size,
        batch_size,
        pad,
        from_logits,
        antialias,
        max_images,
    )
    return {**score(probs, y), **_describe(views, scales)}


def ensemble_predict(
    models: Sequence[keras.Model],
    images,
    labels=None,
    views="center",
    scales=None,
    crop_size=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pad: int = pv.CIFAR_PAD,
    from_logits: bool = False,
    antialias: bool = True,
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's posteriors: the mean of its models' ([2] §4.4), each under the protocol.

    The data is read once; every chunk of images goes through each model in turn.

    Args:
        models: the models; each crops at its own input size unless crop_size is given.
        The others: those of `evaluate_views`.

    Returns:
        ``(probs, labels)`` as `predict_views`.
    """
    probs, y = _ensemble(
        models,
        images,
        labels,
        views,
        scales,
        crop_size,
        batch_size,
        pad,
        from_logits,
        antialias,
        max_images,
    )
    return probs.mean(axis=0), y


def evaluate_ensemble(
    models: Sequence[keras.Model],
    images,
    labels=None,
    views="center",
    scales=None,
    crop_size=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pad: int = pv.CIFAR_PAD,
    from_logits: bool = False,
    antialias: bool = True,
    max_images: int | None = None,
) -> dict[str, Any]:
    """Ensemble error (the mean of the members' posteriors) and each member's error.

    Args:
        models: the models, as `ensemble_predict`.
        The others: those of `evaluate_views`.

    Returns:
        `evaluate_views`'s dict for the ensemble, plus ``members``: each model's
        `score` dict, in order.
    """
    probs, y = _ensemble(
        models,
        images,
        labels,
        views,
        scales,
        crop_size,
        batch_size,
        pad,
        from_logits,
        antialias,
        max_images,
    )
    return {
        **score(probs.mean(axis=0), y),
        **_describe(views, scales),
        "members": [score(p, y) for p in probs],
    }


def _ensemble(models, *args) -> tuple[np.ndarray, np.ndarray]:
    """(M, N, K) posteriors of every member and the (N,) labels; the data is read once."""
    models = list(models)
    batches = list(_member_predictions(models, *args))
    if not batches:
        raise ValueError("no images were evaluated")
    probs = np.stack([np.concatenate([p[m] for p, _ in batches]) for m in range(len(models))])
    return probs, np.concatenate([y for _, y in batches])

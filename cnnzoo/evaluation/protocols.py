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

Dense protocols pool each class-score map by its mean ([2] §3.2) or, with
``dense_pooling="max"``, its per-class maximum (`cnnzoo.evaluation.dense.pool_score_map`).
A model with a per-pixel mean ([1] §2: AlexNet, W. Wu's 2016 thesis nets) is evaluated
densely with that mean image's per-channel mean at the sizes other than its own
(`cnnzoo.evaluation.dense.MeanImageOrChannelMean`); the result says so in
``mean_substitution``.

How predictions combine, all in softmax posteriors: the views of one scale are
averaged, then the scales of one protocol, then the protocols, then (for an
ensemble) the models. Each step averages with equal weights.

`PROTOCOL_TABLE` holds them: the crop protocols are the view sets of
`cnnzoo.pipelines.views.VIEW_SETS`, the dense ones are added here; a new protocol is
a prediction function and a line there.

Views of several images go through the model as one batch (``batch_size`` crops per
call), so 10 crops cost about ten single crops, not ten model calls per image.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cnnzoo.evaluation import dense as dense_eval
from cnnzoo.evaluation.metrics import class_labels, score
from cnnzoo.pipelines import views as pv

DEFAULT_BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class ViewOptions:
    """How a protocol is run: the keyword arguments of `evaluate_views` and its siblings.

    Attributes:
        views: a protocol of `PROTOCOLS` (see the module docstring), or a sequence
            of them whose predictions are averaged (``("10crop", "dense")``).
        scales: shorter sides Q, e.g. ``(256, 384, 512)``; None for each protocol's
            `DEFAULT_SCALES`. Must be None for ``single``, ``flip``, ``translate``.
        crop_size: crop side (int) or (height, width); default the model's input size.
        batch_size: crops per model call: the views of ``batch_size // views``
            images make one call. Dense evaluation puts about as many pixels in one.
        pad: padding of the ``translate`` views (default 4, He et al. 2016 §4.2).
        from_logits: the model outputs logits: apply a softmax before averaging.
            cnnzoo models output posteriors (the default).
        dense_pooling: how ``dense`` / ``multiscale`` pool a class-score map:
            ``"mean"`` ([2] §3.2, the default) or ``"max"``.
        antialias: low-pass filter when rescaling (as PIL does).
        max_images: evaluate the first N images only.
        progress: show Keras's progress bar (with the time left when the number
            of images is known).
    """

    views: str | Sequence[str] = "center"
    scales: Sequence[int] | None = None
    crop_size: int | tuple[int, int] | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    pad: int = pv.CIFAR_PAD
    from_logits: bool = False
    dense_pooling: str = "mean"
    antialias: bool = True
    max_images: int | None = None
    progress: bool = False


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One test protocol.

    Attributes:
        predict: ``(member, chunk, q, options) -> (n, K)`` mean posteriors of a
            chunk of images at shorter side ``q`` (None for the unscaled protocols).
        views_per_scale: model inputs per image at one scale.
        default_scales: the papers' Q; None for the protocols that take the
            images at their own size.
    """

    predict: Callable[..., np.ndarray]
    views_per_scale: int
    default_scales: tuple[int, ...] | None


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
        # The (height, width) of the whole images dense evaluation fed the model.
        self.dense_sizes: set[tuple[int, int]] = set()

    @property
    def fc(self) -> keras.Model:
        # Converted on first use only (crop protocols never need it); its copied
        # weights are refreshed once per evaluation.
        if self._fc is None:
            self._fc = dense_eval.cached_fully_convolutional(self.original)
        return self._fc

    def dense(self, images, options: ViewOptions) -> np.ndarray:
        """`dense_predict` of a batch of same-sized images, noting their size."""
        self.dense_sizes.add((int(images.shape[1]), int(images.shape[2])))
        return dense_eval.dense_predict(
            self.fc, images, from_logits=self.from_logits, pooling=options.dense_pooling
        )

    def mean_substitution(self) -> str | None:
        """What replaced a per-pixel mean at other sizes in dense evaluation, if anything did."""
        if not self.dense_sizes - {self.crop}:
            return None
        records = dense_eval.mean_substitutions(self.original)
        return "; ".join(f"{self.original.name}: {r.describe()}" for r in records) or None

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


# Compiled view functions; they depend on the view set and sizes only, not on a model.
_VIEW_FUNCTIONS: dict[tuple, Callable] = {}


def _compiled_views(name: str, q, crop, pad: int, antialias: bool) -> Callable:
    """`cnnzoo.pipelines.views.view_function`, compiled once per set and sizes."""
    key = (name, q, crop, pad, antialias)
    if key not in _VIEW_FUNCTIONS:
        # reduce_retracing: after two image sizes, one trace serves them all.
        fn = pv.view_function(name, q, crop, pad, antialias)
        _VIEW_FUNCTIONS[key] = tf.function(fn, reduce_retracing=True, autograph=False)
    return _VIEW_FUNCTIONS[key]


def _check_own_size(name: str, chunk, crop) -> None:
    """The unscaled protocols feed images as they are: they must have the model's size."""
    # Checked here, not in the compiled function: a trace relaxed to any size
    # would no longer see the sizes.
    sizes = {tuple(x.shape[:2]) for x in chunk} if isinstance(chunk, list) else None
    for size in sizes or {tuple(chunk.shape[1:3])}:
        if size != crop:
            raise ValueError(
                f"views={name!r} feeds the images as they are, but they are "
                f"{size} and the model takes {crop}; use 'center' to resize"
            )


def _crop_predict(name: str, member: _Member, chunk, q, options: ViewOptions) -> np.ndarray:
    """Mean posteriors (n, K) of a chunk of images over the view set `name` at scale q."""
    if q is None:
        _check_own_size(name, chunk, member.crop)
    views_fn = _compiled_views(name, q, member.crop, options.pad, options.antialias)
    # Images whose views fill one call.
    per_call = max(1, options.batch_size // pv.VIEW_SETS[name].count)
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


def _dense_predict(member: _Member, chunk, q, options: ViewOptions) -> np.ndarray:
    """Pooled posteriors (n, K) of a chunk over dense evaluation at shorter side q."""
    antialias = options.antialias
    if isinstance(chunk, list):
        # Different sizes cannot share a batch: one image (and its mirror) per call.
        resized = [pv.resize_shorter(x, q, antialias=antialias)[None] for x in chunk]
        return np.concatenate([member.dense(x, options) for x in resized])
    qh, qw = pv.shorter_side_size(int(chunk.shape[1]), int(chunk.shape[2]), q)
    # Keep a call's pixels near batch_size crops' worth (image and mirror count twice).
    crop_area = member.crop[0] * member.crop[1]
    per_call = max(1, (options.batch_size * crop_area) // (2 * qh * qw))
    out = []
    for i in range(0, len(chunk), per_call):
        resized = pv.resize_shorter(chunk[i : i + per_call], q, antialias=antialias)
        out.append(member.dense(resized, options))
    return np.concatenate(out)


def _crop_protocol(name: str) -> Protocol:
    view_set = pv.VIEW_SETS[name]
    predict = functools.partial(_crop_predict, name)
    return Protocol(predict, view_set.count, view_set.default_scales)


PROTOCOL_TABLE: dict[str, Protocol] = {
    **{name: _crop_protocol(name) for name in pv.VIEW_SETS},
    # [2] §3.2: the whole image and its mirror.
    "dense": Protocol(_dense_predict, 2, (pv.DEFAULT_SCALE,)),
    # [2] §4.2, Table 4: dense over Q = {256, 384, 512}.
    "multiscale": Protocol(_dense_predict, 2, (256, 384, 512)),
}
CROP_PROTOCOLS = tuple(pv.VIEW_SETS)
DENSE_PROTOCOLS = tuple(n for n, p in PROTOCOL_TABLE.items() if p.predict is _dense_predict)
PROTOCOLS = tuple(PROTOCOL_TABLE)
# The protocols that look at the image as it is, without rescaling it to a scale Q.
UNSCALED = tuple(n for n, p in PROTOCOL_TABLE.items() if p.default_scales is None)
DEFAULT_SCALES: dict[str, tuple[int, ...]] = {
    n: p.default_scales for n, p in PROTOCOL_TABLE.items() if p.default_scales is not None
}
# Views per image at one scale.
VIEW_COUNTS = {n: PROTOCOL_TABLE[n].views_per_scale for n in CROP_PROTOCOLS}


@dataclasses.dataclass(frozen=True)
class _Run:
    """A protocol as asked for: its name, its table entry and the scales to use."""

    name: str
    protocol: Protocol
    scales: tuple[int | None, ...]  # (None,) for the unscaled protocols


def _check_dense_pooling(runs: list[_Run], pooling: str) -> None:
    """A known pooling, and no pooling but the default for protocols without a score map."""
    if pooling not in dense_eval.DENSE_POOLING:
        raise ValueError(
            f"unknown dense_pooling {pooling!r}; expected one of {dense_eval.DENSE_POOLING}"
        )
    if pooling != "mean" and not any(run.name in DENSE_PROTOCOLS for run in runs):
        raise ValueError(
            f"dense_pooling={pooling!r} pools the score maps of the dense protocols "
            f"{DENSE_PROTOCOLS}; views={[run.name for run in runs]} has none"
        )


def _resolve(views, scales) -> list[_Run]:
    names = [views] if isinstance(views, str) else list(views)
    if not names:
        raise ValueError("views: expected at least one protocol")
    runs = []
    for name in names:
        if name not in PROTOCOL_TABLE:
            raise ValueError(f"unknown views {name!r}; expected one of {PROTOCOLS}")
        protocol = PROTOCOL_TABLE[name]
        if protocol.default_scales is None:
            if scales is not None:
                scaled = tuple(n for n in PROTOCOLS if n not in UNSCALED)
                raise ValueError(
                    f"views={name!r} evaluates the images at their own size; "
                    f"scales={scales!r} applies to {scaled}"
                )
            runs.append(_Run(name, protocol, (None,)))
            continue
        qs = tuple(int(q) for q in (protocol.default_scales if scales is None else scales))
        if not qs or min(qs) <= 0:
            raise ValueError(f"scales must be positive shorter sides, got {scales!r}")
        runs.append(_Run(name, protocol, qs))
    return runs


def _predict_chunk(member: _Member, chunk, runs: list[_Run], options: ViewOptions) -> np.ndarray:
    """The mean over protocols of the mean over scales of each scale's posteriors."""
    per_protocol = [
        np.mean([run.protocol.predict(member, chunk, q, options) for q in run.scales], axis=0)
        for run in runs
    ]
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


def _labelled_chunks(images, labels, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Chunks of an array, tensor or sequence of images with their separate labels."""
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


def _pair(element) -> tuple[Any, np.ndarray]:
    try:
        x, y = element
    except (TypeError, ValueError) as err:
        raise ValueError(
            "without labels, images must yield (images, labels) pairs, "
            f"got an element of type {type(element).__name__}"
        ) from err
    return _as_image(x), np.asarray(y)


def _streamed_chunks(pairs, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Chunks of an iterable of (image, label) or (batch, labels) pairs, in order."""
    buffer, buffer_labels = [], []
    for element in pairs:
        x, y = _pair(element)
        if len(x.shape) == 4:
            if buffer:
                yield _pack(buffer, buffer_labels)
                buffer, buffer_labels = [], []
            for i in range(0, len(x), size):
                yield x[i : i + size], y[i : i + size]
        elif len(x.shape) == 3:
            buffer.append(x)
            buffer_labels.append(y)
            if len(buffer) == size:
                yield _pack(buffer, buffer_labels)
                buffer, buffer_labels = [], []
        else:
            raise ValueError(f"expected images (H, W, C) or batches (B, H, W, C), got {x.shape}")
    if buffer:
        yield _pack(buffer, buffer_labels)


def _chunks(images, labels, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """Chunks of at most `size` images with their labels, in order."""
    if labels is not None:
        return _labelled_chunks(images, labels, size)
    return _streamed_chunks(images, size)


def _member_predictions(
    members: list[_Member], images, labels, options: ViewOptions
) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Per chunk: each member's (n, K) posteriors, and the chunk's labels."""
    runs = _resolve(options.views, options.scales)
    seen, limit = 0, options.max_images
    bar = _progress(images, limit) if options.progress else None
    for chunk, chunk_labels in _chunks(images, labels, options.batch_size):
        if limit is not None:
            if seen >= limit:
                return
            chunk, chunk_labels = chunk[: limit - seen], chunk_labels[: limit - seen]
        seen += len(chunk)
        probs = [_predict_chunk(m, chunk, runs, options) for m in members]
        if bar is not None:
            bar.add(len(chunk))
        yield probs, class_labels(chunk_labels)


def _progress(images, limit: int | None) -> keras.utils.Progbar:
    """A progress bar over the images: their number is known for arrays, not for streams."""
    total = len(images) if isinstance(images, np.ndarray) else None
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    return keras.utils.Progbar(total, unit_name="image")


def _ensemble(models, images, labels, options: ViewOptions):
    """(M, N, K) posteriors of every member, the (N,) labels and the members' `_Member`s.

    The data is read once.
    """
    if options.batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {options.batch_size}")
    _check_dense_pooling(_resolve(options.views, options.scales), options.dense_pooling)
    members = [_Member(m, options.crop_size, options.from_logits) for m in models]
    if not members:
        raise ValueError("no models to evaluate")
    batches = list(_member_predictions(members, images, labels, options))
    if not batches:
        raise ValueError("no images were evaluated")
    probs = np.stack([np.concatenate([p[m] for p, _ in batches]) for m in range(len(members))])
    return probs, np.concatenate([y for _, y in batches]), members


def _describe(options: ViewOptions, members: list[_Member]) -> dict[str, Any]:
    """The report's protocol fields; with a dense protocol, its pooling and mean substitution."""
    runs = _resolve(options.views, options.scales)
    views = options.views
    described = {
        "views": views if isinstance(views, str) else "+".join(views),
        "scales": sorted({q for run in runs for q in run.scales if q is not None}),
        "views_per_image": sum(run.protocol.views_per_scale * len(run.scales) for run in runs),
    }
    if any(run.name in DENSE_PROTOCOLS for run in runs):
        described["dense_pooling"] = options.dense_pooling
    substituted = [note for note in (m.mean_substitution() for m in members) if note]
    if substituted:
        described["mean_substitution"] = "; ".join(substituted)
    return described


# --------------------------------------------------------------------------- public API


def evaluate_views(model: keras.Model, images, labels=None, views="center", **options) -> dict:
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
        views: the protocol, or several (see `ViewOptions`).
        **options: the other fields of `ViewOptions` (scales, crop_size, batch_size,
            pad, from_logits, dense_pooling, antialias, max_images).

    Returns:
        `cnnzoo.evaluation.metrics.score`'s dict (counts, accuracies as fractions,
        errors in percent) plus ``views`` (the protocol), ``scales`` (the Q used,
        sorted) and ``views_per_image`` (model inputs per image; dense counts image
        and mirror); with a dense protocol also ``dense_pooling``, and
        ``mean_substitution`` (a line naming each per-pixel mean replaced by its
        per-channel mean) where dense evaluation fed a per-pixel-mean model images
        of another size than its own.
    """
    settings = ViewOptions(views, **options)
    probs, y, members = _ensemble([model], images, labels, settings)
    return {**score(probs[0], y), **_describe(settings, members)}


def predict_views(model: keras.Model, images, labels=None, views="center", **options):
    """Class posteriors of every image under a test protocol (the mean over its views).

    Args:
        model, images, labels, views, options: those of `evaluate_views`.

    Returns:
        ``(probs, labels)``: (N, K) float32 mean posteriors and (N,) int64 labels
        (one-hot label rows become their argmax).
    """
    probs, y, _ = _ensemble([model], images, labels, ViewOptions(views, **options))
    return probs[0], y


def ensemble_predict(models: Sequence[keras.Model], images, labels=None, views="center", **options):
    """The ensemble's posteriors: the mean of its models' ([2] §4.4), each under the protocol.

    The data is read once; every chunk of images goes through each model in turn.

    Args:
        models: the models; each crops at its own input size unless crop_size is given.
        images, labels, views, options: those of `evaluate_views`.

    Returns:
        ``(probs, labels)`` as `predict_views`.
    """
    probs, y, _ = _ensemble(models, images, labels, ViewOptions(views, **options))
    return probs.mean(axis=0), y


def evaluate_ensemble(
    models: Sequence[keras.Model], images, labels=None, views="center", **options
) -> dict:
    """Ensemble error (the mean of the members' posteriors) and each member's error.

    Args:
        models: the models, as `ensemble_predict`.
        images, labels, views, options: those of `evaluate_views`.

    Returns:
        `evaluate_views`'s dict for the ensemble, plus ``members``: each model's
        `cnnzoo.evaluation.metrics.score` dict, in order.
    """
    settings = ViewOptions(views, **options)
    probs, y, members = _ensemble(models, images, labels, settings)
    return {
        **score(probs.mean(axis=0), y),
        **_describe(settings, members),
        "members": [score(p, y) for p in probs],
    }

"""`cnnzoo evaluate`: top-1 / top-5 accuracy and loss of a trained model on a test split."""

from __future__ import annotations

import dataclasses
import weakref
from pathlib import Path

import keras

from cnnzoo.backend import require_tensorflow
from cnnzoo.evaluation.metrics import TopKTally
from cnnzoo.model_io import load_inference
from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import TestImages, load_dataset, open_test_images


def evaluate(
    model_path: str | Path,
    data_dir: str | None = None,
    dataset: str | None = None,
    batch_size: int = 256,
    max_images: int | None = None,
    progress: bool = False,
    precision: str | None = None,
) -> dict[str, float]:
    """Evaluate a `.keras` model written by `cnnzoo fit` on its dataset's test split.

    Args:
        model_path: the `.keras` file.
        data_dir: directory with the dataset files.
        dataset: dataset name; defaults to the one in the model's metadata.
        batch_size: evaluation batch size.
        max_images: evaluate on the first N test images only.
        progress: show a progress bar with the time left.
        precision: compute in "float32", "bfloat16" or "auto" instead of the
            precision the model was saved in (`model_io.load_trained`).

    Returns:
        `score_dataset`'s dict: ``top1_accuracy``, ``top5_accuracy``, ``loss``,
        ``images``, and the counts and errors of `cnnzoo.evaluation.metrics`.
    """
    model, meta = load_inference(model_path, precision)
    dataset = dataset or meta.get("dataset")
    if not dataset:
        raise ValueError(
            f"{model_path}: no metadata says which dataset it was trained on; pass --dataset"
        )
    data = load_dataset(dataset, data_dir)
    expected = tuple(model.input_shape[1:])
    if tuple(data.input_shape) != expected:
        raise ValueError(
            f"{model_path} takes images of shape {expected}, but {dataset} has {data.input_shape}"
        )
    images, labels = data.test
    if max_images is not None:
        images, labels = images[:max_images], labels[:max_images]
    batches = pipe.eval_dataset(images, labels, batch_size)
    scores = score_dataset(model, batches, progress=len(images) if progress else False)
    return _with_precision(scores, meta)


def _with_precision(scores: dict, meta: dict) -> dict:
    """`scores` with the policy the model computed in, when the caller chose one."""
    if "inference_precision" in meta:
        scores["precision"] = meta["inference_precision"]
    return scores


def score_dataset(
    model: keras.Model, dataset, progress: bool | int = False
) -> dict[str, float | int]:
    """Top-1 / top-5 accuracy and mean loss over a finite dataset of (images, labels).

    The figures `model.evaluate` gives with Keras's sparse cross-entropy and
    accuracy metrics (the loss from the softmax's posteriors; hits by
    `cnnzoo.evaluation.metrics`, which follows Keras's rules), from a
    ``tf.function`` of the model's call over the batches instead: measured with
    ``tools/bench_train.py``, Keras's evaluate and predict loops stall for whole
    multiples of ~2.5 s between batches on this 2-core machine, 999 against 1,285
    images/s for ResNet-20 at batch 256. Auxiliary heads, if any, are not evaluated.

    `progress` shows Keras's progress bar (images done, rate; given the number of
    images, an int, also the time left).

    Returns:
        `cnnzoo.evaluation.metrics.TopKTally.result`'s dict, with ``loss``.
    """
    scores_and_losses = scoring_step(model)
    tally = TopKTally()
    bar = progress_bar(None if progress is True else progress) if progress else None
    for x, y in dataset:
        scores, losses = scores_and_losses(x, y)
        tally.add(scores.numpy(), y.numpy(), losses.numpy())
        if bar is not None:
            bar.add(len(y))
    return tally.result()


# model -> its compiled scoring step. Tracing and optimising the graph costs about
# a second for ResNet-20 on two cores, as much as scoring 1,000 images: callers that
# score the same model again (the analysis studies, a benchmark's windows) pay it once.
_SCORING = weakref.WeakKeyDictionary()


def scoring_step(model: keras.Model):
    """``f(images, labels) -> (float32 scores, float64 losses)``, compiled once per model.

    The step reads the model's variables when it runs, so a model whose weights
    change between calls (the analysis's block gates) is scored as it is then.
    """
    if model in _SCORING:
        return _SCORING[model]
    require_tensorflow("cnnzoo's evaluation (a tf.function of the model)")
    import tensorflow as tf

    # A weak reference: the cache must not keep the model (its key) alive.
    model_ref = weakref.ref(model)

    @tf.function(reduce_retracing=True)
    def scores_and_losses(x, y):
        out = model_ref()(x, training=False)
        out = out[0] if isinstance(out, (list, tuple)) else out
        loss = keras.losses.sparse_categorical_crossentropy(tf.cast(y, tf.int32), out)
        return tf.cast(out, tf.float32), tf.cast(loss, tf.float64)

    _SCORING[model] = scores_and_losses
    return scores_and_losses


def progress_bar(total: int | None) -> keras.utils.Progbar:
    """Keras's progress bar over `total` images (None: unknown, no time left shown)."""
    return keras.utils.Progbar(total, unit_name="image")


def _remap_labels(test: TestImages, model_names, where: str) -> TestImages:
    """`test` with its labels mapped to the model's class indices, by class name."""
    import numpy as np
    import tensorflow as tf

    source_names = test.class_names
    if not model_names or source_names is None or list(source_names) == list(model_names):
        return test
    missing = [n for n in source_names if n not in model_names]
    if missing:
        raise ValueError(
            f"{where}: classes {missing[:5]} are not among the model's "
            f"{len(model_names)} classes (e.g. {list(model_names)[:5]})"
        )
    table = np.array([list(model_names).index(n) for n in source_names], "int32")
    if test.labels is not None:
        return dataclasses.replace(test, labels=table[test.labels], class_names=model_names)
    table_t = tf.constant(table)
    images = test.images.map(lambda image, label: (image, tf.gather(table_t, label)))
    return dataclasses.replace(test, images=images, class_names=model_names)


def open_source(
    data: str,
    data_dir: str | None = None,
    class_names=None,
    skip_corrupt: bool = False,
):
    """The test images `data` names, for `evaluate_views`, labelled as the model's classes.

    Args:
        data: see `cnnzoo.pipelines.sources.open_test_images`: a dataset name, a
            directory of TFRecord files or a TFRecord glob, or a class-folder tree.
        data_dir: directory of the official dataset files.
        class_names: the model's classes; labels are mapped to them by name (an
            unknown class is an error naming it).
        skip_corrupt: skip images that cannot be decoded (counted in the summary).

    Returns:
        ``(images, labels, skipped)``: arrays and None, or a dataset of
        ``(image, label)`` with labels None, and the skipped-files counter or None.
    """
    test = open_test_images(data, data_dir, skip_corrupt)
    test = _remap_labels(test, class_names, data)
    return test.images, test.labels, test.skipped


# Models trained on whole small images (CIFAR-10, MNIST) are tested on the whole
# image at their input size; the others (image folders, ImageNet) on centre crops.
WHOLE_IMAGE_DATASETS = ("cifar10", "mnist", "fake")


def default_views(meta: dict) -> str:
    """The protocol a model was trained for, from its metadata: ``single`` or ``center``."""
    return "single" if meta.get("dataset") in WHOLE_IMAGE_DATASETS else "center"


def fit_to_model(images, model: keras.Model, views):
    """Give a dataset of images the model's channels and, for ``single``, its input size.

    Colour images become grey for a 1-channel model (MNIST's) and grey ones colour
    for a 3-channel one; under the whole-image protocol an image of another size is
    resized to the model's input, as its training images were (cnnzoo says so once).
    In-memory arrays are the model's own dataset and pass unchanged.
    """
    import tensorflow as tf

    if not isinstance(images, tf.data.Dataset):
        return images
    height, width, channels = model.input_shape[1:]

    def fit(image, label):
        image = tf.cast(image, tf.float32)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image) if image.shape[-1] == 3 else image
        elif image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        if views == "single" and height and width:
            image = tf.image.resize(image, (height, width), antialias=True)
        return image, label

    if views == "single":
        print(f"note: images are resized to {height}x{width}, the model's input (whole image)")
    return images.map(fit, num_parallel_calls=tf.data.AUTOTUNE)


def _load_members(model_paths, precision: str | None = None):
    """The models of `model_paths` (one path or several) and the first's metadata."""
    # The protocols' views and dense evaluation run as tf.functions.
    require_tensorflow("cnnzoo evaluate")
    if isinstance(model_paths, (str, Path)):
        model_paths = [model_paths]
    if not model_paths:
        raise ValueError("no model to evaluate")
    loaded = [load_inference(p, precision) for p in model_paths]
    names = loaded[0][1].get("class_names")
    for path, (_, other) in zip(model_paths[1:], loaded[1:], strict=True):
        if other.get("class_names") != names:
            raise ValueError(f"{path}: its classes differ from those of {model_paths[0]}")
    return [m for m, _ in loaded], loaded[0][1]


def evaluate_protocol(
    model_paths,
    data: str | None = None,
    data_dir: str | None = None,
    views=None,
    scales=None,
    batch_size: int = 64,
    max_images: int | None = None,
    skip_corrupt: bool = False,
    progress: bool = False,
    precision: str | None = None,
    dense_pooling: str = "mean",
) -> dict:
    """Evaluate one model, or the ensemble of several, under a paper's test protocol.

    Args:
        model_paths: `.keras` files written by `cnnzoo fit`; several make an
            ensemble (the mean of their softmax outputs).
        data: the source (see `open_source`); default the first model's dataset.
        data_dir: directory of the official dataset files.
        views: a protocol of `cnnzoo.evaluation.protocols.PROTOCOLS`, or several
            (a sequence, or comma-separated) whose predictions are averaged; None for
            the one the model was trained for (`default_views`).
        scales: shorter sides Q for the ImageNet protocols; None for their defaults.
        batch_size: crops per model call.
        max_images: evaluate the first N images only.
        skip_corrupt: skip undecodable images instead of stopping at the first.
        progress: show a progress bar.
        precision: as for `evaluate`.
        dense_pooling: how the dense protocols pool a class-score map, "mean" or "max".

    Returns:
        `evaluate_views`' dict (errors in percent, accuracies as fractions); for an
        ensemble also ``members``; ``skipped`` when `skip_corrupt`. A
        ``mean_substitution`` in it is also printed as a note.
    """
    from cnnzoo.evaluation import protocols

    models, meta = _load_members(model_paths, precision)
    names = meta.get("class_names")
    model_paths = [model_paths] if isinstance(model_paths, (str, Path)) else model_paths
    data = data or meta.get("dataset")
    if not data:
        raise ValueError(f"{model_paths[0]}: no metadata names its dataset; pass --data")
    views = views or default_views(meta)
    if isinstance(views, str):
        views = tuple(v.strip() for v in views.split(",")) if "," in views else views
    images, labels, skipped = open_source(data, data_dir, names, skip_corrupt)
    images = fit_to_model(images, models[0], views)
    options = dict(views=views, scales=scales, batch_size=batch_size, max_images=max_images)
    options.update(progress=progress, dense_pooling=dense_pooling)
    if len(models) == 1:
        result = protocols.evaluate_views(models[0], images, labels, **options)
    else:
        result = protocols.evaluate_ensemble(models, images, labels, **options)
    if skipped is not None:
        result["skipped"] = skipped.summary()
    if "mean_substitution" in result:
        print(f"note: dense evaluation, {result['mean_substitution']}")
    return _with_precision(result, meta)

"""`cnnzoo evaluate`: top-1 / top-5 accuracy and loss of a trained model on a test split."""

from __future__ import annotations

from pathlib import Path

import keras

from cnnzoo.model_io import load_trained
from pipelines import datasets as pipe
from pipelines.sources import load_dataset


def evaluate(
    model_path: str | Path,
    data_dir: str | None = None,
    dataset: str | None = None,
    batch_size: int = 256,
    max_images: int | None = None,
) -> dict[str, float]:
    """Evaluate a `.keras` model written by `cnnzoo fit` on its dataset's test split.

    Args:
        model_path: the `.keras` file.
        data_dir: directory with the dataset files.
        dataset: dataset name; defaults to the one in the model's metadata.
        batch_size: evaluation batch size.
        max_images: evaluate on the first N test images only.

    Returns:
        {"top1_accuracy", "top5_accuracy", "loss", "images"}.
    """
    model, meta = load_trained(model_path, compile=False)
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
    # The classifier output alone; auxiliary heads, if any, are not evaluated.
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1_accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ],
    )
    scores = model.evaluate(
        pipe.eval_dataset(images, labels, batch_size), return_dict=True, verbose=0
    )
    return {
        "top1_accuracy": float(scores["top1_accuracy"]),
        "top5_accuracy": float(scores["top5_accuracy"]),
        "loss": float(scores["loss"]),
        "images": int(len(images)),
    }

"""What the studies read: a model (file, run directory, registry name) and test images."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np

# A run directory's models (`cnnzoo fit`): the finished model first, else the
# resumable checkpoint of a run still training.
RUN_MODELS = ("model.keras", "checkpoint.keras")


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model to study and where it came from.

    Attributes:
        model: the keras.Model (raw pixels in, probabilities out, for trained models).
        source: what was loaded, for the report (a path, or ``"resnet56 (random weights)"``).
        dataset: the dataset it was trained on (its metadata), or None.
        trained: False for a registry net with random weights (mechanics only).
    """

    model: keras.Model
    source: str
    dataset: str | None
    trained: bool


def model_file(spec: str) -> Path | None:
    """The `.keras` file `spec` names: the file itself or a run directory's model; else None."""
    path = Path(spec)
    if path.is_dir():
        for name in RUN_MODELS:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"run directory {path} holds none of {', '.join(RUN_MODELS)}")
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        return path
    return None


def load_model(spec: str, weights: str | None = None, input_shape=None) -> LoadedModel:
    """Load what `spec` names: a `.keras` file, a run directory, or a registry name.

    Args:
        spec: a `.keras` file, a run directory (its model.keras, else
            checkpoint.keras), or a registered architecture (`cnnzoo.list_models`).
        weights: with a registry name, the dataset of the package's trained weights
            (`cnnzoo list --weights`); None builds it with random weights, which runs
            the mechanics but measures nothing of the papers.
        input_shape: with a registry name and no weights, the input shape to build.

    Raises:
        FileNotFoundError: a path that does not exist or a run directory without a model.
        KeyError: an unknown architecture, or no trained weights for it.
    """
    from cnnzoo.model_io import load_trained

    path = model_file(spec)
    if path is not None:
        if weights:
            raise ValueError("--weights goes with a registry name, not with a model file")
        model, meta = load_trained(path, compile=False)
        return LoadedModel(model, str(path), meta.get("dataset"), True)
    import cnnzoo

    if weights:
        from cnnzoo.weights import verified_path

        model, meta = load_trained(verified_path(spec, weights), compile=False)
        return LoadedModel(model, f"{spec} ({weights} weights)", meta.get("dataset"), True)
    options = {"input_shape": tuple(input_shape)} if input_shape else {}
    model = cnnzoo.build(spec, **options)
    card = cnnzoo.model_card(spec)
    return LoadedModel(model, f"{spec} (random weights)", card.dataset, False)


def test_images(
    dataset: str | None, data_dir: str | None, max_images: int | None, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """The first `max_images` images (float32 raw pixels) and labels of a split of `dataset`.

    Raises:
        ValueError: no dataset is known (a model without metadata and no --dataset).
    """
    from cnnzoo.pipelines.sources import load_dataset

    if not dataset:
        raise ValueError("the model's metadata names no dataset; pass --dataset (e.g. cifar10)")
    data = load_dataset(dataset, data_dir)
    images, labels = data.test if split == "test" else data.train
    if max_images is not None:
        images, labels = images[:max_images], labels[:max_images]
    return images.astype("float32"), labels.astype("int64")


def top1_error(model, images, labels, batch_size: int = 250, progress=None) -> float:
    """Top-1 error (%) of `model` on the arrays, in batches.

    Through `cnnzoo evaluate`'s compiled scoring step (`scoring_step`), traced once
    per model: the gates that delete units are variables, so every deletion reuses
    it; a reordering builds a new model and pays one trace (about a second for
    ResNet-20), where eager calls would miss grappler's fused kernels on every batch.
    """
    from cnnzoo.evaluation.evaluate import scoring_step

    step = scoring_step(model)
    wrong = 0
    for start in range(0, len(images), batch_size):
        y = labels[start : start + batch_size]
        probs, _ = step(images[start : start + batch_size], y)
        wrong += int(np.sum(np.argmax(probs.numpy(), axis=-1) != y))
        if progress is not None:
            progress.add(1)
    return 100.0 * wrong / len(images)


def batches(n: int, batch_size: int) -> int:
    """Number of batches of at most `batch_size` covering `n` items."""
    return -(-n // batch_size)

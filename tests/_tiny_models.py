"""A tiny trained-model-like classifier for the export and predict tests.

It keeps the contract of `cnnzoo.model_io` (raw [0, 255] float32 pixels in,
preprocessing inside, class probabilities out) at a size that builds, saves and
exports in about a second.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from cnnzoo.model_io import save_trained

# Six classes, so that a top-5 list is a real choice and not the whole output.
CLASS_NAMES = ["airplane", "cat", "dog", "frog", "ship", "truck"]
INPUT_SHAPE = (32, 32, 3)


def tiny_model(
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    num_classes: int = len(CLASS_NAMES),
    seed: int = 0,
) -> keras.Model:
    """Build Rescaling → Conv2D → global average pooling → Dense softmax.

    Args:
        input_shape: (height, width, channels) of the raw-pixel input.
        num_classes: width of the softmax output.
        seed: weight-initialisation seed, so that every test sees the same model.

    Returns:
        An uncompiled keras.Model taking float32 pixels in [0, 255].
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    # A large-ish bias spread keeps the softmax away from uniform, so that the
    # top-k order is decided by the inputs and not by float noise.
    bias = keras.initializers.Constant(np.linspace(-1.0, 1.0, num_classes))
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=seed),
        bias_initializer=bias,
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name="tiny")


def save_tiny_model(
    directory: str | Path,
    class_names: list[str] | None = CLASS_NAMES,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
) -> Path:
    """Build the tiny model and save it as ``DIRECTORY/model.keras`` plus its sidecar.

    Args:
        directory: where to write.
        class_names: recorded in the sidecar; None leaves them out of it.
        input_shape: (height, width, channels) of the model.

    Returns:
        The path of the `.keras` file.
    """
    num_classes = len(class_names) if class_names else len(CLASS_NAMES)
    model = tiny_model(input_shape, num_classes)
    metadata = {
        "arch": "tiny",
        "dataset": "synthetic",
        "input_shape": list(input_shape),
        "recipe": "none",
    }
    if class_names is not None:
        metadata["class_names"] = list(class_names)
    path = Path(directory) / "model.keras"
    save_trained(model, path, metadata)
    return path


def random_images(n: int, shape: tuple[int, int, int] = INPUT_SHAPE, seed: int = 0) -> np.ndarray:
    """`n` random uint8 images of `shape`, reproducible by `seed`."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)

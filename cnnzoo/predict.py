"""Classify image files with a trained `.keras` model or an exported SavedModel.

Each file is decoded as the model expects it: channels converted (grayscale to
RGB or back), and an image of another size resized with a notice saying so.
A file that cannot be read or is not an image becomes a `FileError` in the
results, in its place, and the other files are still classified.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnzoo.export import EXPORT_METADATA_FILE, INPUT_NAME, SIGNATURE_KEY
from cnnzoo.model_io import load_inference, metadata_path

# Images per forward pass: bounds memory for long file lists at ImageNet sizes.
BATCH_SIZE = 64


class ClassScore(NamedTuple):
    """One class of a prediction: its index, its name and its probability."""

    index: int
    name: str
    probability: float


@dataclasses.dataclass
class Prediction:
    """The top classes of one image file.

    Attributes:
        file: the path as given.
        top: the `top_k` most probable classes, most probable first.
        notices: what was done to the image to fit the model (resizing, channels).
    """

    file: str
    top: list[ClassScore]
    notices: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FileError:
    """A file that could not be classified, and why.

    Attributes:
        file: the path as given.
        message: the reason, naming the file.
    """

    file: str
    message: str


def predict_files(
    model_path: str | os.PathLike,
    files: Sequence[str | os.PathLike],
    top_k: int = 5,
    precision: str | None = None,
) -> list[Prediction | FileError]:
    """Classify image files (PNG, JPEG, and whatever else `tf.io.decode_image` reads).

    Args:
        model_path: a `.keras` file written by `cnnzoo.model_io.save_trained`, or a
            SavedModel directory written by `cnnzoo.export.export_saved_model`.
        files: the image files.
        top_k: how many classes to report per image (at most the number of classes).
        precision: compute a `.keras` model in "float32", "bfloat16" or "auto" instead
            of the precision it was saved in; a SavedModel computes in the one it
            was exported with.

    Returns:
        One `Prediction` or `FileError` per file, in the order of `files`.

    Raises:
        ValueError: `top_k` < 1, or the model or its metadata is not what cnnzoo writes.
        FileNotFoundError: `model_path` does not exist.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    model = _load_model(Path(model_path), precision)
    k = min(top_k, model.num_classes)

    results: list[Prediction | FileError | None] = [None] * len(files)
    pending: list[tuple[int, np.ndarray, list[str]]] = []

    def flush() -> None:
        probabilities = model.predict(np.stack([image for _, image, _ in pending]))
        for (i, _, notices), probs in zip(pending, probabilities, strict=True):
            # A stable sort keeps ties in class order, so results are reproducible.
            best = np.argsort(-probs, kind="stable")[:k]
            top = [ClassScore(int(c), model.class_names[c], float(probs[c])) for c in best]
            results[i] = Prediction(str(files[i]), top, notices)
        pending.clear()

    # Decoded a batch at a time, so a long list of large images is never all in memory.
    for i, file in enumerate(files):
        loaded = _load_image(str(file), model.image_shape)
        if isinstance(loaded, FileError):
            results[i] = loaded
            continue
        pending.append((i, *loaded))
        if len(pending) == BATCH_SIZE:
            flush()
    if pending:
        flush()
    return results  # type: ignore[return-value]  (every slot is filled above)


def format_predictions(results: Sequence[Prediction | FileError]) -> str:
    """Render the results of `predict_files` for a terminal.

    Each file gets a header line, then its classes with their probabilities
    (``cat  0.8123``), then its notices; a failed file gets its error.

    Args:
        results: what `predict_files` returned.

    Returns:
        The text, ending in a newline (empty for no results).
    """
    lines: list[str] = []
    for result in results:
        lines.append(result.file)
        if isinstance(result, FileError):
            lines.append(f"  error: {result.message}")
            continue
        width = max(len(score.name) for score in result.top)
        for score in result.top:
            lines.append(f"  {score.name:<{width}}  {score.probability:.4f}")
        for notice in result.notices:
            lines.append(f"  note: {notice}")
    return "".join(line + "\n" for line in lines)


class _Model:
    """A `.keras` model or an exported signature behind one interface."""

    def __init__(self, predict, image_shape, num_classes: int, class_names: list[str]):
        self.predict = predict  # uint8 (N, H, W, C) array -> float32 (N, classes) array
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.class_names = class_names


def _load_model(path: Path, precision: str | None = None) -> _Model:
    """Load a `.keras` file or an exported SavedModel directory, with its class names."""
    import tensorflow as tf

    if path.is_dir():
        if precision is not None:
            raise ValueError(
                f"{path}: a SavedModel computes in the precision it was exported with; "
                "--precision applies to .keras files (export with --precision bfloat16)"
            )
        return _load_saved_model(path)
    model, metadata = load_inference(path, precision)
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4:
        raise ValueError(f"{path}: expected one image input of shape (N, H, W, C), got {shape}")
    image_shape = tuple(shape[1:])
    if None in image_shape:
        # Fully-convolutional: images are resized to the size the model was trained at.
        image_shape = tuple(metadata.get("input_shape") or ())
        if len(image_shape) != 3 or None in image_shape:
            raise ValueError(
                f"{path}: the model's input shape {shape} has unknown dimensions and its "
                "metadata has no 'input_shape' [H, W, C]"
            )
    out_shape = model.output_shape
    if isinstance(out_shape, list):
        out_shape = out_shape[0]
    num_classes = int(out_shape[-1])

    # Compiled once per batch shape, as the SavedModel's signature is: an eager call
    # runs every layer through Python.
    @tf.function(reduce_retracing=True)
    def probabilities(images):
        outputs = model(tf.cast(images, tf.float32), training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]  # the contract puts the class probabilities first
        return tf.cast(outputs, tf.float32)

    def predict(images: np.ndarray) -> np.ndarray:
        return probabilities(tf.constant(images)).numpy()

    names = _class_names(metadata, num_classes, str(metadata_path(path)))
    return _Model(predict, tuple(int(d) for d in image_shape), num_classes, names)


def _load_saved_model(path: Path) -> _Model:
    """Load the ``serving_default`` signature of a directory written by `export_saved_model`."""
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise ValueError(
            f"{path}: expected a SavedModel directory (with saved_model.pb) or a .keras file"
        )
    loaded = tf.saved_model.load(str(path))
    if SIGNATURE_KEY not in loaded.signatures:
        raise ValueError(
            f"{path}: expected a {SIGNATURE_KEY!r} signature, got {sorted(loaded.signatures)}"
        )
    signature = loaded.signatures[SIGNATURE_KEY]
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if set(inputs) != {INPUT_NAME} or "probabilities" not in outputs:
        raise ValueError(
            f"{path}: expected a signature {INPUT_NAME!r} -> 'probabilities' as written by "
            f"`cnnzoo export`, got {sorted(inputs)} -> {sorted(outputs)}"
        )
    spec = inputs[INPUT_NAME]
    image_shape = tuple(spec.shape[1:])
    if len(image_shape) != 3 or None in image_shape:
        raise ValueError(f"{path}: expected a fixed input shape (N, H, W, C), got {spec.shape}")
    num_classes = int(outputs["probabilities"].shape[-1])

    def predict(images: np.ndarray) -> np.ndarray:
        result = signature(**{INPUT_NAME: tf.constant(images, dtype=spec.dtype)})
        return result["probabilities"].numpy()

    metadata_file = path / EXPORT_METADATA_FILE
    metadata: dict[str, Any] = {}
    if metadata_file.is_file():
        try:
            metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{metadata_file}: not valid JSON ({e})") from e
    names = _class_names(metadata, num_classes, str(metadata_file))
    return _Model(predict, tuple(int(d) for d in image_shape), num_classes, names)


def _class_names(metadata: dict[str, Any], num_classes: int, source: str) -> list[str]:
    """The metadata's class names, checked against the model, or ``class_<i>``."""
    names = metadata.get("class_names")
    if not names:
        return [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(
            f"{source}: {len(names)} class names for a model with {num_classes} classes; "
            f"expected {num_classes}"
        )
    return [str(name) for name in names]


def _load_image(file: str, image_shape) -> tuple[np.ndarray, list[str]] | FileError:
    """Decode `file` to a uint8 (H, W, C) array of the model's shape, or say why not."""
    import tensorflow as tf

    height, width, channels = image_shape
    try:
        data = Path(file).read_bytes()
    except FileNotFoundError:
        return FileError(file, f"{file}: no such file")
    except IsADirectoryError:
        return FileError(file, f"{file}: is a directory, expected an image file")
    except OSError as e:
        return FileError(file, f"{file}: cannot be read ({e.strerror or e})")
    try:
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
    except tf.errors.OpError as e:
        return FileError(file, f"{file}: not a readable image ({_tf_reason(e.message)})")

    notices: list[str] = []
    frames = _gif_frames(data)
    if frames > 1:
        notices.append(f"an animated GIF of {frames} frames: the first is classified")
    have = int(image.shape[-1])
    if have != channels:
        image = _convert_channels(image, have, channels)
        if image is None:
            return FileError(file, f"{file}: has {have} channels, the model expects {channels}")
        alpha = " (alpha dropped)" if have in (2, 4) else ""
        notices.append(f"converted from {have} to {channels} channels{alpha}")
    if tuple(image.shape[:2]) != (height, width):
        notices.append(f"resized from {image.shape[0]}x{image.shape[1]} to {height}x{width}")
        image = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
        # Back to whole pixel values, as a file of that size would hold: the
        # `.keras` model and the uint8 SavedModel then see the same numbers.
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    return image.numpy(), notices


def _gif_frames(data: bytes) -> int:
    """The number of frames of a GIF, 0 for other formats."""
    if not data.startswith((b"GIF87a", b"GIF89a")):
        return 0
    import tensorflow as tf

    try:
        return int(tf.io.decode_gif(data).shape[0])
    except tf.errors.OpError:
        return 0


def _convert_channels(image, have: int, want: int):
    """Convert a decoded uint8 image from `have` to `want` channels, or None if it cannot.

    Grayscale (1) and RGB (3) convert into each other; an alpha channel (in 2 or
    4 channels) is dropped.
    """
    import tensorflow as tf

    if have in (2, 4):
        image = image[..., : have - 1]  # drop the alpha channel
    if want == 3 and image.shape[-1] == 1:
        return tf.image.grayscale_to_rgb(image)
    if want == 1 and image.shape[-1] == 3:
        return tf.image.rgb_to_grayscale(image)
    if image.shape[-1] == want:
        return image
    return None


def _tf_reason(message: str) -> str:
    """The reason in a TensorFlow error message, without the op and device names around it."""
    message = re.sub(r"\{\{function_node [^}]*\}\}", "", message)
    message = re.sub(r"\[Op:\w+\].*$", "", message, flags=re.DOTALL).strip()
    return message.splitlines()[0].strip() if message else "unknown error"

"""Saving and loading trained models: a `.keras` file and its metadata sidecar.

A trained cnnzoo model takes float32 images with raw pixel values in [0, 255],
shape (N, H, W, C); the preprocessing its recipe chose (mean subtraction,
scaling) is the model's first layers, so evaluation, export and apps all use the
numbers the model was trained with. Its first output is the class
probabilities. Beside ``NAME.keras`` lies ``NAME.json`` with what the weights
alone cannot say: the architecture name, the dataset and its class names.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

METADATA_KEYS = ("arch", "dataset", "class_names", "input_shape", "recipe")


def metadata_path(model_path: str | os.PathLike) -> Path:
    """Path of the JSON sidecar of a `.keras` file."""
    return Path(model_path).with_suffix(".json")


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Write a file so that readers see the old one or the whole new one, never a part.

    Args:
        path: destination.
        write: callable taking a temporary path (in the same directory) and writing it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file 0600; give it the permissions an ordinary open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically replace a text file with `text`."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write_bytes(path, write)


def save_trained(model, path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Save a model as `.keras` plus its metadata sidecar, each atomically.

    Args:
        model: the keras.Model (with its preprocessing layers).
        path: destination ending in ``.keras``.
        metadata: JSON-able dict; see `METADATA_KEYS`.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {str(path)!r}")
    atomic_write_bytes(path, lambda tmp: model.save(tmp))
    atomic_write_text(metadata_path(path), json.dumps(metadata, indent=2, sort_keys=True))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar metadata of a `.keras` file, or {} when there is none."""
    meta = metadata_path(path)
    if not meta.is_file():
        return {}
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta}: not valid JSON ({e})") from e


def load_trained(path: str | os.PathLike, compile: bool = True):
    """Load a `.keras` model in safe mode, with its metadata.

    Returns:
        (model, metadata dict).

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: when `path` is not a `.keras` file.
    """
    import keras

    import cnnzoo.layers  # noqa: F401  (registers the custom layers for deserialization)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras file written by `cnnzoo fit`")
    # Keras walks the layer graph recursively; ResNet-1202 is deeper than Python's default limit.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    return model, read_metadata(path)

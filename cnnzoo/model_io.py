"""Saving and loading trained models: a `.keras` file and its metadata sidecar.

A trained cnnzoo model takes float32 images with raw pixel values in [0, 255],
shape (N, H, W, C); the preprocessing its recipe chose (mean subtraction,
scaling) is the model's first layers, so evaluation, export and apps all use the
numbers the model was trained with. Its first output is the class
probabilities. Beside ``NAME.keras`` lies ``NAME.json`` with what the weights
alone cannot say: the architecture name, the dataset and its class names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cnnzoo.recursion import recursion_limit


@dataclasses.dataclass
class ModelMetadata:
    """What a saved model's weights alone cannot say; every model file cnnzoo writes has it.

    Written beside ``NAME.keras`` as ``NAME.json`` by `write` (through
    `save_trained`, the trainer's checkpoints and exports) and read by `read`, so
    a checkpoint predicts with class names as the final model does.

    Attributes:
        arch: registered architecture name.
        dataset: the dataset it was trained on ("cifar10", a folder's path).
        class_names: one name per output, in label order.
        input_shape: [H, W, C] of the raw images the model takes.
        recipe: the resolved recipe (`Recipe.as_dict`).
        arch_options: builder options (e.g. {"shortcut": "B"}).
        precision: the Keras dtype policy it was trained under.
        results: test figures of the finished run.
        selected: how the model was chosen ({"by": "val_accuracy", "iteration":
            ..., "val_accuracy": ...} or {"by": "last", ...}).
    """

    arch: str | None = None
    dataset: str | None = None
    class_names: list[str] | None = None
    input_shape: list[int] | None = None
    recipe: dict[str, Any] | None = None
    arch_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    precision: str | None = None
    results: dict[str, Any] | None = None
    selected: dict[str, Any] | None = None

    @classmethod
    def coerce(cls, value: ModelMetadata | dict[str, Any], where: str = "metadata"):
        """`value` as a ModelMetadata; a dict with an unknown key is an error naming it."""
        if isinstance(value, cls):
            return value
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown metadata field(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**value)

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, as JSON-able data."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, {})}

    def write(self, model_path: str | os.PathLike) -> None:
        """Write the sidecar of `model_path` atomically."""
        text = json.dumps(self.as_dict(), indent=2, sort_keys=True)
        atomic_write_text(metadata_path(model_path), text)

    @classmethod
    def read(cls, model_path: str | os.PathLike) -> ModelMetadata:
        """The sidecar of `model_path` (empty metadata when there is none)."""
        meta = metadata_path(model_path)
        if not meta.is_file():
            return cls()
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{meta}: not valid JSON ({e})") from e
        return cls.coerce(data, str(meta))


# resnet1202 (~4,200 layers) loads at ~1,230 from a shallow call site; deeper
# callers (tests, the tuner) add their own frames.
LOAD_RECURSION_LIMIT = 20_000

# Modules whose classes a saved cnnzoo model names (registered with keras.saving):
# imported before loading, so every model file cnnzoo writes loads.
SERIALIZABLE_MODULES = (
    "cnnzoo.layers",
    "cnnzoo.training.schedules",
    "cnnzoo.training.optimizer",
    "cnnzoo.training.auxiliary",
    "cnnzoo.training.accumulation",
    "cnnzoo.training.short_paths",
    "cnnzoo.training.precision",
    "cnnzoo.batch_norm_folding",
)


def metadata_path(model_path: str | os.PathLike) -> Path:
    """Path of the JSON sidecar of a `.keras` file."""
    return Path(model_path).with_suffix(".json")


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Write a file so that readers see the old one or the whole new one, never a part.

    The new file is written beside the target (``.STEM.RANDOM.SUFFIX``, which
    `stale_temporaries` finds if a kill leaves one) and renamed over it.

    Args:
        path: destination.
        write: callable taking a temporary path (in the same directory) and writing it.

    Raises:
        OSError: the disk is full, the directory read-only...: the message names the
            file and says that its previous version is kept.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        # mkstemp makes the file 0600; give it the permissions an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(
            e.errno, f"cannot write {path} ({e.strerror or e}); its previous version is kept"
        ) from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def stale_temporaries(directory: str | os.PathLike, stems) -> list[Path]:
    """Temporary files `atomic_write_bytes` left in `directory` for these stems (killed writes)."""
    directory = Path(directory)
    return sorted(p for stem in stems for p in directory.glob(f".{stem}.*") if p.is_file())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically replace a text file with `text`."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write_bytes(path, write)


def save_trained(model, path: str | os.PathLike, metadata: ModelMetadata | dict[str, Any]) -> None:
    """Save a model as `.keras` plus its metadata sidecar, each atomically.

    Args:
        model: the keras.Model (with its preprocessing layers).
        path: destination ending in ``.keras``.
        metadata: a `ModelMetadata` (or a dict of its fields).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {str(path)!r}")
    metadata = ModelMetadata.coerce(metadata)
    atomic_write_bytes(path, lambda tmp: model.save(tmp))
    metadata.write(path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar metadata of a `.keras` file as a dict, or {} when there is none."""
    return ModelMetadata.read(path).as_dict()


def load_trained(path: str | os.PathLike, compile: bool = True, precision: str | None = None):
    """Load a `.keras` model in safe mode, with its metadata.

    Args:
        path: the `.keras` file.
        compile: restore the optimizer and loss too.
        precision: compute in "float32", "bfloat16" or "auto" (`compute_dtype`) rather
            than in the precision the model was saved in (None); for inference: the
            model is rebuilt, uncompiled. The metadata's ``inference_precision`` says
            which policy and why.

    Returns:
        (model, metadata dict).

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: when `path` is not a `.keras` file.
    """
    import importlib

    import keras

    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras file written by `cnnzoo fit`")
    if not zipfile.is_zipfile(path):
        # Keras says "File not found" for these; the file is there, but damaged.
        raise ValueError(
            f"{path}: damaged or not a Keras model (a .keras file is a zip archive, this "
            f"one is not: {path.stat().st_size:,} bytes, truncated or overwritten?)"
        )
    # Keras walks the layer graph recursively; ResNet-1202 is deeper than Python's
    # default limit. The file's depth is unknown before loading: a margin that
    # covers the zoo's deepest net, restored afterwards.
    with recursion_limit(LOAD_RECURSION_LIMIT):
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
        metadata = read_metadata(path)
        if precision is not None:
            from cnnzoo.compute_dtype import in_policy, policy_for

            policy, why = policy_for(precision)
            model = in_policy(model, policy)
            metadata["inference_precision"] = {"policy": policy, "why": why}
    return model, metadata


def load_inference(path: str | os.PathLike, precision: str | None = None):
    """A `.keras` model as every inference path runs it: uncompiled, BatchNorm folded.

    `cnnzoo evaluate`, `predict`, `tools/compare_precision.py` and the benchmark's
    evaluate rows load through here, so that they time and score the same graph:
    each Conv2D -> BatchNorm pair folded into one convolution (`batch_norm_folding`),
    which grappler fuses with its bias, residual addition and ReLU. (The analysis
    studies load unfolded models: they gate the blocks themselves.)

    Args:
        path: the `.keras` file.
        precision: as for `load_trained`.

    Returns:
        (folded model, metadata dict).
    """
    from cnnzoo.batch_norm_folding import fold_batch_norm

    model, metadata = load_trained(path, compile=False, precision=precision)
    return fold_batch_norm(model), metadata

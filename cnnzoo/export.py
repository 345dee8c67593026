"""Export a trained model as a TensorFlow SavedModel that apps load without cnnzoo.

The exported ``serving_default`` signature takes raw uint8 images, shape
(N, H, W, C), the way they come out of an image decoder, and returns

- ``probabilities``: float32 (N, classes),
- ``class_index``: int64 (N,), the arg-max of the probabilities,
- ``class_name``: string (N,), only when the class names are known.

The preprocessing is inside the trained model (see `cnnzoo.model_io`), so the
signature only casts the pixels to float32. Beside the SavedModel files lies
``cnnzoo.json``, the model's metadata, with the class names and input shape the
signature uses.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from cnnzoo.backend import require_tensorflow
from cnnzoo.batch_norm_folding import fold_batch_norm
from cnnzoo.compute_dtype import in_policy, policy_for
from cnnzoo.model_io import load_trained

EXPORT_METADATA_FILE = "cnnzoo.json"
SIGNATURE_KEY = "serving_default"
INPUT_NAME = "images"


def export_saved_model(
    model,
    out_dir: str | os.PathLike,
    class_names: list[str] | None = None,
    overwrite: bool = False,
    metadata: dict[str, Any] | None = None,
    precision: str | None = None,
) -> Path:
    """Write a trained model as a SavedModel whose signature takes raw uint8 images.

    The export is written to a temporary sibling of `out_dir` and moved into
    place only once complete, so a failed export never leaves a partial
    directory, and with `overwrite` the previous export stays until the new one
    is ready.

    Args:
        model: path of a `.keras` file written by `cnnzoo.model_io.save_trained`
            (its sidecar metadata is read), or an already-loaded keras.Model
            following the same contract.
        out_dir: the SavedModel directory to create.
        class_names: names of the classes, index order; default: the metadata's
            ``class_names``. Without names the signature has no ``class_name``.
        overwrite: replace an existing export at `out_dir`. Only a directory that
            holds a SavedModel (or nothing) is replaced, never another directory.
        metadata: metadata of a keras.Model passed as `model`; ignored (in favour
            of the sidecar) when `model` is a path.
        precision: the SavedModel computes in "float32", "bfloat16" or "auto"
            (`cnnzoo.compute_dtype`) rather than the model's own; its inputs (uint8)
            and outputs (float32 probabilities) stay as they are.

    Returns:
        The path of the written SavedModel directory.

    Raises:
        FileExistsError: `out_dir` exists and `overwrite` is False, or it is not a
            previous export.
        ValueError: the model's input is not a single fully-known (H, W, C) image,
            or the class names do not match the model's number of classes.
    """
    require_tensorflow("the SavedModel export")
    out_dir = Path(out_dir)
    # Before loading anything: a refused destination should fail fast.
    _check_destination(out_dir, overwrite)
    model, metadata, source = _load(model, metadata, precision)
    image_shape = _image_shape(model, metadata, source)
    class_names = _class_names(model, source, class_names or metadata.get("class_names"))
    # The JSON records what the signature was built with, so that apps and
    # `cnnzoo.predict` read the same class names and input shape.
    export_metadata = {**metadata, "input_shape": list(image_shape)}
    if class_names is not None:
        export_metadata["class_names"] = class_names

    def write(tmp_dir: Path) -> None:
        _write_archive(model, tmp_dir, image_shape, class_names)
        (tmp_dir / EXPORT_METADATA_FILE).write_text(
            json.dumps(export_metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    _write_directory_atomically(out_dir, write)
    return out_dir


def _load(model, metadata: dict[str, Any] | None, precision: str | None = None):
    """(model, metadata, a name for messages) of a `.keras` path or a loaded model.

    With a `precision`, the model computing in it (`compute_dtype.in_policy`), the
    policy and why recorded in the metadata as ``inference_precision``.
    """
    import keras

    if isinstance(model, keras.Model):
        model, metadata, source = model, dict(metadata or {}), f"model {model.name!r}"
    else:
        source = str(model)
        model, metadata = load_trained(model, compile=False)
    if precision is not None:
        policy, why = policy_for(precision)
        model = in_policy(model, policy)
        metadata["inference_precision"] = {"policy": policy, "why": why}
    return model, metadata, source


def _class_names(model, source: str, names) -> list[str] | None:
    """The class names as strings, checked against the model's number of classes."""
    if names is None:
        return None
    names, num_classes = [str(name) for name in names], _num_classes(model, source)
    if len(names) != num_classes:
        raise ValueError(
            f"{source}: {len(names)} class names given for a model with "
            f"{num_classes} classes; expected {num_classes} names"
        )
    return names


def _write_directory_atomically(out_dir: Path, write) -> None:
    """`write(tmp_dir)` into a temporary sibling, then swap it into place as `out_dir`.

    A failed or killed export never leaves a partial `out_dir`; a replaced export
    stays until the new one is complete.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # What a killed export left beside its target (never the target itself).
    for stale in [
        *out_dir.parent.glob(f".{out_dir.name}.tmp-*"),
        *out_dir.parent.glob(f".{out_dir.name}.old-*"),
    ]:
        shutil.rmtree(stale, ignore_errors=True)
    # Not mkdtemp: its 0700 mode would make the export unreadable to a model
    # server running as another user; mkdir honours the umask.
    tmp_dir = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp_dir.mkdir()
    try:
        # A plain write is enough: nobody sees `tmp_dir` before the swap.
        write(tmp_dir)
        _fsync_tree(tmp_dir)
        _swap_into_place(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def _image_shape(model, metadata: dict[str, Any], source: str) -> tuple[int, int, int]:
    """(H, W, C) of the model's single image input, from the model or its metadata."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise ValueError(f"{source}: expected a model with one image input, got {len(shape)}")
    if len(shape) != 4:
        raise ValueError(f"{source}: expected an input of shape (N, H, W, C), got {shape}")
    shape = tuple(shape[1:])
    if None in shape:
        # A fully-convolutional model accepts any size; the size it was
        # trained at is the one its metadata records.
        recorded = metadata.get("input_shape")
        if not recorded or len(recorded) != 3 or None in recorded:
            raise ValueError(
                f"{source}: the model's input shape {shape} has unknown dimensions and "
                "the metadata has no 'input_shape' [H, W, C] to export with"
            )
        shape = tuple(recorded)
    return tuple(int(d) for d in shape)


def _num_classes(model, source: str) -> int:
    """Width of the model's first output, the class probabilities."""
    shape = model.output_shape
    if isinstance(shape, list):
        shape = shape[0]
    elif isinstance(shape, dict):
        shape = next(iter(shape.values()))
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"{source}: expected class probabilities of shape (N, classes) as the first "
            f"output, got {shape}"
        )
    return int(shape[-1])


def _check_destination(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace what the caller did not ask to, or what is not an export."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(
            f"{out_dir} already exists; pass overwrite=True (cnnzoo export --overwrite) "
            "to replace it"
        )
    # `overwrite` replaces an earlier export; a typo in --out must not delete
    # an unrelated directory.
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory; expected an export")
    # Every export writes its metadata file (`cnnzoo.export_formats` too): an export of
    # another format may be replaced.
    is_export = (out_dir / "saved_model.pb").is_file() or (out_dir / EXPORT_METADATA_FILE).is_file()
    if any(out_dir.iterdir()) and not is_export:
        raise FileExistsError(
            f"{out_dir} is not an export directory (no saved_model.pb or "
            f"{EXPORT_METADATA_FILE}); refusing to replace it, choose another --out"
        )


def served_outputs(outputs) -> dict:
    """``{"probabilities": float32 (N, classes), "class_index": int64 (N,)}`` of a model's outputs.

    The contract puts the class probabilities first; auxiliary heads (e.g.
    GoogLeNet's) follow and are not served. Every export format serves these two.
    """
    import tensorflow as tf

    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    elif isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    # Mixed-precision models return float16; apps get one dtype.
    probabilities = tf.cast(outputs, tf.float32)
    # tf.argmax, not keras.ops.argmax: the latter adds a sign-bit test (ranking -0.0
    # below 0.0) that LiteRT has no builtin op for; probabilities are never negative.
    class_index = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return {"probabilities": probabilities, "class_index": class_index}


def _write_archive(model, path: Path, image_shape, class_names: list[str] | None) -> None:
    """Write the SavedModel with the uint8 ``serving_default`` signature into `path`."""
    import keras
    import tensorflow as tf

    # Each BatchNorm folded into its convolution, which grappler then fuses with the
    # bias, the residual addition and the ReLU (`batch_norm_folding`).
    model = fold_batch_norm(model)
    names = tf.constant(class_names) if class_names is not None else None
    contract = f"images must be uint8 of shape (N, {', '.join(map(str, image_shape))})"

    def serve(images):
        # A signature checks the dtype, not the shape: without these, a single image
        # or a wrong channel count ends in a graph error deep in the net, and a
        # fully-convolutional net silently takes another size.
        shape = tf.shape(images)
        # Padded, so that a tensor of another rank compares (and fails) too.
        hwc = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)[1:4]
        fits = tf.logical_and(
            tf.equal(tf.size(shape), 4), tf.reduce_all(tf.equal(hwc, list(image_shape)))
        )
        checks = [tf.debugging.Assert(fits, [contract, "; got shape", shape])]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
        outputs = served_outputs(model(tf.cast(images, tf.float32), training=False))
        if names is not None:
            outputs["class_name"] = tf.gather(names, outputs["class_index"])
        return outputs

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE_KEY,
        fn=serve,
        input_signature=[tf.TensorSpec((None, *image_shape), tf.uint8, name=INPUT_NAME)],
    )
    archive.write_out(str(path), verbose=False)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under `root`, so the swap publishes complete files."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap_into_place(new_dir: Path, out_dir: Path) -> None:
    """Move `new_dir` to `out_dir`, deleting the previous `out_dir` only after success.

    Directories cannot be exchanged atomically with the standard library, so the
    old export is first renamed aside; for an instant `out_dir` is absent, but at
    no point is its content partial or lost.
    """
    if not out_dir.exists():
        os.replace(new_dir, out_dir)
        return
    old_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, old_dir)  # replaces the empty placeholder made by mkdtemp
    try:
        os.replace(new_dir, out_dir)
    except BaseException:
        os.replace(old_dir, out_dir)
        raise
    shutil.rmtree(old_dir)

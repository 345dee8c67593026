"""Export to ONNX, LiteRT and OpenVINO, each checked by its own runtime against the Keras model.

Every format keeps the SavedModel's serving contract (`cnnzoo.export`): one
input ``images``, uint8 (N, H, W, C) as an image decoder gives them, the
preprocessing inside, and the outputs

- ``probabilities``: float32 (N, classes),
- ``class_index``: int64 (N,), the arg-max of the probabilities.

Unlike the SavedModel, no format here returns ``class_name``: a string output
would be the one non-numeric tensor an app of these runtimes has to handle, and
the names are in the metadata, in index order. The export directory holds the model file(s)
and ``cnnzoo.json`` (the metadata, as beside a SavedModel, plus the format and
the verification's figures); ONNX also carries the metadata in the model's
``metadata_props``, OpenVINO in the IR's ``rt_info``; a LiteRT file carries none
(its metadata schema is written by the tflite-support package, which no longer
follows TensorFlow's releases).

After writing, the file is loaded by its own runtime (`cnnzoo.export_runtimes`),
which classifies the same images as the Keras model; an export whose top-1
agreement falls below the threshold is kept as ``OUT.failed`` and raises
`ExportVerificationError`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cnnzoo import export_data
from cnnzoo.backend import require_tensorflow
from cnnzoo.compute_dtype import in_policy
from cnnzoo.export import (
    EXPORT_METADATA_FILE,
    INPUT_NAME,
    _check_destination,
    _class_names,
    _image_shape,
    _load,
    _write_directory_atomically,
    export_saved_model,
    served_outputs,
)
from cnnzoo.export_options import (
    FORMATS,
    MIN_AGREEMENT,
    QUANTIZATIONS,
    VERIFY_DATA,
    ExportChecks,
)
from cnnzoo.export_runtimes import RUNTIMES, load_runtime, predict, require


class ExportVerificationError(RuntimeError):
    """The exported file's runtime disagrees with the Keras model more than allowed."""


class ExportConversionError(RuntimeError):
    """A format's converter refused the model; the message names the format and custom layers."""


@dataclasses.dataclass(frozen=True)
class Verification:
    """How an export's runtime agreed with the Keras model.

    Attributes:
        runtime: the runtime's name.
        images: what was classified, e.g. "256 cifar10 test images".
        agreement: fraction of images whose top-1 class is Keras's.
        max_abs_diff: the largest |Δ probability| over all images and classes.
        min_agreement: the threshold it was held to.
        keras_top1: Keras's top-1 accuracy on the images (None: no labels).
        runtime_top1: the runtime's.
    """

    runtime: str
    images: str
    agreement: float
    max_abs_diff: float
    min_agreement: float
    keras_top1: float | None = None
    runtime_top1: float | None = None

    @property
    def passed(self) -> bool:
        return self.agreement >= self.min_agreement

    def line(self) -> str:
        """One line for the terminal (two when the images have labels)."""
        line = (
            f"{self.runtime}: top-1 agreement with Keras {100 * self.agreement:.2f}% on "
            f"{self.images}, max |Δprob| {self.max_abs_diff:.2e} "
            f"(threshold {100 * self.min_agreement:.2f}%)"
        )
        if self.keras_top1 is None:
            return line
        drop = 100 * (self.keras_top1 - self.runtime_top1)
        return (
            f"{line}\n{self.runtime}: top-1 accuracy {100 * self.runtime_top1:.2f}%, Keras "
            f"{100 * self.keras_top1:.2f}% on the same images (drop {drop:+.2f} points)"
        )


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """An export: its directory, the model file in it and its verification (None: unchecked)."""

    path: Path
    model_file: Path
    verification: Verification | None = None


@dataclasses.dataclass(frozen=True)
class _Job:
    """What a writer needs: the input's (H, W, C), the metadata to embed, the quantization."""

    shape: tuple[int, int, int]
    metadata: dict[str, Any]
    quantize: str | None = None
    calibration: np.ndarray | None = None


def _serving_model(classifier, image_shape):
    """A keras.Model mapping uint8 images to {"probabilities", "class_index"}, called once.

    The SavedModel's signature (`cnnzoo.export._write_archive`) as a model that
    Keras's LiteRT exporter takes and tf2onnx traces.
    """
    import keras
    import tensorflow as tf

    class Serving(keras.Model):
        def __init__(self):
            super().__init__(name=f"{classifier.name}_serving")
            self.classifier = classifier

        def call(self, images):
            return served_outputs(self.classifier(tf.cast(images, tf.float32), training=False))

    serving = Serving()
    serving(np.zeros((1, *image_shape), np.uint8))
    return serving


def _input_spec(image_shape):
    import tensorflow as tf

    return [tf.TensorSpec((None, *image_shape), tf.uint8, name=INPUT_NAME)]


def _metadata_text(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, indent=2, sort_keys=True) + "\n"


def _onnx_proto(serving, shape):
    """The serving model as an ONNX ModelProto, through tf2onnx.

    tf2onnx is called on a traced function rather than through Keras's
    ``export(format="onnx")``: tf2onnx turns the constants a graph captures (e.g.
    the mean and variance of a `keras.layers.Normalization`, the in-model
    preprocessing) into graph inputs that an app would have to feed;
    `_fold_captured_constants` makes them initializers again.
    """
    import tensorflow as tf
    import tf2onnx

    spec = _input_spec(shape)
    function = tf.function(lambda images: serving(images, training=False), input_signature=spec)
    # tf2onnx traces `function` with the same signature: it gets this very graph.
    traced = function.get_concrete_function()
    # tf2onnx logs each of its passes at INFO; its warnings and errors still show.
    tf2onnx_log = logging.getLogger("tf2onnx")
    level = tf2onnx_log.level
    tf2onnx_log.setLevel(logging.WARNING)
    try:
        proto, _ = tf2onnx.convert.from_function(function, spec)
    finally:
        tf2onnx_log.setLevel(level)
    _fold_captured_constants(proto, traced)
    return proto


def _write_onnx(serving, directory: Path, job: _Job) -> Path:
    """``model.onnx``, the metadata in its ``metadata_props``."""
    import onnx

    path = directory / "model.onnx"
    proto = _onnx_proto(serving, job.shape)
    for key, value in _embedded(job.metadata).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return path


def _fold_captured_constants(proto, traced) -> None:
    """Replace the graph inputs tf2onnx made of `traced`'s captured constants by initializers."""
    import onnx.numpy_helper
    import tensorflow as tf

    placeholders = traced.inputs[len(traced.inputs) - len(traced.captured_inputs) :]
    values = {
        placeholder.name: value.numpy()
        for placeholder, value in zip(placeholders, traced.captured_inputs, strict=True)
        if value.dtype != tf.resource
    }
    kept = [i for i in proto.graph.input if i.name not in values]
    # Those no node reads (tf2onnx folded their use away) are dropped.
    read = {name for node in proto.graph.node for name in node.input}
    folded = [i.name for i in proto.graph.input if i.name in values and i.name in read]
    proto.graph.initializer.extend(onnx.numpy_helper.from_array(values[n], n) for n in folded)
    del proto.graph.input[:]
    proto.graph.input.extend(kept)


def _write_openvino(serving, directory: Path, job: _Job) -> Path:
    """``model.xml`` + ``model.bin`` (float32 weights), the metadata in its ``rt_info``.

    Converted from the ONNX graph (`_onnx_proto`), not by OpenVINO's TensorFlow
    frontend (Keras's ``export(format="openvino")``): that frontend converts the
    graph unfolded, and has no rule for ops that only compute constants, such as the
    ``MatrixDiagV3`` building `keras.ops.image.extract_patches`' kernel in
    `StochasticPooling2D`; tf2onnx folds them.
    """
    import onnx
    import openvino as ov

    converted = directory / "converted.onnx"
    onnx.save(_onnx_proto(serving, job.shape), str(converted))
    model = ov.convert_model(str(converted))
    for key, value in _embedded(job.metadata).items():
        model.set_rt_info(value, ["cnnzoo", key])
    path = directory / "model.xml"
    # Weights stay float32 (save_model's default would halve them to float16).
    ov.save_model(model, str(path), compress_to_fp16=False)
    converted.unlink()
    return path


def _embedded(metadata: dict[str, Any]) -> dict[str, str]:
    """The metadata as the string pairs ONNX and OpenVINO files carry."""
    pairs = {"cnnzoo": json.dumps(metadata, sort_keys=True)}
    if metadata.get("class_names") is not None:
        pairs["class_names"] = json.dumps(metadata["class_names"])
    return pairs


def _write_litert(serving, directory: Path, job: _Job) -> Path:
    """``model.tflite`` of LiteRT's builtin ops only, float32 or quantized (`_QUANTIZERS`)."""
    import tensorflow as tf

    path = directory / "model.tflite"
    converter = _QUANTIZERS[job.quantize](job)
    # Builtin ops only: a file needing TensorFlow's Flex ops would not run in the
    # plain LiteRT interpreter apps ship.
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if job.quantize == "int8":
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, *ops]
    target = {**converter.pop("target_spec", {}), "supported_ops": ops}
    serving.export(
        str(path),
        format="litert",
        input_signature=_input_spec(job.shape),
        verbose=False,
        target_spec=target,
        **converter,
    )
    return path


def _float32(job: _Job) -> dict[str, Any]:
    return {}


def _float16(job: _Job) -> dict[str, Any]:
    import tensorflow as tf

    # Weights stored as float16, computed in float32 (dequantized at load).
    return {
        "optimizations": [tf.lite.Optimize.DEFAULT],
        "target_spec": {"supported_types": [tf.float16]},
    }


def _int8(job: _Job) -> dict[str, Any]:
    import tensorflow as tf

    images = job.calibration

    def representative():
        for i in range(len(images)):
            yield [images[i : i + 1]]

    # Weights and activations int8, ranges measured on the representative images;
    # the uint8 input and float32 probabilities stay the contract's.
    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}


# --quantize (None: float32) -> the TFLiteConverter settings.
_QUANTIZERS = {None: _float32, "float16": _float16, "int8": _int8}

# Format -> writer `(serving model, directory, job) -> the model file`.
WRITERS = {"onnx": _write_onnx, "litert": _write_litert, "openvino": _write_openvino}
# Format -> the modules its writer imports (beyond TensorFlow), all in the format's extra.
WRITER_MODULES = {
    "onnx": ("tf2onnx", "onnx"),
    "litert": (),
    "openvino": ("tf2onnx", "onnx", "openvino"),
}


def export_model(
    model,
    out_dir: str | os.PathLike,
    fmt: str = "savedmodel",
    *,
    quantize: str | None = None,
    class_names: list[str] | None = None,
    overwrite: bool = False,
    metadata: dict[str, Any] | None = None,
    precision: str | None = None,
    checks: ExportChecks | None = None,
) -> ExportResult:
    """Export `model` in format `fmt`; ONNX, LiteRT and OpenVINO are verified by their runtime.

    Args:
        model: a `.keras` path written by `cnnzoo.model_io.save_trained`, or a keras.Model.
        out_dir: the export directory to create (written atomically, as a SavedModel).
        fmt: one of `FORMATS`; "savedmodel" is `cnnzoo.export.export_saved_model`.
        quantize: LiteRT only: "int8" (calibrated on `checks.calibration_count`
            training images of the model's dataset) or "float16" (weights); None: float32.
        class_names: as `export_saved_model`'s (default: the metadata's).
        overwrite: replace an earlier export (of any format) at `out_dir`.
        metadata: the metadata of a keras.Model passed as `model`.
        precision: SavedModel only (`export_saved_model`); the other formats compute in
            float32 (LiteRT: or as `quantize` says).
        checks: the verification's images and threshold, the calibration's size
            (default: `ExportChecks()`).

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: the runtime's top-1 agreement with Keras is below the
            threshold; the export is kept as ``OUT.failed`` (a sibling of `out_dir`).
        MissingExtraError: the format's packages are not installed (names the extra).
        ExportConversionError: the converter refused the model (names its custom layers).
        ValueError, FileExistsError: as `export_saved_model`, or options that do not
            apply to `fmt`.
    """
    checks = checks or ExportChecks()
    _check_options(fmt, quantize, precision, checks)
    if fmt == "savedmodel":
        path = export_saved_model(model, out_dir, class_names, overwrite, metadata, precision)
        return ExportResult(path, path / "saved_model.pb")
    require_tensorflow(f"the {fmt} export")  # each converter traces a TensorFlow graph
    out_dir = Path(out_dir)
    _check_destination(out_dir, overwrite)
    _require_packages(fmt, checks)
    model, metadata, source = _load(model, metadata)
    job, images = _prepare(model, metadata, source, fmt, quantize, class_names, checks)
    serving = _serving_model(in_policy(model, "float32"), job.shape)
    done = {}

    def write(tmp_dir: Path) -> None:
        done["file"] = _convert(fmt, serving, tmp_dir, job, source)
        done["check"] = _verify(fmt, done["file"], serving, images, checks, quantize)
        _finish(tmp_dir, out_dir, job.metadata, done["file"], done["check"])

    _write_directory_atomically(out_dir, write)
    return ExportResult(out_dir, out_dir / done["file"].name, done["check"])


def _check_options(fmt: str, quantize, precision, checks: ExportChecks) -> None:
    """Refuse a format, quantization, precision or check that does not apply."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if quantize is not None and (fmt != "litert" or quantize not in QUANTIZATIONS):
        raise ValueError(
            f"--quantize {quantize} does not apply to format {fmt}; expected --format litert "
            f"with one of {', '.join(QUANTIZATIONS)}"
        )
    if precision is not None and fmt != "savedmodel":
        raise ValueError(
            f"--precision applies to SavedModel exports; a {fmt} export computes in float32 "
            "(LiteRT: or as --quantize says)"
        )
    if checks.data not in VERIFY_DATA:
        raise ValueError(f"unknown verify data {checks.data!r}; expected one of {VERIFY_DATA}")
    if checks.min_agreement is not None and not 0 <= checks.min_agreement <= 1:
        raise ValueError(f"min_agreement must be in [0, 1], got {checks.min_agreement}")


def _require_packages(fmt: str, checks: ExportChecks) -> None:
    """Fail before converting anything when the format's writer or runtime is not installed."""
    runtime = RUNTIMES[fmt]
    modules = WRITER_MODULES[fmt] + ((runtime.module,) if checks.data != "none" else ())
    for module in modules:
        require(module, runtime.extra, f"the {fmt} export")


def _prepare(model, metadata, source: str, fmt: str, quantize, class_names, checks):
    """(the `_Job`, the verification's (images, labels, phrase) or None) of one export."""
    shape = _image_shape(model, metadata, source)
    names = _class_names(model, source, class_names or metadata.get("class_names"))
    meta = {**metadata, "input_shape": list(shape), "format": fmt}
    if names is not None:
        meta["class_names"] = names
    if quantize is not None:
        meta["quantization"] = quantize
    calibration = None
    if quantize == "int8":
        calibration = export_data.calibration_images(
            metadata, shape, checks.calibration_count, checks.data_dir
        )
        meta["calibration"] = f"{len(calibration)} {metadata.get('dataset')} training images"
    images = None
    if checks.data == "test":
        images = export_data.verification_images(metadata, shape, checks.count, checks.data_dir)
    elif checks.data == "random":
        images = export_data.random_images(shape, checks.count)
    return _Job(shape, meta, quantize, calibration), images


def _custom_layers(model) -> list[str]:
    """The class and name of each layer of `model` (nested models too) that Keras does not ship."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _custom_layers(layer)
        elif not type(layer).__module__.startswith("keras."):
            found.append(f"{type(layer).__name__} {layer.name!r}")
    return found


def _convert(fmt: str, serving, directory: Path, job: _Job, source: str) -> Path:
    """The writer of `fmt`, its failure an `ExportConversionError` naming the custom layers."""
    try:
        return WRITERS[fmt](serving, directory, job)
    except Exception as e:
        custom = _custom_layers(serving.classifier)
        suspects = f"; its layers outside Keras: {', '.join(custom)}" if custom else ""
        raise ExportConversionError(
            f"the {fmt} converter refused {source}{suspects}. Converter's message "
            f"(the layer it names is the one to replace): {str(e)[-2000:]}"
        ) from e


def _verify(fmt, path: Path, serving, images, checks: ExportChecks, quantize):
    """Classify `images` with the runtime of `fmt` and with Keras; None when not checked."""
    if images is None:
        return None
    images, labels, what = images
    got = predict(load_runtime(fmt, path), images)
    want = predict(lambda x: serving.predict(x, verbose=0)["probabilities"], images)
    threshold = checks.min_agreement
    if threshold is None:
        threshold = MIN_AGREEMENT[quantize]
    accuracy = {}
    if labels is not None:
        accuracy = {
            "keras_top1": float(np.mean(want.argmax(axis=1) == labels)),
            "runtime_top1": float(np.mean(got.argmax(axis=1) == labels)),
        }
    return Verification(
        runtime=RUNTIMES[fmt].name,
        images=what,
        agreement=float(np.mean(got.argmax(axis=1) == want.argmax(axis=1))),
        max_abs_diff=float(np.max(np.abs(got - want))),
        min_agreement=threshold,
        **accuracy,
    )


def _finish(tmp_dir: Path, out_dir: Path, metadata, model_file: Path, check) -> None:
    """Write ``cnnzoo.json``; a failed check moves the export to ``OUT.failed`` and raises."""
    metadata = {**metadata, "model_file": model_file.name}
    if check is not None:
        metadata["verification"] = {**dataclasses.asdict(check), "passed": check.passed}
    (tmp_dir / EXPORT_METADATA_FILE).write_text(_metadata_text(metadata), encoding="utf-8")
    if check is None or check.passed:
        return
    failed = out_dir.parent / f"{out_dir.name}.failed"
    if failed.is_dir() and (failed / EXPORT_METADATA_FILE).is_file():
        shutil.rmtree(failed)  # the previous failed attempt
    elif failed.exists() or failed.is_symlink():
        raise FileExistsError(f"{failed} exists and is not a failed export; not replacing it")
    os.replace(tmp_dir, failed)
    raise ExportVerificationError(
        f"{check.line()}: below the threshold, so {out_dir} was not written; the export is "
        f"kept for inspection as {failed}"
    )

"""Running an exported file in its own runtime: ONNX Runtime, the LiteRT interpreter, OpenVINO.

Each runtime is an optional extra of the package (setup.cfg: ``pip install
cnnzoo[onnx]``, ``[litert]``, ``[openvino]``) and is imported only here, when a
file is run; a missing one is an error naming the extra. A runtime is a
function ``(path, threads) -> run``, where ``run(images)`` takes uint8 images
(N, H, W, C) and returns float32 class probabilities (N, classes), through the
export's ``images`` input and ``probabilities`` output (`cnnzoo.export_formats`).
A new runtime is such a function and a line in `RUNTIMES`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"


class MissingExtraError(RuntimeError):
    """A format's Python package is not installed; the message names the extra to install."""


def require(module: str, extra: str, purpose: str):
    """Import `module`, or raise `MissingExtraError` naming ``cnnzoo[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not "
            f"installed ({e}); install it with: pip install 'cnnzoo[{extra}]'"
        ) from e


def _onnx(path: Path, threads: int | None):
    ort = require(RUNTIMES["onnx"].module, "onnx", "running an ONNX export")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


def _litert(path: Path, threads: int | None):
    interpreter_module = require(RUNTIMES["litert"].module, "litert", "running a LiteRT export")
    interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
    # The export's one signature; the runner resizes the input to each batch.
    runner = interpreter.get_signature_runner()
    return lambda images: runner(**{INPUT_NAME: images})[OUTPUT_NAME]


def _openvino(path: Path, threads: int | None):
    ov = require(RUNTIMES["openvino"].module, "openvino", "running an OpenVINO export")
    # OpenVINO's CPU plugin computes in bfloat16 by default on CPUs that have it
    # (AMX, AVX512-BF16): ask for the float32 the model was trained in.
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    output = compiled.output(OUTPUT_NAME)
    return lambda images: compiled(images)[output]


@dataclasses.dataclass(frozen=True)
class Runtime:
    """How one format's files run.

    Attributes:
        load: ``(path, threads) -> run``, ``run(uint8 images) -> probabilities``.
        name: the runtime, for messages and tables.
        extra: the setup.cfg extra that installs it.
        module: the module it imports.
    """

    load: Callable[[Path, int | None], Callable[[np.ndarray], np.ndarray]]
    name: str
    extra: str
    module: str


RUNTIMES: dict[str, Runtime] = {
    "onnx": Runtime(_onnx, "ONNX Runtime", "onnx", "onnxruntime"),
    "litert": Runtime(_litert, "LiteRT interpreter", "litert", "ai_edge_litert.interpreter"),
    "openvino": Runtime(_openvino, "OpenVINO", "openvino", "openvino"),
}


def load_runtime(fmt: str, path: str | Path, threads: int | None = None):
    """The function running the exported file `path` of format `fmt` in its runtime.

    Args:
        fmt: a key of `RUNTIMES`.
        path: the model file (``model.onnx``, ``model.tflite``, ``model.xml``).
        threads: CPU threads the runtime may use (None: its default).

    Returns:
        ``run(uint8 images (N, H, W, C)) -> float32 probabilities (N, classes)``.

    Raises:
        MissingExtraError: the runtime's package is not installed.
        ValueError: an unknown format.
    """
    if fmt not in RUNTIMES:
        raise ValueError(f"no runtime for format {fmt!r}; known: {', '.join(RUNTIMES)}")
    return RUNTIMES[fmt].load(Path(path), threads)


def predict(run, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities of `images` through `run`, `batch_size` images at a time."""
    batches = [
        np.asarray(run(np.ascontiguousarray(images[i : i + batch_size])), dtype=np.float32)
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(batches, axis=0)

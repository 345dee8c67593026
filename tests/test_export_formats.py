"""ONNX, LiteRT and OpenVINO exports: each custom layer and the in-model preprocessing, run
by the format's own runtime and compared with Keras (issue 18 items 1-3).

Every case is a tiny model (a 3x3 convolution, the layer, global pooling, a softmax)
behind the recipe's preprocessing layers; the cases side by side are one model,
exported once per format, whose outputs are compared case by case. A format whose
extra is not installed is skipped with the ``pip install`` line that brings it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from _tiny_models import save_tiny_model

from cnnzoo.export import EXPORT_METADATA_FILE
from cnnzoo.export_formats import (
    WRITER_MODULES,
    ExportVerificationError,
    export_model,
)
from cnnzoo.export_options import ExportChecks
from cnnzoo.export_runtimes import RUNTIMES, MissingExtraError, load_runtime, predict, require
from cnnzoo.layers import (
    FusedBatchNormalization,
    LocalResponseNormalization,
    ResidualScaling,
    StochasticPooling2D,
    ZeroPadShortcut,
    scaled_tanh,
)
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing

FORMATS = ("onnx", "litert", "openvino")
SHAPE = (16, 16, 3)
CLASS_NAMES = ["a", "b", "c", "d"]
# Random images, as many as the check needs to see every class of the tiny models.
CHECK = ExportChecks(data="random", count=24)
# Float exports compute Keras's sums in another order: probabilities agree to float32
# rounding, far below what a mis-converted layer (a wrong window, a lost scale) changes.
FLOAT_ATOL = 1e-5


def _installed(fmt: str) -> bool:
    modules = (*WRITER_MODULES[fmt], RUNTIMES[fmt].module)
    return all(importlib.util.find_spec(m.split(".")[0]) is not None for m in modules)


def _need(fmt: str) -> None:
    """Skip, naming the extra, when the format's converter or runtime is not installed."""
    if not _installed(fmt):
        pytest.skip(f"{fmt} export not installed: pip install 'cnnzoo[{RUNTIMES[fmt].extra}]'")


def _residual_scaling(x):
    branch = keras.layers.Conv2D(8, 1, kernel_initializer=_init(1), name="branch")(x)
    return ResidualScaling(0.2, name="scaling")([x, branch])


def _fused_batch_norm(x):
    layer = FusedBatchNormalization(name="bn")
    x = layer(x)
    # Moving statistics away from (0, 1), so that the layer changes its input.
    rng = np.random.default_rng(0)
    layer.moving_mean.assign(rng.uniform(0, 0.5, 8).astype("float32"))
    layer.moving_variance.assign(rng.uniform(0.5, 2, 8).astype("float32"))
    return x


# Case -> (what follows the first convolution, the preprocessing mode, its padding).
CASES = {
    # alpha 1e-2 instead of the paper's 1e-4: at these small activations the paper's
    # normalization would change the output by less than the tolerance.
    "lrn": (lambda x: LocalResponseNormalization(alpha=1e-2, name="lrn")(x), "scale_pm1", 0),
    "stochastic_pooling": (
        lambda x: StochasticPooling2D(3, 2, padding="same", name="pool")(x),
        "scale_pm1",
        0,
    ),
    "residual_scaling": (_residual_scaling, "scale_pm1", 0),
    "shortcut_a": (lambda x: ZeroPadShortcut(16, 2, name="shortcut")(x), "scale_pm1", 0),
    "shortcut_a_max_pool": (
        lambda x: ZeroPadShortcut(16, 2, subsample="max_pool", name="shortcut")(x),
        "scale_pm1",
        0,
    ),
    "fused_batch_norm": (_fused_batch_norm, "scale_pm1", 0),
    # LeNet-5's: its activation behind its preprocessing (zero padding, LeCun's scaling).
    "scaled_tanh": (lambda x: keras.layers.Activation(scaled_tanh, name="tanh")(x), "lecun", 2),
    # The preprocessing heads with statistics: per-pixel mean (Rescaling + Normalization
    # over H, W, C) and per-channel standardization (Rescaling + Normalization over C).
    "preprocessing_per_pixel_mean": (lambda x: x, "per_pixel_mean", 0),
    "preprocessing_per_channel_standardize": (lambda x: x, "per_channel_standardize", 0),
}


def _init(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


def case_model(case: str) -> keras.Model:
    """The tiny classifier of `case`, taking raw [0, 255] pixels like a trained model."""
    body, mode, pad = CASES[case]
    # The net sees the padded size; the model takes SHAPE.
    inputs = keras.Input((SHAPE[0] + 2 * pad, SHAPE[1] + 2 * pad, SHAPE[2]))
    x = keras.layers.Conv2D(
        8, 3, padding="same", activation="relu", kernel_initializer=_init(0), name="conv"
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(body(x))
    outputs = keras.layers.Dense(
        len(CLASS_NAMES), activation="softmax", kernel_initializer=_init(2), name="predictions"
    )(x)
    net = keras.Model(inputs, outputs, name=f"tiny_{case}")
    train = np.random.default_rng(1).integers(0, 256, (64, *SHAPE), dtype=np.uint8)
    return with_preprocessing(net, preprocessing_layers(mode, train, pad=pad))


def all_cases_model() -> keras.Model:
    """Every case side by side: the case models' outputs, concatenated in `CASES` order.

    One export per format tests them all (the suite's time in CI), and the columns of
    each case still say which layer a runtime gets wrong.
    """
    inputs = keras.Input(SHAPE, name="images")
    branches = [case_model(case)(inputs) for case in CASES]
    return keras.Model(inputs, keras.layers.Concatenate(name="cases")(branches), name="cases")


@pytest.fixture(scope="module")
def all_cases() -> keras.Model:
    return all_cases_model()


@pytest.mark.slow  # one conversion, 5-15 s
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_custom_layer_runs_in_the_formats_runtime(fmt, all_cases, tmp_path):
    _need(fmt)
    result = export_model(all_cases, tmp_path / fmt, fmt, checks=CHECK)
    assert result.verification.passed, result.verification.line()
    images = np.random.default_rng(5).integers(0, 256, (24, *SHAPE), dtype=np.uint8)
    # Batches of 5: any batch size, not only the check's 64.
    got = predict(load_runtime(fmt, result.model_file), images, batch_size=5)
    want = all_cases.predict(images.astype(np.float32), verbose=0)
    width = len(CLASS_NAMES)
    differences = {
        case: float(np.max(np.abs(got - want)[:, i * width : (i + 1) * width]))
        for i, case in enumerate(CASES)
    }
    assert {case: d for case, d in differences.items() if not d < FLOAT_ATOL} == {}


def _fake_dataset_model(tmp_path):
    """A tiny saved model whose metadata names the ``fake`` dataset (32x32x3, 10 classes)."""
    from _tiny_models import tiny_model

    from cnnzoo.model_io import save_trained

    path = tmp_path / "fake.keras"
    names = [f"class_{i}" for i in range(10)]
    metadata = {"arch": "tiny", "dataset": "fake", "input_shape": [32, 32, 3], "class_names": names}
    save_trained(tiny_model(num_classes=10), path, metadata)
    return path


@pytest.mark.slow  # two LiteRT conversions, ~10 s
def test_litert_quantizations_store_what_they_say(tmp_path):
    _need("litert")
    from ai_edge_litert import interpreter

    model = _fake_dataset_model(tmp_path)
    dtypes = {}
    for quantize in ("int8", "float16"):
        result = export_model(model, tmp_path / quantize, "litert", quantize=quantize)
        check = result.verification
        assert check.passed, check.line()
        # The fake dataset's test images have labels: the accuracy of both is reported.
        assert check.images == "256 fake test images" and check.runtime_top1 is not None
        details = interpreter.Interpreter(model_path=str(result.model_file)).get_tensor_details()
        dtypes[quantize] = {d["dtype"] for d in details}
        meta = json.loads((result.path / EXPORT_METADATA_FILE).read_text())
        assert meta["quantization"] == quantize and meta["verification"]["passed"]
    assert np.int8 in dtypes["int8"]
    assert np.float16 in dtypes["float16"] and np.int8 not in dtypes["float16"]
    calibration = json.loads((tmp_path / "int8" / EXPORT_METADATA_FILE).read_text())
    assert calibration["calibration"] == "500 fake training images"


def _near_tie_model(tmp_path):
    """A `fake`-dataset model whose last class wins by 1e-3 of logit on every image.

    int8 LiteRT stores softmax outputs in steps of 1/256 (its fixed output scale), so
    the two best probabilities round to one level and the runtime's arg-max is the
    first class: a quantization that disagrees with Keras on every image.
    """
    from cnnzoo.model_io import save_trained

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    bias = np.zeros(10, np.float32)
    bias[-1] = 1e-3
    outputs = keras.layers.Dense(
        10,
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(bias),
    )(x)
    path = tmp_path / "tie.keras"
    save_trained(
        keras.Model(inputs, outputs), path, {"dataset": "fake", "input_shape": [32, 32, 3]}
    )
    return path


@pytest.mark.slow  # two int8 conversions
def test_a_failed_check_keeps_the_export_as_failed(tmp_path):
    _need("litert")
    model, out = _near_tie_model(tmp_path), tmp_path / "int8"
    failed = tmp_path / "int8.failed"
    for _ in range(2):  # the second replaces the first failed export
        with pytest.raises(
            ExportVerificationError, match=r"(?s)agreement with Keras 0\.00%.*int8\.failed"
        ):
            export_model(model, out, "litert", quantize="int8", checks=ExportChecks(count=16))
        assert not out.exists()
        assert sorted(p.name for p in failed.iterdir()) == [EXPORT_METADATA_FILE, "model.tflite"]
        meta = json.loads((failed / EXPORT_METADATA_FILE).read_text())
        assert meta["verification"]["passed"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.failed", "tie.json", "tie.keras"]


def test_options_that_do_not_apply_are_refused_before_any_work(tmp_path):
    model = tmp_path / "never_read.keras"
    refused = {
        ("onnx", "int8", None): "--quantize int8 does not apply to format onnx",
        ("litert", "int4", None): "expected --format litert with one of int8, float16",
        ("openvino", None, "bfloat16"): "--precision applies to SavedModel exports",
        ("tflite", None, None): "unknown export format 'tflite'",
    }
    for (fmt, quantize, precision), message in refused.items():
        with pytest.raises(ValueError, match=message):
            export_model(model, tmp_path / "out", fmt, quantize=quantize, precision=precision)
    assert list(tmp_path.iterdir()) == []


def test_images_of_a_dataset_not_at_hand_are_a_clear_error(tmp_path):
    _need("litert")
    model = case_model("lrn")
    metadata = {"dataset": "imagenet2012"}
    with pytest.raises(ValueError, match="int8 calibration .* export a float LiteRT model"):
        export_model(model, tmp_path / "a", "litert", quantize="int8", metadata=metadata)
    with pytest.raises(ValueError, match="verification .* pass --verify-data random"):
        export_model(model, tmp_path / "b", "litert", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_an_export_without_its_extra_names_the_extra(tmp_path):
    missing = [fmt for fmt in FORMATS if not _installed(fmt)]
    if not missing:
        pytest.skip("every export extra is installed: nothing is missing to be named")
    for fmt in missing:
        with pytest.raises(MissingExtraError, match=rf"pip install 'cnnzoo\[{fmt}\]'"):
            export_model(case_model("lrn"), tmp_path / fmt, fmt, checks=CHECK)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_runtime_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"pip install 'cnnzoo\[openvino\]'"):
        require("cnnzoo_no_such_runtime", "openvino", "running an OpenVINO export")


def _export_lrn_case(tmp_path, fmt: str):
    """The LRN case exported in `fmt` with `CLASS_NAMES`, checked on random images."""
    _need(fmt)
    metadata = {"class_names": CLASS_NAMES}
    return export_model(case_model("lrn"), tmp_path / fmt, fmt, metadata=metadata, checks=CHECK)


@pytest.mark.slow  # one conversion
def test_metadata_travels_in_the_file_and_beside_it(tmp_path):
    result = _export_lrn_case(tmp_path, "onnx")
    onnx = pytest.importorskip("onnx")
    props = {p.key: p.value for p in onnx.load(str(result.model_file)).metadata_props}
    assert json.loads(props["class_names"]) == CLASS_NAMES
    assert json.loads(props["cnnzoo"])["input_shape"] == list(SHAPE)
    meta = json.loads((result.path / EXPORT_METADATA_FILE).read_text())
    assert meta["format"] == "onnx" and meta["model_file"] == "model.onnx"
    assert meta["class_names"] == CLASS_NAMES
    assert meta["verification"]["agreement"] == 1.0


@pytest.mark.slow  # one conversion
def test_openvino_ir_carries_the_class_names(tmp_path):
    result = _export_lrn_case(tmp_path, "openvino")
    ov = pytest.importorskip("openvino")
    model = ov.Core().read_model(str(result.model_file))
    assert json.loads(model.get_rt_info(["cnnzoo", "class_names"]).astype(str)) == CLASS_NAMES
    files = sorted(p.name for p in result.path.iterdir())
    assert files == [EXPORT_METADATA_FILE, "model.bin", "model.xml"]
    assert model.input(0).get_element_type() == ov.Type.u8


@pytest.mark.slow  # a SavedModel and an ONNX conversion
def test_overwrite_replaces_an_export_of_another_format(tmp_path):
    _need("onnx")
    model, out = case_model("lrn"), tmp_path / "export"
    export_model(model, out)  # a SavedModel
    result = export_model(model, out, "onnx", overwrite=True, checks=CHECK)
    assert sorted(p.name for p in out.iterdir()) == [EXPORT_METADATA_FILE, "model.onnx"]
    assert result.verification.passed


@pytest.mark.slow  # a fresh process: TensorFlow's import and one conversion
def test_cli_exports_and_prints_the_agreement(tmp_path):
    _need("litert")
    model = save_tiny_model(tmp_path)
    out = tmp_path / "litert"
    command = [
        sys.executable,
        "-m",
        "cnnzoo.cli",
        "export",
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    command += ["--format", "litert", "--verify-data", "random", "--verify-images", "16"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"litert export written to {out / 'model.tflite'}" in proc.stdout
    assert (
        "LiteRT interpreter: top-1 agreement with Keras 100.00% on 16 random images" in proc.stdout
    )

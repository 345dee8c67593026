"""Export: the SavedModel serves raw uint8 images, loads without cnnzoo, writes safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from _tiny_models import CLASS_NAMES, random_images, save_tiny_model, tiny_model

from cnnzoo import export as export_module
from cnnzoo.export import EXPORT_METADATA_FILE, export_saved_model
from cnnzoo.model_io import load_trained

SAVED_MODEL_CLI = str(Path(sys.executable).with_name("saved_model_cli"))

# Runs in a fresh interpreter where cnnzoo cannot even be imported: an app has
# only TensorFlow and the export directory.
_APP_SCRIPT = """
import importlib.abc
import sys

class NoCnnzoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "cnnzoo":
            raise ImportError("an app must not need cnnzoo to load an export")
        return None

sys.meta_path.insert(0, NoCnnzoo())
import numpy as np
import tensorflow as tf
export_dir, images_file, out_file = sys.argv[1:4]
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
out = serve(images=tf.constant(np.load(images_file)))
assert "cnnzoo" not in sys.modules, "cnnzoo was imported"
np.savez(
    out_file,
    probabilities=out["probabilities"].numpy(),
    class_index=out["class_index"].numpy(),
    class_name=np.array([name.decode() for name in out["class_name"].numpy()]),
)
"""


def _env() -> dict[str, str]:
    # Quiet TensorFlow's start-up logs so that a failure shows the real error.
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model saved as `.keras`, exported once, with test images."""
    root = tmp_path_factory.mktemp("export")
    model_path = save_tiny_model(root)
    export_dir = export_saved_model(model_path, root / "saved_model")
    images = random_images(4)
    np.save(root / "images.npy", images)
    return {"root": root, "model_path": model_path, "export_dir": export_dir, "images": images}


@pytest.fixture(scope="module")
def subprocesses(exported):
    """Start the out-of-process checks together: each pays TensorFlow's import once.

    Returns:
        name -> (returncode, stdout, stderr).
    """
    root, export_dir = exported["root"], str(exported["export_dir"])
    # saved_model_cli evaluates --input_exprs with ast.literal_eval, so the
    # expression must be a plain literal (np.zeros(...) is refused).
    zeros = repr([[[[0, 0, 0]] * 32] * 32]).replace(" ", "")
    commands = {
        "app": [sys.executable, "-c", _APP_SCRIPT, export_dir, str(root / "images.npy"),
                str(root / "app_out.npz")],
        "show": [SAVED_MODEL_CLI, "show", "--dir", export_dir, "--all"],
        "run": [SAVED_MODEL_CLI, "run", "--dir", export_dir, "--tag_set", "serve",
                "--signature_def", "serving_default", "--input_exprs", f"images={zeros}"],
    }  # fmt: skip
    # The cwd keeps the repository off the child's sys.path.
    procs = {
        name: subprocess.Popen(
            cmd, cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, cmd in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[name] = (proc.returncode, stdout, stderr)
    return results


def _check(results, name):
    code, stdout, stderr = results[name]
    assert code == 0, f"{name} failed ({code}):\n{stdout}\n{stderr[-3000:]}"
    return stdout


def test_keras_file_loads_in_safe_mode(exported):
    model = keras.saving.load_model(exported["model_path"], safe_mode=True)
    assert model.output_shape == (None, len(CLASS_NAMES))


@pytest.mark.slow  # shares one ~15 s fixture: three fresh TensorFlow processes
def test_app_without_cnnzoo_gets_the_models_probabilities(exported, subprocesses):
    _check(subprocesses, "app")
    out = np.load(exported["root"] / "app_out.npz")
    model, _ = load_trained(exported["model_path"], compile=False)
    expected = model.predict(exported["images"].astype(np.float32), verbose=0)

    assert out["probabilities"].dtype == np.float32
    assert out["probabilities"].shape == (4, len(CLASS_NAMES))
    np.testing.assert_allclose(out["probabilities"], expected, rtol=0, atol=1e-5)
    assert out["class_index"].dtype == np.int64
    np.testing.assert_array_equal(out["class_index"], expected.argmax(axis=1))
    assert out["class_name"].tolist() == [CLASS_NAMES[i] for i in expected.argmax(axis=1)]


@pytest.mark.slow  # shares one ~15 s fixture: three fresh TensorFlow processes
def test_saved_model_cli_show(subprocesses):
    stdout = _check(subprocesses, "show")
    assert "signature_def['serving_default']" in stdout
    assert "inputs['images']" in stdout and "DT_UINT8" in stdout
    assert "shape: (-1, 32, 32, 3)" in stdout
    for output in ("probabilities", "class_index", "class_name"):
        assert f"outputs['{output}']" in stdout


@pytest.mark.slow  # shares one ~15 s fixture: three fresh TensorFlow processes
def test_saved_model_cli_run(exported, subprocesses):
    stdout = _check(subprocesses, "run")
    model, _ = load_trained(exported["model_path"], compile=False)
    top = CLASS_NAMES[int(model.predict(np.zeros((1, 32, 32, 3), np.float32), verbose=0).argmax())]
    assert "Result for output key probabilities" in stdout
    assert f"Result for output key class_name:\n[b'{top}']" in stdout


def test_export_dir_holds_metadata(exported):
    meta = json.loads((exported["export_dir"] / EXPORT_METADATA_FILE).read_text())
    assert meta["class_names"] == CLASS_NAMES
    assert meta["input_shape"] == [32, 32, 3]
    assert meta["arch"] == "tiny"
    # No temporary directories are left beside the export.
    assert sorted(p.name for p in exported["root"].glob(".saved_model*")) == []


def test_loaded_model_without_names_has_no_class_name(tmp_path):
    model = tiny_model(num_classes=3)
    out = export_saved_model(model, tmp_path / "sm")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    result = serve(images=tf.constant(random_images(2)))
    assert set(result) == {"probabilities", "class_index"}
    expected = model.predict(random_images(2).astype(np.float32), verbose=0)
    np.testing.assert_allclose(result["probabilities"].numpy(), expected, rtol=0, atol=1e-5)
    assert json.loads((out / EXPORT_METADATA_FILE).read_text()) == {"input_shape": [32, 32, 3]}


def test_multi_output_model_serves_the_first_output(tmp_path):
    base = tiny_model(num_classes=3)
    aux = keras.layers.Dense(2, activation="softmax", name="aux")(base.layers[-2].output)
    model = keras.Model(base.input, [base.output, aux])
    out = export_saved_model(model, tmp_path / "sm", class_names=["a", "b", "c"])
    result = tf.saved_model.load(str(out)).signatures["serving_default"](
        images=tf.constant(random_images(2))
    )
    assert result["probabilities"].shape == (2, 3)
    assert [n.decode() for n in result["class_name"].numpy()][0] in ("a", "b", "c")


def test_wrong_number_of_class_names_is_refused(exported, tmp_path):
    with pytest.raises(ValueError, match="2 class names given for a model with 6 classes"):
        export_saved_model(exported["model_path"], tmp_path / "sm", class_names=["a", "b"])
    assert not (tmp_path / "sm").exists()


def test_existing_dir_without_overwrite_is_kept(exported, tmp_path):
    out = tmp_path / "sm"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match=r"sm already exists.*--overwrite"):
        export_saved_model(exported["model_path"], out)
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]
    assert (out / "keep.txt").read_text() == "old"


def test_overwrite_refuses_a_directory_that_is_not_an_export(exported, tmp_path):
    out = tmp_path / "not_an_export"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="no saved_model.pb"):
        export_saved_model(exported["model_path"], out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"


def test_overwrite_replaces_a_previous_export(exported, tmp_path):
    out = tmp_path / "sm"
    export_saved_model(tiny_model(num_classes=3), out)
    (out / "stale.txt").write_text("from the old export")
    export_saved_model(exported["model_path"], out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert json.loads((out / EXPORT_METADATA_FILE).read_text())["class_names"] == CLASS_NAMES
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert serve(images=tf.constant(random_images(1)))["probabilities"].shape == (1, 6)
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]


def test_failed_overwrite_keeps_the_old_export(exported, tmp_path, monkeypatch):
    out = tmp_path / "sm"
    export_saved_model(exported["model_path"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def fail_midway(model, path, image_shape, class_names):
        (path / "saved_model.pb").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_write_archive", fail_midway)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(exported["model_path"], out, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]


def test_a_bfloat16_export_keeps_the_contract(exported, tmp_path):
    """issue 22: `export --precision bfloat16` computes in bf16; uint8 in, float32 out."""
    out = export_saved_model(exported["model_path"], tmp_path / "bf16", precision="bfloat16")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    result = serve(images=tf.constant(exported["images"]))
    assert result["probabilities"].dtype == tf.float32
    reference = tf.saved_model.load(str(exported["export_dir"])).signatures["serving_default"]
    want = reference(images=tf.constant(exported["images"]))["probabilities"].numpy()
    np.testing.assert_allclose(result["probabilities"].numpy(), want, atol=0.02)
    meta = json.loads((out / EXPORT_METADATA_FILE).read_text())
    assert meta["inference_precision"] == {"policy": "mixed_bfloat16", "why": "asked for"}
    bf16_ops = {
        op.op
        for f in serve.graph.as_graph_def().library.function
        for op in f.node_def
        if "T" in op.attr and op.attr["T"].type == tf.bfloat16.as_datatype_enum
    }
    assert "Conv2D" in bf16_ops, bf16_ops


def test_predict_precision_applies_to_keras_files_only(exported):
    from cnnzoo.predict import predict_files

    with pytest.raises(ValueError, match="a SavedModel computes in the precision it was exported"):
        predict_files(exported["export_dir"], ["x.png"], precision="bfloat16")

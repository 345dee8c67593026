"""Fault and bad-input tests (issue 19): each failed before its fix.

Marked ``fault`` (``python -m pytest -m fault`` runs them alone); CI runs them
with the rest. README "Reliability" lists what they guarantee.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from cnnzoo import cli
from cnnzoo.model_io import atomic_write_bytes, load_trained
from cnnzoo.training import callbacks as cb
from cnnzoo.training.run_dir import RunDirectory

pytestmark = pytest.mark.fault

IDENTITY = {"arch": "lenet5", "seed": 0, "arch_options": {}}


def _parse_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(list(argv))
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tune", "--arch", "resnet20", "--max-trials", "0"], "--max-trials: expected an integer"),
        (["tune", "--arch", "resnet20", "--max-trials", "-3"], "--max-trials"),
        (["tune", "--arch", "resnet20", "--max-trials", "1000000"], "between 1 and 1000"),
        (["fit", "--arch", "resnet20", "--lr", "nan"], "--lr: expected a finite number"),
        (["fit", "--arch", "resnet20", "--lr", "inf"], "--lr: expected a finite number"),
        (["fit", "--arch", "resnet20", "--lr", "-0.1"], "--lr"),
        (["fit", "--arch", "resnet20", "--weight-decay", "-1"], "--weight-decay"),
        (["fit", "--arch", "resnet20", "--momentum", "1.5"], "--momentum"),
        (["fit", "--arch", "resnet20", "--epochs", "0"], "--epochs"),
        (["fit", "--arch", "resnet20", "--batch-size", "0"], "--batch-size"),
        (["evaluate", "--model", "m.keras", "--max-images", "x"], "expected an integer, got 'x'"),
        (["tune", "--arch", "resnet20", "--lr-range", "1,0.1"], "0 < LOW < HIGH"),
    ],
)
def test_bad_numbers_are_refused_naming_the_flag(capsys, argv, message):
    assert message in _parse_error(capsys, *argv)


@pytest.mark.parametrize("trials", [0, -1, 10**6, True])
def test_tune_refuses_a_search_without_end(tmp_path, trials):
    from cnnzoo.training.recipes import get_recipe
    from cnnzoo.training.tuner import tune

    with pytest.raises(ValueError, match="max_trials must be an int in"):
        tune("resnet20", get_recipe("he2016_cifar"), tmp_path, max_trials=trials)


def _tune_args(model_dir, trials: int, steps: int) -> list[str]:
    args = ["tune", "--arch", "resnet20", "--dataset", "fake", "--batch-size", "16"]
    args += ["--max-trials", str(trials), "--epochs-per-trial", "1"]
    args += ["--steps-per-epoch", str(steps), "--val-split", "64", "--max-eval-images", "32"]
    return args + ["--model-dir", str(model_dir), "--verbose", "0"]


def _scored_trials(model_dir: Path) -> list[str]:
    return sorted(t["trial"] for t in json.loads((model_dir / "trials.json").read_text()))


@pytest.mark.slow
def test_a_search_killed_mid_trial_resumes_to_its_bound(tmp_path):
    """kill -9 during the second trial; the rerun finishes the search with 3 scored trials."""
    model_dir = tmp_path / "search"
    args = [sys.executable, "-m", "cnnzoo.cli", *_tune_args(model_dir, 3, 60)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (model_dir / "tune" / "trial_1").is_dir():
            assert time.monotonic() < deadline and first.poll() is None, "trial 1 never started"
            time.sleep(0.2)
        first.kill()
    finally:
        first.wait(timeout=60)
    assert not (model_dir / "best_overrides.json").exists()
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _scored_trials(model_dir) == ["0", "1", "2"]
    assert 1e-3 <= json.loads((model_dir / "best_overrides.json").read_text())["lr"] <= 1.0


def test_a_search_gives_back_each_trials_graphs(tmp_path):
    """Trials 3-5 leave no traced gradient behind (each held a training graph: issue 19)."""
    import gc

    from tensorflow.python.framework import func_graph

    from cnnzoo.training.graph_memory import custom_gradient_count
    from cnnzoo.training.recipes import get_recipe
    from cnnzoo.training.tuner import tune

    recipe = get_recipe("he2016_cifar").override({"data.dataset": "fake", "data.batch_size": 16})

    def search(trials):
        tune(
            "resnet20",
            recipe,
            tmp_path,
            max_trials=trials,
            steps_per_epoch=1,
            epochs_per_trial=1,
            max_eval_images=32,
            verbose=0,
        )
        gc.collect()
        graphs = sum(isinstance(o, func_graph.FuncGraph) for o in gc.get_objects())
        return custom_gradient_count(), graphs

    after_two = search(2)
    assert search(5) == after_two
    assert _scored_trials(tmp_path) == ["0", "1", "2", "3", "4"]


def test_unknown_arch_suggests_close_names():
    import cnnzoo

    with pytest.raises(KeyError, match=r"did you mean resnet20.*`cnnzoo list` shows all"):
        cnnzoo.model_card("resnt20")


def test_a_second_process_on_the_run_directory_fails_naming_the_first(tmp_path):
    first = RunDirectory(tmp_path / "run")
    first.start(IDENTITY)
    with pytest.raises(RuntimeError, match=rf"in use by another cnnzoo fit \(pid {os.getpid()}\)"):
        RunDirectory(tmp_path / "run").start(IDENTITY)


def test_model_dir_that_is_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(ValueError, match="notes.txt is a file, not a directory"):
        RunDirectory(path).start(IDENTITY)
    assert path.read_text() == "mine"


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    stale = [run / ".checkpoint.k3j2h1.keras", run / ".history.a1b2.csv"]
    for path in stale:
        path.write_bytes(b"half a file")
    (run / ".keep.me").write_text("not ours")
    RunDirectory(run).start(IDENTITY)
    assert not any(path.exists() for path in stale)
    assert (run / ".keep.me").exists()


def test_history_with_a_torn_tail_and_a_second_header_is_repaired(tmp_path, caplog):
    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,loss,iterations\n0,2.0,10\nepoch,loss,iterations\n1,1.5,20\n2,1.2,3"
    )  # a second process's header, and a row cut by a kill mid-append
    with caplog.at_level(logging.WARNING):
        cb.truncate_rows(history, "epoch", keep_below=5)
    assert history.read_text().splitlines() == ["epoch,loss,iterations", "0,2.0,10", "1,1.5,20"]
    assert "dropped lines [3, 5]" in caplog.text


def test_a_truncated_keras_file_is_called_damaged(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "m.keras"
    model.save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="m.keras: damaged or not a Keras model"):
        load_trained(path)


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "checkpoint.keras"
    path.write_bytes(b"the last good checkpoint")

    def disk_full(tmp):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="cannot write .*checkpoint.keras .No space left on dev"):
        atomic_write_bytes(path, disk_full)
    assert path.read_bytes() == b"the last good checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.keras"]


def test_resume_of_a_finished_run_says_so(caplog):
    from cnnzoo.training.trainer import _log_resume

    with caplog.at_level(logging.INFO):
        _log_resume(RunDirectory(Path("r")), 640, 10, 10)
        _log_resume(RunDirectory(Path("r")), 320, 5, 10)
    assert "epoch 11 of 10" not in caplog.text
    assert "training is complete" in caplog.text and "(epoch 6 of 10)" in caplog.text


@pytest.mark.slow
def test_two_fit_commands_on_one_directory(tmp_path):
    """The second `cnnzoo fit` fails at once, naming the first's pid; the first is unharmed."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "cnnzoo.cli", "fit", "--arch", "resnet20", "--dataset", "fake"]
    args += ["--batch-size", "64", "--steps", "40", "--max-eval-images", "64"]
    args += ["--model-dir", str(run), "--verbose", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / ".lock").is_file() or not (run / ".lock").read_text().strip():
            assert time.monotonic() < deadline and first.poll() is None, "first fit never locked"
            time.sleep(0.2)
        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"in use by another cnnzoo fit (pid {first.pid})" in second.stderr
        assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert json.loads((run / "results.json").read_text())["iterations"] == 40


def _write_png(path: Path, image) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def _small_model(tmp_path, shape, dataset, class_names):
    """A `.keras` file `cnnzoo fit` could have written, with the metadata evaluate reads."""
    from cnnzoo.model_io import save_trained

    model = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(class_names), activation="softmax"),
        ]
    )
    path = tmp_path / f"{dataset}.keras"
    meta = {"dataset": dataset, "class_names": class_names, "input_shape": list(shape)}
    save_trained(model, path, meta)
    return path, model


def test_folder_evaluation_uses_the_protocol_the_model_was_trained_for(tmp_path, capsys):
    """A CIFAR model on a folder: whole images resized to 32x32, not ImageNet centre crops."""
    import numpy as np
    import tensorflow as tf

    from cnnzoo.evaluation.evaluate import evaluate_protocol

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 48, 40, 3), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])  # cat/0.png, cat/1.png, dog/2.png, dog/3.png
    for i, image in enumerate(images):
        _write_png(tmp_path / "data" / ("cat", "dog")[labels[i]] / f"{i}.png", image)
    path, model = _small_model(tmp_path, (32, 32, 3), "cifar10", ["cat", "dog"])
    result = evaluate_protocol([path], data=str(tmp_path / "data"))
    assert result["views"] == "single"
    assert "resized to 32x32, the model's input" in capsys.readouterr().out
    whole = tf.image.resize(images.astype("float32"), (32, 32), antialias=True)
    predicted = np.argmax(model(whole).numpy(), axis=1)
    assert result["top1_correct"] == int((predicted == labels).sum())


def test_colour_images_for_a_grey_model_and_names_that_are_not_utf8(tmp_path):
    import numpy as np

    from cnnzoo.evaluation.evaluate import evaluate_protocol

    rng = np.random.default_rng(1)
    folder = tmp_path / "digits"
    for digit in ("3", "7"):
        _write_png(folder / digit / "a.png", rng.integers(0, 256, (28, 28, 3), dtype=np.uint8))
    # A Latin-1 file name, as old archives hold them.
    odd = os.fsencode(folder / "7") + b"/caf\xe9.png"
    with open(odd, "wb") as f:
        f.write((folder / "7" / "a.png").read_bytes())
    path, _ = _small_model(tmp_path, (28, 28, 1), "mnist", [str(d) for d in range(10)])
    result = evaluate_protocol([path], data=str(folder), skip_corrupt=True)
    assert result["images"] == 3


def test_an_animated_gif_is_classified_by_its_first_frame_and_says_so(tmp_path):
    import numpy as np
    from _tiny_models import save_tiny_model

    from cnnzoo.predict import Prediction, predict_files

    frames = np.random.default_rng(2).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    gif = tmp_path / "anim.gif"
    try:
        from PIL import Image
    except ImportError:
        pytest.skip("Pillow is needed to write the test GIF")
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(gif, save_all=True, append_images=pictures[1:])
    [result] = predict_files(save_tiny_model(tmp_path), [gif])
    assert isinstance(result, Prediction)
    assert any("animated GIF of 3 frames" in n for n in result.notices)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    from _tiny_models import save_tiny_model

    from cnnzoo.export import export_saved_model

    root = tmp_path_factory.mktemp("export")
    return export_saved_model(save_tiny_model(root), root / "saved_model")


@pytest.mark.parametrize(
    "shape", [(32, 32, 3), (2, 32, 32, 1), (2, 40, 40, 3)], ids=["one image", "grey", "size"]
)
def test_the_serving_signature_refuses_images_outside_its_contract(export_dir, shape):
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    assert serve(images=tf.zeros((2, 32, 32, 3), tf.uint8))["probabilities"].shape == (2, 6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be uint8 of shape"):
        serve(images=tf.constant(np.zeros(shape, np.uint8)))


@pytest.mark.slow
def test_a_killed_export_leaves_no_half_written_target(tmp_path):
    """kill -9 during `cnnzoo export`: no half-written target; the next export cleans up."""
    import signal

    from _tiny_models import save_tiny_model

    model = save_tiny_model(tmp_path)
    out = tmp_path / "exported"
    args = [sys.executable, "-m", "cnnzoo.cli", "export", "--model", str(model), "--out", str(out)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".exported.tmp-*")):
        assert time.monotonic() < deadline and proc.poll() is None, "export never started writing"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed export must not leave its target"
    subprocess.run(args, env=env, check=True, capture_output=True)
    assert (out / "saved_model.pb").is_file()
    assert not list(tmp_path.glob(".exported.*")), "stale temporaries of the killed export"

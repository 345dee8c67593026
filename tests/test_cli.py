"""The `cnnzoo` command end to end, through subprocesses, with tiny iteration counts."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def run_cli(*args, cwd=None, check=True, timeout=600):
    """Run `python -m cnnzoo.cli ARGS`; return the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "cnnzoo.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"cnnzoo {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    """One short `cnnzoo fit` on the synthetic dataset, shared by the tests below."""
    model_dir = tmp_path_factory.mktemp("run") / "resnet20"
    run_cli(
        "fit",
        "--arch",
        "resnet20",
        "--dataset",
        "fake",
        "--batch-size",
        "64",
        "--steps",
        "6",
        "--max-eval-images",
        "128",
        "--model-dir",
        model_dir,
        "--verbose",
        "2",
    )
    return model_dir


def test_list_and_summary():
    out = run_cli("list", "resnet*").stdout
    assert "resnet20" in out and "269,722" in out and "he2016_cifar" in out
    out = run_cli("summary", "--arch", "resnet20").stdout
    assert "269,722" in out and "conv2_block1_1_conv" in out
    assert "follows: seeds 001 §4.2; 003 §5.4; He et al. 2016 §4.2, Table 6" in out
    out = run_cli("summary", "--arch", "resnet20", "--shortcut", "B").stdout
    assert "272,474" in out


def test_unknown_arch_is_a_clear_error():
    proc = run_cli("summary", "--arch", "resnet21", check=False)
    assert proc.returncode == 2
    assert "unknown model 'resnet21'" in proc.stderr and "Traceback" not in proc.stderr


def test_fit_writes_the_run(fake_run):
    for name in (
        "run.json",
        "checkpoint.keras",
        "history.csv",
        "model.keras",
        "model.json",
        "results.json",
        "curves.png",
        "logs",
    ):
        assert (fake_run / name).exists(), name
    results = json.loads((fake_run / "results.json").read_text())
    assert results["iterations"] == 6 and 0.0 <= results["test_accuracy"] <= 1.0
    meta = json.loads((fake_run / "model.json").read_text())
    assert meta["arch"] == "resnet20" and meta["dataset"] == "fake"
    assert meta["recipe"]["name"] == "he2016_cifar"
    assert meta["recipe"]["schedule"]["total_steps"] == 6


def test_fit_refuses_a_different_run_in_the_same_dir(fake_run):
    proc = run_cli(
        "fit",
        "--arch",
        "resnet32",
        "--dataset",
        "fake",
        "--steps",
        "6",
        "--model-dir",
        fake_run,
        check=False,
    )
    assert proc.returncode == 2
    assert "holds a checkpoint of a different run" in proc.stderr and "arch" in proc.stderr
    # nothing of the earlier run was touched
    assert json.loads((fake_run / "run.json").read_text())["arch"] == "resnet20"


def test_evaluate_export_predict(fake_run, tmp_path):
    out = run_cli("evaluate", "--model", fake_run / "model.keras", "--max-images", "128").stdout
    assert "top-1 accuracy" in out and "(128 images)" in out

    export_dir = tmp_path / "saved" / "resnet20"
    run_cli("export", "--model", fake_run / "model.keras", "--out", export_dir)
    assert (export_dir / "saved_model.pb").is_file()

    import tensorflow as tf

    rng = np.random.default_rng(0)
    good = tmp_path / "a.png"
    good.write_bytes(tf.io.encode_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).numpy())
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    proc = run_cli("predict", "--model", export_dir, good, bad, check=False)
    assert proc.returncode == 1  # one file failed, the other was still predicted
    assert "class_" in proc.stdout and "notes.png" in proc.stdout + proc.stderr


def test_tune_writes_overrides_and_resumes(tmp_path):
    model_dir = tmp_path / "tune"
    args = (
        "tune",
        "--arch",
        "resnet20",
        "--dataset",
        "fake",
        "--batch-size",
        "64",
        "--max-trials",
        "2",
        "--epochs-per-trial",
        "1",
        "--steps-per-epoch",
        "2",
        "--val-split",
        "256",
        "--max-eval-images",
        "128",
        "--model-dir",
        model_dir,
        "--verbose",
        "0",
    )
    out = run_cli(*args).stdout
    assert "Best:" in out
    best = json.loads((model_dir / "best_overrides.json").read_text())
    assert 1e-3 <= best["lr"] <= 1.0
    trials = sorted(p.name for p in (model_dir / "tune").glob("trial_*"))
    assert len(trials) == 2
    # A rerun finds both trials done, runs none again and gives the same answer
    # (ties between trials, likely on this tiny task, go to the earliest trial).
    run_cli(*args)
    assert sorted(p.name for p in (model_dir / "tune").glob("trial_*")) == trials
    assert json.loads((model_dir / "best_overrides.json").read_text()) == best

    # `fit --overrides` takes the file.
    run_cli(
        "fit",
        "--arch",
        "resnet20",
        "--dataset",
        "fake",
        "--batch-size",
        "64",
        "--steps",
        "2",
        "--max-eval-images",
        "64",
        "--overrides",
        model_dir / "best_overrides.json",
        "--preprocessing",
        "scale_pm1",
        "--init",
        "glorot_uniform",
        "--momentum",
        "0",
        "--model-dir",
        tmp_path / "fit",
        "--verbose",
        "0",
    )
    run = json.loads((tmp_path / "fit" / "run.json").read_text())
    assert run["recipe"]["schedule"]["lr"] == pytest.approx(best["lr"])
    assert run["recipe"]["data"]["preprocessing"] == "scale_pm1"
    assert run["recipe"]["init"] == "glorot_uniform"
    assert run["recipe"]["optimizer"]["momentum"] == 0


def _history(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_kill_and_resume(tmp_path):
    """kill -9 mid-epoch, rerun the same command: it continues at the right iteration and rate."""
    overrides = tmp_path / "o.json"
    # warm-up for 4 iterations at 0.01, then 0.1, divided by 10 at iteration 12
    overrides.write_text(json.dumps({"warmup_steps": 4, "warmup_lr": 0.01, "lr_boundaries": [12]}))
    model_dir = tmp_path / "run"
    # 2048 fake images / 256 = 8 iterations per epoch, 3 epochs
    args = [
        "fit",
        "--arch",
        "resnet20",
        "--dataset",
        "fake",
        "--batch-size",
        "256",
        "--steps",
        "24",
        "--max-eval-images",
        "64",
        "--overrides",
        overrides,
        "--model-dir",
        model_dir,
        "--verbose",
        "2",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnzoo.cli", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = model_dir / "checkpoint.keras"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), "no checkpoint was written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (model_dir / "model.keras").exists(), "run finished before it could be killed"

    # Run messages go through absl.logging, plain lines on stderr.
    out = run_cli(*args).stderr
    assert "Resuming" in out and ("at iteration 8 " in out or "at iteration 16 " in out)
    rows = _history(model_dir / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(float(r["iterations"])) for r in rows] == [8, 16, 24]
    # learning rate for the next step, read at each epoch's end: 0.1 at 8, 0.01 at 16 and 24
    np.testing.assert_allclose([float(r["lr"]) for r in rows], [0.1, 0.01, 0.01], rtol=1e-6)
    assert json.loads((model_dir / "results.json").read_text())["iterations"] == 24
    # the windowed training log has each window once, even the one redone after the kill
    assert [int(r["iteration"]) for r in _history(model_dir / "steps.csv")] == [8, 16, 24]


@pytest.mark.realdata
def test_fit_on_real_cifar10(cifar10_dir, tmp_path):
    data_dir = cifar10_dir.parent
    model_dir = tmp_path / "real"
    run_cli(
        "fit",
        "--arch",
        "resnet20",
        "--data-dir",
        data_dir,
        "--steps",
        "3",
        "--max-eval-images",
        "256",
        "--model-dir",
        model_dir,
        "--verbose",
        "2",
    )
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["dataset"] == "cifar10" and meta["class_names"][0] == "airplane"
    out = run_cli(
        "evaluate",
        "--model",
        model_dir / "model.keras",
        "--data-dir",
        data_dir,
        "--max-images",
        "256",
    ).stdout
    assert "(256 images)" in out
    # Regression (issue 17): the checkpoint, not only model.keras, predicts with the
    # dataset's class names rather than class_3.
    import tensorflow as tf

    names = meta["class_names"]
    image = np.zeros((32, 32, 3), np.uint8)
    (tmp_path / "x.png").write_bytes(tf.io.encode_png(image).numpy())
    out = run_cli("predict", "--model", model_dir / "checkpoint.keras", tmp_path / "x.png").stdout
    assert "class_" not in out and any(name in out for name in names), out


def test_missing_data_dir_is_a_clear_error(tmp_path):
    proc = run_cli(
        "fit",
        "--arch",
        "resnet20",
        "--data-dir",
        tmp_path / "nowhere",
        "--steps",
        "1",
        "--model-dir",
        tmp_path / "m",
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nowhere" in proc.stderr


def test_python_dash_m_cnnzoo_runs_the_console_script():
    # `python -m cnnzoo` is how tools launch it when the venv's scripts are not on PATH.
    proc = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for command in ("fit", "evaluate", "export", "predict"):
        assert command in proc.stdout

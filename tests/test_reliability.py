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

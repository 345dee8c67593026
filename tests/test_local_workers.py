"""`cnnzoo fit --workers N`: the launcher of a local multi-worker cluster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_cli import run_cli

from cnnzoo.training import local_workers


def test_worker_arguments_lose_workers_and_gain_the_strategy():
    argv = ["fit", "--arch", "resnet20", "--workers", "2", "--steps", "5"]
    assert local_workers.worker_argv(argv) == [
        "fit", "--arch", "resnet20", "--steps", "5", "--strategy", "multiworker",
    ]  # fmt: skip
    assert local_workers.worker_argv(["fit", "--workers=3"]) == [
        "fit", "--strategy", "multiworker",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not 'mirrored'"):
        local_workers.worker_argv(["fit", "--workers", "2", "--strategy", "mirrored"])


def test_each_worker_knows_the_cluster_and_its_place(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    env = local_workers.worker_env(1, ["127.0.0.1:1", "127.0.0.1:2"], threads=1)
    config = json.loads(env["TF_CONFIG"])
    assert config == {
        "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
        "task": {"type": "worker", "index": 1},
    }
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "4")  # the user's setting wins
    assert local_workers.worker_env(0, ["a"], threads=1)["TF_NUM_INTRAOP_THREADS"] == "4"


def _proc(code: int, seconds: float = 0.0):
    program = f"import sys, time; time.sleep({seconds}); sys.exit({code})"
    return subprocess.Popen([sys.executable, "-c", program])


def test_a_failed_worker_stops_the_others_with_its_exit_code(monkeypatch, capsys):
    monkeypatch.setattr(local_workers, "POLL_SECONDS", 0.05)
    survivor = _proc(0, seconds=60)
    assert local_workers._wait([survivor, _proc(3)]) == 3
    assert survivor.poll() is not None  # stopped, not left training alone
    assert "worker 1 exited 3; see worker-1.log" in capsys.readouterr().err
    assert local_workers._wait([_proc(0), _proc(0, seconds=0.2)]) == 0


def test_a_launcher_inside_a_cluster_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CONFIG", "{}")
    with pytest.raises(ValueError, match="unset TF_CONFIG"):
        local_workers.launch(["fit"], 2, tmp_path)


def test_fit_on_two_local_workers_writes_one_run(tmp_path):
    model_dir = tmp_path / "run"
    args = ["--arch", "wu2016_cifar", "--dataset", "fake", "--batch-size", "16"]
    args += ["--steps", "4", "--max-eval-images", "32", "--model-dir", model_dir]
    run_cli("fit", *args, "--workers", "2", "--verbose", "2")
    results = json.loads((model_dir / "results.json").read_text())
    assert results["iterations"] == 4
    sessions = [json.loads(line) for line in (model_dir / "sessions.jsonl").open()]
    assert len(sessions) == 1  # the chief's: one writer
    assert "the chief writes the run's files" in (model_dir / "worker-1.log").read_text()

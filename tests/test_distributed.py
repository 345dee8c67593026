"""The strategy.run training loop against Keras fit, on one, two mirrored and two worker replicas.

Mirroring over logical CPUs and joining a cluster must precede TensorFlow's
device initialization, so those runs are separate processes
(`_distributed_worker.py`) that write their weights to an .npz.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import _distributed_worker as worker
import keras
import numpy as np
import pytest
import tensorflow as tf
from _cluster import start_workers, wait_all

from cnnzoo.training import callbacks as cb
from cnnzoo.training.distributed import CustomLoop, make_strategy, train_with_strategy
from cnnzoo.training.optimizer import SGDL2

WORKER = Path(__file__).with_name("_distributed_worker.py")
TOL = 1e-5


def _run_worker(strategy: str, out: Path, env: dict | None = None, timeout: float = 120):
    result = subprocess.run(
        [sys.executable, str(WORKER), strategy, str(out)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{strategy} worker failed:\n{result.stderr[-3000:]}"
    return np.load(out)


def _weights(npz) -> list[np.ndarray]:
    return [npz[f"arr_{i}"] for i in range(len([k for k in npz.files if k.startswith("arr_")]))]


def _assert_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=0, atol=TOL)


def _read_csv(path: Path) -> list[list[float]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]


@pytest.fixture(scope="module")
def default_run():
    """Weights and logs of the loop on the default strategy (one replica)."""
    keras.backend.clear_session()
    return worker.train(tf.distribute.get_strategy())


def test_make_strategy_rejects_what_it_cannot_build(monkeypatch):
    with pytest.raises(ValueError, match="unknown strategy 'tpu'.*default, mirrored"):
        make_strategy("tpu")
    with pytest.raises(ValueError, match="cpu_replicas applies to the 'mirrored'"):
        make_strategy("default", cpu_replicas=2)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {}}')
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        make_strategy("multiworker")
    assert make_strategy("default") is tf.distribute.get_strategy()


def test_loop_rejects_an_uncompiled_model_and_an_empty_batch():
    strategy = tf.distribute.get_strategy()
    net = worker.model()
    with pytest.raises(ValueError, match="compiled with an optimizer"):
        CustomLoop(net, worker.loss(), strategy, worker.GLOBAL_BATCH)
    net.compile(optimizer=worker.optimizer(), loss=worker.loss())
    with pytest.raises(ValueError, match="global_batch_size must be >= 1"):
        CustomLoop(net, worker.loss(), strategy, 0)


def test_default_strategy_loop_equals_keras_fit(tmp_path):
    """Same batches, same SGDL2 (coupled L2, bias multiplier), same regularizer: same
    weights, epoch logs and per-window training logs as `model.fit`."""
    keras.backend.clear_session()
    every = 2
    ref = worker.model()
    ref.compile(optimizer=worker.optimizer(), loss=worker.loss(), metrics=["accuracy"])
    fit_history = ref.fit(
        worker.dataset(),
        epochs=1,
        steps_per_epoch=worker.STEPS,
        shuffle=False,
        verbose=0,
        callbacks=[cb.WindowedTrainingLog(tmp_path / "fit_steps.csv", every=every)],
    )

    keras.backend.clear_session()
    loop_callbacks = [
        cb.IterationLogs(),
        keras.callbacks.CSVLogger(str(tmp_path / "history.csv")),
        cb.WindowedTrainingLog(tmp_path / "loop_steps.csv", every=every),
        keras.callbacks.TensorBoard(str(tmp_path / "logs"), write_graph=False),
        cb.AtomicCheckpoint(tmp_path / "checkpoint.keras"),
    ]
    net = train_with_strategy(
        worker.model,
        worker.optimizer,
        worker.loss(),
        worker.dataset,
        tf.distribute.get_strategy(),
        worker.STEPS,
        callbacks=loop_callbacks,
        global_batch_size=worker.GLOBAL_BATCH,
    )

    _assert_close(net.get_weights(), ref.get_weights())
    assert int(net.optimizer.iterations.numpy()) == worker.STEPS
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(
            net.history.history[key], fit_history.history[key], rtol=0, atol=TOL
        )
    np.testing.assert_allclose(
        _read_csv(tmp_path / "loop_steps.csv"),
        _read_csv(tmp_path / "fit_steps.csv"),
        rtol=0,
        atol=TOL,
    )
    with open(tmp_path / "history.csv", newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["iterations"]) == worker.STEPS
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    saved = keras.saving.load_model(tmp_path / "checkpoint.keras")
    assert isinstance(saved.optimizer, SGDL2) and saved.optimizer.l2 == pytest.approx(1e-2)
    _assert_close(saved.get_weights(), net.get_weights())


def test_loop_reports_a_dataset_that_runs_out():
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="ran out after 2 steps; 4 were asked for"):
        train_with_strategy(
            worker.model,
            worker.optimizer,
            worker.loss(),
            lambda: worker.dataset(steps=2),
            tf.distribute.get_strategy(),
            4,
            global_batch_size=worker.GLOBAL_BATCH,
        )


def test_mirrored_on_two_cpus_equals_one_replica(tmp_path, default_run):
    """Each of 2 replicas sees half of every global batch; the weights (with coupled L2,
    an lr multiplier and a kernel regularizer) and the logs match one replica's."""
    run = _run_worker("mirrored", tmp_path / "mirrored.npz")
    weights, logs = default_run
    assert int(run["replicas"]) == 2 and bool(run["chief"])
    _assert_close(_weights(run), weights)
    assert float(run["loss"]) == pytest.approx(logs["loss"], abs=TOL)
    assert float(run["accuracy"]) == pytest.approx(logs["accuracy"], abs=TOL)


@pytest.mark.slow
def test_multiworker_two_processes_equal_one_replica(tmp_path, default_run):
    """Two worker processes on 127.0.0.1, one CPU replica each: both end with the
    weights of single-process training on the same global batches."""
    procs = start_workers(str(WORKER), lambda i: ["multiworker", str(tmp_path / f"w{i}.npz")])
    errors = wait_all(procs, timeout=180)
    assert not errors, "\n".join(errors)
    runs = [np.load(tmp_path / f"w{index}.npz") for index in range(2)]
    weights, logs = default_run
    assert [int(r["replicas"]) for r in runs] == [2, 2]
    assert [bool(r["chief"]) for r in runs] == [True, False]
    for run in runs:
        _assert_close(_weights(run), weights)
        assert float(run["loss"]) == pytest.approx(logs["loss"], abs=TOL)

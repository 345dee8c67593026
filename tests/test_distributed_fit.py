"""`cnnzoo fit` on the mirrored and multi-worker strategies against the default one.

The default strategy trains with Keras's `Model.fit`, the others with
`distributed.CustomLoop`; the same run (recipe, data, seed) must end with the same
weights either way. Each distributed run is a separate process (`_fit_worker.py`):
mirroring over logical CPUs and joining a cluster precede TensorFlow's device
initialization.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _cluster import start_workers, wait_all
from _recipes import fake_recipe

from cnnzoo.training.recipes import Recipe
from cnnzoo.training.trainer import RunSpec, train

pytestmark = pytest.mark.slow

WORKER = str(Path(__file__).with_name("_fit_worker.py"))
TOL = 1e-5


def _recipe(**changes) -> Recipe:
    base = fake_recipe(preprocessing="per_pixel_mean", batch_size=16, total_steps=6)
    base = base.override(validate_every=3, lr=0.002, weight_decay=1e-3)
    return base.override(lr_multipliers=[["bias$", 2.0]], **changes)


def _spec(arch: str, recipe: Recipe, model_dir: Path, **fields) -> RunSpec:
    return RunSpec(arch, recipe, model_dir, max_eval_images=32, **fields)


def _spec_file(spec: RunSpec, path: Path) -> str:
    fields = dataclasses.asdict(spec)
    fields["recipe"] = spec.recipe.as_dict()
    fields["model_dir"] = str(spec.model_dir)
    path.write_text(json.dumps(fields), encoding="utf-8")
    return str(path)


def _run_worker(spec: RunSpec, out: Path) -> np.lib.npyio.NpzFile:
    spec_file = _spec_file(spec, out.with_suffix(".json"))
    result = subprocess.run(
        [sys.executable, WORKER, spec_file, str(out)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"{spec.strategy} run failed:\n{result.stderr[-3000:]}"
    return np.load(out)


def _weights(npz) -> list[np.ndarray]:
    return [npz[f"arr_{i}"] for i in range(len([k for k in npz.files if k.startswith("arr_")]))]


def _max_difference(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    assert [a.shape for a in actual] == [e.shape for e in expected]
    return max(float(np.abs(a - e).max()) for a, e in zip(actual, expected, strict=True))


def _history(model_dir: Path) -> list[dict[str, float]]:
    with open(model_dir / "history.csv", newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _default_run(arch: str, recipe: Recipe, model_dir: Path):
    model, results = train(_spec(arch, recipe, model_dir), verbose=0)
    return [np.asarray(w) for w in model.get_weights()], results


def test_mirrored_fit_equals_default_fit(tmp_path):
    """No BatchNorm: two replicas on logical CPUs end where `Model.fit` on one does,
    and log the same epochs (training and validation figures alike)."""
    recipe = _recipe()
    weights, results = _default_run("wu2016_cifar", recipe, tmp_path / "default")
    mirrored = _spec("wu2016_cifar", recipe, tmp_path / "mirrored", strategy="mirrored")
    run = _run_worker(dataclasses.replace(mirrored, cpu_replicas=2), tmp_path / "m.npz")

    assert int(run["iterations"]) == 6
    assert _max_difference(_weights(run), weights) <= TOL
    assert float(run["test_accuracy"]) == pytest.approx(results["test_accuracy"])
    assert float(run["test_loss"]) == pytest.approx(results["test_loss"], abs=TOL)
    expected, got = _history(tmp_path / "default"), _history(tmp_path / "mirrored")
    assert [r.keys() for r in got] == [r.keys() for r in expected]
    for key in ("iterations", "loss", "accuracy", "top5_accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([r[key] for r in got], [r[key] for r in expected], atol=TOL)
    assert (tmp_path / "mirrored" / "model.keras").is_file()


def test_sync_bn_makes_mirrored_batchnorm_equal_default(tmp_path):
    """With BatchNorm, each replica normalizes its half-batch with its own statistics
    unless --sync-bn all-reduces them; with it the weights (and moving statistics)
    are those of one device."""
    # The default strategy runs `FusedBatchNormalization`'s fused kernel, --sync-bn
    # Keras's own code: equal to rounding, which training amplifies (measured after 3
    # steps: 3.8e-6 at this rate, 1.8e-5 at 0.005; without --sync-bn 0.07).
    recipe = _recipe(lr=0.002, total_steps=3, validate_every=3)
    weights, _ = _default_run("resnet20", recipe, tmp_path / "default")
    mirrored = _spec("resnet20", recipe, tmp_path / "m", strategy="mirrored", cpu_replicas=2)
    plain = _run_worker(mirrored, tmp_path / "plain.npz")
    synced = _run_worker(
        dataclasses.replace(mirrored, model_dir=tmp_path / "s", sync_bn=True),
        tmp_path / "synced.npz",
    )
    assert _max_difference(_weights(synced), weights) <= TOL
    # Without it they differ far beyond rounding: the test can tell the two apart.
    assert _max_difference(_weights(plain), weights) > 100 * TOL


def test_multiworker_fit_equals_default_fit_and_only_the_chief_writes(tmp_path):
    recipe = _recipe()
    weights, _ = _default_run("wu2016_cifar", recipe, tmp_path / "default")
    spec = _spec("wu2016_cifar", recipe, tmp_path / "cluster", strategy="multiworker")
    spec_file = _spec_file(spec, tmp_path / "spec.json")
    procs = start_workers(WORKER, lambda i: [spec_file, str(tmp_path / f"w{i}.npz")])
    errors = wait_all(procs, timeout=240)
    assert not errors, "\n".join(errors)

    runs = [np.load(tmp_path / f"w{i}.npz") for i in range(2)]
    for run in runs:
        assert int(run["iterations"]) == 6
        assert _max_difference(_weights(run), weights) <= TOL
    # One writer: one history row per validation, not two.
    assert [int(r["iterations"]) for r in _history(tmp_path / "cluster")] == [3, 6]
    assert json.loads((tmp_path / "cluster" / "results.json").read_text())["iterations"] == 6


def _last_iteration(model_dir: Path) -> int:
    rows = _history(model_dir) if (model_dir / "history.csv").is_file() else []
    return int(rows[-1]["iterations"]) if rows else 0


def test_killed_worker_fails_the_run_quickly_and_a_rerun_resumes(tmp_path):
    """Kill worker 1 late in a run: the chief stops within a bounded time with an error
    that says what happened; rerunning both resumes from the chief's last checkpoint
    and ends where a single-process run resumed from that checkpoint does.

    Not compared with an uninterrupted run: training amplifies the all-reduce's
    rounding differences (~1e-8 after 20 steps) tenfold every 20 steps or so
    (measured: 4e-6 after 40, 6e-4 after 80, 6e-3 after 120), so the kill waits
    for iteration `kill_after` and at most 20 steps are compared."""
    total, kill_after = 120, 100
    # Batches of 64: slow enough steps that the run cannot end between the poll
    # and the kill; 32 of them per pass over the data, so the run crosses passes.
    recipe = _recipe(total_steps=total, validate_every=10, lr=0.001, batch_size=64)
    model_dir = tmp_path / "cluster"
    spec_file = _spec_file(
        _spec("wu2016_cifar", recipe, model_dir, strategy="multiworker"), tmp_path / "spec.json"
    )
    procs = start_workers(WORKER, lambda i: [spec_file, str(tmp_path / f"first{i}.npz")])
    try:
        deadline = time.monotonic() + 180
        while _last_iteration(model_dir) < kill_after:
            assert time.monotonic() < deadline, f"iteration {kill_after} not reached in 180 s"
            assert all(p.poll() is None for p in procs), "a worker exited before the kill"
            time.sleep(0.05)
        procs[1].kill()
        killed_at = time.monotonic()
        print(f"killed after iteration {_last_iteration(model_dir)}")
        _, stderr = procs[0].communicate(timeout=90)
        waited = time.monotonic() - killed_at
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert procs[0].returncode != 0, "the chief finished although its peer was killed"
    assert "WorkerLostError" in stderr and "stopped answering" in stderr, stderr[-2000:]
    assert "Restart the same command on every worker" in stderr
    assert waited < 90
    checkpointed = _last_iteration(model_dir)
    assert kill_after <= checkpointed < total

    # The reference: one process resuming from a copy of the same checkpoint.
    reference_dir = tmp_path / "reference"
    shutil.copytree(model_dir, reference_dir)
    procs = start_workers(
        WORKER, lambda i: [spec_file, str(tmp_path / f"again{i}.npz")], stdout=subprocess.PIPE
    )
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    for _, err in outputs:  # absl.logging, on stderr
        assert f"Resuming {model_dir} at iteration {checkpointed} " in err
    weights, _ = _default_run("wu2016_cifar", recipe, reference_dir)
    for i in range(2):
        run = np.load(tmp_path / f"again{i}.npz")
        assert int(run["iterations"]) == total
        assert _max_difference(_weights(run), weights) <= TOL
    # The chief's history continues where the checkpoint left it, without repeats.
    assert [int(r["iterations"]) for r in _history(model_dir)] == list(range(10, total + 1, 10))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_size": 15}, "batch size 15 does not split evenly over the 2 replicas"),
        ({"clip_norm": 2.0}, "clips the gradient norm (clip_norm 2.0), which is not supported"),
    ],
    ids=["uneven_batch", "clip_norm"],
)
def test_mirrored_refuses_what_it_cannot_split(tmp_path, changes, message):
    spec = _spec(
        "wu2016_cifar",
        _recipe(**changes),
        tmp_path / "run",
        strategy="mirrored",
        cpu_replicas=2,
    )
    result = subprocess.run(
        [sys.executable, WORKER, _spec_file(spec, tmp_path / "spec.json"), str(tmp_path / "o")],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoint.keras").exists()

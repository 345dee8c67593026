"""Train the zoo's shipped CIFAR-10 and MNIST models, one run after another, resumably.

Each row of `ZOO` is an architecture, the recipe (and flags) it is trained with
and the seeds to run. Every run is a plain `cnnzoo fit` into its own directory
under ``--runs-dir`` (default ``tools/zoo/runs``): a run with a ``results.json``
is finished, any other is started or resumed from its checkpoint, so the same
command continues the queue after a crash, a kill or on the next machine (the
directories, without their TensorBoard logs, are small enough to commit).

The protocol (README "Trained weights"): train on the training set less a
held-out validation split, select the model on that split (``--select best``),
test it once at the end. Nothing is chosen on the test set.

    python tools/train_zoo.py status
    nohup python tools/train_zoo.py run --data-dir ../shared/data > zoo.log 2>&1 &
    python tools/train_zoo.py run --only resnet20 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS_DIR = REPO / "tools" / "zoo" / "runs"


@dataclasses.dataclass(frozen=True)
class ZooRow:
    """One shipped model: what trains it, how many seeds, on which split.

    Attributes:
        arch: registered model name.
        recipe: recipe name (the card says whether it is the paper's).
        seeds: seeds to train; the shipped run is the median of them on validation.
        flags: further `cnnzoo fit` flags (length, validation split).
    """

    arch: str
    recipe: str
    seeds: tuple[int, ...] = (0,)
    flags: tuple[str, ...] = ()

    def run_name(self, seed: int) -> str:
        return f"{self.arch}-{self.recipe}-s{seed}"

    def command(self, seed: int, model_dir: Path, data_dir: str | None) -> list[str]:
        cmd = ["cnnzoo", "fit", "--arch", self.arch, "--recipe", self.recipe]
        cmd += ["--seed", str(seed), "--select", "best", *self.flags]
        cmd += ["--model-dir", str(model_dir), "--verbose", "2"]
        return cmd + (["--data-dir", data_dir] if data_dir else [])


# He et al. 2016 §4.2 hold out 5,000 of CIFAR-10's 50,000 training images; the
# MNIST and thesis recipes carry their own 1,000-image splits (thesis §3.1, §3.2).
CIFAR_SPLIT = ("--val-split", "5000")
# The CIFAR ResNets and their plain twins share one recipe, as the degradation
# study compares them side by side: fast_cifar's one cycle, lengthened to 50
# epochs of the 45,000 images for margin over He et al.'s figures.
FAST = (*CIFAR_SPLIT, "--epochs", "50")

ZOO: tuple[ZooRow, ...] = (
    ZooRow("lenet5", "lecun1998_distorted", seeds=(0, 1, 2)),
    ZooRow("wu2016_mnist", "wu2016_mnist_caffe", seeds=(0, 1, 2)),
    ZooRow("wu2016_cifar", "wu2016_cifar"),
    ZooRow("resnet20", "fast_cifar", seeds=(0, 1, 2), flags=FAST),
    ZooRow("plain20", "fast_cifar", flags=FAST),
    ZooRow("resnet56", "fast_cifar", flags=FAST),
    ZooRow("plain56", "fast_cifar", flags=FAST),
    ZooRow("wu_resnet32", "wu_resnet_cifar", flags=CIFAR_SPLIT),
    ZooRow("resnet32", "fast_cifar", flags=FAST),
    ZooRow("resnet44", "fast_cifar", flags=FAST),
    ZooRow("resnet110", "fast_cifar", flags=FAST),
)


def progress(run_dir: Path) -> dict:
    """Where a run stands: iterations, wall time and validation accuracy so far."""
    state = {"iterations": 0, "wall_seconds": 0.0, "val_accuracy": None, "done": False}
    results = run_dir / "results.json"
    if results.is_file():
        state.update(done=True, results=json.loads(results.read_text(encoding="utf-8")))
    history = run_dir / "history.csv"
    if history.is_file():
        with open(history, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows:
            last = rows[-1]
            state["iterations"] = int(float(last["iterations"]))
            state["wall_seconds"] = float(last.get("wall_seconds") or 0.0)
            state["val_accuracy"] = float(last["val_accuracy"])
    run = run_dir / "run.json"
    if run.is_file():
        state["total"] = json.loads(run.read_text(encoding="utf-8"))["recipe"]["total_steps"]
    return state


def selected(rows: tuple[ZooRow, ...], only: list[str] | None) -> list[tuple[ZooRow, int]]:
    """The (row, seed) pairs of the queue, in order, restricted to the `only` archs."""
    unknown = sorted(set(only or ()) - {r.arch for r in rows})
    if unknown:
        raise SystemExit(f"unknown zoo rows {unknown}; rows: {[r.arch for r in rows]}")
    return [(r, s) for r in rows if not only or r.arch in only for s in r.seeds]


def cmd_status(args) -> int:
    for row, seed in selected(ZOO, args.only):
        run_dir = args.runs_dir / row.run_name(seed)
        state = progress(run_dir)
        if state["done"]:
            res = state["results"]
            line = f"done: test {res['test_accuracy']:.4f}, selected {res.get('selected')}"
        elif state["iterations"]:
            line = (
                f"{state['iterations']}/{state.get('total', '?')} iterations, "
                f"{state['wall_seconds'] / 3600:.2f} h, val {state['val_accuracy']:.4f}"
            )
        else:
            line = "not started"
        print(f"{row.run_name(seed):45s} {line}")
    return 0


def cmd_run(args) -> int:
    for row, seed in selected(ZOO, args.only):
        run_dir = args.runs_dir / row.run_name(seed)
        if progress(run_dir)["done"]:
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = row.command(seed, run_dir, args.data_dir)
        print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
        with open(run_dir / "train.log", "a", encoding="utf-8") as log:
            code = subprocess.call(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        if code:
            print(f"{row.run_name(seed)} failed with exit code {code}; see {run_dir / 'train.log'}")
            return code
        print(f"[{time.strftime('%H:%M:%S')}] {row.run_name(seed)}: {progress(run_dir)['results']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "run"])
    parser.add_argument("--only", nargs="+", help="architectures of the queue to take")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR)
    parser.add_argument("--data-dir", default=os.environ.get("CNNZOO_DATA_DIR"))
    args = parser.parse_args(argv)
    return {"status": cmd_status, "run": cmd_run}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

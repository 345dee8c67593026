"""`cnnzoo fit` on one process against `--workers N`: training images per second, side by side.

    python tools/bench_workers.py --data-dir ../shared/data [--workers 1,2] [--runs 3]
                                  [--interval 40] [--arch resnet20] [--recipe he2016_cifar]
                                  [--pause-pids PID ...] [--json FILE]

Each run of each configuration is a whole ``cnnzoo fit`` command (start-up,
tracing, the cluster's connection, everything a user pays), validating every
``--interval`` iterations on ``--max-eval-images`` images for three intervals.
Its rate is the third interval's: ``interval x batch`` images over the wall time
between the second and third validation in the run's ``history.csv``, when start-up
and tracing are over; the validation of 256 images in it costs ~0.2 s. The
configurations alternate within each run, so their ratio compares windows taken
minutes apart under the same load; the figures are medians over the runs.
``--pause-pids`` stops other processes (the zoo's training) with SIGSTOP for the
benchmark and continues them after, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_TOOLS = Path(__file__).resolve().parent
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

from bench.env import tensorflow_env  # noqa: E402
from bench.harness import Pauser  # noqa: E402


def fit_command(options, workers: int, model_dir: Path, overrides: Path) -> list[str]:
    """The `cnnzoo fit` of one run; `overrides` is the JSON file validating every interval."""
    cmd = ["cnnzoo", "fit", "--arch", options.arch, "--recipe", options.recipe]
    cmd += ["--steps", str(3 * options.interval), "--overrides", str(overrides)]
    cmd += ["--max-eval-images", str(options.max_eval_images), "--model-dir", str(model_dir)]
    cmd += ["--verbose", "0", "--workers", str(workers)]
    return cmd + (["--data-dir", options.data_dir] if options.data_dir else [])


def steady_rate(history: Path, batch: int) -> float:
    """Images/s between the run's second and third validation."""
    with open(history, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 3:
        raise RuntimeError(f"{history}: {len(rows)} validation rows, expected 3")
    steps = float(rows[2]["iterations"]) - float(rows[1]["iterations"])
    seconds = float(rows[2]["wall_seconds"]) - float(rows[1]["wall_seconds"])
    return steps * batch / seconds


def _batch(options) -> int:
    from cnnzoo.training.recipes import get_recipe

    return get_recipe(options.recipe).data.batch_size


def run_once(options, workers: int, scratch: Path) -> float:
    model_dir = scratch / f"w{workers}"
    overrides = scratch / "overrides.json"
    overrides.write_text(json.dumps({"validate_every": options.interval}), encoding="utf-8")
    cmd = fit_command(options, workers, model_dir, overrides)
    done = subprocess.run(cmd, env=tensorflow_env(), capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    rate = steady_rate(model_dir / "history.csv", _batch(options))
    shutil.rmtree(model_dir)
    return rate


def measure(options) -> dict[int, list[float]]:
    rates: dict[int, list[float]] = {n: [] for n in options.workers}
    pausers = [Pauser(pid) for pid in options.pause_pids]
    for pauser in pausers:
        pauser.stop()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for r in range(options.runs):
                for n in options.workers:
                    rates[n].append(run_once(options, n, Path(scratch)))
                    print(f"  run {r + 1}/{options.runs}  workers {n}: {rates[n][-1]:.1f} img/s")
    finally:
        for pauser in pausers:
            pauser.resume()
    return rates


def report(options, rates: dict[int, list[float]]) -> dict:
    from cnnzoo.hardware import describe

    base = statistics.median(rates[options.workers[0]])
    rows = []
    for n in options.workers:
        median = statistics.median(rates[n])
        rows.append({"workers": n, "img_s": median, "runs": rates[n], "ratio": median / base})
    out = {"machine": describe(), "arch": options.arch, "recipe": options.recipe}
    out["rows"] = rows
    print(f"{options.arch}, {options.recipe}, median of {options.runs} runs; {out['machine']}")
    for row in rows:
        runs = ", ".join(f"{r:.1f}" for r in row["runs"])
        print(f"  workers {row['workers']}: {row['img_s']:.1f} img/s ({runs})  {row['ratio']:.2f}x")
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("CNNZOO_DATA_DIR"))
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--recipe", default="he2016_cifar")
    p.add_argument(
        "--workers",
        type=lambda t: [int(n) for n in t.split(",")],
        default=[1, 2],
        help="comma-separated worker counts; ratios are against the first",
    )
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--interval", type=int, default=40, help="iterations between validations")
    p.add_argument("--max-eval-images", type=int, default=256)
    p.add_argument("--pause-pids", type=int, nargs="*", default=[])
    p.add_argument("--json", help="also write the figures here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    options = parse_args(argv)
    out = report(options, measure(options))
    if options.json:
        Path(options.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

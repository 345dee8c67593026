"""The parent's side: one worker process per contender, interleaved windows, medians.

Each contender runs in its own Python process (no shared thread pools or global
state), set up at the same time as the others. Then the runs are interleaved:
in run r, each worker in turn times one window while the others wait idle, so
every ratio compares windows taken minutes apart at most, under the machine's
load of the moment. The figures are the medians over the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.contenders import parse_contender
from bench.env import tensorflow_env
from bench.protocol import PROTOCOL_PREFIX

_TOOLS = Path(__file__).resolve().parents[1]
_REPO = _TOOLS.parent


class Pauser:
    """SIGSTOP / SIGCONT another process around the timed windows; always resumes it."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.stopped = False

    def _alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def stop(self) -> None:
        """Stop the process, if there is one and it still runs."""
        if self._alive():
            os.kill(self.pid, signal.SIGSTOP)
            self.stopped = True

    def resume(self) -> None:
        """Let the process go on, if this pauser stopped it."""
        if self.stopped and self._alive():
            os.kill(self.pid, signal.SIGCONT)
        self.stopped = False


def worker_env(spec: dict, args: argparse.Namespace) -> dict[str, str]:
    """The environment of a row's worker: its framework's defaults, then its modifiers'."""
    if spec["framework"] == "torch":
        env = dict(os.environ)
        if args.torch_omp_wait != "inherit":
            env["OMP_WAIT_POLICY"] = args.torch_omp_wait.upper()
    else:
        env = tensorflow_env(None if args.onednn == "default" else args.onednn)
    env.update(spec["env"])
    # `python -m bench.worker` finds the bench package beside this one.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_TOOLS)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return env


class Worker:
    """One contender's process, driven by lines on stdin; answers on its real stdout."""

    def __init__(self, spec: dict, args: argparse.Namespace, log_dir: Path):
        self.spec = spec
        label = spec["label"].replace(":", "_")
        self.log_path = log_dir / f"{label}.log"
        # Workers end with os._exit (see bench.worker): their files go here, and
        # the parent deletes them.
        scratch = log_dir / "scratch" / label
        scratch.mkdir(parents=True)
        config = {**vars(args), **{k: v for k, v in spec.items() if k != "env"}}
        config["scratch"] = str(scratch)
        self.log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
            env=worker_env(spec, args),
            cwd=str(_REPO),
        )

    def read(self) -> dict:
        """The worker's next protocol message; raises with its log's tail if it died."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(
                    f"worker {self.spec['label']} exited ({self.proc.returncode}); "
                    f"its log ({self.log_path}) ends with:\n{tail}"
                )
            if line.startswith(PROTOCOL_PREFIX):
                return json.loads(line[len(PROTOCOL_PREFIX) :])

    def send(self, command: str) -> None:
        """One command line: ``go`` or ``quit``."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        """Ask the worker to quit; kill it if it has not within 30 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.send("quit")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def row_specs(args: argparse.Namespace) -> list[dict]:
    """The specs of ``--contenders``, less the torch rows when PyTorch is not installed."""
    specs = [parse_contender(c) for c in args.contenders.split(",") if c.strip()]
    if importlib.util.find_spec("torch") is None:
        torch_rows = [s["label"] for s in specs if s["framework"] == "torch"]
        if torch_rows:
            print(
                f"notice: PyTorch is not installed; rows {', '.join(torch_rows)} skipped. "
                "Install the CPU build with: pip install torch==2.13.0"
            )
        specs = [s for s in specs if s["framework"] != "torch"]
    if getattr(args, "emulated_bf16", False):
        return specs
    return without_emulated_bf16(specs)


def without_emulated_bf16(specs: list[dict], cpu: dict | None = None) -> list[dict]:
    """The specs less the bfloat16 rows, on a CPU (default: this one) that would emulate it."""
    from cnnzoo.hardware import cpu_info, describe

    cpu = cpu or cpu_info()
    bf16 = [s["label"] for s in specs if s.get("precision") == "bfloat16"]
    if not bf16 or cpu["native_bf16"]:
        return specs
    print(
        f"notice: rows {', '.join(bf16)} skipped: this CPU ({describe(cpu)}) has no native "
        "bfloat16 (AVX-512 BF16 or AMX), so TensorFlow and PyTorch would emulate it; "
        "they are timed on CPUs that have it"
    )
    return [s for s in specs if s.get("precision") != "bfloat16"]


def _set_up(specs: list[dict], args, log_dir: Path, workers: list[Worker]) -> dict:
    """Start the workers (into `workers`) and wait until each is ready; the empty results."""
    # Set-up (imports, model building, tracing) is mostly single-threaded Python:
    # the workers do it at the same time, and wait for their first window.
    print(f"setting up {', '.join(s['label'] for s in specs)} ...", flush=True)
    workers.extend(Worker(spec, args, log_dir) for spec in specs)
    results = {}
    for worker in workers:
        ready = worker.read()
        results[worker.spec["label"]] = {
            **worker.spec,
            "info": ready.get("info", {}),
            "images_per_second": [],
            "images_per_cpu_second": [],
        }
    return results


def _time_run(run: int, workers: list[Worker], results: dict, args) -> None:
    """One window of each worker in turn, recorded in `results` and printed."""
    for worker in workers:
        worker.send("go")
        window = worker.read()
        rate = window["images"] / window["seconds"]
        cpu_rate = window["images"] / max(window["cpu_seconds"], 1e-9)
        row = results[worker.spec["label"]]
        row["images_per_second"].append(rate)
        row["images_per_cpu_second"].append(cpu_rate)
        print(
            f"  run {run + 1}/{args.runs}  {worker.spec['label']:<22} "
            f"{rate:8.1f} img/s  {cpu_rate:8.1f} img/CPU-s",
            flush=True,
        )


def run_benchmark(args: argparse.Namespace) -> dict:
    """Set every row up, time ``--runs`` interleaved windows of each, return the results.

    Returns:
        label -> the row's spec, its worker's info, the rates of each window
        (``images_per_second``, ``images_per_cpu_second``) and their medians.
    """
    specs = row_specs(args)
    pauser = Pauser(args.pause_pid)
    log_dir = Path(tempfile.mkdtemp(prefix="bench_train_logs_"))
    workers: list[Worker] = []
    started = time.perf_counter()
    try:
        results = _set_up(specs, args, log_dir, workers)
        print(f"set up in {time.perf_counter() - started:.0f} s", flush=True)
        for run in range(args.runs):
            pauser.stop()
            try:
                _time_run(run, workers, results, args)
            finally:
                pauser.resume()
    finally:
        pauser.resume()
        for worker in workers:
            worker.close()
        shutil.rmtree(log_dir / "scratch", ignore_errors=True)
    for row in results.values():
        row["median"] = statistics.median(row["images_per_second"])
        row["median_per_cpu_second"] = statistics.median(row["images_per_cpu_second"])
    print(f"(logs of the workers in {log_dir}; {time.perf_counter() - started:.0f} s in all)")
    return results

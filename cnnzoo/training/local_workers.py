"""`cnnzoo fit --workers N`: one run trained by N processes of this machine.

The command starts itself N times as a `MultiWorkerMirroredStrategy` cluster on
127.0.0.1 (``TF_CONFIG``), each worker with ``cores // N`` intra-op threads, each
taking 1/N of every global batch; the replicas' gradients are all-reduced every
step, so the update is the global batch's. BatchNorm normalizes each worker's
share with its own statistics (He et al. 2016 trained CIFAR-10 so, 128 images on
two GPUs), or the global batch's with ``--sync-bn``. Worker 0 is the chief: it
writes the run directory and its output is the command's; the others log to
``MODEL_DIR/worker-I.log``. Rerunning the command resumes from the run's
checkpoint as a one-process run does.

Why try it: a TensorFlow process of one thread trained ResNet-20 on ~19% more
images per CPU-second than one of two threads (2-core AMD EPYC Zen 3, AVX2). On
that machine two workers were nevertheless no faster than one process (1.02x,
`tools/bench_workers.py`); it saves writing ``TF_CONFIG`` by hand, and machines
with more cores are unmeasured.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# How often the launcher looks whether a worker has ended.
POLL_SECONDS = 0.5


def free_ports(n: int) -> list[int]:
    """`n` TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_argv(argv: list[str]) -> list[str]:
    """`cnnzoo fit`'s arguments for a worker: without ``--workers``, with the strategy.

    Raises:
        ValueError: the arguments name another strategy than multiworker.
    """
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    for i, arg in enumerate(out):
        strategy = arg.split("=", 1)[1] if arg.startswith("--strategy=") else None
        if arg == "--strategy" and i + 1 < len(out):
            strategy = out[i + 1]
        if strategy not in (None, "multiworker"):
            raise ValueError(f"--workers trains with --strategy multiworker, not {strategy!r}")
    return [*out, "--strategy", "multiworker"]


def worker_env(index: int, cluster: list[str], threads: int) -> dict[str, str]:
    """Worker `index`'s environment: the cluster, and its threads unless already set."""
    config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
    env = {**os.environ, "TF_CONFIG": json.dumps(config)}
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    return env


def launch(argv: list[str], workers: int, model_dir: Path) -> int:
    """Train `cnnzoo ARGV` (a ``fit``) on `workers` local processes; the first failure's code.

    A worker that fails stops the others (a cluster cannot go on without it); the
    chief's last checkpoint stays, so rerunning the command resumes the run.
    """
    if "TF_CONFIG" in os.environ:
        raise ValueError("--workers starts its own cluster: unset TF_CONFIG, or drop --workers")
    model_dir.mkdir(parents=True, exist_ok=True)
    cluster = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    command = [sys.executable, "-m", "cnnzoo.cli", *worker_argv(argv)]
    procs, logs = [], []
    for index in range(workers):
        log = None
        if index:
            log = open(model_dir / f"worker-{index}.log", "w", encoding="utf-8")  # noqa: SIM115
            logs.append(log)
        env = worker_env(index, cluster, threads)
        procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    try:
        return _wait(procs)
    finally:
        for log in logs:
            log.close()


def _wait(procs: list[subprocess.Popen]) -> int:
    """Wait for every worker; on the first failure stop the rest and return its code."""
    try:
        while True:
            codes = [proc.poll() for proc in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c]
            if failed:
                index, code = failed[0]
                where = "its output above" if index == 0 else f"worker-{index}.log"
                print(f"cnnzoo fit: worker {index} exited {code}; see {where}", file=sys.stderr)
                return code if code > 0 else 128 - code  # killed by signal -code
            if all(c == 0 for c in codes):
                return 0
            time.sleep(POLL_SECONDS)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

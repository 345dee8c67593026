"""Start the processes of a multi-worker cluster on 127.0.0.1 for the distribution tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cnnzoo.training.local_workers import free_ports


def start_workers(script: str, args_of, n: int = 2, stdout=subprocess.DEVNULL):
    """Start `n` workers of one cluster: ``python SCRIPT *args_of(index)`` with TF_CONFIG set.

    Returns:
        The `subprocess.Popen`s, worker 0 (the chief) first; stderr is piped.
    """
    workers = [f"127.0.0.1:{p}" for p in free_ports(n)]
    procs = []
    for index in range(n):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                [sys.executable, script, *args_of(index)],
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(config)},
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def wait_all(procs, timeout: float) -> list[str]:
    """Wait for every process (killing the stragglers); the failures' messages."""
    errors = []
    try:
        for index, proc in enumerate(procs):
            _, stderr = proc.communicate(timeout=timeout)
            if proc.returncode:
                errors.append(f"worker {index} exited {proc.returncode}:\n{stderr[-3000:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return errors

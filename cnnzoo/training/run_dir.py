"""A run's directory: what it holds, how a rerun resumes it, what a finished run leaves.

    run.json          what was asked (architecture, resolved recipe, seed): a rerun
                      with other settings is refused rather than mixed in
    checkpoint.keras  the model and optimizer after the last finished validation
                      (+ checkpoint.json, its metadata: class names, recipe)
    best.keras        with --select best: the model of the best validation accuracy
                      (+ best.json: its metadata, with the iteration and score)
    history.csv       one row per validation (loss, accuracy, validation, lr,
                      iterations, wall_seconds: the run's training time so far)
    steps.csv         training loss and accuracy of every 50 iterations
    sessions.jsonl    one line per invocation: when, from which iteration, on what machine
    init_from.json    with --init-from: the trained model the run started from, the
                      layers copied from it and those left as initialized
    logs/             TensorBoard
    model.keras       the final (or selected) model (+ model.json, its metadata)
    results.json      test accuracy, wall time, throughput
    curves.png        loss and accuracy against iterations

In a cluster only the chief writes here; every worker reads the checkpoint.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import keras
from absl import logging

from cnnzoo.model_io import (
    ModelMetadata,
    atomic_write_text,
    load_trained,
    save_trained,
    stale_temporaries,
)
from cnnzoo.training import callbacks as cb
from cnnzoo.training.recipe import Recipe

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
# Held (flock) by the process that trains in the directory; holds its pid.
LOCK_FILE = ".lock"
# The stems of the files written atomically here (their temporaries are ".STEM.*").
RUN_FILES = (
    "run",
    "checkpoint",
    "best",
    "model",
    "results",
    "history",
    "steps",
    "curves",
    "init_from",
)
INIT_FROM_FILE = "init_from.json"
# Identity fields that runs of earlier versions did not write: absent means this.
IDENTITY_DEFAULTS = {"precision": "float32", "select": "last"}


def _normalized(identity: dict[str, Any]) -> dict[str, Any]:
    """{dotted field: value} of an identity, its recipe in today's form.

    The recipe's `source` is a citation, not a setting: editing it must not stop
    a run from resuming.
    """
    out = {**IDENTITY_DEFAULTS, **{k: v for k, v in identity.items() if k != "recipe"}}
    if "recipe" in identity:
        recipe = Recipe.from_dict(identity["recipe"]).flat()
        out.update({f"recipe.{k}": v for k, v in recipe.items() if k != "source"})
    return out


class RunDirectory:
    """The files of one run (see the module docstring).

    Args:
        path: the directory.
        chief: whether this process writes (False on the other workers of a cluster).
    """

    def __init__(self, path: Path, chief: bool = True):
        self.path = Path(path)
        self.chief = chief

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def start(self, identity: dict[str, Any]) -> bool:
        """Lock the directory and check it against this run; True when it holds its checkpoint.

        The chief takes an exclusive lock for the life of the process (another
        `cnnzoo fit` on the same directory fails at once, naming the holder's pid)
        and removes the temporary files of writes a kill interrupted.

        Raises:
            ValueError: the path is a file, or the directory holds another run's
                checkpoint (the message lists each differing field, before and
                now) or is not a run's.
            RuntimeError: another process holds the directory.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--model-dir {self.path} is a file, not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        if self.chief:
            self._lock()
            for stale in stale_temporaries(self.path, RUN_FILES):
                logging.info("Removing %s, left by an interrupted write", stale)
                stale.unlink()
        resuming = self._holds_this_run(identity)
        if self.chief:
            atomic_write_text(self.path / RUN_FILE, json.dumps(identity, indent=2))
        return resuming

    def _lock(self) -> None:
        import fcntl

        self._lock_file = open(self.path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "?"
            self._lock_file.close()
            raise RuntimeError(
                f"{self.path} is in use by another cnnzoo fit (pid {holder}); wait for it to "
                "end or choose another --model-dir"
            ) from None
        self._lock_file.truncate(0)
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def _holds_this_run(self, identity: dict[str, Any]) -> bool:
        run_file = self.path / RUN_FILE
        if not self.checkpoint.is_file():
            return False
        if not run_file.is_file():
            raise ValueError(
                f"{self.checkpoint} exists but {run_file} does not: not a cnnzoo run "
                "directory; use another --model-dir"
            )
        before = _normalized(json.loads(run_file.read_text(encoding="utf-8")))
        now = _normalized(identity)
        diffs = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if diffs:
            detail = "; ".join(f"{d}: was {before.get(d)!r}, now {now.get(d)!r}" for d in diffs)
            raise ValueError(
                f"{self.path} holds a checkpoint of a different run ({detail}). "
                "Rerun with the same settings to resume, or choose another --model-dir."
            )
        return True

    def resume_logs(self, epoch: int, iteration: int) -> float:
        """Drop log rows of work after the checkpoint; the run's wall seconds so far."""
        if self.chief:
            cb.truncate_rows(self.path / "history.csv", "epoch", keep_below=epoch)
            cb.truncate_rows(self.path / "steps.csv", "iteration", keep_below=iteration + 1)
        return cb.last_value(self.path / "history.csv", "wall_seconds") or 0.0

    def recorded_identity(self) -> dict[str, Any] | None:
        """The identity of the run whose checkpoint the directory holds (None: no checkpoint)."""
        run_file = self.path / RUN_FILE
        if not (self.checkpoint.is_file() and run_file.is_file()):
            return None
        return {**IDENTITY_DEFAULTS, **json.loads(run_file.read_text(encoding="utf-8"))}

    def record_init_from(self, report: dict[str, Any] | None) -> None:
        """Keep what `--init-from` copied (`init_from.InitFromReport.as_dict`) for results.json.

        None (a new run without --init-from) removes the record an earlier, unfinished
        run in the directory may have left.
        """
        path = self.path / INIT_FROM_FILE
        if report is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_text(path, json.dumps(report, indent=2))

    def init_from_record(self) -> dict[str, Any] | None:
        """What `record_init_from` kept (None: the run did not start from a trained model)."""
        path = self.path / INIT_FROM_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def record_session(self, iteration: int, **facts: Any) -> None:
        """Append when, from which iteration and on what machine this invocation trains.

        `facts` are further fields of the record (the precision and why it was chosen).
        """
        import tensorflow as tf

        from cnnzoo.hardware import cpu_info

        record = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "iteration": iteration,
            "host": platform.node(),
            "machine": cpu_info(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            # TensorFlow's thread pools (0: its default, one thread per core); a
            # queue that trains several runs at once gives each run fewer.
            "threads": {
                "intra_op": tf.config.threading.get_intra_op_parallelism_threads()
                or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0)),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads()
                or int(os.environ.get("TF_NUM_INTEROP_THREADS", 0)),
            },
            **facts,
        }
        with open(self.path / "sessions.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def best_model(self, last: keras.Model) -> tuple[keras.Model, dict[str, Any]]:
        """The best-validation model the run kept, and how it was selected.

        A run whose validations never produced a finite score keeps `last`.
        """
        selection = cb.BestCheckpoint.read_selection(self.path / BEST)
        if selection is None:
            logging.warning("No validation score was recorded; %s keeps the last model", self.path)
            return last, {"by": "last", "iteration": int(last.optimizer.iterations.numpy())}
        model, _ = load_trained(self.path / BEST, compile=True)
        return model, selection

    def finish(self, model: keras.Model, metadata: ModelMetadata, title: str) -> None:
        """Write the final model, its metadata, results.json and the curves."""
        save_trained(model, self.path / "model.keras", metadata)
        atomic_write_text(self.path / "results.json", json.dumps(metadata.results, indent=2))
        from cnnzoo.training.curves import plot_curves

        if (self.path / "history.csv").is_file():
            plot_curves(
                self.path / "history.csv",
                self.path / "curves.png",
                title=title,
                steps_csv=self.path / "steps.csv",
            )

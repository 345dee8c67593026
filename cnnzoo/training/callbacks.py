"""Keras callbacks of the training loop: atomic checkpoints, an iteration budget, logs."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from pathlib import Path

import keras
from absl import logging
from keras import ops

from cnnzoo.model_io import ModelMetadata, atomic_write_bytes


class IterationLogs(keras.callbacks.Callback):
    """Adds the iteration count and the current learning rate to each epoch's logs.

    The papers plot against iterations; placed first in the callback list, the
    values reach the CSV logger and TensorBoard too.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        opt = self.model.optimizer
        step = int(ops.convert_to_numpy(opt.iterations))
        logs["iterations"] = step
        lr = opt.learning_rate
        logs["lr"] = float(ops.convert_to_numpy(lr))


class WindowedTrainingLog(keras.callbacks.Callback):
    """Writes the mean training loss and accuracy of every `every` iterations to a CSV.

    Keras reports running means since the epoch began; the mean over the window
    (a, b] follows from two of them: (b * mean_b - a * mean_a) / (b - a). That
    gives the papers' loss-against-iterations curves within an epoch, at no cost.

    Args:
        path: CSV file (appended to; rows past a resumed checkpoint are dropped
            by `truncate_rows`).
        every: window length in iterations.
    """

    FIELDS = ("iteration", "loss", "accuracy")

    def __init__(self, path: str | Path, every: int = 50):
        super().__init__()
        self.path = Path(path)
        self.every = int(every)

    def on_epoch_begin(self, epoch, logs=None):
        self._last = (0, 0.0, 0.0)  # (batches seen, running loss mean, running accuracy mean)

    def on_train_batch_end(self, batch, logs=None):
        seen = batch + 1
        if logs is None or "loss" not in logs or seen % self.every:
            return
        self._write(seen, logs)

    def _write(self, seen, logs):
        a, loss_a, acc_a = self._last
        loss_b, acc_b = float(logs["loss"]), float(logs.get("accuracy", float("nan")))
        window = seen - a
        row = (
            int(ops.convert_to_numpy(self.model.optimizer.iterations)),
            (seen * loss_b - a * loss_a) / window,
            (seen * acc_b - a * acc_a) / window,
        )
        self._last = (seen, loss_b, acc_b)
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.FIELDS)
            writer.writerow(row)


class StopOnTrainingLoss(keras.callbacks.Callback):
    """Stops once a whole pass over the training data had a mean loss below `threshold`.

    W. Wu's thesis (§3.1) stops MNIST training when the last epoch's mean
    cross-entropy falls below 0.002. Keras reports running means per (Keras)
    epoch; each batch's own loss is recovered from two consecutive ones, and the
    losses are summed per pass over the data, whatever the validation interval.

    Args:
        threshold: mean training loss below which training stops.
        steps_per_epoch: iterations in one pass over the training data.
    """

    def __init__(self, threshold: float, steps_per_epoch: int):
        super().__init__()
        self.threshold = float(threshold)
        self.steps_per_epoch = int(steps_per_epoch)
        self.stopped_at: int | None = None
        self._sum, self._count = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._prev = (0, 0.0)

    def on_train_batch_end(self, batch, logs=None):
        if logs is None or "loss" not in logs:
            return
        seen, mean = batch + 1, float(logs["loss"])
        before, mean_before = self._prev
        self._prev = (seen, mean)
        self._sum += seen * mean - before * mean_before
        self._count += 1
        iteration = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        if iteration % self.steps_per_epoch:
            return
        # A pass only partly seen (the one a resumed run starts inside) does not count.
        if self._count == self.steps_per_epoch and self._sum / self._count < self.threshold:
            self.stopped_at = iteration
            self.model.stop_training = True
            logging.info(
                "Stopping at iteration %d: the epoch's mean training loss %.5f is below %g",
                iteration,
                self._sum / self._count,
                self.threshold,
            )
        self._sum, self._count = 0.0, 0


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first batch whose training loss is NaN or infinite.

    A diverged run would otherwise spend its remaining iterations on NaN weights
    and then save them. `diverged_at` records the iteration for the error the
    trainer raises; `AtomicCheckpoint` refuses the epoch's NaN state by itself.
    """

    def __init__(self):
        super().__init__()
        self.diverged_at: int | None = None
        self.lr: float | None = None

    def on_train_batch_end(self, batch, logs=None):
        if logs is None or "loss" not in logs or math.isfinite(float(logs["loss"])):
            return
        opt = self.model.optimizer
        self.diverged_at = int(ops.convert_to_numpy(opt.iterations))
        self.lr = float(ops.convert_to_numpy(opt.learning_rate))
        self.model.stop_training = True


class StopAtIteration(keras.callbacks.Callback):
    """Ends training after exactly `total_steps` optimizer iterations, mid-epoch if need be."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = int(total_steps)

    def on_train_batch_end(self, batch, logs=None):
        if int(ops.convert_to_numpy(self.model.optimizer.iterations)) >= self.total_steps:
            self.model.stop_training = True


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights and optimizer state) at each epoch's end, atomically.

    The file is written beside the target and renamed over it, so a kill at any
    moment leaves either the previous checkpoint or the new one. The optimizer's
    iteration counter inside it tells where to resume, and the schedule is a
    function of that counter, so the learning rate resumes with it. The model's
    metadata (class names, recipe) goes beside it, so the checkpoint predicts
    and evaluates as the final model does.

    Args:
        path: the ``.keras`` file.
        metadata: the run's `ModelMetadata` (None: no sidecar).
    """

    def __init__(self, path: str | Path, metadata: ModelMetadata | None = None):
        super().__init__()
        self.path = Path(path)
        self.metadata = metadata

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            # The epoch's running mean is non-finite once any batch was: the
            # weights may be NaN, and the previous checkpoint is worth more.
            logging.warning("Not checkpointing epoch %d: its training loss is %s", epoch + 1, loss)
            return
        self.save(self.metadata)

    def save(self, metadata: ModelMetadata | None) -> None:
        atomic_write_bytes(self.path, lambda tmp: self.model.save(tmp))
        if metadata is not None:
            metadata.write(self.path)


class PauseWatch:
    """Counts the time a process spent stopped (SIGSTOP, a suspended machine).

    A daemon thread sleeps `tick` seconds at a time; a sleep that ends more than
    `threshold` seconds late means the process was not running: nothing else delays
    a sleeping thread that long (on 2 busy cores the lateness stays under a second).
    Benchmarks stop a training run to time something alone on the machine
    (``tools/bench_train.py --pause-pid``); without this, the run's wall time counted
    those minutes as training.

    Args:
        tick: seconds between the thread's looks at the clock.
        threshold: lateness, in seconds, counted as a pause.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(self, tick: float = 1.0, threshold: float = 5.0, clock=time.monotonic):
        self.tick = float(tick)
        self.threshold = float(threshold)
        self.clock = clock
        self.paused = 0.0
        self.pauses = 0
        self._last = None
        self._stop = None

    def look(self) -> float:
        """One look at the clock: counts and returns the pause since the last look (or 0)."""
        now = self.clock()
        late = 0.0 if self._last is None else now - self._last - self.tick
        self._last = now
        if late <= self.threshold:
            return 0.0
        self.paused += late
        self.pauses += 1
        return late

    def start(self) -> PauseWatch:
        """Start the thread (once); returns self."""
        import threading

        if self._stop is None:
            self._stop = threading.Event()
            self.look()

            def run():
                while not self._stop.wait(self.tick):
                    late = self.look()
                    if late:
                        logging.info("Stopped for %.0f s; not counted as training time", late)

            threading.Thread(target=run, name="cnnzoo-pause-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None


class WallClock(keras.callbacks.Callback):
    """Adds ``wall_seconds``, the run's training time so far, to each epoch's logs.

    A run may span several sessions (and machines): the count goes on from
    `previous`, the figure of the last epoch the checkpoint kept, so the CSV's
    last row is the run's whole wall time, validations included. Time the process
    spent stopped (`PauseWatch`) is left out.

    Args:
        previous: seconds spent by earlier sessions of the run.
        watch: the `PauseWatch` to subtract (default: a new one, started with training).
    """

    def __init__(self, previous: float = 0.0, watch: PauseWatch | None = None):
        super().__init__()
        self.previous = float(previous)
        self.watch = watch or PauseWatch()
        self._start = time.perf_counter()
        self._paused_at_start = 0.0

    def on_train_begin(self, logs=None):
        self.watch.start()
        self._start = time.perf_counter()
        self._paused_at_start = self.watch.paused

    def on_train_end(self, logs=None):
        self.watch.stop()

    def seconds(self) -> float:
        """Training time of this session so far, pauses left out."""
        paused = self.watch.paused - self._paused_at_start
        return max(0.0, time.perf_counter() - self._start - paused)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["wall_seconds"] = round(self.previous + self.seconds(), 1)


class BestCheckpoint(AtomicCheckpoint):
    """Keeps the model of the best validation score so far, for selection on validation.

    Saves `path` (atomically, with its metadata sidecar) whenever `monitor`
    improves strictly, so the earliest of equal scores is kept; the sidecar's
    ``selected`` says when and with what score. A resumed run reads it back and
    only a better score replaces it.

    Args:
        path: the ``.keras`` file of the best model.
        metadata: the run's `ModelMetadata`.
        monitor: the logs' key to maximize (a held-out validation metric: never
            the test set's, which must stay unseen until the end).
    """

    def __init__(
        self,
        path: str | Path,
        metadata: ModelMetadata | None = None,
        monitor: str = "val_accuracy",
    ):
        super().__init__(path, metadata or ModelMetadata())
        self.monitor = monitor
        selection = self.read_selection(self.path)
        self.best = float(selection[monitor]) if selection else -math.inf

    @staticmethod
    def read_selection(path: str | Path) -> dict | None:
        """How the model at `path` was selected, or None where no best model was kept."""
        path = Path(path)
        record = path.with_suffix(".json")
        if not (path.is_file() and record.is_file()):
            return None
        data = json.loads(record.read_text(encoding="utf-8"))
        # Runs of the first version wrote the selection alone, not the metadata.
        return data.get("selected") or {"by": "val_accuracy", **data}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or float(value) <= self.best:
            return
        self.best = float(value)
        iteration = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        selected = {"by": self.monitor, "iteration": iteration, "epoch": epoch + 1}
        selected[self.monitor] = self.best
        self.save(dataclasses.replace(self.metadata, selected=selected))


def last_value(path: str | Path, column: str) -> float | None:
    """The `column` of a CSV's last row (None when the file, row or column is absent)."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not rows[-1].get(column):
        return None
    return float(rows[-1][column])


def _row_key(row: list[str], header: list[str], col: int) -> int | None:
    """The row's `col` as an int, or None for a row that is not whole (torn, or a header)."""
    if len(row) != len(header):
        return None
    try:
        return int(float(row[col]))
    except ValueError:
        return None


def truncate_rows(path: str | Path, column: str, keep_below: int) -> None:
    """Drop CSV rows whose `column` is >= `keep_below`: work after the checkpoint, to be redone.

    A kill after a row was written but before the checkpoint of its epoch would
    otherwise leave that work twice in the logs. Rows that are not whole — the
    torn tail of a kill during an append, a second header written by an earlier
    version's concurrent run — are dropped with a warning naming them, so a
    damaged log is repaired rather than blocking the resume.
    """
    path = Path(path)
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    if column not in header:
        raise ValueError(f"{path}: CSV without a {column!r} column")
    col = header.index(column)
    keys = [_row_key(r, header, col) for r in body]
    if body and not text.endswith("\n"):
        keys[-1] = None  # a row is whole once its newline is written
    broken = [i + 2 for i, (r, k) in enumerate(zip(body, keys, strict=True)) if r and k is None]
    if broken:
        logging.warning("%s: dropped lines %s, which are not whole rows", path, broken)
    kept = [r for r, k in zip(body, keys, strict=True) if k is not None and k < keep_below]
    if len(kept) == len(body):
        return

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *kept])

    atomic_write_bytes(path, write)

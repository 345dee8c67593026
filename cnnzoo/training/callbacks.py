"""Keras callbacks of the training loop: atomic checkpoints, an iteration budget, logs."""

from __future__ import annotations

import csv
from pathlib import Path

import keras
from keras import ops

from cnnzoo.model_io import atomic_write_bytes


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
    function of that counter, so the learning rate resumes with it.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        atomic_write_bytes(self.path, lambda tmp: self.model.save(tmp))


def truncate_history(path: str | Path, epochs_done: int) -> None:
    """Drop CSV history rows of epochs after the checkpoint (they will be redone).

    A kill between the CSV row and the checkpoint of an epoch would otherwise
    leave that epoch twice in the history.
    """
    path = Path(path)
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    if "epoch" not in header:
        raise ValueError(f"{path}: history CSV without an 'epoch' column")
    col = header.index("epoch")
    kept = [r for r in body if r and int(r[col]) < epochs_done]
    if len(kept) == len(body):
        return

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *kept])

    atomic_write_bytes(path, write)

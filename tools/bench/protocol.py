"""A worker's side of the conversation with the parent, and the clocks of its windows.

The parent writes one line per command on the worker's stdin: ``go`` (time one
window) or anything else (exit). The worker answers with JSON lines prefixed by
`PROTOCOL_PREFIX` on its real stdout: ``{"event": "ready", "info": ...}`` once set
up and warmed up, then ``{"event": "window", "seconds", "cpu_seconds", "images"}``
after each window. Everything else it prints (Keras, TensorFlow) goes to stderr,
which the parent keeps as the worker's log.
"""

from __future__ import annotations

import json
import os
import sys
import time

PROTOCOL_PREFIX = "@@"
# Untimed training steps before each window: what a paused worker's tf.data
# prefetch holds is not counted as free work.
TRAIN_REWARM = 2
# Training steps a worker may take beyond its windows before it is stopped anyway.
_SPARE_STEPS = 1000


class Channel:
    """The worker's end: protocol lines on the real stdout, everything else on stderr."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)  # Keras progress bars, prints and logs go to the log file

    def send(self, **message) -> None:
        """Send one protocol message to the parent."""
        self.out.write(PROTOCOL_PREFIX + json.dumps(message) + "\n")
        self.out.flush()

    def wait(self) -> None:
        """Block until the parent says ``go``; exit the process on anything else."""
        if sys.stdin.readline().strip() != "go":
            self.out.flush()
            os._exit(0)


def max_steps(config: dict) -> int:
    """Training steps enough for the warm-up and every window of a training worker."""
    per_window = TRAIN_REWARM + config["steps"]
    return config["warmup_steps"] + config["runs"] * per_window + _SPARE_STEPS


def loop_windows(channel: Channel, one_batch, window, info: dict, warmup: int = 3) -> None:
    """Warm up, then per ``go``: `one_batch()` untimed, `window()` timed (it returns images)."""
    for _ in range(warmup):
        window()
    channel.send(event="ready", info=info)
    while True:
        channel.wait()
        one_batch()
        t0, cpu0 = time.perf_counter(), time.process_time()
        images = window()
        channel.send(
            event="window",
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - cpu0,
            images=images,
        )


class KerasClock:
    """Times windows of a running `keras.Model.fit` from a callback, and waits between them.

    Pass `callback` to ``fit`` last (after the trainer's own callbacks), so that its
    ``on_train_batch_end`` reads the clock once each batch's work is done. State:
    warm-up (``warmup`` steps), then for each ``go``: ``rewarm`` untimed steps,
    ``steps`` timed steps, report, wait. With steps_per_execution > 1 Keras calls
    it every few steps; the step count comes from the batch index it passes.
    """

    def __init__(self, channel: Channel, warmup: int, rewarm: int, steps: int, batch: int):
        self.channel, self.rewarm, self.steps, self.batch = channel, rewarm, steps, batch
        self.callback = _clock_callback(self)
        self.seen_in_epoch = self.done = self.start = 0
        self.target = warmup
        self.state = "warmup"
        self.t0 = self.cpu0 = 0.0
        self.info: dict = {}

    def _go(self) -> None:
        self.channel.wait()
        if self.rewarm:
            self.state, self.target = "rewarm", self.done + self.rewarm
        else:
            self._start_window(time.perf_counter())

    def _start_window(self, now: float) -> None:
        self.state, self.t0, self.start = "timed", now, self.done
        self.cpu0 = time.process_time()
        self.target = self.done + self.steps

    def tick(self, n: int) -> None:
        """Count `n` more finished steps; start, end or report windows as they fall due."""
        self.done += n
        if self.done < self.target:
            return
        now = time.perf_counter()
        if self.state == "warmup":
            self.channel.send(event="ready", info=self.info)
            self._go()
        elif self.state == "rewarm":
            self._start_window(now)
        else:
            steps = self.done - self.start
            self.channel.send(
                event="window",
                seconds=now - self.t0,
                cpu_seconds=time.process_time() - self.cpu0,
                images=steps * self.batch,
                steps=steps,
            )
            self._go()


def _clock_callback(clock: KerasClock):
    """The `keras.callbacks.Callback` that feeds `clock` the steps of each batch end."""
    import keras

    class ClockCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            clock.seen_in_epoch = 0

        def on_train_batch_end(self, batch, logs=None):
            done = batch + 1
            clock.tick(done - clock.seen_in_epoch)
            clock.seen_in_epoch = done

    return ClockCallback()

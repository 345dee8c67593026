"""Training callbacks: windowed loss log, history truncation on resume, curves, pauses."""

import csv
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from cnnzoo.model_io import ModelMetadata
from cnnzoo.training import callbacks as cb
from cnnzoo.training.curves import plot_curves


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_windowed_log_equals_mean_of_batch_losses(tmp_path):
    # Learning rate 0 keeps the model fixed, so each batch's loss can be computed
    # independently afterwards and averaged per window.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 5)).astype("float32")
    y = rng.integers(0, 3, 48)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    log = tmp_path / "steps.csv"
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[cb.WindowedTrainingLog(log, every=3)],
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    batch_losses = [float(loss_fn(y[i : i + 4], model(x[i : i + 4]))) for i in range(0, 48, 4)]
    rows = _rows(log)
    # 12 batches per epoch, a row every 3: 4 per epoch, iterations 3, 6, ..., 24
    assert [int(r["iteration"]) for r in rows] == list(range(3, 25, 3))
    expected = [np.mean(batch_losses[i : i + 3]) for i in range(0, 12, 3)] * 2
    np.testing.assert_allclose([float(r["loss"]) for r in rows], expected, rtol=1e-4)


def test_truncate_rows_drops_work_after_the_checkpoint(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.2\n")
    cb.truncate_rows(path, "epoch", keep_below=2)
    assert [r["epoch"] for r in _rows(path)] == ["0", "1"]
    with pytest.raises(ValueError, match="history.csv: CSV without a 'iteration' column"):
        cb.truncate_rows(path, "iteration", keep_below=1)


def test_plot_curves_writes_png(tmp_path):
    hist = tmp_path / "history.csv"
    hist.write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy,iterations\n"
        "0,2.0,0.3,1.9,0.35,100\n1,1.5,0.5,1.6,0.45,200\n"
    )
    steps = tmp_path / "steps.csv"
    steps.write_text("iteration,loss,accuracy\n50,2.2,0.2\n100,1.8,0.4\n150,1.6,0.45\n")
    out = plot_curves(hist, tmp_path / "c.png", "t", steps_csv=steps)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    hist.write_text("epoch,loss\n")
    with pytest.raises(ValueError, match="no epochs recorded"):
        plot_curves(hist, tmp_path / "d.png")


def test_best_checkpoint_replaces_only_on_a_strictly_better_score(tmp_path):
    import json

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    path = tmp_path / "best.keras"
    meta = ModelMetadata(arch="x", class_names=["a", "b"])
    best = cb.BestCheckpoint(path, meta)
    best.set_model(model)
    best.on_epoch_end(0, {"val_accuracy": 0.5})
    assert cb.BestCheckpoint.read_selection(path)["epoch"] == 1
    for epoch, score in [(1, 0.5), (2, 0.4), (3, float("nan")), (4, None)]:
        best.on_epoch_end(epoch, {"val_accuracy": score})
    assert cb.BestCheckpoint.read_selection(path)["epoch"] == 1
    # A resumed run starts from the recorded score, not from scratch.
    resumed = cb.BestCheckpoint(path, meta)
    resumed.set_model(model)
    assert resumed.best == 0.5
    resumed.on_epoch_end(5, {"val_accuracy": 0.45})
    assert cb.BestCheckpoint.read_selection(path)["epoch"] == 1
    resumed.on_epoch_end(6, {"val_accuracy": 0.75})
    record = cb.BestCheckpoint.read_selection(path)
    assert record["epoch"] == 7 and record["val_accuracy"] == 0.75
    # The sidecar is the model's metadata (class names for predict), plus the selection.
    assert ModelMetadata.read(path).class_names == ["a", "b"]
    # The first version wrote the selection alone; a run it began resumes with it.
    path.with_suffix(".json").write_text(
        json.dumps({"iteration": 9, "epoch": 3, "val_accuracy": 0.8})
    )
    assert cb.BestCheckpoint(path, meta).best == 0.8
    assert keras.saving.load_model(path).count_params() == model.count_params()


# --------------------------------------------------------------------------- pauses


class _FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pause_watch_counts_only_long_gaps():
    clock = _FakeClock()
    watch = cb.PauseWatch(tick=1.0, threshold=5.0, clock=clock)
    assert watch.look() == 0.0  # the first look only sets the reference
    for late in (0.0, 0.3, 4.9):  # a busy machine makes a sleep late, not by this much
        clock.now += 1.0 + late
        assert watch.look() == 0.0
    clock.now += 1.0 + 42.0  # stopped for 42 s
    assert watch.look() == pytest.approx(42.0)
    clock.now += 1.0
    assert watch.look() == 0.0
    assert watch.paused == pytest.approx(42.0) and watch.pauses == 1


def test_wall_clock_leaves_out_the_pauses():
    clock = cb.WallClock(previous=10.0, watch=cb.PauseWatch(clock=_FakeClock()))
    clock.on_train_begin()
    clock.watch.paused += 3600.0  # an hour stopped during this session
    logs = {}
    clock.on_epoch_end(0, logs)
    clock.on_train_end()
    assert 10.0 <= logs["wall_seconds"] < 10.0 + 60.0


_STOPPED_CHILD = """
import time
from cnnzoo.training.callbacks import PauseWatch
w = PauseWatch(tick=0.1, threshold=1.0).start()
print("ready", flush=True)
time.sleep(6.0)
print(f"{w.paused:.2f} {w.pauses}", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX SIGSTOP/SIGCONT")
def test_pause_watch_sees_a_real_sigstop():
    # What tools/bench_train.py --pause-pid does to a training run beside it.
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOPPED_CHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        proc.send_signal(signal.SIGCONT)
        paused, pauses = proc.stdout.readline().split()
    finally:
        proc.kill()
        proc.wait()
    assert int(pauses) == 1
    assert 2.0 < float(paused) < 4.5

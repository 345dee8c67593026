"""Training curves like the papers' figures: loss and error (%) against iterations."""

from __future__ import annotations

import csv
from pathlib import Path

# What Keras's CSVLogger writes for a value an epoch did not log: its validation
# columns are there from the first epoch even when no epoch validates.
_MISSING = ("", None, "NA")


def read_csv_rows(path: str | Path, key: str) -> list[dict[str, float]]:
    """Rows of a numeric CSV sorted by `key`; the last row wins for a repeated key.

    A value left empty (or Keras's "NA") is absent from its row.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = {}
        for row in csv.DictReader(f):
            rows[float(row[key])] = {k: float(v) for k, v in row.items() if v not in _MISSING}
    return [rows[k] for k in sorted(rows)]


def _curve_data(history_csv, steps_csv):
    """The validation rows, and the training curve (x, loss, accuracy) at its finest."""
    epochs = read_csv_rows(history_csv, "epoch")
    if not epochs:
        raise ValueError(f"{history_csv}: no epochs recorded, nothing to plot")
    windows = (
        read_csv_rows(steps_csv, "iteration") if steps_csv and Path(steps_csv).is_file() else []
    )
    if windows:
        x = [r["iteration"] for r in windows]
        return epochs, (x, [r["loss"] for r in windows], [r["accuracy"] for r in windows])
    x = [r.get("iterations", r["epoch"] + 1) for r in epochs]
    return epochs, (x, [r["loss"] for r in epochs], [r["accuracy"] for r in epochs])


def plot_curves(
    history_csv: str | Path,
    out_png: str | Path,
    title: str = "",
    steps_csv: str | Path | None = None,
) -> Path:
    """Draw training and validation loss and error (%) against iterations (He et al. Fig. 6).

    Args:
        history_csv: the per-epoch CSV written during `cnnzoo fit`.
        out_png: destination PNG.
        title: figure title (e.g. the architecture and recipe).
        steps_csv: optional per-window training log (`WindowedTrainingLog`); when
            present the training curves use it, so even one epoch draws a curve.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers
    import matplotlib.pyplot as plt

    epochs, (train_x, train_loss, train_acc) = _curve_data(history_csv, steps_csv)
    epoch_x = [r.get("iterations", r["epoch"] + 1) for r in epochs]

    def error(accuracies):
        return [100.0 * (1.0 - a) for a in accuracies]

    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(train_x, train_loss, label="training loss")
    ax_err.plot(train_x, error(train_acc), label="training error")
    if "val_loss" in epochs[0]:
        ax_loss.plot(epoch_x, [r["val_loss"] for r in epochs], marker="o", label="validation loss")
        val_error = error([r["val_accuracy"] for r in epochs])
        ax_err.plot(epoch_x, val_error, marker="o", label="validation error")
    ax_loss.set_ylabel("loss")
    ax_err.set_ylabel("error (%)")
    # The papers' plots look at the last tens of percent, where the nets differ.
    ax_err.set_ylim(0, min(100.0, 2.0 * max(error(train_acc[len(train_acc) // 4 :]) or [100])))
    for ax in (ax_loss, ax_err):
        ax.set_xlabel("iterations")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png

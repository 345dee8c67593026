"""Training curves like the papers' figures: loss and accuracy against iterations."""

from __future__ import annotations

import csv
from pathlib import Path


def read_history(path: str | Path) -> list[dict[str, float]]:
    """Rows of a Keras CSV history, one per epoch (last row wins for a repeated epoch)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = {}
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = {k: float(v) for k, v in row.items() if v not in ("", None)}
    return [rows[e] for e in sorted(rows)]


def plot_curves(history_csv: str | Path, out_png: str | Path, title: str = "") -> Path:
    """Draw training loss and validation accuracy against iterations.

    Args:
        history_csv: the CSV written during `cnnzoo fit`.
        out_png: destination PNG.
        title: figure title (e.g. the architecture and recipe).

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers
    import matplotlib.pyplot as plt

    rows = read_history(history_csv)
    if not rows:
        raise ValueError(f"{history_csv}: no epochs recorded, nothing to plot")
    x = [r.get("iterations", r["epoch"] + 1) for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(x, [r["loss"] for r in rows], marker=".", label="training loss")
    if "val_loss" in rows[0]:
        ax_loss.plot(x, [r["val_loss"] for r in rows], marker=".", label="validation loss")
    ax_loss.set_xlabel("iterations")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(x, [r["accuracy"] for r in rows], marker=".", label="training accuracy")
    if "val_accuracy" in rows[0]:
        ax_acc.plot(x, [r["val_accuracy"] for r in rows], marker=".", label="validation accuracy")
    ax_acc.set_xlabel("iterations")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png

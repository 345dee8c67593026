"""The degradation problem (He et al. 2016 Fig. 1 and Fig. 6): error against iterations.

He et al. (seed 001, §1 and §4.2): on CIFAR-10 the 56-layer plain net has higher
training *and* test error than the 20-layer one (Fig. 1, Fig. 6 left), while
ResNet-56 does better than ResNet-20 (Fig. 6 middle). Their figures draw training
error thin and test error bold against iterations. This study reads the curves a
`cnnzoo fit` run directory records (`history.csv` per epoch, `steps.csv` per
window of iterations, `cnnzoo.training.curves`) for any number of runs.

The bold curve is the run's validation error: the test error where the recipe
holds nothing out (``val_split`` 0, as He et al.'s curves), else the error on the
held-out part of the training set, and the figure says which.
"""

from __future__ import annotations

import json
from pathlib import Path

from cnnzoo.training.curves import read_csv_rows


def _label(run: Path) -> tuple[str, bool]:
    """The run's architecture and whether its validation set is the test set."""
    spec = run / "run.json"
    if not spec.is_file():
        return run.name, False
    data = json.loads(spec.read_text(encoding="utf-8"))
    val_split = data.get("recipe", {}).get("evaluation", {}).get("val_split", 0)
    return data.get("arch", run.name), not val_split


def read_run(run: str | Path) -> dict:
    """A run directory's training and validation error (%) against iterations.

    Raises:
        FileNotFoundError: the directory has no history.csv.
    """
    run = Path(run)
    history = run / "history.csv"
    if not history.is_file():
        raise FileNotFoundError(f"{run}: no history.csv (not a `cnnzoo fit` run directory)")
    epochs = read_csv_rows(history, "epoch")
    steps = read_csv_rows(run / "steps.csv", "iteration") if (run / "steps.csv").is_file() else []
    train = steps or epochs
    label, val_is_test = _label(run)
    return {
        "run": str(run),
        "label": label,
        "val_is_test": val_is_test,
        "train_iterations": [r.get("iteration", r.get("iterations", 0)) for r in train],
        "train_error": [100 * (1 - r["accuracy"]) for r in train],
        "val_iterations": [
            r.get("iterations", r["epoch"] + 1) for r in epochs if "val_accuracy" in r
        ],
        "val_error": [100 * (1 - r["val_accuracy"]) for r in epochs if "val_accuracy" in r],
    }


def figure(runs: list[dict]):
    """He et al. Fig. 1/6: training error thin and dashed, validation/test error bold."""
    from cnnzoo.analysis.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, run in enumerate(runs):
        color = f"C{i}"
        ax.plot(run["train_iterations"], run["train_error"], "--", lw=0.8, color=color)
        which = "test" if run["val_is_test"] else "validation"
        ax.plot(
            run["val_iterations"],
            run["val_error"],
            lw=2,
            color=color,
            label=f"{run['label']} ({which} bold, training dashed)",
        )
    ax.set(xlabel="iterations", ylabel="error (%)", ylim=(0, 20))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def summary(runs: list[dict]) -> list[str]:
    """One line per run: final training and validation error."""
    lines = []
    for run in runs:
        which = "test" if run["val_is_test"] else "validation"
        last_train = run["train_error"][-1] if run["train_error"] else float("nan")
        last_val = run["val_error"][-1] if run["val_error"] else float("nan")
        iters = run["train_iterations"][-1] if run["train_iterations"] else 0
        lines.append(
            f"{run['label']}: at {iters:,.0f} iterations training error {last_train:.2f}%, "
            f"{which} error {last_val:.2f}%"
        )
    return lines

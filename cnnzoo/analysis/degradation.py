"""The degradation problem (He et al. 2016 Fig. 1 and Fig. 6): error against iterations.

He et al. (seed 001, §1 and §4.2): on CIFAR-10 the 56-layer plain net has higher
training *and* test error than the 20-layer one (Fig. 1, Fig. 6 left), while
ResNet-56 does better than ResNet-20 (Fig. 6 middle). Their figures draw training
error thin and test error bold against iterations, one panel per family. This
study reads the curves a `cnnzoo fit` run directory records (`history.csv` per
epoch, `steps.csv` per window of iterations, `cnnzoo.training.curves`), or the
same two files shipped beside the package's trained weights, for any number of
runs, and says for each family whether the deeper net ends with the higher error.

The bold curve is the run's validation error: the test error where the recipe
holds nothing out (``val_split`` 0, as He et al.'s curves), else the error on the
held-out part of the training set, and the figure says which.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from cnnzoo.training.curves import read_csv_rows

# He et al.'s Fig. 6 draws 0-20% error; the early epochs' higher errors are off the top.
# Raised (in steps of 5 points) where a run ends above it, so every run's end is drawn.
ERROR_RANGE = (0, 20)


def error_range(runs: list[dict]) -> tuple[float, float]:
    """The figure's y range: He et al.'s, or tall enough for the highest final error."""
    finals = [_final(run, key) for run in runs for key in ("val_error", "train_error")]
    highest = max([f for f in finals if not math.isnan(f)] or [0.0])
    top = max(ERROR_RANGE[1], 5 * math.ceil(highest * 1.2 / 5))
    return ERROR_RANGE[0], min(top, 100)


def _label(run: Path) -> tuple[str, bool]:
    """The run's architecture and whether its validation set is the test set."""
    spec = run / "run.json"
    if not spec.is_file():
        return run.name, False
    data = json.loads(spec.read_text(encoding="utf-8"))
    val_split = data.get("recipe", {}).get("evaluation", {}).get("val_split", 0)
    return data.get("arch", run.name), not val_split


def _shipped(spec: str, dataset: str) -> tuple[Path, Path, str, bool]:
    """The history and steps files of shipped weights `spec` ("ARCH" or "ARCH-DATASET")."""
    from cnnzoo.weights import all_cards, weights_card

    names = {card.name: card for card in all_cards()}
    try:
        card = names.get(spec) or weights_card(spec, dataset)
    except KeyError as e:
        raise KeyError(f"{spec}: not a run directory, and {e.args[0]}") from None
    folder = card.path.parent
    history = folder / f"{card.name}.history.csv"
    if not history.is_file():
        raise FileNotFoundError(f"{history}: the shipped {card.name} has no training history")
    return history, folder / f"{card.name}.steps.csv", card.arch, not card.val_images


def read_run(run: str | Path, dataset: str = "cifar10") -> dict:
    """A run's training and validation error (%) against iterations.

    Args:
        run: a `cnnzoo fit` run directory, or shipped weights: "resnet56" (trained
            on `dataset`) or "resnet56-cifar10".
        dataset: the dataset of shipped weights named without one.

    Raises:
        FileNotFoundError: a directory without history.csv, or shipped weights
            without their history file.
        KeyError: neither a directory nor shipped weights (the message lists them).
    """
    path = Path(run)
    if path.is_dir():
        history, steps = path / "history.csv", path / "steps.csv"
        if not history.is_file():
            raise FileNotFoundError(f"{path}: no history.csv (not a `cnnzoo fit` run directory)")
        label, val_is_test = _label(path)
    else:
        history, steps, label, val_is_test = _shipped(str(run), dataset)
    epochs = read_csv_rows(history, "epoch")
    train = (read_csv_rows(steps, "iteration") if steps.is_file() else []) or epochs
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


def family(label: str) -> tuple[str, int]:
    """A label's family and depth: "plain56" -> ("plain", 56); no digits -> (label, 0)."""
    match = re.fullmatch(r"(.*?)(\d+)", label)
    return (match[1], int(match[2])) if match else (label, 0)


def _depth(run: dict) -> int:
    return family(run["label"])[1]


def families(runs: list[dict]) -> dict[str, list[dict]]:
    """The runs grouped by family, in first-seen order, each group sorted by depth."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(family(run["label"])[0], []).append(run)
    return {name: sorted(group, key=_depth) for name, group in groups.items()}


def _final(run: dict, key: str) -> float:
    return run[key][-1] if run[key] else float("nan")


def _tail_mean(run: dict, key: str, share: float = 0.02) -> float:
    """The mean of the last `share` of a curve: the per-window training error is noisy."""
    values = run[key]
    if not values:
        return float("nan")
    tail = values[-max(1, int(len(values) * share)) :]
    return sum(tail) / len(tail)


def verdicts(runs: list[dict]) -> list[dict]:
    """For each family with two depths or more: deepest against shallowest at the end.

    ``degrades`` is True where the deeper net ends with the higher training *and*
    validation error (He et al.'s plain nets), False where with the lower of both
    (their ResNets), None where the two errors disagree.
    """
    out = []
    for name, group in families(runs).items():
        if len(group) < 2:
            continue
        shallow, deep = group[0], group[-1]
        train = (_tail_mean(shallow, "train_error"), _tail_mean(deep, "train_error"))
        val = (_final(shallow, "val_error"), _final(deep, "val_error"))
        higher = (train[1] > train[0], val[1] > val[0])
        out.append(
            {
                "family": name,
                "shallow": shallow["label"],
                "deep": deep["label"],
                "train_error": list(train),
                "val_error": list(val),
                "val_is_test": deep["val_is_test"],
                "degrades": higher[0] if higher[0] == higher[1] else None,
            }
        )
    return out


def figure(runs: list[dict]):
    """He et al. Fig. 6: a panel per family, training error thin and dashed, validation bold."""
    from cnnzoo.analysis.report import pyplot

    plt = pyplot()
    groups = families(runs)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(5.5 * len(groups), 4.5), sharey=True, squeeze=False
    )
    for ax, (name, group) in zip(axes[0], groups.items(), strict=True):
        for i, run in enumerate(group):
            color = f"C{i}"
            ax.plot(run["train_iterations"], run["train_error"], "--", lw=0.6, color=color)
            which = "test" if run["val_is_test"] else "validation"
            ax.plot(
                run["val_iterations"],
                run["val_error"],
                lw=2,
                color=color,
                label=f"{run['label']} ({which} bold, training dashed)",
            )
        ax.set(title=name, xlabel="iterations", ylim=error_range(runs))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("error (%)")
    fig.tight_layout()
    return fig


def summary(runs: list[dict]) -> list[str]:
    """One line per run (final errors), then one per family (does depth hurt?)."""
    lines = []
    for run in runs:
        which = "test" if run["val_is_test"] else "validation"
        iters = run["train_iterations"][-1] if run["train_iterations"] else 0
        lines.append(
            f"{run['label']}: at {iters:,.0f} iterations training error "
            f"{_tail_mean(run, 'train_error'):.2f}% (last 2% of the curve), "
            f"{which} error {_final(run, 'val_error'):.2f}%"
        )
    words = {True: "higher: degradation", False: "lower: depth helps", None: "mixed"}
    for v in verdicts(runs):
        which = "test" if v["val_is_test"] else "validation"
        lines.append(
            f"{v['family']}: {v['deep']} against {v['shallow']}: training error "
            f"{v['train_error'][1]:.2f}% vs {v['train_error'][0]:.2f}%, {which} error "
            f"{v['val_error'][1]:.2f}% vs {v['val_error'][0]:.2f}% ({words[v['degrades']]})"
        )
    return lines

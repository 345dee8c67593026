"""Checked argument types for the command line: a bad number is refused with its flag's name.

argparse reports a `ValueError` or `ArgumentTypeError` of a type function as
"argument --lr: ...", so each check says what it got and what it expected, and
nothing runs with a NaN learning rate or a search of zero trials.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

# --dense-pooling's choices: `cnnzoo.evaluation.dense.DENSE_POOLING`, named here so the
# parser does not import TensorFlow (tests/test_dense.py holds the two equal).
DENSE_POOLING = ("mean", "max")


def count(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An int type in [low, high], e.g. ``type=count(1)`` for a positive count."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def real(low: float = 0.0, high: float = math.inf, low_open: bool = False) -> Callable:
    """A finite float type in [low, high] (or (low, high] with `low_open`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"expected a finite number in {left}{low:g}, {high:g}], got {text}"
            )
        return value

    parse.__name__ = "number"
    return parse


def low_high(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` with 0 < LOW < HIGH, both finite (a log-uniform search range)."""
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise argparse.ArgumentTypeError(f"expected 0 < LOW < HIGH, got {text!r}")
    return low, high


# Bounds the commands share. A search, a run or a batch larger than these is a typo,
# not a plan on this zoo's machines (the largest recipe batch is 256).
MAX_TRIALS = 1_000
MAX_BATCH = 65_536


# `cnnzoo fit`'s flags that change how each training step is computed:
# (flag, lowest value, default, metavar, help).
_STEP_FLAGS = (
    (
        "--accumulate",
        1,
        1,
        "N",
        "compute each batch's update as N equal micro-batches, one at a time: the same "
        "update in about 1/N of the activations' memory (BatchNorm normalizes each "
        "micro-batch by its own statistics); N must divide the batch size",
    ),
    (
        "--short-paths",
        0,
        0,
        "K",
        "ResNets: each training batch keeps K random residual branches on, the other "
        "units passing their shortcut only, so no path is longer than K (Veit et al. 2016); "
        "evaluation and the saved model use every unit. 0 (default): off",
    ),
)


def add_step_flags(p: argparse.ArgumentParser) -> None:
    """``cnnzoo fit``'s ``--accumulate N`` (`cnnzoo.training.accumulation`) and
    ``--short-paths K`` (`cnnzoo.training.short_paths`)."""
    for flag, low, default, metavar, text in _STEP_FLAGS:
        kind = count(low, MAX_BATCH)
        p.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)

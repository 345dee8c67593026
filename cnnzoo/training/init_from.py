"""`cnnzoo fit --init-from MODEL`: start a run from a trained model's layers, copied by name.

Simonyan & Zisserman 2014 §3.1 (survey 003 §3.2) trained VGG's deeper configurations
from net A ("the first four convolutional layers and the last three fully-connected
layers ... with the layers of net A (the intermediate layers were initialised
randomly)") and the S = 384 nets from the S = 256 ones. Layers are matched by name,
which the builders keep stable across a family (`block3_conv2`, `fc1`), and copied
whole (kernel, bias, batch-normalization statistics) when every weight's shape
agrees.

What to copy is the recipe's `init_from_layers` (or ``--init-from-layers``):

- empty: every layer that the source has by the same name and shapes; the others
  keep the recipe's initialization and the report says why;
- regular expressions (each matched against whole layer names): exactly those
  layers, each of which must be in the source with the same shapes (an error
  names the layer and both shapes otherwise); the others keep the recipe's
  initialization.

The preprocessing layers (``preprocess_*``) are never copied: their statistics
are the run's own training images'.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

# What `cnnzoo fit` writes at the end of a run (`cnnzoo.training.run_dir`).
RUN_MODEL = "model.keras"
PREPROCESS_PREFIX = "preprocess_"


@dataclasses.dataclass(frozen=True)
class InitFromReport:
    """Which layers a run took from the trained model and which it left as initialized.

    Attributes:
        source: the .keras file the layers came from.
        patterns: the `init_from_layers` regular expressions (empty: every match).
        copied: names of the layers copied.
        kept: {layer name: why it keeps the recipe's initialization}.
    """

    source: str
    patterns: tuple[str, ...]
    copied: tuple[str, ...]
    kept: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (init_from.json, results.json)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def summary(self) -> str:
        """Two lines for the console: what was copied, what was left random."""
        kept = ", ".join(f"{name} ({why})" for name, why in self.kept.items()) or "none"
        return (
            f"Initialized from {self.source}: copied {len(self.copied)} layers "
            f"({', '.join(self.copied) or 'none'})\n"
            f"Left as initialized: {len(self.kept)} layers: {kept}"
        )


def source_model_path(source: str | Path) -> Path:
    """The .keras file `--init-from` names: the file itself, or a run directory's model.keras.

    Raises:
        FileNotFoundError: nothing at `source`, or a directory without model.keras
            (an unfinished run: name its checkpoint.keras to start from it).
        ValueError: a file that is not a .keras file.
    """
    path = Path(source)
    if path.is_dir():
        model = path / RUN_MODEL
        if not model.is_file():
            raise FileNotFoundError(
                f"--init-from {path}: no {RUN_MODEL} in that directory (a run that has not "
                "finished); pass a .keras file, e.g. its checkpoint.keras"
            )
        return model
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {path}: no such file or run directory")
    if path.suffix != ".keras":
        raise ValueError(f"--init-from {path}: expected a .keras file or a run directory")
    return path


def weighted_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """The layers that hold weights, by name, nested models opened, preprocessing left out."""
    found: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(weighted_layers(layer))
        elif layer.weights and not layer.name.startswith(PREPROCESS_PREFIX):
            found[layer.name] = layer
    return found


def _shapes(layer) -> list[tuple[int, ...]]:
    return [tuple(w.shape) for w in layer.weights]


def _requested(names: Sequence[str], patterns: Sequence[str]) -> set[str]:
    """The names some pattern matches whole; every pattern must match one."""
    chosen = set()
    for pattern in patterns:
        hits = {n for n in names if re.fullmatch(pattern, n)}
        if not hits:
            raise ValueError(
                f"init_from_layers: {pattern!r} matches no layer with weights of the model "
                f"({', '.join(names)})"
            )
        chosen |= hits
    return chosen


def _why_not(name, layer, source: dict, label: str) -> str | None:
    """Why `layer` cannot take the source's weights (None: it can)."""
    if name not in source:
        return f"not in {label}"
    if _shapes(layer) != _shapes(source[name]):
        return f"shapes {_shapes(layer)} here, {_shapes(source[name])} in {label}"
    return None


def copy_layers(
    target: keras.Model, source: keras.Model, patterns: Sequence[str] = (), label: str = "source"
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Copy layers of `source` into `target` by name (see the module docstring).

    Args:
        target: the model being initialized.
        source: the trained model.
        patterns: regular expressions of the layers to copy; empty: every match.
        label: how messages name the source (its path).

    Returns:
        (names copied, {name: why it was not copied}).

    Raises:
        ValueError: a pattern that matches no layer, a requested layer that the
            source lacks or holds with other shapes (the message names both shapes),
            or nothing to copy at all.
    """
    mine, theirs = weighted_layers(target), weighted_layers(source)
    requested = _requested(list(mine), patterns) if patterns else set(mine)
    copied, kept = [], {}
    for name, layer in mine.items():
        if name not in requested:
            kept[name] = "not requested"
            continue
        why = _why_not(name, layer, theirs, label)
        if why and patterns:
            raise ValueError(f"--init-from: layer {name!r} cannot be copied: {why}")
        if why:
            kept[name] = why
            continue
        layer.set_weights(theirs[name].get_weights())
        copied.append(name)
    if not copied:
        raise ValueError(f"--init-from: no layer of {label} matches the model by name and shapes")
    return tuple(copied), kept


def initialize_from(
    target: keras.Model, source: str | Path, patterns: Sequence[str] = ()
) -> InitFromReport:
    """Load the trained model at `source` and copy its layers into `target`.

    Args:
        target: the new run's model (built and initialized by the recipe).
        source: a .keras file, or a run directory (its model.keras).
        patterns: the recipe's `init_from_layers`.

    Returns:
        What was copied and what was not.

    Raises:
        FileNotFoundError, ValueError: see `source_model_path` and `copy_layers`.
    """
    from cnnzoo.model_io import load_trained

    path = source_model_path(source)
    trained, _ = load_trained(path, compile=False)
    copied, kept = copy_layers(target, trained, patterns, label=str(path))
    return InitFromReport(str(path), tuple(patterns), copied, kept)

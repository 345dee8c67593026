"""Writing a study's results: ``<study>.json`` (the numbers) and ``<study>.png`` (the figure)."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from cnnzoo.model_io import atomic_write_text


def progress(total: int, unit: str = "step") -> keras.utils.Progbar:
    """Keras's progress bar over `total` units, as the rest of the package shows work."""
    return keras.utils.Progbar(total, unit_name=unit)


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (no display on servers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write(out_dir: str | Path, study: str, results: dict, figure) -> tuple[Path, Path]:
    """Write ``<study>.json`` and ``<study>.png`` into `out_dir` (created if needed).

    Args:
        out_dir: destination directory.
        study: the study's name (file stem).
        results: JSON-able numbers behind the figure.
        figure: a matplotlib figure; closed once saved.

    Returns:
        (json path, png path).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"{study}.json", out / f"{study}.png"
    atomic_write_text(json_path, json.dumps(results, indent=2) + "\n")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    pyplot().close(figure)
    return json_path, png_path

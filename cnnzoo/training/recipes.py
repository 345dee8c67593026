"""Training recipes from the papers, as data.

A recipe is everything the trainer needs besides the architecture: dataset,
preprocessing, augmentation, batch size, optimizer, weight decay and the
learning-rate schedule, in the units the paper uses (iterations). The trainer
reads a recipe and never hard-codes one; command-line flags and override files
replace fields with `Recipe.override`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

PREPROCESSING = ("per_pixel_mean", "scale_pm1", "per_channel_standardize", "none")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        name: registry key.
        source: the paper and section the numbers come from.
        dataset: dataset name understood by `pipelines` ("cifar10").
        preprocessing: one of `PREPROCESSING`; becomes the model's first layers.
        augment: pad-4 random crop and horizontal flip (He et al. 2016 §4.2).
        batch_size: images per iteration.
        total_steps: iterations to train.
        lr: learning rate after warm-up.
        lr_boundaries: iterations at which the rate is multiplied by `lr_decay`.
        lr_decay: factor applied at each boundary.
        warmup_steps: iterations at `warmup_lr` before `lr` (0 for none).
        warmup_lr: learning rate during warm-up.
        momentum: SGD momentum.
        weight_decay: L2 coefficient on conv/dense kernels, added to the gradient
            as Caffe and the papers do (not Keras's decoupled decay).
        label_smoothing: label-smoothing epsilon (0 for none).
        val_split: training images held out for validation (0: monitor the test set).
        arch_overrides: per-architecture field overrides, e.g. warm-up for resnet110.
    """

    name: str
    source: str
    dataset: str = "cifar10"
    preprocessing: str = "per_pixel_mean"
    augment: bool = True
    batch_size: int = 128
    total_steps: int = 64_000
    lr: float = 0.1
    lr_boundaries: tuple[int, ...] = ()
    lr_decay: float = 0.1
    warmup_steps: int = 0
    warmup_lr: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    val_split: int = 0
    arch_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(
                f"recipe {self.name!r}: preprocessing must be one of {PREPROCESSING}, "
                f"got {self.preprocessing!r}"
            )
        for field in ("batch_size", "total_steps"):
            if getattr(self, field) <= 0:
                raise ValueError(f"recipe {self.name!r}: {field} must be > 0")
        if self.lr <= 0:
            raise ValueError(f"recipe {self.name!r}: lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.val_split < 0 or self.warmup_steps < 0:
            raise ValueError(f"recipe {self.name!r}: weight_decay, val_split, warmup_steps >= 0")
        if list(self.lr_boundaries) != sorted(self.lr_boundaries):
            raise ValueError(f"recipe {self.name!r}: lr_boundaries must increase")

    def for_arch(self, arch: str) -> Recipe:
        """The recipe with this architecture's overrides applied."""
        return self.override(**self.arch_overrides.get(arch, {}))

    def override(self, **changes: Any) -> Recipe:
        """A copy with fields replaced; unknown fields are an error naming them."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown recipe field(s) {unknown}; known fields: {sorted(known)}")
        if "lr_boundaries" in changes:
            changes["lr_boundaries"] = tuple(int(b) for b in changes["lr_boundaries"])
        return dataclasses.replace(self, **changes)

    def scaled_to(self, total_steps: int) -> Recipe:
        """The same schedule shape compressed (or stretched) to `total_steps` iterations.

        Used by short runs (smoke tests, tuner trials) so that they still see the
        warm-up and every decay, at proportional iterations.
        """
        factor = total_steps / self.total_steps
        return self.override(
            total_steps=total_steps,
            lr_boundaries=tuple(max(1, round(b * factor)) for b in self.lr_boundaries),
            warmup_steps=math.ceil(self.warmup_steps * factor) if self.warmup_steps else 0,
        )

    def schedule_points(self) -> tuple[list[int], list[float]]:
        """Boundaries and values of the piecewise-constant learning rate.

        Returns:
            (boundaries, values) with len(values) == len(boundaries) + 1; the rate
            is values[i] for boundaries[i-1] <= iteration < boundaries[i].
        """
        boundaries: list[int] = []
        values: list[float] = []
        if self.warmup_steps:
            boundaries.append(self.warmup_steps)
            values.append(self.warmup_lr)
        values.append(self.lr)
        for i, b in enumerate(self.lr_boundaries):
            boundaries.append(b)
            values.append(self.lr * self.lr_decay ** (i + 1))
        return boundaries, values

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (stored beside trained models)."""
        d = dataclasses.asdict(self)
        d["lr_boundaries"] = list(self.lr_boundaries)
        return d


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="he2016_cifar",
            # He et al. 2016, "Deep residual learning for image recognition", §4.2:
            # batch 128, momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k
            # and 48k iterations, stop at 64k; 45k/5k split for validation curves;
            # per-pixel mean subtraction; 4-pixel pad, 32x32 crop, flip.
            source="He et al. 2016, Deep residual learning, §4.2",
            preprocessing="per_pixel_mean",
            total_steps=64_000,
            lr=0.1,
            lr_boundaries=(32_000, 48_000),
            arch_overrides={
                # §4.2: "for the 110-layer network ... 0.01 to warm up the training
                # until the training error is below 80% (about 400 iterations)";
                # the 1202-layer net and the plain nets of that depth use the same.
                name: {"warmup_steps": 400, "warmup_lr": 0.01}
                for name in (
                    "resnet110",
                    "resnet1202",
                    "plain110",
                    "preact_resnet110",
                    "preact_resnet164",
                )
            },
        ),
        Recipe(
            name="wu_resnet_cifar",
            # W. Wu, "Image classification with deep residual learning" (South China
            # Normal University): batch 128, momentum 0.9, L2 1e-4, warm-up 0.01 for 500
            # iterations then 0.1, /10 at 32k, 48k and 64k, stop at 80k; inputs scaled
            # to [-1, 1]. Reports 91.1% test accuracy.
            source="W. Wu, Image classification with deep residual learning (SCNU)",
            preprocessing="scale_pm1",
            total_steps=80_000,
            lr=0.1,
            lr_boundaries=(32_000, 48_000, 64_000),
            warmup_steps=500,
            warmup_lr=0.01,
        ),
    ]
}


def get_recipe(name: str) -> Recipe:
    """A registered recipe by name; KeyError lists the known ones."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def load_overrides(path: str | Path) -> dict[str, Any]:
    """Read a JSON override file (as written by `cnnzoo tune`).

    Raises:
        ValueError: naming the file when it is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of recipe fields, got {type(data)}")
    return data

"""What a training recipe is: typed sections, one meaning per field.

A `Recipe` is everything the trainer needs besides the architecture, in the
units the papers use (iterations), grouped as tf-models' configs group theirs:

    data            dataset, batch, preprocessing, augmentation
    schedule        the learning rate over the run and the run's length: one of
                    `SCHEDULES` (step decay, half-life, plateau, exponential, one cycle)
    optimizer       SGD or RMSProp and their constants, clipping, lr multipliers
    regularization  weight decay (L2 on the gradient, as Caffe/Torch), label
                    smoothing, auxiliary-loss weight
    evaluation      the held-out validation split and how often to validate

plus `init` (a weight-initialization scheme) and per-architecture overrides. The
named recipes of the papers are data in `cnnzoo.training.recipes`. This module
imports nothing heavier than the standard library (the command line validates
flags with it before TensorFlow starts).

Fields are addressed by dotted paths (``"schedule.lr"``, ``"data.batch_size"``);
`override` also takes the flat names of cnnzoo's first recipe format (``lr``,
``batch_size``, ``lr_decay`` ...), which `cnnzoo tune` override files and the
run directories of earlier versions use (`LEGACY_FIELDS`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, ClassVar

# Allowed values, checked here; the functions that implement them are tables in
# the modules that need Keras (`preprocessing.PREPROCESSORS`,
# `schedules.SCHEDULE_BUILDERS`, `optimizer.OPTIMIZERS`, `init_schemes._SCHEMES`;
# a test keeps them equal).
PREPROCESSING = (
    "per_pixel_mean",
    "per_channel_mean",
    "per_pixel_mean_255",
    "per_channel_mean_255",
    "per_channel_standardize",
    "per_pixel_standardize",
    "scale_pm1",
    "scale_01",
    "lecun",
    "none",
)
OPTIMIZERS = ("sgd", "rmsprop")
# `cnnzoo.training.init_schemes`' table.
INIT_SCHEMES = (
    "glorot_uniform",
    "caffe_xavier",
    "msra",
    "he_normal",
    "wu2016_cifar_gaussian",
    "caffe_cifar10_quick",
    "alexnet",
)
# `cnnzoo.pipelines.imagenet_augment.AUGMENTATIONS`, and "" for none.
IMAGE_AUGMENTATIONS = ("", "alexnet", "vgg", "vgg_s256", "vgg_s384", "resnet", "inception")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class Data:
    """What the network sees.

    Attributes:
        dataset: dataset name understood by `cnnzoo.pipelines` ("cifar10", "mnist").
        batch_size: images per iteration (the global batch over replicas).
        preprocessing: one of `PREPROCESSING`; becomes the model's first layers.
        pad_input: zero-pad images by this many pixels per side (LeNet-5: 28->32).
        augment: random translation (zero-pad `augment_pad` pixels and crop back)
            plus horizontal flips if `augment_flip` (He et al. 2016 §4.2: pad 4, flip).
        augment_pad: pixels of zero padding per side for the random crop.
        augment_flip: mirror half the images (off for digits).
        affine_scale, affine_squeeze, affine_shear, affine_rotate: with `augment`,
            random planar affine distortions (LeCun et al. 1998 §III.C: scaling,
            squeezing, horizontal shearing; W. Wu's thesis §2.2: slight rotations),
            uniform in 1 ± scale, 1 ± squeeze, ± shear, ± rotate degrees; 0: off.
        image_augment: for image-folder sources: "alexnet", "vgg" (S jittered in
            [256, 512]), "vgg_s256" / "vgg_s384" (VGG's single-scale training at a
            fixed S), "resnet" (each with PCA colour noise) or "inception"; "" for a
            centre view and a flip.
    """

    dataset: str = "cifar10"
    batch_size: int = 128
    preprocessing: str = "per_pixel_mean"
    pad_input: int = 0
    augment: bool = True
    augment_pad: int = 4
    augment_flip: bool = True
    affine_scale: float = 0.0
    affine_squeeze: float = 0.0
    affine_shear: float = 0.0
    affine_rotate: float = 0.0
    image_augment: str = ""

    @property
    def affine(self) -> tuple[float, float, float, float]:
        return (self.affine_scale, self.affine_squeeze, self.affine_shear, self.affine_rotate)

    def __post_init__(self):
        _check(
            all(0 <= a < 1 for a in self.affine[:3]) and 0 <= self.affine_rotate <= 45,
            f"affine ranges must be in [0, 1) (rotation [0, 45] degrees), got {self.affine}",
        )
        _check(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        _check(
            self.preprocessing in PREPROCESSING,
            f"preprocessing must be one of {PREPROCESSING}, got {self.preprocessing!r}",
        )
        _check(self.augment_pad >= 0, f"augment_pad must be >= 0, got {self.augment_pad}")
        _check(self.pad_input >= 0, f"pad_input must be >= 0, got {self.pad_input}")
        _check(
            self.image_augment in IMAGE_AUGMENTATIONS,
            f"image_augment must be one of {IMAGE_AUGMENTATIONS}, got {self.image_augment!r}",
        )


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """The update rule.

    Attributes:
        kind: "sgd" (with `momentum`) or "rmsprop" (Szegedy et al. 2015 §8: decay
            `rho`, `epsilon` 1.0, not Keras's 1e-7).
        momentum: SGD momentum (0 for plain SGD).
        rho: RMSProp's decay of the squared-gradient average.
        epsilon: RMSProp's epsilon.
        clip_norm: clip the gradients' global norm to this (0: off).
        lr_multipliers: ((regex on variable path, multiplier), ...), Caffe's
            ``lr_mult`` (e.g. biases at 2x in the thesis recipes).
    """

    kind: str = "sgd"
    momentum: float = 0.9
    rho: float = 0.9
    epsilon: float = 1.0
    clip_norm: float = 0.0
    lr_multipliers: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        _check(self.kind in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.kind!r}")
        _check(self.clip_norm >= 0, f"clip_norm must be >= 0, got {self.clip_norm}")
        _check(self.momentum >= 0, f"momentum must be >= 0, got {self.momentum}")
        # JSON gives lists; the recipe keeps tuples (hashable, comparable).
        pairs = tuple((str(p), float(m)) for p, m in self.lr_multipliers)
        object.__setattr__(self, "lr_multipliers", pairs)


@dataclasses.dataclass(frozen=True)
class Regularization:
    """What keeps the net from fitting the training set too closely.

    Attributes:
        weight_decay: L2 coefficient on conv/dense kernels, added to the gradient
            as Caffe and the papers do (not Keras's decoupled decay).
        label_smoothing: label-smoothing epsilon (0 for none).
        aux_loss_weight: weight of each auxiliary classifier's loss; when > 0,
            models that have auxiliary heads are built with them for training.
    """

    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    aux_loss_weight: float = 0.0

    def __post_init__(self):
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(
            0 <= self.label_smoothing < 1,
            f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        _check(
            self.aux_loss_weight >= 0, f"aux_loss_weight must be >= 0, got {self.aux_loss_weight}"
        )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """How the run watches itself.

    Attributes:
        val_split: training images held out for validation (0: the curves watch
            the test set, as the papers plot it; then nothing may be selected on it).
        validate_every: validate (and checkpoint) every N iterations; 0: each epoch.
    """

    val_split: int = 0
    validate_every: int = 0

    def __post_init__(self):
        _check(self.val_split >= 0, f"val_split must be >= 0, got {self.val_split}")
        _check(self.validate_every >= 0, f"validate_every must be >= 0, got {self.validate_every}")


# --------------------------------------------------------------------------- schedules


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The learning rate over the run, and the run's length: what every schedule has.

    Attributes:
        lr: the rate after the warm-up (the peak of a one-cycle schedule).
        total_steps: iterations to train.
        epochs: when set, the run lasts this many epochs instead (`Recipe.in_steps`
            converts it once the epoch's length is known).
        warmup_steps: iterations at `warmup_lr` before `lr` (step decay), or of the
            linear rise from `warmup_lr` to `lr` (one cycle); 0 for none.
        warmup_lr: the rate during (or at the start of) the warm-up.
        stop_loss: stop once a whole epoch's mean training loss is below this
            (W. Wu's thesis §3.1; 0: off).
    """

    kind: ClassVar[str] = ""
    lr: float = 0.1
    total_steps: int = 64_000
    epochs: int | None = None
    warmup_steps: int = 0
    warmup_lr: float = 0.0
    stop_loss: float = 0.0

    def __post_init__(self):
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(self.total_steps > 0, f"total_steps must be > 0, got {self.total_steps}")
        _check(self.epochs is None or self.epochs > 0, f"epochs must be > 0, got {self.epochs}")
        _check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")

    def in_steps(self, steps_per_epoch: int) -> Schedule:
        """The schedule with its epoch-denominated length in iterations."""
        if self.epochs is None:
            return self
        return dataclasses.replace(self, total_steps=self.epochs * steps_per_epoch, epochs=None)

    def scaled_to(self, total_steps: int) -> Schedule:
        """The same shape compressed (or stretched) to `total_steps` iterations."""
        factor = total_steps / self.total_steps
        warmup = math.ceil(self.warmup_steps * factor) if self.warmup_steps else 0
        return dataclasses.replace(self, total_steps=total_steps, warmup_steps=warmup)


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """Piecewise constant: after the warm-up `lr`, multiplied by `factor` at each boundary.

    Attributes:
        boundaries: iterations at which the rate is multiplied by `factor`.
        boundary_epochs: the same in epochs (converted by `in_steps`).
        factor: the multiplier at each boundary (He et al. 2016: 0.1).
    """

    kind: ClassVar[str] = "step"
    boundaries: tuple[int, ...] = ()
    boundary_epochs: tuple[float, ...] = ()
    factor: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "boundaries", tuple(int(b) for b in self.boundaries))
        object.__setattr__(self, "boundary_epochs", tuple(float(b) for b in self.boundary_epochs))
        _check(list(self.boundaries) == sorted(self.boundaries), "boundaries must increase")

    def in_steps(self, steps_per_epoch: int) -> StepDecay:
        schedule = super().in_steps(steps_per_epoch)
        if not self.boundary_epochs:
            return schedule
        steps = tuple(round(e * steps_per_epoch) for e in self.boundary_epochs)
        return dataclasses.replace(schedule, boundaries=steps, boundary_epochs=())

    def scaled_to(self, total_steps: int) -> StepDecay:
        factor = total_steps / self.total_steps
        scaled = tuple(max(1, round(b * factor)) for b in self.boundaries)
        return dataclasses.replace(super().scaled_to(total_steps), boundaries=scaled)

    def points(self) -> tuple[list[int], list[float]]:
        """(boundaries, values) of the piecewise-constant rate, warm-up first.

        ``len(values) == len(boundaries) + 1``; the rate is ``values[i]`` for
        ``boundaries[i-1] <= iteration < boundaries[i]``.
        """
        boundaries, values = (
            ([self.warmup_steps], [self.warmup_lr]) if self.warmup_steps else ([], [])
        )
        values.append(self.lr)
        for i, b in enumerate(self.boundaries):
            boundaries.append(b)
            values.append(self.lr * self.factor ** (i + 1))
        return boundaries, values


@dataclasses.dataclass(frozen=True)
class HalfLife(Schedule):
    """Exponential decay stated as a half-life (W. Wu's thesis: "halves every 3 epochs")."""

    kind: ClassVar[str] = "half_life"
    half_life_epochs: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        _check(self.half_life_epochs > 0, "the half_life schedule needs half_life_epochs > 0")


@dataclasses.dataclass(frozen=True)
class Plateau(Schedule):
    """Divide by 1/`factor` when validation accuracy stalls for `patience` validations.

    The papers of the ImageNet era (Krizhevsky et al., Simonyan & Zisserman, He et
    al. 2015) lowered the rate by hand "when the validation error stopped improving".
    """

    kind: ClassVar[str] = "plateau"
    factor: float = 0.1
    patience: int = 2

    def __post_init__(self):
        super().__post_init__()
        _check(0 < self.factor < 1, f"the plateau factor must be in (0, 1), got {self.factor}")


@dataclasses.dataclass(frozen=True)
class Exponential(Schedule):
    """Multiply the rate by `rate` every `every_epochs` (staircase; Szegedy et al.)."""

    kind: ClassVar[str] = "exponential"
    rate: float = 0.94
    every_epochs: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _check(self.every_epochs > 0, "the exponential schedule needs every_epochs > 0")


@dataclasses.dataclass(frozen=True)
class OneCycle(Schedule):
    """Linear rise from `warmup_lr` to `lr` over `warmup_steps`, then linear decay to 0 at the end.

    Smith & Topin 2017; the cycle spans the run, also one shortened by --steps.
    """

    kind: ClassVar[str] = "warmup_linear"


SCHEDULES: dict[str, type[Schedule]] = {
    cls.kind: cls for cls in (StepDecay, HalfLife, Plateau, Exponential, OneCycle)
}


# --------------------------------------------------------------------------- recipe

SECTIONS: dict[str, type] = {
    "data": Data,
    "schedule": Schedule,
    "optimizer": Optimizer,
    "regularization": Regularization,
    "evaluation": Evaluation,
}
TOP_LEVEL = ("name", "source", "init", "init_from_layers", "arch_overrides")

# cnnzoo's first, flat recipe format -> dotted paths. `lr_decay` meant a step
# schedule's factor, a plateau's factor or an exponential schedule's rate: it
# maps by the schedule's kind (`_LR_DECAY`).
LEGACY_FIELDS = {
    "dataset": "data.dataset",
    "batch_size": "data.batch_size",
    "preprocessing": "data.preprocessing",
    "pad_input": "data.pad_input",
    "augment": "data.augment",
    "augment_pad": "data.augment_pad",
    "augment_flip": "data.augment_flip",
    "image_augment": "data.image_augment",
    "lr": "schedule.lr",
    "total_steps": "schedule.total_steps",
    "epochs": "schedule.epochs",
    "warmup_steps": "schedule.warmup_steps",
    "warmup_lr": "schedule.warmup_lr",
    "early_stop_loss": "schedule.stop_loss",
    "lr_schedule": "schedule.kind",
    "lr_boundaries": "schedule.boundaries",
    "lr_boundary_epochs": "schedule.boundary_epochs",
    "half_life_epochs": "schedule.half_life_epochs",
    "plateau_patience": "schedule.patience",
    "decay_every_epochs": "schedule.every_epochs",
    "optimizer": "optimizer.kind",
    "momentum": "optimizer.momentum",
    "rmsprop_rho": "optimizer.rho",
    "rmsprop_epsilon": "optimizer.epsilon",
    "clip_norm": "optimizer.clip_norm",
    "lr_multipliers": "optimizer.lr_multipliers",
    "weight_decay": "regularization.weight_decay",
    "label_smoothing": "regularization.label_smoothing",
    "aux_loss_weight": "regularization.aux_loss_weight",
    "val_split": "evaluation.val_split",
    "validate_every": "evaluation.validate_every",
}
_LR_DECAY = {
    "step": "schedule.factor",
    "plateau": "schedule.factor",
    "exponential": "schedule.rate",
}


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe: sections of typed fields (see the module docstring).

    Attributes:
        name: registry key.
        source: the paper and section the numbers come from.
        data, schedule, optimizer, regularization, evaluation: the sections.
        init: weight-initialization scheme (`cnnzoo.training.init_schemes`), None
            for the builder's own.
        init_from_layers: regular expressions (matched against whole layer names)
            of the layers `cnnzoo fit --init-from MODEL` copies from a trained
            model, the others keeping `init` (Simonyan & Zisserman 2014 §3.1: the
            first four conv layers and the three FC layers of net A). Empty: every
            layer whose name and weight shapes match is copied, and --init-from is
            optional; a recipe that names layers needs --init-from.
        arch_overrides: per-architecture changes, {arch: {dotted path: value}},
            e.g. He et al.'s warm-up for resnet110.
    """

    name: str
    source: str
    data: Data = dataclasses.field(default_factory=Data)
    schedule: Schedule = dataclasses.field(default_factory=StepDecay)
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    regularization: Regularization = dataclasses.field(default_factory=Regularization)
    evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)
    init: str | None = None
    init_from_layers: tuple[str, ...] = ()
    arch_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for section, cls in SECTIONS.items():
            _check(
                isinstance(getattr(self, section), cls),
                f"recipe {self.name!r}: {section} must be a {cls.__name__}",
            )
        # JSON gives a list and a flag may give one string; the recipe keeps a tuple.
        patterns = self.init_from_layers
        patterns = (patterns,) if isinstance(patterns, str) else tuple(map(str, patterns))
        object.__setattr__(self, "init_from_layers", patterns)
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"init_from_layers: {pattern!r} is not a regular expression ({e})"
                ) from None

    def for_arch(self, arch: str) -> Recipe:
        """The recipe with this architecture's overrides applied."""
        return self.override(self.arch_overrides.get(arch, {}))

    def override(self, changes: dict[str, Any] | None = None, /, **more: Any) -> Recipe:
        """A copy with fields replaced, by dotted path or legacy flat name.

        Args:
            changes: {"schedule.lr": 0.05, "batch_size": 64, ...}.
            **more: the same as keywords (flat names only: ``override(lr=0.05)``).

        Raises:
            ValueError: an unknown field (the message lists the known ones) or an
                invalid value (the message names the recipe and the field).
        """
        paths = _dotted({**(changes or {}), **more}, self.schedule.kind, strict=True)
        try:
            return _apply(self, paths)
        except (TypeError, ValueError) as e:
            raise ValueError(f"recipe {self.name!r}: {e}") from None

    def in_steps(self, steps_per_epoch: int) -> Recipe:
        """The recipe with its epoch-denominated fields converted to iterations."""
        return dataclasses.replace(self, schedule=self.schedule.in_steps(steps_per_epoch))

    def scaled_to(self, total_steps: int) -> Recipe:
        """The same schedule shape compressed (or stretched) to `total_steps` iterations.

        Short runs (smoke tests, tuner trials) still see the warm-up and every
        decay, at proportional iterations.
        """
        return dataclasses.replace(self, schedule=self.schedule.scaled_to(total_steps))

    def as_dict(self) -> dict[str, Any]:
        """JSON-able nested form (stored in run.json and beside trained models)."""
        out = json.loads(json.dumps(dataclasses.asdict(self)))
        out["schedule"] = {"kind": self.schedule.kind, **out["schedule"]}
        return out

    def flat(self) -> dict[str, Any]:
        """{dotted path: value} of every field (for comparing two recipes)."""
        out: dict[str, Any] = {}
        for key, value in self.as_dict().items():
            if key in SECTIONS:
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """A recipe from `as_dict`'s form, or from the flat one of earlier versions.

        The flat form carried every schedule's fields whatever its kind; those
        that the kind does not have are dropped (they had no effect).
        """
        if "data" not in d:
            top = {k: d[k] for k in ("name", "source") if k in d}
            base = cls(name=top.get("name", "?"), source=top.get("source", ""))
            kind = d.get("lr_schedule", "step")
            return _apply(base, _dotted(dict(d), kind, strict=False))
        paths = {k: d[k] for k in TOP_LEVEL if k in d}
        for section in SECTIONS:
            paths.update({f"{section}.{k}": v for k, v in d.get(section, {}).items()})
        return _apply(cls(name=d["name"], source=d.get("source", "")), paths)


def _dotted(changes: dict[str, Any], kind: str, strict: bool) -> dict[str, Any]:
    """Changes keyed by dotted path, legacy flat names translated."""
    kind = changes.get("lr_schedule", changes.get("schedule.kind", kind))
    out = {}
    for key, value in changes.items():
        if key == "lr_decay":
            if kind not in _LR_DECAY:
                if strict:
                    raise ValueError(f"lr_decay has no meaning for the {kind!r} schedule")
                continue
            key = _LR_DECAY[kind]
        out[LEGACY_FIELDS.get(key, key)] = value
    if not strict:
        fields = set(_fields(SCHEDULES.get(kind, StepDecay)))
        out = {
            k: v
            for k, v in out.items()
            if not k.startswith("schedule.") or k[len("schedule.") :] in fields | {"kind"}
        }
    return out


def _apply(recipe: Recipe, paths: dict[str, Any]) -> Recipe:
    """`recipe` with the dotted `paths` replaced (the schedule rebuilt if its kind changes)."""
    by_section: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for path, value in paths.items():
        section, _, field = path.partition(".")
        if section in SECTIONS and field:
            by_section.setdefault(section, {})[field] = value
        elif path in TOP_LEVEL:
            top[path] = value
        else:
            raise ValueError(f"unknown recipe field {path!r}; known fields: {_known()}")
    sections = {
        name: _replace(name, getattr(recipe, name), fields) for name, fields in by_section.items()
    }
    return dataclasses.replace(recipe, **top, **sections)


def _replace(name: str, section, fields: dict[str, Any]):
    """Section `name` with `fields` replaced; a schedule of another kind is built anew."""
    cls = type(section)
    if isinstance(section, Schedule):
        kind = fields.pop("kind", section.kind)
        if kind not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {tuple(SCHEDULES)}, got {kind!r}")
        cls = SCHEDULES[kind]
    unknown = [f"{name}.{f}" for f in sorted(set(fields) - set(_fields(cls)))]
    if unknown:
        which = f" (a {cls.kind!r} schedule has {_fields(cls)})" if name == "schedule" else ""
        raise ValueError(f"unknown recipe field(s) {unknown}{which}; known fields: {_known()}")
    for key in ("boundaries", "boundary_epochs", "lr_multipliers"):
        if key in fields and fields[key] is not None:
            fields[key] = tuple(tuple(v) if isinstance(v, list) else v for v in fields[key])
    if cls is not type(section):
        # The fields every schedule has carry over; the new kind's own start anew.
        return cls(**{**{f: getattr(section, f) for f in _fields(Schedule)}, **fields})
    return dataclasses.replace(section, **fields)


def _known() -> list[str]:
    paths = [
        f"{name}.{f}" for name, cls in SECTIONS.items() if cls is not Schedule for f in _fields(cls)
    ]
    schedule = {f for cls in SCHEDULES.values() for f in _fields(cls)}
    return sorted([*paths, *(f"schedule.{f}" for f in schedule), "schedule.kind", *TOP_LEVEL])

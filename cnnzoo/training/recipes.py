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

PREPROCESSING = (
    "per_pixel_mean",
    "per_channel_mean",
    "per_pixel_mean_255",
    "per_channel_mean_255",
    "per_channel_standardize",
    "scale_pm1",
    "scale_01",
    "lecun",
    "none",
)
LR_SCHEDULES = ("step", "half_life", "plateau", "exponential", "warmup_linear")
OPTIMIZERS = ("sgd", "rmsprop")
# cnnzoo.pipelines.imagenet_augment.AUGMENTATIONS, and "" for none (kept here so that
# recipes stay importable without TensorFlow's image ops).
IMAGE_AUGMENTATIONS = ("", "alexnet", "vgg", "resnet", "inception")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        name: registry key.
        source: the paper and section the numbers come from.
        dataset: dataset name understood by `pipelines` ("cifar10").
        preprocessing: one of `PREPROCESSING`; becomes the model's first layers.
        augment: random translation by zero-padding `augment_pad` pixels and cropping,
            plus horizontal flips if `augment_flip` (He et al. 2016 §4.2: pad 4, flip).
        augment_pad: pixels of zero padding per side for the random crop.
        augment_flip: mirror half the images (off for digits).
        image_augment: for image-folder sources: "alexnet", "vgg", "resnet" (each
            with PCA colour noise) or "inception" (`cnnzoo.pipelines.imagenet_augment`);
            "" for a centre view and a flip.
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
        aux_loss_weight: weight of each auxiliary classifier's loss; when > 0,
            models that have auxiliary heads are built with them for training.
        val_split: training images held out for validation (0: monitor the test set).
        arch_overrides: per-architecture field overrides, e.g. warm-up for resnet110.
        epochs: when set, the run lasts this many epochs (overrides total_steps).
        lr_schedule: "step" (warm-up, then `lr_decay` at each boundary), "half_life"
            (exponential decay halving every `half_life_epochs`) or "plateau" (divide
            by 1/`lr_decay` when validation accuracy stops improving for
            `plateau_patience` validations).
            "exponential" multiplies the rate by `lr_decay` every `decay_every_epochs`
            (Szegedy et al.: 4% every 8 epochs, or 0.94 every 2).
            "warmup_linear" rises linearly from `warmup_lr` to `lr` over
            `warmup_steps`, then falls linearly to 0 at the last iteration (one cycle).
        lr_boundary_epochs: step boundaries in epochs (used instead of lr_boundaries).
        decay_every_epochs: interval of the "exponential" schedule's steps.
        optimizer: "sgd" (with `momentum`) or "rmsprop" (Szegedy et al. 2015 §8:
            decay `rmsprop_rho`, epsilon `rmsprop_epsilon`).
        rmsprop_rho: RMSProp's decay of the squared-gradient average.
        rmsprop_epsilon: RMSProp's epsilon (1.0 in Szegedy et al. 2015, not 1e-7).
        clip_norm: clip the gradients' global norm to this (0: off; 2.0 in Szegedy
            et al. 2015 §8).
        half_life_epochs: half-life of the "half_life" schedule.
        plateau_patience: validations without improvement before a "plateau" decay.
        lr_multipliers: ((regex on variable path, multiplier), ...), e.g. biases 2x.
        validate_every: validate (and checkpoint) every N iterations; 0: each epoch.
        early_stop_loss: stop once an epoch's mean training loss is below this (0: off).
        init: weight-initialization scheme (`cnnzoo.training.init_schemes`), None
            for the builder's own.
        pad_input: zero-pad images by this many pixels per side (LeNet-5: MNIST 28->32).
    """

    name: str
    source: str
    dataset: str = "cifar10"
    preprocessing: str = "per_pixel_mean"
    augment: bool = True
    augment_pad: int = 4
    augment_flip: bool = True
    image_augment: str = ""
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
    aux_loss_weight: float = 0.0
    val_split: int = 0
    arch_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    epochs: int | None = None
    lr_schedule: str = "step"
    lr_boundary_epochs: tuple[float, ...] = ()
    half_life_epochs: float = 0.0
    plateau_patience: int = 2
    decay_every_epochs: float = 0.0
    optimizer: str = "sgd"
    rmsprop_rho: float = 0.9
    rmsprop_epsilon: float = 1.0
    clip_norm: float = 0.0
    lr_multipliers: tuple[tuple[str, float], ...] = ()
    validate_every: int = 0
    early_stop_loss: float = 0.0
    init: str | None = None
    pad_input: int = 0

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"recipe {self.name!r}: lr_schedule must be one of {LR_SCHEDULES}, "
                f"got {self.lr_schedule!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"recipe {self.name!r}: optimizer must be one of {OPTIMIZERS}, "
                f"got {self.optimizer!r}"
            )
        if self.image_augment not in IMAGE_AUGMENTATIONS:
            raise ValueError(
                f"recipe {self.name!r}: image_augment must be one of {IMAGE_AUGMENTATIONS}, "
                f"got {self.image_augment!r}"
            )
        if self.lr_schedule == "exponential" and self.decay_every_epochs <= 0:
            raise ValueError(
                f"recipe {self.name!r}: the exponential schedule needs decay_every_epochs"
            )
        if self.clip_norm < 0:
            raise ValueError(f"recipe {self.name!r}: clip_norm must be >= 0, got {self.clip_norm}")
        if self.lr_schedule == "half_life" and self.half_life_epochs <= 0:
            raise ValueError(f"recipe {self.name!r}: the half_life schedule needs half_life_epochs")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"recipe {self.name!r}: epochs must be > 0, got {self.epochs}")
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
        if self.augment_pad < 0:
            raise ValueError(
                f"recipe {self.name!r}: augment_pad must be >= 0, got {self.augment_pad}"
            )
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
        # JSON override files give lists; the recipe keeps tuples (hashable, comparable).
        for key in ("lr_boundaries", "lr_boundary_epochs"):
            if key in changes:
                changes[key] = tuple(changes[key])
        if "lr_multipliers" in changes:
            changes["lr_multipliers"] = tuple(
                (str(p), float(m)) for p, m in changes["lr_multipliers"]
            )
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

    def in_steps(self, steps_per_epoch: int) -> Recipe:
        """The recipe with its epoch-denominated fields converted to iterations.

        Args:
            steps_per_epoch: iterations per pass over the training set.

        Returns:
            A recipe whose total_steps and lr_boundaries are in iterations.
        """
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["total_steps"] = self.epochs * steps_per_epoch
            changes["epochs"] = None
        if self.lr_boundary_epochs:
            changes["lr_boundaries"] = tuple(
                round(e * steps_per_epoch) for e in self.lr_boundary_epochs
            )
            changes["lr_boundary_epochs"] = ()
        return self.override(**changes) if changes else self

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (stored beside trained models)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


_WU2016_MNIST = Recipe(
    name="wu2016_mnist",
    # W. Wu, 2016 thesis, §3.1: batch 50, plain SGD, Xavier initialization with
    # zero biases, lr 0.01 (biases 0.02) halving every 3 epochs, 1,000 held-out
    # validation images checked every 200 iterations, at most 20 epochs, stop
    # once an epoch's mean cross-entropy is below 0.002; pixels divided by 255.
    source="W. Wu, 2016 thesis, §3.1",
    dataset="mnist",
    preprocessing="scale_01",
    augment=False,
    batch_size=50,
    epochs=20,
    lr=0.01,
    momentum=0.0,
    weight_decay=0.0,
    lr_schedule="half_life",
    half_life_epochs=3,
    lr_multipliers=((r"bias$", 2.0),),
    val_split=1000,
    validate_every=200,
    early_stop_loss=0.002,
    # "Xavier" as Caffe implements it (U[±sqrt(3 / fan_in)]): batch 50, lr 0.01,
    # biases at 2x are Caffe's LeNet settings, which the thesis follows.
    init="caffe_xavier",
)

_LECUN1998 = Recipe(
    name="lecun1998",
    # LeCun et al. 1998 §II.A / §III.C, adapted to momentum SGD: inputs scaled so
    # background is -0.1 and ink 1.175, MNIST padded 28->32; 20 passes with the
    # rate lowered after passes 2, 5, 8 and 12 as in the paper (here halved each
    # time: the paper's values belong to its diagonal Levenberg-Marquardt method).
    source="LeCun et al. 1998, §II.A and §III.C (schedule shape)",
    dataset="mnist",
    preprocessing="lecun",
    pad_input=2,
    augment=False,
    batch_size=64,
    epochs=20,
    lr=0.05,
    momentum=0.9,
    weight_decay=0.0,
    lr_boundary_epochs=(2, 5, 8, 12),
    lr_decay=0.5,
    val_split=1000,
)

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
            # §4.2: "We use the weight initialization in [13]" (He et al. 2015).
            init="msra",
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
            # §3.2: initialized "with the method of [2]" (He et al. 2015).
            init="msra",
        ),
        Recipe(
            name="fast_cifar",
            # Not a paper's recipe: the unchanged CIFAR ResNets trained for time to
            # accuracy on a 2-core CPU (README "Time to accuracy"). One cycle: a
            # linear warm-up over 2 epochs to 0.2, then linear decay to 0 at epoch 40
            # (Smith & Topin 2017; Page 2018); label smoothing 0.1 (Szegedy et al.
            # 2016, §7); weight decay 5e-4, which short schedules favour; He et al.'s
            # augmentation and preprocessing. 40 epochs: what ~740 images/s (about 70 s
            # an epoch, validation included, on a 2-core AVX-512 EPYC) fit in under
            # an hour with evaluation (a 2-core AVX2 machine, at ~330 images/s,
            # fits 20).
            source="one-cycle schedule (Smith & Topin 2017), label smoothing (Szegedy et al. 2016)",
            preprocessing="per_pixel_mean",
            epochs=40,
            lr=0.2,
            lr_schedule="warmup_linear",
            warmup_steps=782,
            warmup_lr=0.02,
            weight_decay=5e-4,
            label_smoothing=0.1,
        ),
        _WU2016_MNIST,
        _WU2016_MNIST.override(
            name="wu2016_mnist_caffe",
            # The thesis's plain SGD measured 98.25% here (README), its training loss
            # still 0.08 after 20 epochs, far from the 0.002 its early stop expects.
            # Caffe's lenet_solver.prototxt, whose batch, rate and bias multiplier the
            # recipe already shares, adds momentum 0.9 and weight decay 5e-4: 99.12%.
            source="W. Wu, 2016 thesis, §3.1, with Caffe's LeNet solver momentum and decay",
            momentum=0.9,
            weight_decay=5e-4,
        ),
        Recipe(
            name="wu2016_cifar",
            # Same thesis, §3.2: batch 10, momentum 0.9, per-layer Gaussian init, lr
            # 0.0005 (biases 2x) halving every 5 epochs, 1,000 validation images checked
            # every 4,900 iterations, 30 epochs, per-pixel mean subtraction.
            source="W. Wu, 2016 thesis, §3.2",
            dataset="cifar10",
            preprocessing="per_pixel_mean_255",
            augment=False,
            batch_size=10,
            epochs=30,
            lr=0.0005,
            momentum=0.9,
            # The thesis states no weight decay; Caffe's cifar10_quick solver, where
            # the net's init comes from, has 0.004. Measured here (README): none
            # 73.68%, 1e-3 74.79%, 2e-3 75.87% test accuracy (thesis: 74.90%).
            weight_decay=0.002,
            lr_schedule="half_life",
            half_life_epochs=5,
            lr_multipliers=((r"bias$", 2.0),),
            val_split=1000,
            validate_every=4900,
            # The thesis's σ (1e-4, 1e-4, 1e-3, 1e-2, 1e-1; scheme
            # "wu2016_cifar_gaussian") leave the logits ~1e-6 and the loss at ln 10
            # for 4,000+ iterations (measured, README); Caffe's cifar10_quick σ for
            # the same five layers train from the first hundred iterations.
            init="caffe_cifar10_quick",
        ),
        _LECUN1998,
        _LECUN1998.override(
            name="lecun1998_distorted",
            # The paper's remedy for LeNet-5's overfitting (§III.C: distorted training
            # copies took it from 0.95% to 0.8% test error); here the translations of
            # those affine distortions only, up to 2 pixels, drawn afresh each epoch.
            source="LeCun et al. 1998, §II.A and §III.C (schedule shape, distortions)",
            augment=True,
            augment_pad=2,
            augment_flip=False,  # digits are not mirror-symmetric
        ),
        Recipe(
            name="krizhevsky2012",
            # Krizhevsky et al. 2012 §5: batch 128, momentum 0.9, weight decay 0.0005
            # inside the velocity update, N(0, 0.01) weights with biases 1 in conv2/4/5
            # and the hidden FC layers, lr 0.01 divided by 10 when the validation error
            # stops improving, ~90 epochs; mean activity subtracted per pixel (§2).
            source="Krizhevsky et al. 2012, §2 and §5",
            dataset="imagenet2012",
            image_augment="alexnet",
            preprocessing="per_pixel_mean_255",
            batch_size=128,
            epochs=90,
            lr=0.01,
            momentum=0.9,
            weight_decay=0.0005,
            lr_schedule="plateau",
            init="alexnet",
        ),
        Recipe(
            name="simonyan2014",
            # Simonyan & Zisserman 2014 §3.1: batch 256, momentum 0.9, weight decay 5e-4,
            # dropout 0.5 on fc1/fc2 (in the builders), lr 0.01 divided by 10 when the
            # validation accuracy stops improving, 74 epochs; Glorot init is the paper's
            # stated alternative to pre-training (§3.1); mean RGB subtracted (§2.1).
            source="Simonyan & Zisserman 2014, §2.1 and §3.1",
            dataset="imagenet2012",
            image_augment="vgg",
            preprocessing="per_channel_mean_255",
            batch_size=256,
            epochs=74,
            lr=0.01,
            momentum=0.9,
            weight_decay=5e-4,
            lr_schedule="plateau",
            init="glorot_uniform",
        ),
        Recipe(
            name="he2015_imagenet",
            # He et al. 2015 §3.4: batch 256, momentum 0.9, weight decay 1e-4, lr 0.1
            # divided by 10 when the error plateaus, up to 60x10^4 iterations; no
            # dropout; per-pixel mean subtracted (the scale augmentation is the
            # pipeline's).
            source="He et al. 2015, Deep residual learning, §3.4",
            dataset="imagenet2012",
            image_augment="resnet",
            preprocessing="per_pixel_mean_255",
            batch_size=256,
            total_steps=600_000,
            lr=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            lr_schedule="plateau",
            # §3.4: "We initialize the weights as in [13]" (He et al. 2015).
            init="msra",
        ),
        Recipe(
            name="szegedy2014",
            # Szegedy et al. 2014 §6: momentum 0.9, the rate decreased by 4% every 8
            # epochs; auxiliary losses weighted 0.3 (§5). The paper gives neither the
            # starting rate, the batch nor the length: 0.01, 32 and weight decay 2e-4
            # are BVLC's Caffe reproduction's; 60 epochs is its 2.4M iterations at 32.
            source="Szegedy et al. 2014, §5 and §6",
            dataset="imagenet2012",
            image_augment="inception",
            preprocessing="per_channel_mean_255",
            batch_size=32,
            epochs=60,
            lr=0.01,
            momentum=0.9,
            weight_decay=2e-4,
            lr_schedule="exponential",
            decay_every_epochs=8,
            lr_decay=0.96,
            aux_loss_weight=0.3,
        ),
        Recipe(
            name="szegedy2015",
            # Szegedy et al. 2015 §7-8: batch 32, 100 epochs, RMSProp decay 0.9 with
            # epsilon 1.0, lr 0.045 multiplied by 0.94 every two epochs, gradient
            # clipping at 2.0, label smoothing 0.1; the auxiliary head's loss at 0.4
            # and weight decay 4e-5 as TF-Slim's Inception v3 training has them (the
            # paper gives neither).
            source="Szegedy et al. 2015, Rethinking the Inception architecture, §7-8",
            dataset="imagenet2012",
            image_augment="inception",
            preprocessing="scale_pm1",
            batch_size=32,
            epochs=100,
            optimizer="rmsprop",
            lr=0.045,
            weight_decay=4e-5,
            lr_schedule="exponential",
            decay_every_epochs=2,
            lr_decay=0.94,
            clip_norm=2.0,
            label_smoothing=0.1,
            aux_loss_weight=0.4,
        ),
        Recipe(
            name="szegedy2016",
            # Szegedy et al. 2016 §4 (Inception v4, Inception-ResNet): RMSProp decay
            # 0.9, epsilon 1.0, lr 0.045 decayed every two epochs by 0.94. Batch,
            # length and weight decay, which §4 omits, as szegedy2015; no clipping or
            # label smoothing, which §4 does not mention.
            source="Szegedy et al. 2016, Inception-v4, Inception-ResNet, §4",
            dataset="imagenet2012",
            image_augment="inception",
            preprocessing="scale_pm1",
            batch_size=32,
            epochs=100,
            optimizer="rmsprop",
            lr=0.045,
            weight_decay=4e-5,
            lr_schedule="exponential",
            decay_every_epochs=2,
            lr_decay=0.94,
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

"""The papers' training recipes, as data (`cnnzoo.training.recipe` says what a recipe is).

Each recipe cites the paper and section its numbers come from; where a paper
leaves a value out, the comment says whose value it uses. The trainer reads a
recipe and never hard-codes one; command-line flags and override files replace
fields with `Recipe.override`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnzoo.training.recipe import (
    IMAGE_AUGMENTATIONS,
    LEGACY_FIELDS,
    OPTIMIZERS,
    PREPROCESSING,
    Data,
    Evaluation,
    Exponential,
    HalfLife,
    OneCycle,
    Optimizer,
    Plateau,
    Recipe,
    Regularization,
    StepDecay,
)

__all__ = [
    "IMAGE_AUGMENTATIONS",
    "LEGACY_FIELDS",
    "OPTIMIZERS",
    "PREPROCESSING",
    "RECIPES",
    "Recipe",
    "get_recipe",
    "load_overrides",
]

_WU2016_MNIST = Recipe(
    name="wu2016_mnist",
    # W. Wu, 2016 thesis, §3.1: batch 50, plain SGD, Xavier initialization with
    # zero biases, lr 0.01 (biases 0.02) halving every 3 epochs, 1,000 held-out
    # validation images checked every 200 iterations, at most 20 epochs, stop
    # once an epoch's mean cross-entropy is below 0.002; pixels divided by 255.
    source="W. Wu, 2016 thesis, §3.1",
    data=Data(dataset="mnist", batch_size=50, preprocessing="scale_01", augment=False),
    schedule=HalfLife(lr=0.01, epochs=20, half_life_epochs=3, stop_loss=0.002),
    optimizer=Optimizer(momentum=0.0, lr_multipliers=((r"bias$", 2.0),)),
    regularization=Regularization(weight_decay=0.0),
    evaluation=Evaluation(val_split=1000, validate_every=200),
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
    data=Data(dataset="mnist", batch_size=64, preprocessing="lecun", pad_input=2, augment=False),
    schedule=StepDecay(lr=0.05, epochs=20, boundary_epochs=(2, 5, 8, 12), factor=0.5),
    regularization=Regularization(weight_decay=0.0),
    evaluation=Evaluation(val_split=1000),
)

# §4.2: "for the 110-layer network ... 0.01 to warm up the training until the
# training error is below 80% (about 400 iterations)"; the 1202-layer net and
# the plain nets of that depth use the same.
_HE2016_WARMUP = {"schedule.warmup_steps": 400, "schedule.warmup_lr": 0.01}
_HE2016_DEEP = ("resnet110", "resnet1202", "plain110", "preact_resnet110", "preact_resnet164")

_WU2016_CIFAR = Recipe(
    name="wu2016_cifar",
    # Same thesis, §3.2: batch 10, momentum 0.9, per-layer Gaussian init, lr
    # 0.0005 (biases 2x) halving every 5 epochs, 1,000 validation images checked
    # every 4,900 iterations, 30 epochs; "every dimension of the input minus the
    # training set's mean of that dimension" (per-pixel mean subtraction; §2.1:
    # ReLU nets need only the shift, not `per_pixel_standardize`'s division).
    source="W. Wu, 2016 thesis, §3.2",
    data=Data(batch_size=10, preprocessing="per_pixel_mean_255", augment=False),
    schedule=HalfLife(lr=0.0005, epochs=30, half_life_epochs=5),
    optimizer=Optimizer(momentum=0.9, lr_multipliers=((r"bias$", 2.0),)),
    # The thesis states no weight decay; Caffe's cifar10_quick solver, where
    # the net's init comes from, has 0.004. Measured here (README): none
    # 73.68%, 1e-3 74.79%, 2e-3 75.87% test accuracy (thesis: 74.90%).
    regularization=Regularization(weight_decay=0.002),
    evaluation=Evaluation(val_split=1000, validate_every=4900),
    # The thesis's σ (1e-4, 1e-4, 1e-3, 1e-2, 1e-1; scheme
    # "wu2016_cifar_gaussian") leave the logits ~1e-6 and the loss at ln 10
    # for 4,000+ iterations (measured, README); Caffe's cifar10_quick σ for
    # the same five layers train from the first hundred iterations.
    init="caffe_cifar10_quick",
)

_CIFAR_RECIPES = [
    Recipe(
        name="he2016_cifar",
        # He et al. 2016, "Deep residual learning for image recognition", §4.2:
        # batch 128, momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k
        # and 48k iterations, stop at 64k; 45k/5k split for validation curves;
        # per-pixel mean subtraction; 4-pixel pad, 32x32 crop, flip.
        source="He et al. 2016, Deep residual learning, §4.2",
        schedule=StepDecay(lr=0.1, total_steps=64_000, boundaries=(32_000, 48_000)),
        # §4.2: "We use the weight initialization in [13]" (He et al. 2015).
        init="msra",
        arch_overrides=dict.fromkeys(_HE2016_DEEP, _HE2016_WARMUP),
    ),
    Recipe(
        name="wu_resnet_cifar",
        # W. Wu, "Image classification with deep residual learning" (South China
        # Normal University) §3.2: batch 128, momentum 0.9, L2 1e-4, warm-up 0.01 for
        # 500 iterations then 0.1, /10 at 32k, 48k and 64k, stop at 80k; inputs
        # scaled to [-1, 1]; pad 4, crop, flip. Reports 91.1% test accuracy (§3.3).
        source="W. Wu, Image classification with deep residual learning (SCNU), §3.2",
        data=Data(preprocessing="scale_pm1"),
        schedule=StepDecay(
            lr=0.1,
            total_steps=80_000,
            boundaries=(32_000, 48_000, 64_000),
            warmup_steps=500,
            warmup_lr=0.01,
        ),
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
        schedule=OneCycle(lr=0.2, epochs=40, warmup_steps=782, warmup_lr=0.02),
        regularization=Regularization(weight_decay=5e-4, label_smoothing=0.1),
    ),
    _WU2016_CIFAR,
    _WU2016_CIFAR.override(
        {
            "name": "wu2016_cifar_augmented",
            # wu2016_cifar plus the enlargement of the data set the thesis recommends
            # against overfitting (§2.2: "translation, horizontal flips and slight
            # rotations"), which its §3.2 run does not use: translations of up to 4
            # pixels (He et al. 2016 §4.2's CIFAR padding), flips, and rotations of
            # up to 10 degrees (wu2016_mnist_augmented's; the thesis gives no range).
            "source": "W. Wu, 2016 thesis, §3.2 and §2.2",
            "data.augment": True,
            "data.augment_pad": 4,
            "data.augment_flip": True,
            "data.affine_rotate": 10.0,
        }
    ),
]

_MNIST_RECIPES = [
    _WU2016_MNIST,
    _WU2016_MNIST.override(
        {
            "name": "wu2016_mnist_caffe",
            # The thesis's plain SGD measured 98.25% here (README), its training loss
            # still 0.08 after 20 epochs, far from the 0.002 its early stop expects.
            # Caffe's lenet_solver.prototxt, whose batch, rate and bias multiplier the
            # recipe already shares, adds momentum 0.9 and weight decay 5e-4: 99.12%.
            "source": "W. Wu, 2016 thesis, §3.1, with Caffe's LeNet solver momentum and decay",
            "optimizer.momentum": 0.9,
            "regularization.weight_decay": 5e-4,
        }
    ),
    _WU2016_MNIST.override(
        {
            "name": "wu2016_mnist_augmented",
            # wu2016_mnist_caffe plus the enlargement of the data set the thesis
            # recommends against overfitting (§2.2: "translation, horizontal flips
            # and slight rotations"; flips do not suit digits): translations of up
            # to 2 pixels and rotations of up to 10 degrees (the range is ours).
            "source": "W. Wu, 2016 thesis, §3.1 and §2.2, with Caffe's LeNet solver",
            "optimizer.momentum": 0.9,
            "regularization.weight_decay": 5e-4,
            "data.augment": True,
            "data.augment_pad": 2,
            "data.augment_flip": False,
            "data.affine_rotate": 10.0,
        }
    ),
    _LECUN1998,
    _LECUN1998.override(
        {
            "name": "lecun1998_distorted",
            # The paper's remedy for LeNet-5's overfitting (§III.C: distorted training
            # copies took it from 0.95% to 0.8% test error); here the translations of
            # those affine distortions only, up to 2 pixels, drawn afresh each epoch.
            "source": "LeCun et al. 1998, §II.A and §III.C (schedule shape, distortions)",
            "data.augment": True,
            "data.augment_pad": 2,
            "data.augment_flip": False,  # digits are not mirror-symmetric
        }
    ),
    _LECUN1998.override(
        {
            "name": "lecun1998_affine",
            # §III.C's distortions whole: "combinations of ... planar affine
            # transformations: horizontal and vertical translations, scaling,
            # squeezing ... and horizontal shearing". The paper gives no ranges:
            # ±2 pixels as lecun1998_distorted; scale and squeeze ±10% and shear
            # ±0.2 are ours, small enough that every digit stays inside 28x28.
            "source": "LeCun et al. 1998, §II.A and §III.C (schedule shape, affine distortions)",
            "data.augment": True,
            "data.augment_pad": 2,
            "data.augment_flip": False,
            "data.affine_scale": 0.1,
            "data.affine_squeeze": 0.1,
            "data.affine_shear": 0.2,
        }
    ),
]


def _imagenet(augment: str, preprocessing: str, batch_size: int) -> Data:
    """ImageNet's data section: a paper's crop (`IMAGE_AUGMENTATIONS`) and preprocessing."""
    return Data(
        dataset="imagenet2012",
        batch_size=batch_size,
        image_augment=augment,
        preprocessing=preprocessing,
    )


# Szegedy et al. 2015 §8 / 2016 §4: RMSProp with decay 0.9 and epsilon 1.0.
_RMSPROP = Optimizer(kind="rmsprop", rho=0.9, epsilon=1.0)
_INCEPTION_DATA = _imagenet("inception", "scale_pm1", batch_size=32)

_SIMONYAN2014 = Recipe(
    name="simonyan2014",
    # Simonyan & Zisserman 2014 §3.1: batch 256, momentum 0.9, weight decay 5e-4,
    # dropout 0.5 on fc1/fc2 (in the builders), lr 0.01 divided by 10 when the
    # validation accuracy stops improving, 74 epochs; Glorot init is the paper's
    # stated alternative to pre-training (§3.1); mean RGB subtracted (§2.1).
    source="Simonyan & Zisserman 2014, §2.1 and §3.1",
    data=_imagenet("vgg", "per_channel_mean_255", batch_size=256),
    schedule=Plateau(lr=0.01, epochs=74, factor=0.1),
    regularization=Regularization(weight_decay=5e-4),
    init="glorot_uniform",
)

# Simonyan & Zisserman 2014 §3.1: "when training deeper architectures, we initialised
# the first four convolutional layers and the last three fully-connected layers with
# the layers of net A (the intermediate layers were initialised randomly)". A's first
# four are conv1_1, conv2_1, conv3_1, conv3_2 (Caffe's names), which the deeper nets
# have by the same names and shapes; A's block4/5 convolutions would fit too but
# stay random, as §3.1 says.
VGG_A_INIT_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block3_conv2",
    "fc1",
    "fc2",
    "predictions",
)
_VGG_RECIPES = [
    _SIMONYAN2014,
    _SIMONYAN2014.override(
        {
            "name": "simonyan2014_s256",
            # §3.1 single-scale training: S fixed at 256 ("widely used in the prior
            # art"), a random 224 crop of it; the paper trains each configuration so
            # first. Survey 003 §3.2: one model at S = 256, another at S = 384.
            "source": "Simonyan & Zisserman 2014, §2.1 and §3.1 (single scale, S = 256)",
            "data.image_augment": "vgg_s256",
        }
    ),
    _SIMONYAN2014.override(
        {
            "name": "simonyan2014_s384",
            # §3.1: "To speed-up training of the S = 384 network, it was initialised
            # with the weights pre-trained with S = 256, and we used a smaller
            # initial learning rate of 10^-3": every layer from --init-from (the
            # S = 256 model of the same configuration). Its length is not given:
            # the plateau schedule's 74 epochs at most, as S = 256.
            "source": "Simonyan & Zisserman 2014, §2.1 and §3.1 (single scale, S = 384)",
            "data.image_augment": "vgg_s384",
            "schedule.lr": 1e-3,
            "init_from_layers": (".*",),
        }
    ),
    _SIMONYAN2014.override(
        {
            "name": "simonyan2014_from_a",
            # §3.1 (survey 003 §3.2, weight initialization): configurations B-E at
            # S = 256 with net A's first four conv layers and three FC layers
            # (`VGG_A_INIT_LAYERS`, from --init-from), "the intermediate layers
            # initialised randomly" (here Glorot's, as simonyan2014: the paper's
            # N(0, 1e-2) is not one of the init schemes), "we did not decrease the
            # learning rate for the pre-initialised layers".
            "source": "Simonyan & Zisserman 2014, §2.1 and §3.1 (deeper nets from net A)",
            "data.image_augment": "vgg_s256",
            "init_from_layers": VGG_A_INIT_LAYERS,
        }
    ),
]

_SZEGEDY2014 = Recipe(
    name="szegedy2014",
    # Szegedy et al. 2014 §6: momentum 0.9, the rate decreased by 4% every 8
    # epochs; auxiliary losses weighted 0.3 (§5). The paper gives neither the
    # starting rate, the batch nor the length: 0.01, 32 and weight decay 2e-4
    # are BVLC's Caffe reproduction's; 60 epochs is its 2.4M iterations at 32.
    source="Szegedy et al. 2014, §5 and §6",
    data=_imagenet("inception", "per_channel_mean_255", batch_size=32),
    schedule=Exponential(lr=0.01, epochs=60, rate=0.96, every_epochs=8),
    regularization=Regularization(weight_decay=2e-4, aux_loss_weight=0.3),
)

# Ioffe & Szegedy 2015 ("Batch normalization"), §4.2.1 "Accelerating BN networks",
# applied to the GoogLeNet recipe it starts from (szegedy2014); survey 003 §4.2
# (Inception v2) lists the same changes. §4.2: SGD with momentum, batch 32.
# §4.2.2: "Inception ... trained with the initial learning rate of 0.0015"; BN-x5
# 0.0075 ("increased by a factor of 5"), BN-x30 0.045 ("30 times that of
# Inception"); Figure 3: BN-x5 reaches Inception's 72.2% in 2.1e6 steps (survey:
# "14 times" faster), BN-x30 74.8% top-1 (single crop), after 6e6 steps (§4.2.2).
_IOFFE2015 = {
    "source": "Ioffe & Szegedy 2015, Batch normalization, §4.2 and §4.2.1-4.2.2",
    # "Accelerate the learning rate decay ... we lower the learning rate 6 times
    # faster": GoogLeNet's 4% every 8 epochs (§6 of Szegedy et al. 2014) every 8/6.
    "schedule.every_epochs": 8 / 6,
    # BN-x30's 6e6 steps of 32 (~150 epochs of ImageNet's 1.28M images); the paper
    # states no end, BN-x5 is given the same.
    "schedule.epochs": None,
    "schedule.total_steps": 6_000_000,
    # "Reduce the L2 weight regularization ... by a factor of 5": 2e-4 / 5 (the
    # base's decay is BVLC's, the paper gives Inception's none).
    "regularization.weight_decay": 4e-5,
    # bn_inception (Figure 5) has no auxiliary heads; §4.2.1's "remove dropout" and
    # "remove LRN" are the builder's: it has neither. "Reduce the photometric
    # distortions": szegedy2014's inception crop has none to reduce. "Shuffle
    # training examples more thoroughly" (within-shard shuffling): each epoch is a
    # fresh permutation of the whole training set (`cnnzoo.pipelines.seeds`).
    "regularization.aux_loss_weight": 0.0,
}
_GOOGLENET_RECIPES = [
    _SZEGEDY2014,
    _SZEGEDY2014.override({**_IOFFE2015, "name": "ioffe2015", "schedule.lr": 0.045}),  # BN-x30
    _SZEGEDY2014.override({**_IOFFE2015, "name": "ioffe2015_x5", "schedule.lr": 0.0075}),
]

_IMAGENET_RECIPES = [
    Recipe(
        name="krizhevsky2012",
        # Krizhevsky et al. 2012 §5: batch 128, momentum 0.9, weight decay 0.0005
        # inside the velocity update, N(0, 0.01) weights with biases 1 in conv2/4/5
        # and the hidden FC layers, lr 0.01 divided by 10 when the validation error
        # stops improving, ~90 epochs; mean activity subtracted per pixel (§2).
        source="Krizhevsky et al. 2012, §2 and §5",
        data=_imagenet("alexnet", "per_pixel_mean_255", batch_size=128),
        schedule=Plateau(lr=0.01, epochs=90, factor=0.1),
        regularization=Regularization(weight_decay=0.0005),
        init="alexnet",
    ),
    Recipe(
        name="he2015_imagenet",
        # He et al. 2015 §3.4: batch 256, momentum 0.9, weight decay 1e-4, lr 0.1
        # divided by 10 when the error plateaus, up to 60x10^4 iterations; no
        # dropout; per-pixel mean subtracted (the scale augmentation is the
        # pipeline's).
        source="He et al. 2015, Deep residual learning, §3.4",
        data=_imagenet("resnet", "per_pixel_mean_255", batch_size=256),
        schedule=Plateau(lr=0.1, total_steps=600_000, factor=0.1),
        regularization=Regularization(weight_decay=1e-4),
        # §3.4: "We initialize the weights as in [13]" (He et al. 2015).
        init="msra",
    ),
    Recipe(
        name="szegedy2015",
        # Szegedy et al. 2015 §7-8: batch 32, 100 epochs, RMSProp decay 0.9 with
        # epsilon 1.0, lr 0.045 multiplied by 0.94 every two epochs, gradient
        # clipping at 2.0, label smoothing 0.1; the auxiliary head's loss at 0.4
        # and weight decay 4e-5 as TF-Slim's Inception v3 training has them (the
        # paper gives neither).
        source="Szegedy et al. 2015, Rethinking the Inception architecture, §7-8",
        data=_INCEPTION_DATA,
        schedule=Exponential(lr=0.045, epochs=100, rate=0.94, every_epochs=2),
        optimizer=Optimizer(kind="rmsprop", rho=0.9, epsilon=1.0, clip_norm=2.0),
        regularization=Regularization(weight_decay=4e-5, label_smoothing=0.1, aux_loss_weight=0.4),
    ),
    Recipe(
        name="szegedy2016",
        # Szegedy et al. 2016 §4 (Inception v4, Inception-ResNet): RMSProp decay
        # 0.9, epsilon 1.0, lr 0.045 decayed every two epochs by 0.94. Batch,
        # length and weight decay, which §4 omits, as szegedy2015; no clipping or
        # label smoothing, which §4 does not mention.
        source="Szegedy et al. 2016, Inception-v4, Inception-ResNet, §4",
        data=_INCEPTION_DATA,
        schedule=Exponential(lr=0.045, epochs=100, rate=0.94, every_epochs=2),
        optimizer=_RMSPROP,
        regularization=Regularization(weight_decay=4e-5),
    ),
]

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        *_CIFAR_RECIPES,
        *_MNIST_RECIPES,
        *_IMAGENET_RECIPES,
        *_VGG_RECIPES,
        *_GOOGLENET_RECIPES,
    ]
}


def get_recipe(name: str) -> Recipe:
    """A registered recipe by name; KeyError lists the known ones."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def load_overrides(path: str | Path) -> dict[str, Any]:
    """Read a JSON override file (as written by `cnnzoo tune`): {field: value}.

    Fields are dotted paths (``"schedule.lr"``) or the flat names of
    `LEGACY_FIELDS` (``"lr"``).

    Raises:
        ValueError: naming the file when it is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of recipe fields, got {type(data)}")
    return data

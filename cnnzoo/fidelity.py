"""Fidelity: which source text each network, recipe and protocol follows, and where it departs.

The package was specified from five texts, kept in the shared seeds directory and
numbered as there: 000 W. Wu's ResNet note (SCNU), 001 a translation of He et al.'s
"Deep residual learning", 002 notes on Krizhevsky et al.'s AlexNet paper, 003 a
survey of CNNs (LeNet to ResNet), 004 W. Wu's 2016 thesis. Each row below names the
seed text and section a thing follows, the original paper's section, what cnnzoo
builds, and what differs and why. `model_card` copies a network's row into its
card's ``follows`` field; `tools/write_model_cards.py` writes the README's
"Fidelity" table from `ROWS` (a test holds the two equal), and another test keeps
every registered model and recipe covered by exactly one row.

Like `cnnzoo.cards`, this module imports nothing of cnnzoo: it is plain data.
"""

from __future__ import annotations

import dataclasses
import fnmatch

__all__ = ["KINDS", "ROWS", "Fidelity", "markdown_table", "row_for"]

KINDS = ("network", "recipe", "data", "evaluation", "analysis")


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """One row of the fidelity table.

    Attributes:
        subjects: registry, recipe or protocol names the row covers (fnmatch patterns).
        kind: one of `KINDS`.
        seed: the seed text and section, e.g. ``"001 §4.2; 003 §5.4"``.
        paper: the original paper's section the code follows.
        follows: what cnnzoo builds or does.
        differences: known departures from the texts and why ("" for none).
    """

    subjects: tuple[str, ...]
    kind: str
    seed: str
    paper: str
    follows: str
    differences: str = ""

    def covers(self, name: str) -> bool:
        """Whether `name` matches one of the row's subjects."""
        return any(fnmatch.fnmatchcase(name, s) for s in self.subjects)

    def summary(self) -> str:
        """The row as one line, for a model card's ``follows`` field."""
        text = f"seeds {self.seed}; {self.paper}: {self.follows}"
        return f"{text}. Differs: {self.differences}" if self.differences else text


_CIFAR_RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202")
_IMAGENET_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

_NETWORKS = (
    Fidelity(
        ("lenet5",),
        "network",
        "003 §1 (LeNet)",
        "LeCun et al. 1998 §II.B, Fig. 2, Appendix A",
        "C1-S2-C3-S4-C5-F6 with the paper's map counts and scaled tanh",
        "C3 connects to all S2 maps (Table I's partial table dropped, as in most"
        " reimplementations); S2/S4 are plain pooling without the trainable coefficient and"
        " bias; a softmax classifier replaces the RBF output layer",
    ),
    Fidelity(
        ("alexnet",),
        "network",
        "002 (network overview, LRN, overlapping pooling); 003 §2.1-2.2",
        "Krizhevsky et al. 2012 §3, Fig. 2",
        "5 conv + 3 FC, LRN (k=2, n=5, α=1e-4, β=0.75) after conv1/conv2, overlapping 3x3/2"
        " max pooling, dropout 0.5 in fc6/fc7",
        "227x227 input (224 does not give the paper's 55x55 maps); one tower by default,"
        " groups=2 is Fig. 2's two-GPU net",
    ),
    Fidelity(
        ("alexnet_nonoverlap_pool",),
        "network",
        "002 (overlapping pooling); 003 §2.2.4",
        "Krizhevsky et al. 2012 §3.4",
        "alexnet with 2x2 stride-2 pooling: maps 27/13/6 and weights as alexnet's (§3.4:"
        " 'output of equivalent dimensions')",
        "the paper reports only the difference (+0.4 / +0.3 points top-1 / top-5 error)",
    ),
    Fidelity(
        ("alexnet_conv6",),
        "network",
        "002 (results: CNN* adds a sixth conv layer)",
        "Krizhevsky et al. 2012 §6, Table 2 (1 CNN*: 39.0 / 16.6)",
        "a sixth conv layer, 256 3x3 'same' + ReLU, over the last pooling layer; fc6 unchanged",
        "the paper gives neither its size nor its grouping (ours); its 39.0/16.6 need"
        " pre-training on ImageNet Fall 2011",
    ),
    Fidelity(
        ("vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"),
        "network",
        "003 §3.1",
        "Simonyan & Zisserman 2015 Table 1 (A, A-LRN, B, C, D, E)",
        "the six configurations of Table 1, dropout 0.5 in fc6/fc7",
        "vgg16/vgg19 carry keras.applications' layer names for its ImageNet weights; the FC"
        " layers are Dense (dense evaluation converts them to convolutions, 003 §3.2)",
    ),
    Fidelity(
        ("googlenet",),
        "network",
        "003 §4.1",
        "Szegedy et al. 2014 Table 1, Fig. 3, §5",
        "Table 1 with LRN, dropout 0.4 and (aux_heads=True) the two auxiliary classifiers",
        "LRN parameters from BVLC's Caffe model (the paper gives none)",
    ),
    Fidelity(
        ("bn_inception",),
        "network",
        "003 §4.2 (Inception v2)",
        "Ioffe & Szegedy 2015 Appendix, Fig. 5",
        "Fig. 5's Inception variant with batch normalization, no LRN, no dropout",
        "Fig. 5's filter columns win where its output sizes disagree (4c/4d 608, 4e 1056"
        " channels), as in the authors' Caffe model",
    ),
    Fidelity(
        ("inception_v3",),
        "network",
        "003 §4.3",
        "Szegedy et al. 2015 Figs. 5-8, 10 as keras.applications.InceptionV3",
        "keras.applications.InceptionV3 layer for layer (its ImageNet weights fit)",
        "TF-Slim's layout, not Table 1's: 35x35 modules keep a 5x5 branch and there are 4, not"
        " 5, 17x17 modules; the paper's is inception_v3_paper",
    ),
    Fidelity(
        ("inception_v3_paper",),
        "network",
        "003 §4.3",
        "Szegedy et al. 2015 Table 1, Figs. 5, 6 (n=7), 7, 8, 10",
        "Table 1's 3x3 stem to 35x35x288, 3 x Fig. 5 (5x5 as two 3x3), 5 x Fig. 6, 2 x Fig. 7,"
        " no dropout; optional BN auxiliary head on the last 17x17 module (Fig. 8)",
        "filters the paper leaves open are TF-Slim's (a fifth 17x17 module with c7=192); the"
        " last stem conv is padded to give Table 1's 35x35; the survey puts the auxiliary head"
        " after the 35x35 modules, the paper's Fig. 8 is followed",
    ),
    Fidelity(
        ("inception_v4",),
        "network",
        "003 §4.4.1",
        "Szegedy et al. 2016 Figs. 3-9, Table 1 (k, l, m, n = 192, 224, 256, 384)",
        "the paper's stem and 4/7/3 Inception-A/B/C blocks, dropout 0.2 (keep 0.8)",
        "filter orders of the authors' TF-Slim code",
    ),
    Fidelity(
        ("inception_resnet_v1",),
        "network",
        "003 §4.4.2",
        "Szegedy et al. 2016 Figs. 10-15, Table 1 (k, l, m, n = 192, 192, 256, 384)",
        "the paper's stem and 5/10/5 Inception-ResNet-A/B/C blocks",
        "residual scales 0.17/0.1/0.2 are the authors' v2 code's (the paper says 0.1 to 0.3);"
        " BN without scale, as in v2",
    ),
    Fidelity(
        ("inception_resnet_v2",),
        "network",
        "003 §4.4.2",
        "Szegedy et al. 2016 Figs. 16-19 as keras.applications.InceptionResNetV2",
        "keras.applications layer for layer (its ImageNet weights fit), dropout 0.2",
        "keras/TF-Slim's Inception-v3-style stem and 10/20/10 blocks, not the paper's"
        " Inception-v4 stem and 5/10/5 blocks (those are inception_resnet_v2_paper)",
    ),
    Fidelity(
        ("inception_resnet_v2_paper",),
        "network",
        "003 §4.4.2",
        "Szegedy et al. 2016 Figs. 3, 7, 15-19, Table 1 (k, l, m, n = 256, 256, 384, 384)",
        "Inception-v4 stem, 5/10/5 Inception-ResNet-A/B/C blocks, avg pool, dropout 0.2",
        "blocks keep their input width (1152, 2144) where Figs. 17/19 print 1154/2048; residual"
        " scales 0.17/0.1/0.2 from the authors' code; the survey's m = 256 contradicts the"
        " paper's Table 1 (384), which is followed",
    ),
    Fidelity(
        ("xception",),
        "network",
        "003 §4.5",
        "Chollet 2017 §3, Fig. 5",
        "entry, 8 middle and exit flows, keras.applications layer for layer; dropout 0.5 (§4.3)",
    ),
    Fidelity(
        _IMAGENET_RESNETS,
        "network",
        "001 §3-4.1 and its torchvision walk-through; 003 §5.2",
        "He et al. 2016 Table 1, Fig. 5",
        "Table 1's basic/bottleneck stages, shortcut option B (A and C by argument), stride on"
        " the first 1x1 of a bottleneck as the paper has it",
        "stride_on='3x3' gives the torchvision 'v1.5' layout 001's code walk-through shows;"
        " use_bias=True gives keras.applications' biased convolutions",
    ),
    Fidelity(
        ("plain18", "plain34"),
        "network",
        "001 §4.1 (plain networks)",
        "He et al. 2016 §4.1, Fig. 3 middle, Fig. 4 left",
        "the 18/34-layer nets of Table 1 without shortcuts",
    ),
    Fidelity(
        _CIFAR_RESNETS,
        "network",
        "001 §4.2; 003 §5.4",
        "He et al. 2016 §4.2, Table 6",
        "6n+2 layers, 16/32/64 maps, option-A shortcuts (identity, zero-padded channels)",
        "the halving shortcut samples with stride 2 (the code of He et al.'s Torch and"
        " most reimplementations); shortcut_subsample='max_pool' is 003 §5.4's pooling",
    ),
    Fidelity(
        ("plain20", "plain32", "plain44", "plain56", "plain110"),
        "network",
        "001 §4.2; 003 §5.1",
        "He et al. 2016 §4.2, Fig. 6 left",
        "the CIFAR ResNets without shortcuts, for the degradation experiment",
    ),
    Fidelity(
        ("preact_resnet*",),
        "network",
        "none (003 §5.2 mentions pre-activation only in passing)",
        "He et al. 2016b 'Identity mappings' Fig. 4(e)",
        "full pre-activation units as fb.resnet.torch / resnet-1k-layers build them",
        "projection shortcuts without BN and a shared first BN-ReLU per stage, from the"
        " released code; preact_resnet32 is the layout wu_resnet32 had before issue 16",
    ),
    Fidelity(
        ("wu_resnet32",),
        "network",
        "000 §2.3, §3.2 (Fig. 4)",
        "W. Wu, ResNet note (SCNU) §3.2",
        "conv 16, 3x5 pre-activation units, BN-ReLU on the shortcut only in the first unit,"
        " other halving shortcuts sample the raw input and project it with a 1x1 conv",
        "Fig. 4 is not in the text: the final BN-ReLU before pooling follows He et al.'s"
        " Identity mappings code",
    ),
    Fidelity(
        ("wu2016_mnist",),
        "network",
        "004 §3.1.1",
        "W. Wu 2016 thesis §3.1.1",
        "the nine layers as listed: conv 20, max pool, conv 40, max pool, FC 200, ReLU, FC 10",
        "none: no nonlinearity between the conv layers, as the thesis lists them",
    ),
    Fidelity(
        ("wu2016_cifar",),
        "network",
        "004 §3.2.1",
        "W. Wu 2016 thesis §3.2.1",
        "3 conv stages (24/32/64 maps, 5x5), FC 64, FC 10, the layer order as listed",
        "ceil-mode pooling of Caffe's cifar10_quick reproduced with padding='same'",
    ),
)

_RECIPES = (
    Fidelity(
        ("he2016_cifar",),
        "recipe",
        "001 §4.2",
        "He et al. 2016 §4.2",
        "batch 128, momentum 0.9, L2 1e-4, lr 0.1 ÷10 at 32k/48k, stop 64k, 400-iteration"
        " 0.01 warm-up for 110/1202 layers, pad-4 crop + flip, per-pixel mean, MSRA init",
        "the zoo's runs hold 5,000 images out (--val-split 5000) to select on; the paper's"
        " table trains on all 50,000",
    ),
    Fidelity(
        ("wu_resnet_cifar",),
        "recipe",
        "000 §3.2",
        "W. Wu, ResNet note §3.2",
        "warm-up 0.01 for 500 iterations, then 0.1 ÷10 at 32k/48k/64k, stop 80k, L2 1e-4,"
        " batch 128, [-1, 1] scaling, pad-4 crop + flip, MSRA (He) init",
    ),
    Fidelity(
        ("fast_cifar",),
        "recipe",
        "none: not a paper's recipe",
        "Smith & Topin 2017 (one cycle); Szegedy et al. 2016 §7 (label smoothing)",
        "40 epochs one-cycle to 0.2, label smoothing 0.1, L2 5e-4, He et al.'s augmentation",
        "labelled on every card that uses it: reaches He et al.'s figures in CPU hours",
    ),
    Fidelity(
        ("wu2016_mnist", "wu2016_mnist_caffe", "wu2016_mnist_augmented"),
        "recipe",
        "004 §2.1-2.8, §3.1.2",
        "W. Wu 2016 thesis §3.1.2",
        "batch 50, Caffe Xavier init, lr 0.01 (biases ×2) halving every 3 epochs, 20 epochs,"
        " stop below 0.002 loss, 1,000 validation images; pixels /255",
        "_caffe adds Caffe's LeNet momentum 0.9 and L2 5e-4 (the thesis's plain SGD reaches"
        " 98.25%); _augmented adds §2.2's translations and slight rotations (±10°, our range)",
    ),
    Fidelity(
        ("wu2016_cifar",),
        "recipe",
        "004 §3.2.2",
        "W. Wu 2016 thesis §3.2",
        "batch 10, momentum 0.9, lr 0.0005 (biases ×2) halving every 5 epochs, 30 epochs,"
        " per-pixel mean",
        "L2 0.002 and Caffe cifar10_quick's init σ: the thesis states no decay and its σ"
        " leave the loss at ln 10 for 4,000+ iterations (README)",
    ),
    Fidelity(
        ("wu2016_cifar_augmented",),
        "recipe",
        "004 §2.2, §3.2",
        "W. Wu 2016 thesis §2.2",
        "wu2016_cifar plus §2.2's data enlargement: 4-pixel translations, flips, rotations",
        "the thesis gives no ranges ('slight rotations': ±10° here) and its §3.2 run has none",
    ),
    Fidelity(
        ("lecun1998", "lecun1998_distorted", "lecun1998_affine"),
        "recipe",
        "003 §1",
        "LeCun et al. 1998 §II.A, §III.C",
        "inputs -0.1/1.175, 28->32 padding, 20 passes with the rate lowered after 2, 5, 8, 12;"
        " _distorted/_affine add §III.C's distortions",
        "momentum SGD instead of the diagonal Levenberg-Marquardt method; distortion ranges"
        " are ours (the paper gives none)",
    ),
    Fidelity(
        ("krizhevsky2012",),
        "recipe",
        "002 (training, data augmentation, dropout); 003 §2.2",
        "Krizhevsky et al. 2012 §2, §4, §5",
        "batch 128, momentum 0.9, L2 5e-4 in the velocity, N(0, 0.01) init with biases 1,"
        " lr 0.01 ÷10 on plateau, 90 epochs, 224 crops + flips + PCA colour noise",
    ),
    Fidelity(
        ("simonyan2014",),
        "recipe",
        "003 §3.2",
        "Simonyan & Zisserman 2015 §2.1, §3.1",
        "batch 256, momentum 0.9, L2 5e-4, lr 0.01 ÷10 on plateau, 74 epochs, scale jitter"
        " S in [256, 512], mean RGB",
        "Glorot init (the paper's stated alternative to initialising from configuration A)",
    ),
    Fidelity(
        ("simonyan2014_s256", "simonyan2014_s384"),
        "recipe",
        "003 §3.2 (single-scale training)",
        "Simonyan & Zisserman 2015 §3.1",
        "shorter side fixed at S = 256 or 384, random 224 crops, flips, RGB colour shift; S=384"
        " starts from the S=256 model (--init-from) at lr 1e-3",
        "the paper gives no length for the S=384 run (the 74-epoch plateau cap is kept)",
    ),
    Fidelity(
        ("simonyan2014_from_a",),
        "recipe",
        "003 §3.2 (initialisation)",
        "Simonyan & Zisserman 2015 §3.1",
        "B-E at S = 256 with net A's first four conv layers and three FC layers copied"
        " (--init-from A's model; the copied layers are printed and recorded), the rest random",
        "random layers use Glorot's init, not the paper's N(0, 1e-2)",
    ),
    Fidelity(
        ("ioffe2015", "ioffe2015_x5"),
        "recipe",
        "003 §4.2 (Inception v2 training)",
        "Ioffe & Szegedy 2015 §4.2.1-4.2.2, Fig. 3 (BN-x30 74.8%, BN-x5)",
        "szegedy2014 with lr 0.045 (x30) or 0.0075 (x5), decay 6x faster (x0.96 every 8/6"
        " epochs), L2 / 5, no auxiliary losses; the builder has no dropout and no LRN",
        "L2 is BVLC's 2e-4 / 5 and the length BN-x30's 6e6 steps (the paper gives neither);"
        " the whole set is reshuffled each epoch (stronger than within-shard shuffling);"
        " there are no photometric distortions to reduce",
    ),
    Fidelity(
        ("he2015_imagenet",),
        "recipe",
        "001 §3 (implementation)",
        "He et al. 2016 §3.4",
        "batch 256, momentum 0.9, L2 1e-4, lr 0.1 ÷10 on plateau, 60e4 iterations, shorter"
        " side in [256, 480], PCA colour noise, per-pixel mean, MSRA init",
    ),
    Fidelity(
        ("szegedy2014",),
        "recipe",
        "003 §4.1",
        "Szegedy et al. 2014 §5-6",
        "momentum 0.9, lr ×0.96 every 8 epochs, auxiliary losses ×0.3",
        "lr 0.01, batch 32, L2 2e-4 and 60 epochs are BVLC's Caffe reproduction's (not given)",
    ),
    Fidelity(
        ("szegedy2015",),
        "recipe",
        "003 §4.3.2",
        "Szegedy et al. 2015 §7-8",
        "RMSProp 0.9/ε 1.0, lr 0.045 ×0.94 every 2 epochs, clipping 2.0, label smoothing 0.1",
        "aux loss 0.4 and L2 4e-5 from TF-Slim (the paper gives neither)",
    ),
    Fidelity(
        ("szegedy2016",),
        "recipe",
        "003 §4.4",
        "Szegedy et al. 2016 §4",
        "RMSProp 0.9/ε 1.0, lr 0.045 ×0.94 every 2 epochs",
        "batch, length and L2 as szegedy2015 (§4 omits them)",
    ),
)

_DATA_AND_EVALUATION = (
    Fidelity(
        ("10crop",),
        "evaluation",
        "002 (data augmentation); 003 §2.2.1",
        "Krizhevsky et al. 2012 §4.1",
        "four corner and centre 224 crops and their mirrors, softmax averaged",
    ),
    Fidelity(
        ("144crop",),
        "evaluation",
        "003 §4.1, §4.4 (144 crops)",
        "Szegedy et al. 2014 §7",
        "4 scales, 3 squares each, 6 crops per square, and their mirrors",
    ),
    Fidelity(
        ("dense", "multiscale"),
        "evaluation",
        "003 §3.2",
        "Simonyan & Zisserman 2015 §3.2, §4.2",
        "FC layers as convolutions over the whole rescaled image, class scores averaged"
        " spatially (or max-pooled: --dense-pooling max) and over flips; multiscale Q in"
        " {256, 384, 512}",
        "a per-pixel mean (AlexNet, the thesis nets) is replaced by its per-channel average at"
        " sizes other than the training size, and the output says so: no text describes dense"
        " evaluation for them; VGG's per-channel mean (003 §3.2) is what this amounts to",
    ),
    Fidelity(
        ("pca_lighting",),
        "data",
        "002 (data augmentation); 003 §2.2.1",
        "Krizhevsky et al. 2012 §4.1",
        "noise along the RGB principal components of the training set, α ~ N(0, 0.1)",
    ),
    Fidelity(
        ("per_pixel_standardize",),
        "data",
        "004 §2.1",
        "W. Wu 2016 thesis §2.1",
        "each input dimension (pixel and channel) standardized with the training set's mean"
        " and std; constant dimensions only shifted",
        "no thesis recipe uses it (§3.1 divides by 255, §3.2 subtracts the mean), so no preset"
        " does",
    ),
    Fidelity(
        ("--val-split 5000",),
        "data",
        "001 §4.2",
        "He et al. 2016 §4.2",
        "train on 45,000 images, select on the held-back 5,000, test once on 10,000",
        "the papers' tables train on all 50,000; the zoo's cards say which protocol each used",
    ),
)

_ANALYSES = (
    Fidelity(
        ("analyze degradation",),
        "analysis",
        "001 §1, §4.2; 003 §5.1",
        "He et al. 2016 Fig. 1, Fig. 6",
        "training error (dashed) and test or validation error (bold) against iterations, from"
        " run directories",
        "the bold curve is validation error when the run held images out (the zoo's fast_cifar"
        " runs: 5,000); He et al. plot test error",
    ),
    Fidelity(
        ("analyze responses",),
        "analysis",
        "001 §4.2",
        "He et al. 2016 §4.2, Fig. 7",
        "std of each 3x3 layer's output after BN, before the addition and ReLU, on test images;"
        " by depth and sorted by magnitude",
        "pre-activation units have no BN after the conv: the conv's output is used",
    ),
    Fidelity(
        ("analyze paths",),
        "analysis",
        "003 §5.3.1-5.3.3",
        "Veit et al. 2016 §4.2, Fig. 6",
        "path lengths binomial C(n, k), 95% interval by Veit et al.'s rule (19-35 for n = 54);"
        " gradient per length: forward through all, backward through k random branches only;"
        " totals = mean x C(n, k)",
        "the gradient is read at the first unit's input, not the image (the stem is shared by"
        " every path); 10 samples per length by default (Veit et al.: 1,000)",
    ),
    Fidelity(
        ("analyze lesion",),
        "analysis",
        "003 §5.3.4",
        "Veit et al. 2016 §4.1-4.3, Figs. 3-5",
        "delete one unit (shortcut kept), k random units, swaps of same-shape units against"
        " Kendall τ",
        "the plain contrast is the plain twin of the same depth (a unit removed, its input"
        " passed on; shape-changing units kept), not VGG",
    ),
)

ROWS: tuple[Fidelity, ...] = _NETWORKS + _RECIPES + _DATA_AND_EVALUATION + _ANALYSES


def row_for(name: str, kind: str = "network") -> Fidelity | None:
    """The row of `kind` that covers `name`, or None."""
    return next((r for r in ROWS if r.kind == kind and r.covers(name)), None)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "-"


def markdown_table(rows: tuple[Fidelity, ...] = ROWS) -> str:
    """The rows as the README's Markdown table."""
    lines = [
        "| kind | name | seed text, section | paper | cnnzoo follows | known differences |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = (r.kind, ", ".join(r.subjects), r.seed, r.paper, r.follows, r.differences)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"

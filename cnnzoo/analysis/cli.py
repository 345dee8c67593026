"""`cnnzoo analyze <study>`: the command-line flags of the studies (`cnnzoo.analysis.studies`)."""

from __future__ import annotations

import argparse

from cnnzoo.cli_args import MAX_BATCH, count

MODEL_HELP = (
    "a .keras file, a run directory (its model.keras or checkpoint.keras), or a registered "
    "architecture (with --weights: the package's trained weights; without: random weights)"
)


def _common(p: argparse.ArgumentParser, batch_size: int) -> None:
    p.add_argument("--out", default="analysis", help="directory for <study>.json and .png")
    p.add_argument("--weights", metavar="DATASET", help="trained weights of registry names")
    p.add_argument("--data-dir", help="dataset files (default: $CNNZOO_DATA_DIR, else tfds)")
    p.add_argument("--dataset", help="test images from this dataset instead of the model's")
    p.add_argument("--max-images", type=count(1), default=1000, help="first N images only")
    p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=batch_size)
    p.add_argument("--seed", type=count(0), default=0)


def add_parser(sub) -> None:
    """Add the ``analyze`` command and its studies to the `cnnzoo` subparsers `sub`."""
    analyze = sub.add_parser("analyze", help="the seeds' ResNet analyses (JSON + PNG)")
    studies = analyze.add_subparsers(dest="study", required=True)

    p = studies.add_parser("paths", help="path lengths; with --model, gradient per path length")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--blocks", type=count(0, 10_000), help="number of residual units")
    which.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--samples", type=count(1), default=10, help="measurements per length")
    p.add_argument("--split", choices=["train", "test"], default="train")
    _common(p, batch_size=32)

    p = studies.add_parser("lesion", help="delete and reorder units of a trained ResNet")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--plain", help="the plain net of the same depth: " + MODEL_HELP)
    p.add_argument("--draws", type=count(1), default=3, help="random draws per k")
    p.add_argument("--max-swaps", type=count(1), help="default: the number of units")
    _common(p, batch_size=250)

    p = studies.add_parser("responses", help="std of the 3x3 layers' responses")
    p.add_argument("--model", nargs="+", required=True, help=MODEL_HELP)
    _common(p, batch_size=250)

    p = studies.add_parser("degradation", help="training and test error against iterations")
    p.add_argument(
        "--runs",
        nargs="+",
        required=True,
        help="`cnnzoo fit` run directories, or shipped weights (ARCH, or ARCH-DATASET)",
    )
    p.add_argument(
        "--weights", metavar="DATASET", default="cifar10", help="dataset of shipped ARCH names"
    )
    p.add_argument("--out", default="analysis", help="directory for degradation.json and .png")
    for p in studies.choices.values():
        p.set_defaults(func=run)


def run(args) -> int:
    """Run the chosen study and print its report."""
    # Imported here: building the parser must not start Keras (`cnnzoo list` does not).
    from cnnzoo.analysis.studies import STUDIES
    from cnnzoo.backend import require_tensorflow

    # The studies score and differentiate through tf.function (`analysis.paths`).
    require_tensorflow(f"cnnzoo analyze {args.study}")
    for line in STUDIES[args.study](args):
        print(line)
    return 0

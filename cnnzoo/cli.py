"""The `cnnzoo` command: list, summary, fit, evaluate, export, predict, tune, analyze."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cnnzoo.analysis.cli import add_parser as add_analyze_parser
from cnnzoo.cli_args import (
    DENSE_POOLING,
    MAX_BATCH,
    MAX_TRIALS,
    add_step_flags,
    count,
    low_high,
    real,
)
from cnnzoo.training.recipe import INIT_SCHEMES, PREPROCESSING


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by `fit` and `tune`: architecture, recipe and its overrides."""
    p.add_argument("--arch", required=True, help="registered model name (see `cnnzoo list`)")
    p.add_argument("--recipe", help="training recipe (default: the model card's)")
    p.add_argument("--overrides", help="JSON file of recipe fields (e.g. from `cnnzoo tune`)")
    p.add_argument("--batch-size", type=count(1, MAX_BATCH))
    p.add_argument("--lr", type=real(low_open=True), help="learning rate after warm-up")
    p.add_argument("--weight-decay", type=real(), help="L2 weight decay")
    p.add_argument("--val-split", type=count(0), help="training images held out for validation")
    p.add_argument("--dataset", help="dataset instead of the recipe's (cifar10, mnist, fake)")
    p.add_argument(
        "--preprocessing", choices=PREPROCESSING, help="input preprocessing instead of the recipe's"
    )
    p.add_argument("--init", choices=INIT_SCHEMES, help="weight initialization scheme")
    p.add_argument("--momentum", type=real(0.0, 0.999), help="SGD momentum (0: plain SGD)")
    p.add_argument("--shortcut", choices=["A", "B", "C"], help="residual shortcut option")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--model-dir", help="run directory (default: runs/ARCH)")
    p.add_argument(
        "--data-dir",
        help="directory with the official dataset files "
        "(default: $CNNZOO_DATA_DIR, else tensorflow-datasets)",
    )
    p.add_argument(
        "--max-eval-images",
        type=count(1),
        help="validate and test on the first N images only (smoke runs)",
    )


def _resolve_recipe(args):
    """The recipe after card default, architecture overrides, override file and flags."""
    import cnnzoo
    from cnnzoo.training.recipes import get_recipe, load_overrides

    card = cnnzoo.model_card(args.arch)
    name = args.recipe or card.default_recipe
    if not name:
        raise ValueError(f"{args.arch} has no default recipe; pass --recipe")
    recipe = get_recipe(name).for_arch(args.arch)
    if args.overrides:
        recipe = recipe.override(**load_overrides(args.overrides))
    flags = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "val_split": args.val_split,
        "dataset": args.dataset,
        "preprocessing": args.preprocessing,
        "init": args.init,
        "momentum": args.momentum,
    }
    return recipe.override(**{k: v for k, v in flags.items() if v is not None})


def _add_model_source(p: argparse.ArgumentParser, model_help: str):
    """--model PATH, or --arch NAME --weights DATASET (the package's trained weights)."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help=model_help)
    which.add_argument(
        "--weights",
        metavar="DATASET",
        help="the package's trained weights of --arch, e.g. cifar10 (`cnnzoo list --weights`)",
    )
    p.add_argument("--arch", help="with --weights: the architecture")
    return which


def _model_path(args) -> str:
    """The model file the command reads: --model, or the verified shipped weights."""
    if not getattr(args, "weights", None):
        return args.model
    if not args.arch:
        raise ValueError("--weights needs --arch, e.g. --arch resnet20 --weights cifar10")
    from cnnzoo.weights import verified_path

    return str(verified_path(args.arch, args.weights))


def _add_export_format_flags(p: argparse.ArgumentParser) -> None:
    """`export`'s format, quantization, and the checks by the format's own runtime."""
    from cnnzoo.export_options import (
        CALIBRATION_IMAGES,
        FORMATS,
        QUANTIZATIONS,
        VERIFY_DATA,
        VERIFY_IMAGES,
    )

    p.add_argument(
        "--format",
        choices=FORMATS,
        default="savedmodel",
        help="savedmodel (default), or a file checked by its own runtime after writing "
        "(pip install 'cnnzoo[onnx]', '[litert]' or '[openvino]')",
    )
    p.add_argument(
        "--quantize", choices=QUANTIZATIONS, help="litert only: int8 (calibrated) or float16"
    )
    p.add_argument(
        "--calibration-data",
        type=count(1),
        default=CALIBRATION_IMAGES,
        metavar="N",
        help=f"int8: N training images of the model's dataset (default {CALIBRATION_IMAGES})",
    )
    p.add_argument("--data-dir", help="the dataset's files (default: $CNNZOO_DATA_DIR, else tfds)")
    p.add_argument(
        "--verify-data",
        choices=VERIFY_DATA,
        default="test",
        help="what the format's runtime and Keras classify after writing: the model's test "
        "images (default), seeded random images, or none (no check)",
    )
    p.add_argument(
        "--verify-images",
        type=count(1),
        default=VERIFY_IMAGES,
        metavar="N",
        help=f"how many images the check classifies (default {VERIFY_IMAGES})",
    )
    p.add_argument(
        "--min-agreement",
        type=real(0.0, 100.0),
        metavar="PERCENT",
        help="top-1 agreement with Keras below which the export fails (default 99.9, int8: 95)",
    )


def _add_inference_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "auto"],
        help="compute in this precision instead of the model's own (auto: bfloat16 where "
        "the CPU or GPU computes it natively, float32 elsewhere)",
    )


def _arch_options(args) -> dict:
    return {"shortcut": args.shortcut} if args.shortcut else {}


def _print_table(rows) -> None:
    """Columns padded to their widest cell; the last column as it is."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])


def _list_weights(pattern: str) -> int:
    """The shipped trained models: accuracy, seeds, recipe, loading line."""
    import fnmatch

    from cnnzoo.weights import all_cards

    header = ("weights", "test top-1", "flip", "seeds mean ± std", "recipe", "MB", "standing")
    rows = [(*header, "load")]
    for card in all_cards():
        if not fnmatch.fnmatchcase(card.arch, pattern):
            continue
        mean, std = card.mean_std
        flip = f"{card.test_accuracy_flip:.2%}" if card.test_accuracy_flip else "-"
        spread = f"{mean:.2%} ± {std:.2%} ({len(card.seeds)})"
        load = f'cnnzoo.build("{card.arch}", weights="{card.dataset}")'
        size = f"{card.size_bytes / 1e6:.1f}"
        cells = (card.name, f"{card.test_accuracy:.2%}", flip, spread, card.recipe, size)
        rows.append((*cells, card.standing or "-", load))
    if len(rows) == 1:
        print(f"no shipped weights match {pattern!r}")
        return 0
    _print_table(rows)
    return 0


def cmd_list(args) -> int:
    if args.weights:
        return _list_weights(args.pattern)
    import fnmatch

    from cnnzoo.cards import built_in_cards

    rows = [("name", "params", "mult-adds", "input", "recipe", "published", "paper")]
    # The cards as data: listing them needs neither Keras nor TensorFlow.
    for c in built_in_cards():
        if not fnmatch.fnmatchcase(c.name, args.pattern):
            continue
        pub = ", ".join(f"{k}={v}" for k, v in c.published.items())
        params = f"{c.trainable_params:,}" if c.trainable_params else "?"
        shape = "x".join(str(d) for d in c.input_shape)
        # The quoted title identifies the paper; the full citation is in the card.
        parts = c.paper.split('"')
        paper = parts[1] if len(parts) > 2 else c.paper
        macs = f"{c.multiply_adds / 1e9:.2f}G" if c.multiply_adds else "?"
        rows.append((c.name, params, macs, shape, c.default_recipe or "", pub, paper))
    _print_table(rows)
    return 0


def cmd_summary(args) -> int:
    import cnnzoo
    from cnnzoo.costs import format_summary

    card = cnnzoo.model_card(args.arch)
    model = cnnzoo.build(args.arch, **_arch_options(args))
    print(f"{card.name}: {card.paper}, {card.section}")
    print(f"follows: {card.follows}")
    print(format_summary(model))
    return 0


def cmd_fit(args) -> int:
    model_dir = Path(args.model_dir or Path("runs") / args.arch)
    if args.workers > 1:  # before TensorFlow: the workers run it, this process waits
        from cnnzoo.training.local_workers import launch

        return launch(args.argv, args.workers, model_dir)
    from cnnzoo.training.trainer import RunSpec, fit

    recipe = _resolve_recipe(args)
    if args.init_from_layers:
        recipe = recipe.override({"init_from_layers": args.init_from_layers})
    spec = RunSpec(
        arch=args.arch,
        recipe=recipe,
        model_dir=model_dir,
        data_dir=args.data_dir,
        seed=args.seed,
        arch_options=_arch_options(args),
        max_eval_images=args.max_eval_images,
        epochs=args.epochs,
        steps=args.steps,
        data=args.data,
        strategy=args.strategy,
        cpu_replicas=args.cpu_replicas,
        sync_bn=args.sync_bn,
        precision=args.precision,
        select=args.select,
        init_from=args.init_from,
        accumulate=args.accumulate,
        short_paths=args.short_paths,
        validate=not args.no_validation,
    )
    if args.resume and not (spec.model_dir / "checkpoint.keras").is_file():
        raise FileNotFoundError(f"--resume: no checkpoint in {spec.model_dir}")
    fit(spec, verbose=args.verbose)
    return 0


def _scales(text: str | None):
    if not text:
        return None
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(
            f"--scales {text!r}: expected comma-separated integers, e.g. 256,384,512"
        ) from None


def cmd_evaluate(args) -> int:
    from cnnzoo.evaluation.evaluate import evaluate, evaluate_protocol

    dense_pooling = args.dense_pooling != "mean"
    if args.ensemble or args.views or args.data or args.scales or dense_pooling:
        paths = args.ensemble or [_model_path(args)]
        result = evaluate_protocol(
            paths,
            data=args.data,
            data_dir=args.data_dir,
            views=args.views,
            scales=_scales(args.scales),
            batch_size=args.batch_size,
            max_images=args.max_images,
            skip_corrupt=args.skip_corrupt,
            progress=True,
            precision=args.precision,
            dense_pooling=args.dense_pooling,
        )
        for path, member in zip(paths, result.get("members", []), strict=False):
            print(
                f"{path}: top-1 error {member['top1_error']:.2f}%  "
                f"top-5 error {member['top5_error']:.2f}%"
            )
        label = "ensemble" if len(paths) > 1 else "protocol"
        scales = f" at scales {result['scales']}" if result["scales"] else ""
        print(
            f"{label} {result['views']}{scales}: top-1 error "
            f"{result['top1_error']:.2f}%  top-5 error {result['top5_error']:.2f}%  "
            f"(top-1 accuracy {result['top1_accuracy']:.4f}; {result['images']} images, "
            f"{result['views_per_image']} views each)"
        )
        if "skipped" in result:
            print(result["skipped"])
        _print_precision(result)
        return 0
    scores = evaluate(
        _model_path(args),
        progress=True,
        data_dir=args.data_dir,
        dataset=args.dataset,
        batch_size=args.batch_size,
        max_images=args.max_images,
        precision=args.precision,
    )
    print(
        f"top-1 accuracy {scores['top1_accuracy']:.4f}  top-5 accuracy "
        f"{scores['top5_accuracy']:.4f}  loss {scores['loss']:.4f}  ({scores['images']} images)"
    )
    _print_precision(scores)
    return 0


def _print_precision(scores: dict) -> None:
    if "precision" in scores:
        print(f"computed in {scores['precision']['policy']} ({scores['precision']['why']})")


def cmd_export(args) -> int:
    from cnnzoo.export_formats import export_model
    from cnnzoo.export_options import ExportChecks

    checks = ExportChecks(
        data=args.verify_data,
        count=args.verify_images,
        min_agreement=None if args.min_agreement is None else args.min_agreement / 100,
        data_dir=args.data_dir,
        calibration_count=args.calibration_data,
    )
    result = export_model(
        _model_path(args),
        args.out,
        args.format,
        quantize=args.quantize,
        overwrite=args.overwrite,
        precision=args.precision,
        checks=checks,
    )
    if args.format == "savedmodel":
        computes = f", computing in {args.precision}" if args.precision else ""
        print(
            f"SavedModel written to {result.path} (signature serving_default: uint8 images -> "
            f"probabilities, class_index{computes})"
        )
        return 0
    quantized = f", {args.quantize}" if args.quantize else ""
    print(
        f"{args.format}{quantized} export written to {result.model_file} (input images: uint8; "
        "outputs probabilities, class_index; class names in cnnzoo.json)"
    )
    if result.verification is not None:
        print(result.verification.line())
    return 0


def cmd_predict(args) -> int:
    from cnnzoo.predict import FileError, format_predictions, predict_files

    results = predict_files(
        _model_path(args), args.images, top_k=args.top, precision=args.precision
    )
    print(format_predictions(results), end="")
    return 1 if any(isinstance(r, FileError) for r in results) else 0


def cmd_tune(args) -> int:
    from cnnzoo.training.tuner import tune

    recipe = _resolve_recipe(args)
    model_dir = Path(args.model_dir or Path("runs") / f"{args.arch}_tune")
    best = tune(
        args.arch,
        recipe,
        model_dir,
        data_dir=args.data_dir,
        max_trials=args.max_trials,
        epochs_per_trial=args.epochs_per_trial,
        steps_per_epoch=args.steps_per_epoch,
        lr_range=args.lr_range,
        tune_weight_decay=args.tune_weight_decay,
        seed=args.seed,
        max_eval_images=args.max_eval_images,
        arch_options=_arch_options(args),
        verbose=args.verbose,
    )
    print("Best: " + json.dumps(best))
    print(
        f"Written to {model_dir / 'best_overrides.json'}; train with "
        f"`cnnzoo fit --arch {args.arch} --overrides {model_dir / 'best_overrides.json'}`"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `cnnzoo` command."""
    parser = argparse.ArgumentParser(prog="cnnzoo", description=__doc__)
    parser.add_argument(
        "--tf-logs",
        action="store_true",
        help="show TensorFlow's start-up log lines (held back otherwise)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="registered models as a table")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'resnet*'")
    p.add_argument(
        "--weights", action="store_true", help="the package's trained weights and their cards"
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("summary", help="parameters, multiply-adds and layers of a model")
    p.add_argument("--arch", required=True)
    p.add_argument("--shortcut", choices=["A", "B", "C"])
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("fit", help="train a model with a paper's recipe")
    _add_run_flags(p)
    p.add_argument(
        "--data",
        help="a directory with train/<class>/ and val/<class>/ image folders to train on "
        "(ImageNet's layout) instead of the recipe's dataset",
    )
    p.add_argument(
        "--epochs",
        type=count(1),
        help="train this many epochs (instead of the recipe's "
        "iterations; the schedule keeps its boundaries in iterations)",
    )
    p.add_argument("--steps", type=count(1), help="train this many iterations in all")
    p.add_argument(
        "--resume",
        action="store_true",
        help="require a checkpoint to resume from (rerunning resumes anyway)",
    )
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="tf.distribute strategy: one device; all local GPUs; or the cluster of "
        "workers in TF_CONFIG (run the same command on every worker). The batch size "
        "is the global batch",
    )
    p.add_argument(
        "--workers",
        type=count(1),
        default=1,
        help="train on this many local processes (a multiworker cluster on 127.0.0.1, "
        "cores/N threads each; BatchNorm per worker unless --sync-bn): on 2 cores, 2 "
        "trained ResNet-20 at 1.02x one process",
    )
    p.add_argument(
        "--cpu-replicas",
        type=count(1),
        help="with --strategy mirrored and no GPU: mirror over this many logical CPU "
        "devices (testing and debugging)",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="BatchNorm statistics of the global batch, all-reduced over the replicas",
    )
    p.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16", "mixed_float16", "auto"],
        default="float32",
        help="Keras dtype policy; the outputs and the loss stay float32, and "
        "mixed_float16 scales the loss. auto: mixed_bfloat16 where the CPU (AVX-512 BF16, "
        "AMX) or GPU computes bfloat16 natively, float32 elsewhere, chosen again by each "
        "session that resumes the run",
    )
    p.add_argument(
        "--select",
        choices=["last", "best"],
        default="last",
        help="the model the run ends with and tests once: the schedule's last, or the "
        "best on the validation split (needs --val-split; never chosen on the test set)",
    )
    p.add_argument(
        "--no-validation",
        action="store_true",
        help="no validation pass after each epoch (no validation curve): the model is "
        "scored once, on the test set, at the end. With --select last only",
    )
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start a new run from a trained model's layers (a .keras file, or a run "
        "directory's model.keras), copied by name where the weight shapes match; prints "
        "and records which were copied. A resumed run keeps its checkpoint",
    )
    p.add_argument(
        "--init-from-layers",
        nargs="+",
        metavar="REGEX",
        help="with --init-from: copy exactly the layers whose whole names match, each of "
        "which must be in MODEL with the same shapes (VGG's deeper nets from net A: "
        "block1_conv1 block2_conv1 'block3_conv[12]' fc1 fc2 predictions); default: the "
        "recipe's init_from_layers",
    )
    add_step_flags(p)
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("evaluate", help="top-1/top-5 accuracy of a trained model")
    which = _add_model_source(p, "a .keras file written by `cnnzoo fit`")
    which.add_argument(
        "--ensemble", nargs="+", metavar="PATH", help="several .keras files: mean of softmaxes"
    )
    p.add_argument("--data-dir")
    p.add_argument("--dataset", help="default: the one the model was trained on")
    p.add_argument(
        "--data",
        help="test source: cifar10, mnist, imagenet2012, a class-folder directory or "
        "TFRecord files (default: the model's dataset)",
    )
    p.add_argument(
        "--views",
        help="test protocol: single, flip, translate (CIFAR); center, 10crop, 144crop, "
        "dense, multiscale; comma-separated to average several (10crop,dense); default: "
        "the one the model was trained for (single for CIFAR/MNIST, center otherwise)",
    )
    p.add_argument("--scales", help="shorter sides Q, e.g. 256,384,512")
    p.add_argument(
        "--dense-pooling",
        choices=DENSE_POOLING,
        default="mean",
        help="how --views dense/multiscale pool the class-score map: mean (Simonyan & "
        "Zisserman §3.2, default) or max",
    )
    p.add_argument("--skip-corrupt", action="store_true", help="skip undecodable images")
    p.add_argument("--batch-size", type=count(1, MAX_BATCH), default=256)
    p.add_argument("--max-images", type=count(1))
    _add_inference_precision(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="write a SavedModel, ONNX, LiteRT or OpenVINO export")
    _add_model_source(p, "a .keras file written by `cnnzoo fit`")
    p.add_argument("--out", required=True, help="e.g. saved_models/resnet20")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    _add_inference_precision(p)
    _add_export_format_flags(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="top classes of PNG/JPEG images")
    _add_model_source(p, ".keras file or exported SavedModel dir")
    p.add_argument("--top", type=count(1), default=5)
    p.add_argument("images", nargs="+")
    _add_inference_precision(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("tune", help="KerasTuner search over the learning rate")
    _add_run_flags(p)
    p.add_argument("--max-trials", type=count(1, MAX_TRIALS), default=8)
    p.add_argument("--epochs-per-trial", type=count(1), default=2)
    p.add_argument("--steps-per-epoch", type=count(1))
    p.add_argument("--lr-range", type=low_high, default=(1e-3, 1.0), metavar="LOW,HIGH")
    p.add_argument("--tune-weight-decay", action="store_true")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    p.set_defaults(func=cmd_tune)

    add_analyze_parser(sub)
    return parser


def _start_tensorflow_quietly() -> None:
    """Import TensorFlow and start its devices with its C++ start-up lines held back.

    TensorFlow's native libraries print their start-up log (CUDA stubs, the CPU
    feature guard, oneDNN) to file descriptor 2 before any log level applies, some
    of it twice. Those lines go to a temporary file, shown only if the import
    fails; `--tf-logs` lets them through. Later messages are printed as usual,
    except the CUDA driver's complaint on machines without one, which
    TF_CPP_MIN_LOG_LEVEL=3 (set by default) holds back.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            # Import only: starting the devices here would come before `fit
            # --strategy` can split the CPU into replicas or join a cluster.
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _plain_logging() -> None:
    """Run messages (absl.logging, as TensorFlow's own Python logs) as plain lines on stderr.

    cnnzoo's library code logs through absl, so a program that embeds it sets one
    verbosity for TensorFlow's messages and ours; the command shows INFO and up.
    """
    import logging as std_logging

    from absl import flags
    from absl import logging as absl_logging

    flags.FLAGS.mark_as_parsed()  # no absl.app here: no "logging before flag parsing" line
    absl_logging.use_absl_handler()
    absl_logging.get_absl_handler().setFormatter(std_logging.Formatter("%(message)s"))
    absl_logging.set_verbosity(absl_logging.INFO)


# The commands that start TensorFlow (`list` reads cards and answers at once).
NEEDS_TENSORFLOW = ("summary", "fit", "evaluate", "export", "predict", "tune", "analyze")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    # Before TensorFlow starts (nothing above imports it): TensorFlow enables its
    # oneDNN CPU kernels by itself only on AVX-512 CPUs, and on a 2-core AVX2
    # machine they trained ResNet-20 1.4-1.6x faster too (README "Performance").
    # Only a default: TF_ENABLE_ONEDNN_OPTS=0 in the environment still wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not args.tf_logs:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # `fit --workers N` only starts the workers: TensorFlow runs in them.
    launcher = getattr(args, "workers", 1) > 1
    if args.command in NEEDS_TENSORFLOW and not args.tf_logs and not launcher:
        _start_tensorflow_quietly()
    _plain_logging()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        # Errors of input (bad file, unknown name, no data) and of the machine (disk
        # full, read-only directory) get one clear line, not a trace.
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"cnnzoo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:
        # tf.data cannot raise Python exceptions: an undecodable image arrives as a
        # TensorFlow error whose message names the file. Show that line, not a trace.
        if type(e).__module__.startswith("tensorflow") and getattr(e, "message", None):
            print(f"cnnzoo {args.command}: error: {e.message}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

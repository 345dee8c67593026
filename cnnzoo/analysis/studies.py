"""The studies of `cnnzoo analyze`: each loads its inputs, measures, writes JSON + PNG, reports.

Each ``run_<study>(args)`` takes the parsed command line (`cnnzoo.analysis.cli`)
and returns the report's lines; `STUDIES` maps the study names to them.
"""

from __future__ import annotations

import time

from cnnzoo.analysis import degradation, lesion, paths, report, responses
from cnnzoo.analysis.inputs import batches, load_model, test_images
from cnnzoo.analysis.surgery import BlockSurgery


def _loaded(args, spec):
    loaded = load_model(spec, args.weights)
    note = "" if loaded.trained else "  (random weights: mechanics only, no science)"
    print(f"model: {loaded.source}{note}")
    return loaded


def _written(args, study, results, fig, started) -> list[str]:
    json_path, png_path = report.write(args.out, study, results, fig)
    return [f"wrote {json_path} and {png_path} in {time.monotonic() - started:.0f} s"]


def run_paths(args) -> list[str]:
    """Path lengths of --blocks units, or of --model's units plus the gradient per length."""
    started = time.monotonic()
    gradient = None
    lines = []
    if args.model:
        loaded = _loaded(args, args.model)
        surgery = BlockSurgery(loaded.model)
        n = len(surgery.gated)
        images, labels = test_images(
            args.dataset or loaded.dataset, args.data_dir, args.max_images, args.split
        )
        bar = report.progress((n + 1) * args.samples, "measurement")
        norms = paths.gradient_per_length(
            surgery, images, labels, args.samples, args.batch_size, seed=args.seed, bar=bar
        )
        gradient = paths.gradient_summary(norms, n)
        lo, hi = gradient["effective_range"]
        lines.append(
            f"gradient at the input comes mostly ({gradient['effective_share_of_gradient']:.1%})"
            f" from paths of length {lo}-{hi}: {gradient['effective_share_of_paths']:.2%} of "
            f"all paths (Veit et al., 54 units: 5-17, 0.45%)"
        )
    else:
        n = args.blocks
    lengths = paths.path_lengths(n)
    lo, hi = lengths["interval_95"]
    t_lo, t_hi = lengths["tightest_95"]
    lines.insert(
        0,
        f"{n} units: 2^{n} = {lengths['paths']:,} paths; 95% of them have length {lo}-{hi} "
        f"({lengths['interval_95_share']:.1%}; the shortest interval holding 95% is "
        f"{t_lo}-{t_hi}, {lengths['tightest_95_share']:.1%})",
    )
    results = {"path_lengths": lengths, "gradient": gradient, "model": args.model}
    return lines + _written(args, "paths", results, paths.figure(lengths, gradient), started)


def run_lesion(args) -> list[str]:
    """Single and random deletions and reorderings of --model, beside --plain's deletions."""
    started = time.monotonic()
    loaded = _loaded(args, args.model)
    surgery = BlockSurgery(loaded.model)
    plain = BlockSurgery(_loaded(args, args.plain).model) if args.plain else None
    images, labels = test_images(args.dataset or loaded.dataset, args.data_dir, args.max_images)
    max_swaps = args.max_swaps or len(surgery.blocks)
    total = lesion.steps(surgery, len(images), args.batch_size, args.draws, max_swaps, plain)
    bar = report.progress(total, "batch")
    common = {"batch_size": args.batch_size, "bar": bar}
    single = {args.model: lesion.single_deletions(surgery, images, labels, **common)}
    if plain is not None:
        single[args.plain] = lesion.single_deletions(plain, images, labels, **common)
    common["seed"] = args.seed
    random = lesion.random_deletions(surgery, images, labels, args.draws, **common)
    reorder = lesion.reorderings(surgery, images, labels, max_swaps, args.draws, **common)
    results = {"images": len(images), "single": single, "random": random, "reorder": reorder}
    lines = []
    for name, errors in single.items():
        deleted = [v for k, v in errors.items() if k != "none"]
        lines.append(
            f"{name}: error {errors['none']:.2f}% intact; one unit deleted: mean "
            f"{sum(deleted) / len(deleted):.2f}%, worst {max(deleted):.2f}%"
        )
    worst_k = max(random, key=int)
    lines.append(f"{worst_k} units deleted: error {sum(random[worst_k]) / args.draws:.2f}%")
    return lines + _written(args, "lesion", results, lesion.figure(results), started)


def run_responses(args) -> list[str]:
    """Std of the 3x3 layers' responses of each --model (He et al. Fig. 7)."""
    started = time.monotonic()
    stds, lines = {}, []
    for spec in args.model:
        loaded = _loaded(args, spec)
        images, _ = test_images(args.dataset or loaded.dataset, args.data_dir, args.max_images)
        bar = report.progress(batches(len(images), args.batch_size), "batch")
        stds[spec] = responses.response_stds(loaded.model, images, args.batch_size, bar)
        values = list(stds[spec].values())
        lines.append(
            f"{spec}: {len(values)} 3x3 layers, response std mean {sum(values) / len(values):.3f}"
            f", max {max(values):.3f}"
        )
    results = {"std": stds}
    return lines + _written(args, "responses", results, responses.figure(results), started)


def run_degradation(args) -> list[str]:
    """Training and validation/test error of each --runs directory (He et al. Fig. 1/6)."""
    started = time.monotonic()
    runs = [degradation.read_run(run, args.weights) for run in args.runs]
    results = {"runs": runs, "verdicts": degradation.verdicts(runs)}
    fig = degradation.figure(runs)
    return degradation.summary(runs) + _written(args, "degradation", results, fig, started)


STUDIES = {
    "paths": run_paths,
    "lesion": run_lesion,
    "responses": run_responses,
    "degradation": run_degradation,
}

"""The depth series: does a CIFAR ResNet's time grow with its multiply-adds, and nothing else?

For each depth (resnet20/32/44/56/110/1202 by default), in a process of its own so
that the peak memory is that model's, the worker builds ``cnnzoo.build("resnetN")``,
compiles it with SGD momentum 0.9 and sparse cross-entropy (the bare Keras step of
``tools/bench/tf_rows.py``'s ``keras`` row) and times:

* training iterations at ``--batch`` (128, He et al. 2016 §4.2's mini-batch) in
  ``model.fit`` on in-memory random tensors: the first step (tracing included;
  the optimizer built beforehand, as ``cnnzoo fit`` builds it, unless
  ``--lazy-optimizer``) apart, then ``--windows`` windows of a few steps, after ``--warmup`` steps;
* inference batches of ``--infer-batch`` images, ``model(x, training=False)`` in a
  ``tf.function``, in as many windows.

Times are the median window's. Peak memory is the worker's peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``) read when training ends, before inference;
the table also shows it less the worker's resident set just before the first step
(Python, TensorFlow, the model and its optimizer), i.e. what training itself added.

Then a least-squares line ``ms = a + b * GMACs`` per column, its R² and each depth's
deviation from it: a time that grows linearly with the multiply-adds has R² near 1
and small deviations; a per-layer overhead shows as deep models above the line.

Usage::

    python tools/bench_depth.py                          # all six depths
    python tools/bench_depth.py --depths 20,56 --json depth.json

Workers start with cnnzoo's TensorFlow environment (``TF_ENABLE_ONEDNN_OPTS=1``,
`bench.env.tensorflow_env`), as the ``cnnzoo`` command line sets it for itself.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.env import onednn_label, tensorflow_env

# He et al. 2016 §4.2, Table 6: the CIFAR-10 ResNets, 6n+2 layers.
DEFAULT_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_FAMILY = "cifar_resnet"
# Models above this many multiply-adds per image (resnet1202: 2.8 G; resnet110: 0.25 G)
# train --deep-steps per window instead of --steps: one of its steps at batch 128
# takes as long as a whole window of the others.
DEEP_MACS = 1_000_000_000
GIB = 2**30


# --------------------------------------------------------------------------- arguments
def cifar_resnet_cards() -> dict[int, object]:
    """Depth -> model card of the registered CIFAR ResNets (``resnetN``), without Keras."""
    from cnnzoo.cards import built_in_cards

    cards = {}
    for card in built_in_cards():
        depth = card.name.removeprefix("resnet")
        if card.family == CIFAR_FAMILY and depth.isdigit():
            cards[int(depth)] = card
    return cards


def parse_depths(text: str, known) -> list[int]:
    """``"20,32,56"`` -> ``[20, 32, 56]``: each a registered CIFAR ResNet, none twice.

    Raises:
        argparse.ArgumentTypeError: naming the bad entry and the depths there are.
    """
    known = sorted(known)
    depths = []
    for part in text.split(","):
        part = part.strip().removeprefix("resnet")
        if not part.isdigit() or int(part) not in known:
            raise argparse.ArgumentTypeError(
                f"expected depths among {','.join(map(str, known))}, got {part!r}"
            )
        if int(part) in depths:
            raise argparse.ArgumentTypeError(f"depth {part} given twice")
        depths.append(int(part))
    return depths


def parse_accumulate(text: str) -> dict[int, int]:
    """``"1202:4"`` -> ``{1202: 4}``: train that depth's batch as 4 micro-batches.

    Raises:
        argparse.ArgumentTypeError: an entry that is not DEPTH:N with N >= 1.
    """
    split = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        depth, _, n = part.partition(":")
        if not (depth.isdigit() and n.isdigit() and int(n) >= 1):
            raise argparse.ArgumentTypeError(f"expected DEPTH:N with N >= 1, got {part!r}")
        split[int(depth)] = int(n)
    return split


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def build_parser(known_depths) -> argparse.ArgumentParser:
    """The tool's options; `known_depths` are the depths ``--depths`` may name."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--depths",
        type=lambda t: parse_depths(t, known_depths),
        default=list(DEFAULT_DEPTHS),
        help="comma-separated CIFAR ResNet depths (default: 20,32,44,56,110,1202)",
    )
    p.add_argument("--batch", type=_positive, default=128, help="training batch")
    p.add_argument("--infer-batch", type=_positive, default=256, help="inference batch")
    p.add_argument("--windows", type=_positive, default=5, help="timed windows per column")
    p.add_argument("--steps", type=_positive, default=6, help="steps (batches) per window")
    p.add_argument("--deep-steps", type=_positive, default=1, help="steps per window above 1 GMAC")
    p.add_argument("--warmup", type=_positive, default=2, help="untimed steps after the first")
    p.add_argument(
        "--accumulate",
        type=parse_accumulate,
        default={},
        metavar="DEPTH:N,...",
        help="train these depths' batches as N micro-batches each (`cnnzoo fit "
        "--accumulate`: the same update, about 1/N of the activations' memory)",
    )
    p.add_argument(
        "--memory-limit-gib",
        type=float,
        default=None,
        help="address-space limit of each worker (RLIMIT_AS): a model that needs more "
        "fails its row instead of pushing the machine out of memory",
    )
    p.add_argument(
        "--lazy-optimizer",
        action="store_true",
        help="leave the optimizer for Keras to build in the first step, which then traces "
        "twice (what `cnnzoo fit` did before `build_optimizer`): the first step's cost",
    )
    p.add_argument("--json", help="also write the rows, the fits and the machine here")
    p.add_argument("--worker", type=json.loads, help=argparse.SUPPRESS)
    return p


# --------------------------------------------------------------------------- the fit
def fit_line(xs, ys) -> dict[str, float]:
    """Least-squares ``y = a + b x``: ``{"a", "b", "r2"}`` (R² 1 when y is exactly linear).

    Raises:
        ValueError: fewer than two points, or all x equal.
    """
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError(f"a line needs two or more (x, y) pairs, got {n} x and {len(ys)} y")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("a line needs at least two different x values")
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"a": a, "b": b, "r2": r2}


def deviations(line: dict[str, float], xs, ys) -> list[float]:
    """Each point's distance from the line, as a fraction of the line's value there."""
    return [y / (line["a"] + line["b"] * x) - 1.0 for x, y in zip(xs, ys, strict=True)]


# Column of a row -> what the fit and the table call it.
TIMED = {"train_ms": "train", "infer_ms": "inference"}


def fits(rows: list[dict]) -> dict[str, dict]:
    """Per timed column: the line ms = a + b * GMACs over the rows that ran, and deviations."""
    done = [r for r in rows if "error" not in r]
    xs = [r["macs"] / 1e9 for r in done]
    out = {}
    for column in TIMED:
        ys = [r[column] for r in done]
        line = fit_line(xs, ys)
        out[column] = {
            **line,
            "deviation": dict(
                zip([r["depth"] for r in done], deviations(line, xs, ys), strict=True)
            ),
        }
    return out


# --------------------------------------------------------------------------- the table
HEADER = (
    "| depth | params | GMACs/img | train ms/iter (bs {batch}) | ms/GMAC | dev. | "
    "infer ms/batch (bs {infer}) | ms/GMAC | dev. | first step s | peak RSS GiB | "
    "added by training GiB |"
)


def _row_cells(row: dict, fit: dict, batch: int, infer: int) -> list[str]:
    gmacs = row["macs"] / 1e9
    depth = str(row["depth"])
    if row.get("micro_batches", 1) > 1:
        n = row["micro_batches"]
        depth += f" ({n} x {batch // n})"
    if "error" in row:
        return [depth, f"{row['params']:,}", f"{gmacs:.3f}", row["error"]]
    dev = {c: fit[c]["deviation"][row["depth"]] if c in fit else math.nan for c in TIMED}
    return [
        depth,
        f"{row['params']:,}",
        f"{gmacs:.3f}",
        f"{row['train_ms']:.1f}",
        f"{row['train_ms'] / (gmacs * batch):.2f}",
        f"{dev['train_ms']:+.1%}",
        f"{row['infer_ms']:.1f}",
        f"{row['infer_ms'] / (gmacs * infer):.2f}",
        f"{dev['infer_ms']:+.1%}",
        f"{row['first_step_s']:.1f}",
        f"{row['peak_rss'] / GIB:.2f}",
        f"{(row['peak_rss'] - row['baseline_rss']) / GIB:.2f}",
    ]


def format_table(rows: list[dict], fit: dict, batch: int, infer: int) -> str:
    """The Markdown table of `rows`, then each column's line and R².

    ms/GMAC divides a batch's time by the batch's multiply-adds (per-image GMACs x
    batch): the same figure at every depth is what linear growth means.
    """
    header = HEADER.format(batch=batch, infer=infer)
    lines = [header, "| " + " | ".join("---" for _ in header.split(" | ")) + " |"]
    lines += ["| " + " | ".join(_row_cells(r, fit, batch, infer)) + " |" for r in rows]
    for column, name in TIMED.items():
        f = fit.get(column)
        if f:
            lines.append(
                f"{name}: ms = {f['a']:.1f} + {f['b']:.1f} x GMACs/img, R² = {f['r2']:.4f}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the worker
def _resident_bytes() -> int:
    """This process's resident set now (Linux /proc/self/statm: pages)."""
    import os

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    """This process's peak resident set so far (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median_ms(times: list[float], per_window: int, windows: int) -> float:
    """Median over `windows` consecutive windows of `per_window` intervals, in ms per interval.

    Args:
        times: the end times (s) of consecutive steps, the first being the start of the
            first window.
    """
    need = per_window * windows + 1
    if len(times) < need:
        raise ValueError(
            f"{windows} windows of {per_window} steps need {need} times, got {len(times)}"
        )
    spans = [
        (times[(w + 1) * per_window] - times[w * per_window]) / per_window for w in range(windows)
    ]
    return 1e3 * statistics.median(spans)


class _StepTimes:
    """A Keras callback's record: when training began and when each batch ended."""

    def __init__(self):
        import keras

        record = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                record.begin = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                record.ends.append(time.perf_counter())

        self.begin, self.ends, self.callback = 0.0, [], Callback()


def _train(model, config: dict, steps: int) -> dict:
    """Time the training steps (`model.fit`); the peak resident set when they end."""
    import numpy as np
    import tensorflow as tf

    batch, warmup, windows = config["batch"], config["warmup"], config["windows"]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, batch).astype("int32")
    ds = tf.data.Dataset.from_tensors((images, labels)).repeat()
    clock = _StepTimes()
    baseline = _resident_bytes()
    total = 1 + warmup + windows * steps
    model.fit(ds, epochs=1, steps_per_epoch=total, callbacks=[clock.callback], verbose=0)
    return {
        "peak_rss": _peak_bytes(),
        "baseline_rss": baseline,
        "first_step_s": clock.ends[0] - clock.begin,
        "train_ms": median_ms(clock.ends[warmup:], steps, windows),
    }


def _infer(model, config: dict, steps: int) -> dict:
    """Time `model(x, training=False)` in a `tf.function`, result fetched each batch."""
    import numpy as np
    import tensorflow as tf

    x = tf.constant(
        np.random.default_rng(1).uniform(0, 255, (config["infer_batch"], 32, 32, 3)),
        tf.float32,
    )
    fn = tf.function(lambda b: model(b, training=False))
    start = time.perf_counter()
    ends = []
    for _ in range(1 + config["warmup"] + config["windows"] * steps):
        fn(x).numpy()
        ends.append(time.perf_counter())
    return {
        "first_infer_s": ends[0] - start,
        "infer_ms": median_ms(ends[config["warmup"] :], steps, config["windows"]),
    }


def run_worker(config: dict) -> dict:
    """One depth's row: build, compile, train, infer (in this process, which ends after)."""
    import resource

    if config.get("memory_limit_gib"):
        limit = int(config["memory_limit_gib"] * GIB)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import keras

    import cnnzoo
    from cnnzoo.costs import count_params
    from cnnzoo.training.accumulation import with_accumulation
    from cnnzoo.training.modeling import build_optimizer

    name = f"resnet{config['depth']}"
    macs = cnnzoo.model_card(name).multiply_adds
    steps = config["deep_steps"] if macs > DEEP_MACS else config["steps"]
    keras.utils.set_random_seed(0)
    model = cnnzoo.build(name)
    model = with_accumulation(model, config.get("micro_batches", 1))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    if not config.get("lazy_optimizer"):
        build_optimizer(model)  # as `cnnzoo fit`'s models are: the step is traced once
    row = {"depth": config["depth"], "params": count_params(model)["trainable"], "macs": macs}
    row["steps_per_window"] = steps
    row["micro_batches"] = config.get("micro_batches", 1)
    row.update(_train(model, config, steps))
    row.update(_infer(model, config, steps))
    return row


# --------------------------------------------------------------------------- the parent
def machine() -> dict:
    """CPU model, vector ISA flags, cores, load and versions: what the figures depend on."""
    import os

    cpu = {"model": platform.processor() or platform.machine(), "flags": []}
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu["model"] = value.strip()
            elif key.strip() == "flags":
                wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
                cpu["flags"] = [f for f in wanted if f in value.split()]
    return {**cpu, "cores": os.cpu_count(), "load_average": os.getloadavg()}


def _failed_row(depth: int, card, micro_batches: int, why: str) -> dict:
    return {
        "depth": depth,
        "params": card.trainable_params,
        "macs": card.multiply_adds,
        "micro_batches": micro_batches,
        "error": why,
    }


def run_depth(depth: int, card, options: argparse.Namespace) -> dict:
    """`run_worker` for `depth` in a new process; a row with ``error`` if it failed."""
    config = {
        "depth": depth,
        "batch": options.batch,
        "infer_batch": options.infer_batch,
        "windows": options.windows,
        "steps": options.steps,
        "deep_steps": options.deep_steps,
        "warmup": options.warmup,
        "memory_limit_gib": options.memory_limit_gib,
        "micro_batches": options.accumulate.get(depth, 1),
        "lazy_optimizer": options.lazy_optimizer,
    }
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "row.json"
        config["out"] = str(out)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(config)],
            env=tensorflow_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode or not out.is_file():
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            why = f"worker exit {done.returncode}: {tail[0][:200]}"
            return _failed_row(depth, card, config["micro_batches"], why)
        row = json.loads(out.read_text())
    row["worker_s"] = time.perf_counter() - start
    return row


def main(argv=None) -> int:
    """Run the series, print the table and the fits; ``--json`` writes them too."""
    cards = cifar_resnet_cards()
    parser = build_parser(cards)
    options = parser.parse_args(argv)
    for depth, n in options.accumulate.items():
        if options.batch % n:
            parser.error(f"--accumulate {depth}:{n}: {n} does not divide --batch {options.batch}")
    if options.worker:
        row = run_worker(options.worker)
        Path(options.worker["out"]).write_text(json.dumps(row))
        return 0
    rows = []
    for depth in options.depths:
        rows.append(run_depth(depth, cards[depth], options))
        print(f"resnet{depth}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    ran = [r for r in rows if "error" not in r]
    fit = fits(rows) if len({r["depth"] for r in ran}) >= 2 else {}
    print(format_table(rows, fit, options.batch, options.infer_batch))
    report = {
        "machine": {**machine(), "onednn": onednn_label()},
        "options": {k: v for k, v in vars(options).items() if k not in ("worker", "json")},
        "rows": rows,
        "fits": fit,
    }
    print(f"machine: {json.dumps(report['machine'])}")
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if len(ran) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

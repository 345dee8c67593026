"""The benchmark's report: one table of medians, the targets' ratios, and ``--json``."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import os
import platform
import statistics
from pathlib import Path

from bench.contenders import CONTENDERS, TARGETS
from bench.env import onednn_label


def ratios(results: dict) -> list[dict]:
    """Each of `TARGETS` whose two rows were run, three ways (see the keys' comments)."""
    out = []
    for num, dens, target, what in TARGETS:
        ran = [d for d in ((dens,) if isinstance(dens, str) else dens) if d in results]
        if num not in results or not ran:
            continue
        den = max(ran, key=lambda d: results[d]["median"])
        a, b = results[num], results[den]
        pairs = zip(a["images_per_second"], b["images_per_second"], strict=True)
        out.append(
            {
                "what": what,
                "num": num,
                "den": den,
                "target": target,
                # The ratio of the medians, the figure judged against the target.
                "ratio": a["median"] / b["median"],
                # The same run's two windows, taken a minute apart at most: the
                # median of these is less sensitive to load that changes between runs.
                "ratio_per_run": statistics.median(x / y for x, y in pairs),
                # Work per CPU-second: what the ratio would be were both alone on the
                # same cores (not when one framework scales to the cores better).
                "ratio_per_cpu_second": a["median_per_cpu_second"] / b["median_per_cpu_second"],
            }
        )
    return out


# The packages whose versions a reader needs to compare figures (not imported here).
VERSIONED = ("tensorflow", "keras", "torch", "numpy")


def environment() -> dict:
    """The machine (`cnnzoo.hardware.cpu_info`) and the versions the figures were measured with."""
    from cnnzoo.hardware import cpu_info

    versions = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"machine": cpu_info(), "versions": versions}


def _environment_line(env: dict) -> str:
    from cnnzoo.hardware import describe

    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    return f"machine: {describe(env['machine'])}; {versions}"


def _heading(args: argparse.Namespace) -> str:
    data = f"CIFAR-10 from {args.data_dir}" if args.data_dir else "fake data"
    onednn = args.onednn if args.onednn != "default" else onednn_label()
    return (
        f"ResNet-20, training batch {args.batch_size}, inference batch "
        f"{args.infer_batch_size}; {data}; median of {args.runs} runs "
        f"({args.steps} steps / {args.infer_batches} batches per window); "
        f"{os.cpu_count()} CPUs; TF_ENABLE_ONEDNN_OPTS={onednn}"
        + ("; Keras's BatchNormalization" if args.keras_bn else "")
    )


def _table(results: dict) -> list[str]:
    """The rows' lines, columns aligned: names left, figures right."""
    header = ("contender", "what", "img/s", "min", "max", "vs plain", "img/CPU-s")
    rows = [header]
    for label, row in results.items():
        base = results.get(row["name"])
        rel = f"{row['median'] / base['median']:.2f}x" if base and label != row["name"] else ""
        rate = row["images_per_second"]
        rows.append(
            (
                label,
                CONTENDERS[row["name"]].what,
                f"{row['median']:.1f}",
                f"{min(rate):.1f}",
                f"{max(rate):.1f}",
                rel,
                f"{row['median_per_cpu_second']:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, r in enumerate(rows):
        cells = [r[j].ljust(widths[j]) if j < 2 else r[j].rjust(widths[j]) for j in range(len(r))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


# Multiply-adds of one image's forward pass; a training step costs about three
# times that (forward, gradient of the input, gradient of the weights).
PASSES = {"train": 3, "infer": 1}


def compute_rates(results: dict, peak: dict | None) -> list[dict]:
    """Each row's median as float32 GFLOP/s and, given the CPU's peak, its fraction."""
    from bench.tf_rows import ARCH

    # The cards' figures (`cnnzoo.costs.card_multiply_adds`), read without importing
    # TensorFlow into the report's process.
    costs = importlib.resources.files("cnnzoo").joinpath("multiply_adds.json")
    macs = json.loads(costs.read_text(encoding="utf-8"))[ARCH]
    out = []
    for label, row in results.items():
        kind = CONTENDERS[row["name"]].kind
        gflops = row["median"] * macs * 2 * PASSES[kind] / 1e9
        fraction = gflops / peak["gflops"] if peak else None
        out.append({"label": label, "gflops": gflops, "peak_fraction": fraction})
    return out


def _compute_lines(rates: list[dict], peak: dict | None) -> list[str]:
    if peak:
        head = (
            f"float32 peak of this CPU: {peak['gflops']:.0f} GFLOP/s = {peak['cores']} cores x "
            f"{peak['ghz']:.2f} GHz x {peak['flops_per_cycle']} FLOP/cycle "
            "(2 FMA pipes x SIMD lanes x 2); rows at 2 FLOP per multiply-add, training 3 passes:"
        )
    else:
        head = "float32 peak unknown (no clock or ISA in /proc/cpuinfo); rows:"
    rows = [
        f"  {r['label']:<22} {r['gflops']:7.1f} GFLOP/s"
        + (f"  {100 * r['peak_fraction']:5.1f}% of peak" if r["peak_fraction"] else "")
        for r in rates
    ]
    return [head, *rows]


def verdict_word(ratio: float, target: float) -> str:
    """PASS, or by how much the ratio falls short of its target."""
    return "PASS" if ratio >= target else f"short by {(1 - ratio / target) * 100:.0f}%"


def _verdict(r: dict) -> str:
    verdict = verdict_word(r["ratio"], r["target"])
    return (
        f"{r['what']:<42} {r['num']}/{r['den']} = {r['ratio']:.2f}  "
        f"(target >= {r['target']:.2f})  {verdict}  "
        f"[median per-run ratio {r['ratio_per_run']:.2f}; "
        f"per CPU-second {r['ratio_per_cpu_second']:.2f}]"
    )


def print_report(results: dict, args: argparse.Namespace) -> list[dict]:
    """Print the heading, the table and each target's verdict; return the ratios."""
    print()
    print(_heading(args))
    print(_environment_line(environment()))
    for line in _table(results):
        print(line)
    from cnnzoo.hardware import fp32_peak_gflops

    peak = fp32_peak_gflops()
    print()
    for line in _compute_lines(compute_rates(results, peak), peak):
        print(line)
    found = ratios(results)
    if found:
        print()
    for r in found:
        print(_verdict(r))
    return found


def write_json(
    path: str,
    args: argparse.Namespace,
    results: dict,
    found: list[dict],
    peer: dict | None = None,
    peer_ratios: list[dict] | None = None,
) -> None:
    """``--json``: the arguments, every window's figures, the ratios and (``--peer``) the peer's."""
    from cnnzoo.hardware import fp32_peak_gflops

    peak = fp32_peak_gflops()
    document = {
        "args": vars(args),
        **environment(),
        "fp32_peak": peak,
        "compute": compute_rates(results, peak),
        "results": results,
        "ratios": found,
    }
    if peer is not None:
        document["peer"] = peer
        document["peer_ratios"] = peer_ratios or []
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

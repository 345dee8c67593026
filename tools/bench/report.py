"""The benchmark's report: one table of medians, the targets' ratios, and ``--json``."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from bench.contenders import CONTENDERS, TARGETS
from bench.env import onednn_label


def ratios(results: dict) -> list[dict]:
    """Each of `TARGETS` whose two rows were run, three ways (see the keys' comments)."""
    out = []
    for num, den, target, what in TARGETS:
        if num not in results or den not in results:
            continue
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


def _verdict(r: dict) -> str:
    verdict = (
        "PASS"
        if r["ratio"] >= r["target"]
        else f"short by {(1 - r['ratio'] / r['target']) * 100:.0f}%"
    )
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
    for line in _table(results):
        print(line)
    found = ratios(results)
    if found:
        print()
    for r in found:
        print(_verdict(r))
    return found


def write_json(path: str, args: argparse.Namespace, results: dict, found: list[dict]) -> None:
    """``--json``: the arguments, every window's figures and the ratios."""
    document = {"args": vars(args), "results": results, "ratios": found}
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

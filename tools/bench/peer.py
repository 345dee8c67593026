"""An independent peer beside the benchmark: a PyTorch script written outside cnnzoo.

Issue 22 holds cnnzoo's ratios against ``../shared/peers/torch_resnet20.py`` as well as
against the benchmark's own torch rows, on the same machine in the same hour.
``bench_train.py --peer SCRIPT`` runs it right after the timed windows (paused
processes still paused) and prints cnnzoo's rows against its figures. The peer
reports one median per precision and task, not windows, so only the ratio of
medians is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import verdict_word

# (cnnzoo row, the peer's precision, the peer's task, target, what is compared). The
# float32 targets are issue 20's against PyTorch, the bfloat16 ones issue 22's.
PEER_TARGETS = (
    ("fit", "fp32", "train", 1.2, "training vs the peer"),
    ("evaluate", "fp32", "infer", 1.2, "inference: evaluate vs the peer"),
    ("savedmodel", "fp32", "infer", 1.2, "inference: SavedModel vs the peer"),
    ("fit-bf16", "bf16", "train", 1.0, "bfloat16 training vs the peer"),
    ("evaluate-bf16", "bf16", "infer", 1.0, "bfloat16 inference: evaluate vs the peer"),
    ("savedmodel-bf16", "bf16", "infer", 1.0, "bfloat16 inference: SavedModel vs the peer"),
)
# The peer's JSON keys for each task.
_KEYS = {"train": "train_images_per_second", "infer": "infer_images_per_second"}


def peer_precisions(results: dict) -> list[str]:
    """The peer's precisions that the benchmark's rows can be compared with."""
    wanted = {prec for row, prec, *_ in PEER_TARGETS if row in results}
    return [p for p in ("fp32", "bf16") if p in wanted]


def run_peer(script: str | Path, precisions: list[str], args) -> dict:
    """Run the peer with the benchmark's batch sizes and runs; its JSON document.

    Raises:
        SystemExit: the script is missing, fails, or writes no JSON (its output is shown).
    """
    script = Path(script)
    if not script.is_file():
        raise SystemExit(f"--peer {script}: no such file")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "peer.json"
        cmd = [sys.executable, str(script), "--precision", *precisions]
        cmd += ["--batch-size", str(args.batch_size), "--infer-batch-size"]
        cmd += [str(args.infer_batch_size), "--runs", str(args.runs), "--json", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode or not out.is_file():
            raise SystemExit(
                f"--peer {script} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )
        document = json.loads(out.read_text(encoding="utf-8"))
    document["script"] = str(script)
    return document


def peer_ratios(results: dict, peer: dict) -> list[dict]:
    """Each of `PEER_TARGETS` whose row ran and whose precision the peer measured."""
    out = []
    for row, precision, task, target, what in PEER_TARGETS:
        measured = peer.get("results", {}).get(precision)
        if row not in results or not measured:
            continue
        theirs = measured[_KEYS[task]]
        out.append(
            {
                "what": what,
                "num": row,
                "den": f"peer {precision} {task}",
                "target": target,
                "ratio": results[row]["median"] / theirs,
                "peer_images_per_second": theirs,
            }
        )
    return out


def peer_lines(peer: dict, found: list[dict]) -> list[str]:
    """The report's lines: the peer and its figures, then each ratio's verdict."""
    figures = ", ".join(
        f"{p} train {r['train_images_per_second']:.1f} / infer {r['infer_images_per_second']:.1f}"
        for p, r in peer.get("results", {}).items()
    )
    lines = [f"independent peer {peer['script']} (torch {peer.get('torch')}): {figures} img/s"]
    for r in found:
        verdict = verdict_word(r["ratio"], r["target"])
        lines.append(
            f"{r['what']:<42} {r['num']}/{r['den']} = {r['ratio']:.2f}  "
            f"(target >= {r['target']:.2f})  {verdict}"
        )
    return lines

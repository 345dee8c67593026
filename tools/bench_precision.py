"""Training throughput of a zoo model under Keras dtype policies, side by side.

Each policy runs in its own process (Keras's global policy must be set before the
model is built), on random in-memory batches, so the figure is the train step's
own: median images/s of several timed runs after a warm-up. The processes start
with ``cnnzoo fit``'s oneDNN default (``tools/bench/env.py``).

    python tools/bench_precision.py --arch resnet20 --policies float32,mixed_bfloat16
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench.env import onednn_label, tensorflow_env


def _measure(arch: str, policy: str, batch: int, steps: int, runs: int) -> list[float]:
    import keras
    import numpy as np

    import cnnzoo

    keras.mixed_precision.set_global_policy(policy)

    model = cnnzoo.build(arch, classifier_activation=None)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    shape = model.input_shape[1:]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch, *shape)).astype("float32")
    y = rng.integers(0, model.output_shape[-1], batch)
    model.train_on_batch(x, y)  # warm-up: tracing and compilation
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        rates.append(batch * steps / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rates = _measure(args.arch, args.child, args.batch_size, args.steps, args.runs)
        print(json.dumps(rates))
        return
    print(
        f"{args.arch}, batch {args.batch_size}, {args.steps} steps per run, median of "
        f"{args.runs}; TF_ENABLE_ONEDNN_OPTS={onednn_label()}"
    )
    baseline = None
    for policy in args.policies.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", policy]
            + ["--arch", args.arch, "--batch-size", str(args.batch_size)]
            + ["--steps", str(args.steps), "--runs", str(args.runs)],
            capture_output=True,
            text=True,
            check=True,
            env=tensorflow_env(),
        ).stdout
        rate = statistics.median(json.loads(out.strip().splitlines()[-1]))
        baseline = baseline or rate
        print(f"  {policy:16s} {rate:8.1f} images/s  ({rate / baseline:.2f}x the first)")


if __name__ == "__main__":
    main()

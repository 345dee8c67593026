"""Does this TensorFlow build's bfloat16 convolution gradient return NaNs on tiny inputs?

On a 2-core AMD EPYC with AVX-512 BF16, TensorFlow 2.21's oneDNN kernels returned
non-finite kernel gradients, sporadically, for bfloat16 convolutions whose input is
1x1 (the same finite inputs every time). This repeats a few such convolutions and
counts the tries whose kernel gradient is not finite:

    python tools/check_bf16_conv.py [--tries 30]
    TF_ENABLE_ONEDNN_OPTS=0 python tools/check_bf16_conv.py   # oneDNN off, for comparison

A count above zero means: under ``--precision mixed_bfloat16``, keep every layer's
input at 2x2 or more (README, "Mixed precision").
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.env import onednn_label, tensorflow_env

# (input size, stride, kernel, input channels): the 1x1 cases that failed, and 2x2
# twins of them that did not.
CASES = ((1, 2, 3, 3), (2, 2, 3, 3), (1, 2, 7, 64), (2, 2, 7, 64), (1, 1, 5, 128), (2, 1, 5, 128))


def non_finite_gradients(size: int, stride: int, kernel: int, channels: int, tries: int) -> int:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(32, size, size, channels)), tf.bfloat16)
    w = tf.Variable(rng.normal(size=(kernel, kernel, channels, 64)).astype("float32") * 0.05)
    bad = 0
    for _ in range(tries):
        with tf.GradientTape() as tape:
            y = tf.nn.conv2d(x, tf.cast(w, tf.bfloat16), stride, "SAME")
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        bad += not np.isfinite(tape.gradient(loss, w).numpy()).all()
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=30, help="gradients per case")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(non_finite_gradients(*CASES[args.case], args.tries))
        return
    # One process per case: what the NaNs depend on (memory a previous kernel left)
    # differs with what ran before in the process, so a case's count is taken fresh.
    # The children start TensorFlow with cnnzoo's oneDNN default, as in training.
    print(f"TF_ENABLE_ONEDNN_OPTS={onednn_label()}, batch 32, {args.tries} tries per case")
    env = {**tensorflow_env(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for i, (size, stride, kernel, channels) in enumerate(CASES):
        argv = [sys.executable, __file__, "--case", str(i), "--tries", str(args.tries)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        bad = out.stdout.strip().splitlines()[-1]
        print(
            f"input {size}x{size}x{channels}, {kernel}x{kernel}/{stride} convolution: "
            f"{bad}/{args.tries} non-finite kernel gradients"
        )


if __name__ == "__main__":
    main()

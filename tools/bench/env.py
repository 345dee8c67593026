"""The environment a TensorFlow process of the benchmarks starts with.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it starts, so a benchmark
sets it for the child process it starts, as ``cnnzoo``'s command line sets it
for itself (`cnnzoo.cli.main`): what `cnnzoo fit` and `cnnzoo evaluate` run is
what is timed.
"""

from __future__ import annotations

import os

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
# cnnzoo.cli.main's default: TensorFlow itself turns oneDNN on only on CPUs with
# AVX-512 VNNI / BF16 or AMX, and on a 2-core AVX2 machine it trained ResNet-20
# 1.4-1.6x faster (README "Performance").
CNNZOO_ONEDNN_DEFAULT = "1"


def onednn_label() -> str:
    """What TensorFlow children of this process get: the inherited value, else cnnzoo's."""
    return os.environ.get(ONEDNN, f"{CNNZOO_ONEDNN_DEFAULT} (cnnzoo's default)")


def tensorflow_env(onednn: str | None = None, base: dict | None = None) -> dict[str, str]:
    """A child process's environment with cnnzoo's TensorFlow defaults.

    Args:
        onednn: "0" or "1" forces ``TF_ENABLE_ONEDNN_OPTS``; None keeps an inherited
            value, else uses cnnzoo's default, as ``cnnzoo``'s command line does.
        base: the environment to start from (default: this process's).

    Returns:
        A new dict; TensorFlow's C++ start-up messages are silenced unless the
        environment already sets ``TF_CPP_MIN_LOG_LEVEL``.
    """
    env = dict(os.environ if base is None else base)
    if onednn is not None:
        env[ONEDNN] = onednn
    env.setdefault(ONEDNN, CNNZOO_ONEDNN_DEFAULT)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env

"""Python's recursion limit, raised only where Keras needs it and restored after.

Keras walks a functional graph recursively, about one Python frame per layer on
its longest path, when it builds, loads or clones a model: resnet1202's ~4,200
layers are past Python's default limit of 1,000. Measured on a built resnet1202
at 1,000 (README "Contributing"): calling, fitting, saving and summarising it
work; building, `keras.saving.load_model` and `clone_model` need more (loading
~1,230 from a shallow call site). So the builders, `model_io.load_trained` and
the dense converter raise the limit around those calls alone, and importing or
using cnnzoo otherwise leaves the interpreter as it was.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def recursion_limit(needed: int) -> Iterator[None]:
    """Raise Python's recursion limit to at least `needed` inside the block, then restore it.

    Keras walks a functional graph recursively, about one Python frame per layer on
    its longest path, when it builds, saves, loads, clones or serializes a model;
    resnet1202's ~4,200 layers are past Python's default limit of 1,000.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, needed))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)

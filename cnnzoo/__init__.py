"""cnnzoo: the classic CNN image classifiers for Keras 3, as their papers describe them.

Importing the package changes nothing in the process and imports neither Keras
nor TensorFlow: the public names below load their modules on first use, so
`cnnzoo --help` answers at once and the command line can choose TensorFlow's
settings (oneDNN kernels, log level) before TensorFlow starts. Loading a cnnzoo
``.keras`` file with plain `keras.saving.load_model` needs the custom layers
registered first: ``import cnnzoo.layers`` (any cnnzoo model function does it).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "ModelCard": "cnnzoo.cards",
    "build": "cnnzoo.registry",
    "list_models": "cnnzoo.registry",
    "model_card": "cnnzoo.registry",
    "register_model": "cnnzoo.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cnnzoo' has no attribute {name!r}")
    # The registry builds models, and models saved with cnnzoo's layers must load.
    importlib.import_module("cnnzoo.layers")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

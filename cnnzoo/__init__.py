"""cnnzoo: the classic CNN image classifiers for Keras 3, as their papers describe them."""

import cnnzoo.layers  # noqa: F401  (registers custom layers so .keras files load)
from cnnzoo.registry import ModelCard, build, list_models, model_card, register_model

__all__ = ["ModelCard", "build", "list_models", "model_card", "register_model"]
__version__ = "0.1.0"

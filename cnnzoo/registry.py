"""The model registry: every builder registers itself with a model card.

The public surface is `build(name, **overrides)`, `list_models(pattern)` and
`model_card(name)`, in the manner of timm's `create_model` / `list_models` and
torchvision's `get_model`. A card holds what the paper says about the model;
figures that the code can measure (parameters, multiply-adds) are measured by
`cnnzoo.costs`, and tests compare them with the card's published ones.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from typing import Any

from cnnzoo.cards import ModelCard

_BUILDERS: dict[str, Callable[..., Any]] = {}
_CARDS: dict[str, ModelCard] = {}


def register_model(card: ModelCard) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering `builder` under `card.name`.

    Args:
        card: the model card; its name is the registry key.

    Returns:
        A decorator that returns the builder unchanged.

    Raises:
        ValueError: if the name is already registered.
    """

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if card.name in _BUILDERS:
            raise ValueError(f"model {card.name!r} is registered twice")
        _BUILDERS[card.name] = builder
        _CARDS[card.name] = card
        return builder

    return decorator


def _ensure_loaded() -> None:
    # Importing the families registers them; done lazily so that importing the
    # registry alone stays cheap and cycle-free.
    import cnnzoo.models  # noqa: F401


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a shell-style pattern, sorted.

    Args:
        pattern: fnmatch pattern, e.g. ``"resnet*"``.

    Returns:
        Sorted list of names.
    """
    _ensure_loaded()
    return sorted(n for n in _BUILDERS if fnmatch.fnmatchcase(n, pattern))


def _lookup(name: str) -> str:
    _ensure_loaded()
    if name not in _BUILDERS:
        close = [n for n in _BUILDERS if n.startswith(name.rstrip("0123456789"))] or sorted(
            _BUILDERS
        )
        raise KeyError(f"unknown model {name!r}; known models include: {', '.join(close[:12])}")
    return name


def model_card(name: str) -> ModelCard:
    """The model card of a registered model.

    Raises:
        KeyError: for an unknown name (the message lists close names).
    """
    from cnnzoo.costs import card_multiply_adds

    card = _CARDS[_lookup(name)]
    costs = card_multiply_adds()
    if card.multiply_adds is None and name in costs:
        card = dataclasses.replace(card, multiply_adds=costs[name])
    return card


def build(name: str, /, weights: str | None = None, **overrides: Any):
    """Build a registered model.

    Args:
        name: registry name.
        weights: None (initialized), "imagenet" (keras.applications' published
            weights, for the models that have an identical keras.applications
            architecture) or the path of a weights file.
        **overrides: keyword arguments of the family builder
            (``include_top``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``, and family options like ``shortcut``).

    Returns:
        A `keras.Model`.
    """
    if weights == "imagenet":
        from cnnzoo.pretrained import application_for

        # keras.applications' variant (e.g. ResNet-50 with biased convolutions) is
        # what the published weights fit; build that one unless told otherwise.
        _, needed = application_for(_lookup(name))
        clash = {
            k: (overrides[k], v) for k, v in needed.items() if k in overrides and overrides[k] != v
        }
        if clash:
            detail = ", ".join(f"{k}={got!r} (needs {want!r})" for k, (got, want) in clash.items())
            raise ValueError(f"{name}: the ImageNet weights do not fit {detail}")
        overrides = {**needed, **overrides}
    model = _BUILDERS[_lookup(name)](**overrides)
    if weights is not None:
        from cnnzoo.pretrained import load_weights

        load_weights(model, name, weights)
    return model

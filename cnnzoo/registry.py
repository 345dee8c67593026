"""The model registry: every model's builder and its model card, by name.

The public surface is `build(name, **overrides)`, `list_models(pattern)` and
`model_card(name)`, in the manner of timm's `create_model` / `list_models` and
torchvision's `get_model`. A card holds what the paper says about the model;
figures that the code can measure (parameters, multiply-adds) are measured by
`cnnzoo.costs`, and tests compare them with the card's published ones.

The zoo's families declare their models in catalogs (`cnnzoo.models.catalog`),
which the registry reads on first use; the model modules never import the
registry, so the dependency runs one way. Users add their own models with the
`register_model` decorator.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
from collections.abc import Callable
from typing import Any

from cnnzoo.cards import ModelCard

__all__ = [
    "ModelCard",
    "build",
    "builder_options",
    "list_models",
    "model_card",
    "register_model",
]

_BUILDERS: dict[str, Callable[..., Any]] = {}
_CARDS: dict[str, ModelCard] = {}
_LOADED = False


def _add(card: ModelCard, builder: Callable[..., Any]) -> None:
    if card.name in _BUILDERS:
        raise ValueError(f"model {card.name!r} is registered twice")
    _BUILDERS[card.name] = builder
    _CARDS[card.name] = card


def _ensure_loaded() -> None:
    # The zoo's catalogs, read on first use: importing the registry alone stays cheap.
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from cnnzoo import models

    for entry in models.catalog():
        _add(entry.card, entry.builder)


def register_model(card: ModelCard) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a user's `builder` under `card.name`.

    Args:
        card: the model card; its name is the registry key. A card naming a
            ``keras_application`` makes ``build(name, weights="imagenet")`` work.

    Returns:
        A decorator that returns the builder unchanged.

    Raises:
        ValueError: if the name is already registered (the zoo's names included).
    """

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        _ensure_loaded()
        _add(card, builder)
        if card.keras_application:
            from cnnzoo.pretrained import register_application

            register_application(
                card.name, card.keras_application, **card.keras_application_overrides
            )
        return builder

    return decorator


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
        import difflib

        close = difflib.get_close_matches(str(name), list(_BUILDERS), n=5, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(
            f"unknown model {name!r}{hint}; `cnnzoo list` shows all {len(_BUILDERS)} models"
        )
    return name


def model_card(name: str) -> ModelCard:
    """The model card of a registered model.

    Raises:
        KeyError: for an unknown name (the message lists close names).
    """
    from cnnzoo.costs import card_multiply_adds
    from cnnzoo.fidelity import row_for

    card = _CARDS[_lookup(name)]
    costs = card_multiply_adds()
    if card.multiply_adds is None and name in costs:
        card = dataclasses.replace(card, multiply_adds=costs[name])
    row = row_for(name)
    if not card.follows and row is not None:
        card = dataclasses.replace(card, follows=row.summary())
    return card


def builder_options(name: str) -> tuple[str, ...]:
    """The options the builder of `name` takes beyond keras.applications' arguments.

    For example ``("aux_heads",)`` for ``"googlenet"``, ``("kernel_initializer",
    "shortcut", "shared_preact")`` for ``"resnet20"``.

    Raises:
        KeyError: for an unknown name.
    """
    from cnnzoo.models import APPLICATION_ARGS

    parameters = inspect.signature(_BUILDERS[_lookup(name)]).parameters.values()
    return tuple(
        p.name
        for p in parameters
        if p.name not in APPLICATION_ARGS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


# `build(..., weights=...)` values naming the package's own trained weights.
TRAINED_DATASETS = ("cifar10", "mnist")


def build(name: str, /, weights: str | None = None, **overrides: Any):
    """Build a registered model.

    Args:
        name: registry name.
        weights: None (initialized); "cifar10" or "mnist" (the package's trained
            weights, `cnnzoo.weights`: the model takes raw [0, 255] pixels, its
            preprocessing inside; see `pretrained.trained_model`); "imagenet"
            (keras.applications' published weights, for the models whose card
            names an identical keras.applications architecture); or the path of a
            weights file.
        **overrides: keyword arguments of the family builder
            (``include_top``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``, and family options like ``shortcut``).

    Returns:
        A `keras.Model`.
    """
    if weights in TRAINED_DATASETS:
        from cnnzoo.pretrained import trained_model

        net = _BUILDERS[_lookup(name)](**overrides) if overrides else None
        return trained_model(_lookup(name), weights, net)
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

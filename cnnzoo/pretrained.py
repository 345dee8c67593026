"""Weights for cnnzoo models from keras.applications or from a file.

keras.applications publishes ImageNet weights for several architectures that
cnnzoo builds layer for layer with the same names and shapes; the model cards say
which (``keras_application``). Rather than keep our own copies, we let
keras.applications download and cache its weights (so whatever works for
`keras.applications.X(weights="imagenet")` works here, including a pre-filled
cache offline) and copy them across by layer name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from cnnzoo.models import catalog, recursion_limit
from cnnzoo.variable_pairs import matched_pairs

# Models registered outside the zoo (`cnnzoo.register_model` fills it from their
# cards): cnnzoo name -> (keras.applications constructor name, builder overrides).
_REGISTERED: dict[str, tuple[str, dict[str, Any]]] = {}


def register_application(name: str, constructor: str, **overrides: Any) -> None:
    """Declare cnnzoo's `name`, built with `overrides`, identical to keras.applications' model.

    The zoo's models say it in their cards (``keras_application``); this is for
    models registered elsewhere.
    """
    _REGISTERED[name] = (constructor, dict(overrides))


def _applications() -> dict[str, tuple[str, dict[str, Any]]]:
    # The zoo's cards, then the models registered elsewhere.
    zoo = {
        entry.card.name: (entry.card.keras_application, entry.card.keras_application_overrides)
        for entry in catalog()
        if entry.card.keras_application
    }
    return {**zoo, **_REGISTERED}


def application_for(name: str) -> tuple[Callable[..., keras.Model], dict[str, Any]]:
    """The keras.applications constructor and the builder overrides for `name`.

    Raises:
        ValueError: no keras.applications architecture equals this model.
    """
    applications = _applications()
    if name not in applications:
        raise ValueError(
            f"model {name!r} has no keras.applications counterpart with published weights; "
            f"models that have one: {sorted(applications)}"
        )
    constructor, overrides = applications[name]
    return getattr(keras.applications, constructor), dict(overrides)


def _weighted_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    return {layer.name: layer for layer in model.layers if layer.weights}


def _pairs_in_order(source: keras.Model, target: keras.Model):
    theirs = list(_weighted_layers(source).values())
    ours = list(_weighted_layers(target).values())
    if len(theirs) != len(ours):
        raise ValueError(
            f"{source.name!r} has {len(theirs)} layers with weights, {target.name!r} has "
            f"{len(ours)}: not the same architecture"
        )
    return [(layer.name, mine, layer) for mine, layer in zip(ours, theirs, strict=True)]


def copy_weights(
    source: keras.Model,
    target: keras.Model,
    *,
    skip_missing: bool = False,
    match: str = "name",
) -> int:
    """Copy every weighted layer of `source` into the corresponding layer of `target`.

    Args:
        source: e.g. a keras.applications model.
        target: the cnnzoo model; its layer names must cover the source's.
        skip_missing: ignore source layers absent from the target (for example
            the classifier when the target was built with ``include_top=False``).
        match: "name" (layers with the same name) or "order" (the i-th weighted
            layer of each; for sources whose layers carry Keras's automatic names,
            which depend on what the process built before).

    Returns:
        The number of layers copied.

    Raises:
        ValueError: a source layer is missing from the target (unless skipped),
            or a layer's weights differ in number or shape; the message names the
            layer and both shapes. Nothing is assigned unless every layer matches.
    """
    if match == "order":
        candidates = _pairs_in_order(source, target)
    elif match == "name":
        ours = _weighted_layers(target)
        candidates = []
        for name, layer in _weighted_layers(source).items():
            if name in ours:
                candidates.append((name, ours[name], layer))
            elif not skip_missing:
                raise ValueError(
                    f"layer {name!r} of {source.name!r} has no counterpart in {target.name!r}"
                )
    else:
        raise ValueError(f"match must be 'name' or 'order', got {match!r}")
    pairs, copied = [], 0
    for name, target_layer, layer in candidates:
        pairs.extend(matched_pairs(target_layer.weights, layer.weights, f"layer {name!r}"))
        copied += 1
    # Checked first, assigned after: a mismatch leaves the target untouched.
    for a, b in pairs:
        a.assign(b.value)
    return copied


def load_weights(model: keras.Model, name: str, weights: str | Path) -> keras.Model:
    """Give `model` (built as cnnzoo's `name`) the requested weights.

    Args:
        model: the freshly built cnnzoo model.
        name: its registry name.
        weights: "imagenet" (keras.applications' published weights, through its own
            download and cache) or the path of a ``.weights.h5`` / ``.keras`` file.

    Returns:
        `model`, with its weights replaced.
    """
    if str(weights) == "imagenet":
        constructor, _ = application_for(name)
        include_top = any(layer.name == "predictions" for layer in model.layers)
        reference = constructor(
            weights="imagenet", include_top=include_top, input_shape=model.input_shape[1:]
        )
        # keras.applications leaves some layers unnamed (InceptionV3's conv2d_N); their
        # automatic names depend on what this process built before, so they are
        # matched by order instead. Shapes are checked either way.
        named = set(_weighted_layers(model))
        by_name = all(name in named for name in _weighted_layers(reference))
        copy_weights(reference, model, match="name" if by_name else "order")
        return model
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".keras":
        # Keras walks the saved graph recursively: room for a frame per layer of the
        # model the weights are for (resnet1202's file needs ~230 over the default).
        with recursion_limit(sys.getrecursionlimit() + len(model.layers)):
            source = keras.saving.load_model(path, safe_mode=True)
        copy_weights(source, model)
    else:
        model.load_weights(path)
    return model


def trained_model(
    name: str, dataset: str, net: keras.Model | None = None, directory: str | Path | None = None
) -> keras.Model:
    """The package's trained `name` for `dataset` (`cnnzoo.weights`), checked against its card.

    Without `net`: the shipped model as trained, taking raw pixels in [0, 255]
    (its preprocessing is its first layers) and returning class probabilities.
    With `net` (`name` built with overrides: ``include_top=False,
    pooling="avg"``, another ``classifier_activation``...): `net`, its layers
    given the trained weights by name, behind the same preprocessing layers.
    `directory` holds the weights (default: the package's).

    Raises:
        KeyError: `name` has no weights for `dataset` (the message lists what exists).
        cnnzoo.weights.WeightsIntegrityError: the file does not match its card's sha256.
        ValueError: an override the weights cannot fit (the layer and shapes named).
    """
    from cnnzoo.model_io import load_trained
    from cnnzoo.training.preprocessing import with_preprocessing
    from cnnzoo.weights import WEIGHTS_DIR, verified_path

    path = verified_path(name, dataset, directory or WEIGHTS_DIR)
    shipped, _ = load_trained(path, compile=False)
    if net is None:
        return shipped
    trained_net = [layer for layer in shipped.layers if isinstance(layer, keras.Model)][-1]
    if tuple(net.input_shape[1:]) != tuple(trained_net.input_shape[1:]):
        raise ValueError(
            f"{name} weights={dataset!r}: trained at input_shape {trained_net.input_shape[1:]}, "
            f"whose preprocessing statistics do not fit {net.input_shape[1:]}"
        )
    include_top = any(layer.name == "predictions" for layer in net.layers)
    copy_weights(trained_net, net, skip_missing=not include_top)
    preprocessing = [la for la in shipped.layers[1:] if la is not trained_net]
    return with_preprocessing(net, preprocessing, name=net.name)

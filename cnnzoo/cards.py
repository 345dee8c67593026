"""Model cards: what a paper says about one registered model.

A card is plain data, kept beside its builder in the family's module; the
registry (`cnnzoo.registry`) collects them with the builders. This module
imports nothing of cnnzoo, so every layer of the package can use it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What the paper says about one registered model.

    Attributes:
        name: registry name, e.g. ``"resnet20"``.
        family: module-level family, e.g. ``"cifar_resnet"``.
        paper: citation of the paper that defines the network.
        section: table / section / figure of the paper the architecture follows.
        input_shape: (height, width, channels) the model is built for by default.
        num_classes: classes of the default classifier.
        trainable_params: the published (or derived and reported) trainable-parameter
            count of the default configuration; tests assert the built model has it.
        default_recipe: name of the training recipe in `cnnzoo.training.recipes`.
        dataset: the dataset the default recipe trains on.
        published: published accuracy figures, e.g. ``{"cifar10_test_error": 8.75}``.
        published_source: where the published figures come from.
        notes: anything a user should know (deviations, conventions).
        multiply_adds: multiply-adds per image of the default configuration, as
            `cnnzoo.costs.multiply_adds` computes them (filled in by `model_card`
            from `cnnzoo.costs.card_multiply_adds`, which a test recomputes).
        keras_application: the `keras.applications` constructor (e.g. ``"ResNet50"``)
            whose architecture this model has layer for layer once built with
            `keras_application_overrides`, so its published ImageNet weights fit
            (``cnnzoo.build(name, weights="imagenet")``); None where none does.
        keras_application_overrides: the builder options that make the architectures
            equal (e.g. ``{"use_bias": True}`` for ResNet-50's biased convolutions).
        follows: which seed text and paper section the builder follows and where it
            departs (filled in by `model_card` from `cnnzoo.fidelity`'s table).
    """

    name: str
    family: str
    paper: str
    section: str
    input_shape: tuple[int, int, int]
    num_classes: int
    trainable_params: int | None
    default_recipe: str | None = None
    dataset: str | None = None
    published: dict[str, float] = dataclasses.field(default_factory=dict)
    published_source: str = ""
    notes: str = ""
    multiply_adds: int | None = None
    keras_application: str | None = None
    keras_application_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    follows: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The card as plain JSON-able data."""
        return dataclasses.asdict(self)


# Every built-in model's card as JSON, written by `tools/write_model_cards.py` and held
# equal to the registry's by `tests/test_registry.py`: `cnnzoo list` reads it without
# importing the builders (and so Keras and TensorFlow).
CARDS_FILE = Path(__file__).with_name("model_cards.json")


def built_in_cards(path: Path = CARDS_FILE) -> list[ModelCard]:
    """The built-in models' cards, read from `CARDS_FILE`, sorted by name."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [ModelCard(**{**row, "input_shape": tuple(row["input_shape"])}) for row in rows]

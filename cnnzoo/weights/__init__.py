"""Trained weights shipped in the package: the zoo's CIFAR-10 and MNIST models and their cards.

Each shipped model is three files in this folder, named ``ARCH-DATASET``:

    ARCH-DATASET.keras        the trained model as `cnnzoo fit` saves it, without
                              optimizer state: raw [0, 255] pixels in (the recipe's
                              preprocessing is its first layers), probabilities out
    ARCH-DATASET.json         its metadata, as beside every model cnnzoo saves
                              (`cnnzoo.model_io.ModelMetadata`: class names, recipe)
    ARCH-DATASET.card.json    its card (`WeightsCard`): how it was made and what it
                              scores, with the file's sha256
    ARCH-DATASET.png          its training curves (error against iterations)
    ARCH-DATASET.history.csv  the validation rows of its training run, and
    ARCH-DATASET.steps.csv    its training loss every 50 iterations (the curves'
                              data, which the ResNet analyses read)

`tools/train_zoo.py ship` writes them from finished runs; nothing here is typed
by hand. Loading checks the file's sha256 against its card first.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).resolve().parent


class WeightsIntegrityError(ValueError):
    """A shipped weights file does not have the sha256 its card records."""


@dataclasses.dataclass(frozen=True)
class WeightsCard:
    """How a shipped model was made and what it scores (all figures measured).

    Attributes:
        arch: registered architecture name.
        dataset: "cifar10" or "mnist".
        file: the ``.keras`` file's name in this folder.
        sha256: the file's sha256.
        size_bytes: the file's size.
        test_accuracy: top-1 on the full test set, single view, evaluated once.
        test_correct: the test images it classifies correctly (what CI asserts).
        test_images: the test set's size.
        test_top5_accuracy: top-5, single view.
        test_accuracy_flip: top-1 with the image and its mirror averaged (None
            where mirroring is not a valid view, e.g. digits).
        val_accuracy: accuracy on the held-out validation split at the end of
            training: what the shipped seed was chosen on.
        val_images: the validation split's size.
        seeds: every seed trained with this recipe; `seed` the shipped one (the
            median on validation).
        seeds_test_accuracy: each seed's test accuracy, in `seeds` order.
        seed: the shipped seed.
        recipe: the recipe's name; `recipe_note` whether it is the paper's own.
        command: the command that reproduces the shipped run.
        iterations: optimizer steps trained; `epochs` passes over the training split.
        wall_seconds: the shipped run's training time (validations included).
        machines: the machines it trained on (CPU model, cores, ISA).
        paper: the paper's figure this row reproduces, and its source.
        protocol: the train / validation / test protocol, in words.
        trained: date, TensorFlow and Keras versions.
        recipes_compared: where several recipes were trained, each one's mean
            validation accuracy (what chose the shipped recipe) and test figures.
        target_accuracy: the test accuracy this architecture's zoo rows must
            reach (the paper's figure, or the issue's bar), None where the row is
            shipped for its curves.
        pending: the architecture's rows still training when this model shipped
            (recipe, flags, target, each seed's iterations): non-empty means the
            model is interim, to be replaced when they finish.
        precision: the dtype policies it trained in, in order: each
            ``{"policy", "iterations", "machines", "why"}`` (a run with
            ``--precision auto`` picks per session, bfloat16 on CPUs that compute
            it natively); empty on cards from before this was recorded (float32).
        test_at_training_end: the run's own test figure, ``{"test_accuracy",
            "policy"}``, scored in the policy training ended in; `test_accuracy` is
            the shipped file's as `cnnzoo evaluate` scores it (float32, BatchNorm
            folded), a few images apart after a bfloat16 run. None on older cards.
    """

    arch: str
    dataset: str
    file: str
    sha256: str
    size_bytes: int
    test_accuracy: float
    test_correct: int
    test_images: int
    test_top5_accuracy: float
    test_accuracy_flip: float | None
    val_accuracy: float
    val_images: int
    seeds: list[int]
    seeds_test_accuracy: list[float]
    seed: int
    recipe: str
    recipe_note: str
    command: str
    iterations: int
    epochs: float
    wall_seconds: float
    machines: list[str]
    paper: dict[str, Any]
    protocol: str
    trained: dict[str, str]
    recipes_compared: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    target_accuracy: float | None = None
    pending: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    precision: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    test_at_training_end: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.dataset}"

    @property
    def path(self) -> Path:
        """The model file, beside the card it was read from."""
        return Path(self.__dict__.get("_directory", WEIGHTS_DIR)) / self.file

    @property
    def mean_std(self) -> tuple[float, float]:
        """Mean and (sample) standard deviation of the seeds' test accuracies."""
        values = self.seeds_test_accuracy
        mean = sum(values) / len(values)
        if len(values) < 2:
            return mean, 0.0
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        return mean, var**0.5

    @property
    def standing(self) -> str:
        """Where the model stands against its target, in a few words ("" without one)."""
        if self.target_accuracy is None:
            return "interim" if self.pending else ""
        mark = "met" if self.test_accuracy >= self.target_accuracy else "not met"
        interim = "; interim, longer runs training" if self.pending else ""
        return f"target {self.target_accuracy:.2%} {mark}{interim}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@functools.cache
def all_cards(directory: str | Path = WEIGHTS_DIR) -> tuple[WeightsCard, ...]:
    """The cards of every model shipped in `directory` (the package's), sorted by name."""
    cards = []
    for path in sorted(Path(directory).glob("*.card.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            card = WeightsCard(**data)
        except TypeError as e:
            raise ValueError(f"{path}: not a weights card ({e})") from None
        object.__setattr__(card, "_directory", str(directory))
        cards.append(card)
    return tuple(cards)


def available(arch: str | None = None, directory: str | Path = WEIGHTS_DIR) -> list[str]:
    """The datasets `arch` has shipped weights for (every ``arch-dataset`` when None)."""
    if arch is None:
        return [card.name for card in all_cards(directory)]
    return [card.dataset for card in all_cards(directory) if card.arch == arch]


def weights_card(arch: str, dataset: str, directory: str | Path = WEIGHTS_DIR) -> WeightsCard:
    """The card of `arch`'s weights trained on `dataset`.

    Raises:
        KeyError: no such weights; the message lists what `arch` has, and all.
    """
    for card in all_cards(directory):
        if (card.arch, card.dataset) == (arch, dataset):
            return card
    mine = available(arch, directory)
    have = f"{arch} has weights for {mine}" if mine else f"{arch} has no shipped weights"
    shipped = ", ".join(available(None, directory)) or "none"
    raise KeyError(f"no {dataset!r} weights for {arch!r}: {have}; shipped: {shipped}")


def sha256(path: str | Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(arch: str, dataset: str, directory: str | Path = WEIGHTS_DIR) -> Path:
    """The path of `arch`'s `dataset` weights, after checking the file against its card.

    Raises:
        KeyError: no such weights.
        WeightsIntegrityError: the file is missing or its sha256 is not the card's.
    """
    card = weights_card(arch, dataset, directory)
    if not card.path.is_file():
        raise WeightsIntegrityError(
            f"{card.path}: missing (its card {card.name}.card.json remains)"
        )
    got = sha256(card.path)
    if got != card.sha256:
        raise WeightsIntegrityError(
            f"{card.path}: sha256 {got} does not match its card's {card.sha256}; the file "
            "is damaged or was replaced (reinstall cnnzoo)"
        )
    return card.path

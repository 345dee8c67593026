"""The small recipe the training tests share: synthetic data, a short run, no decay."""

from __future__ import annotations

from cnnzoo.training.recipe import Data, Recipe, Regularization, StepDecay


def fake_recipe(**changes) -> Recipe:
    """A 10-iteration run on the `fake` dataset at batch 64, lr 0.05; `changes` by flat name."""
    base = Recipe(
        name="test",
        source="test",
        data=Data(dataset="fake", batch_size=64, preprocessing="scale_01", augment=False),
        schedule=StepDecay(lr=0.05, total_steps=10),
        regularization=Regularization(weight_decay=0.0),
    )
    return base.override(**changes)

"""The multiply-adds in the model cards are what the code computes, for every model."""

from __future__ import annotations

import keras
import pytest

import cnnzoo
from cnnzoo.costs import card_multiply_adds, multiply_adds


def test_every_model_has_its_cost_in_its_card():
    assert sorted(card_multiply_adds()) == cnnzoo.list_models()
    assert cnnzoo.model_card("resnet20").multiply_adds == 40_551_040  # He et al. 2016: ~41M
    assert cnnzoo.model_card("resnet50").multiply_adds == pytest.approx(3.8e9, rel=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(card_multiply_adds()))
def test_card_cost_is_recomputed(name):
    got = multiply_adds(cnnzoo.build(name))
    keras.backend.clear_session()
    assert got == card_multiply_adds()[name], "rerun tools/model_costs.py"

"""The fidelity table: every model and recipe has its source text, the README shows the table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo import fidelity
from cnnzoo.training.recipes import RECIPES

REPO = Path(__file__).resolve().parents[1]


def _writer():
    spec = importlib.util.spec_from_file_location("wmc", REPO / "tools" / "write_model_cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _covering(name: str, kind: str) -> list[fidelity.Fidelity]:
    return [r for r in fidelity.ROWS if r.kind == kind and r.covers(name)]


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_every_model_has_exactly_one_row_and_its_card_says_it(name):
    rows = _covering(name, "network")
    assert len(rows) == 1, f"{name}: {len(rows)} network rows in cnnzoo.fidelity.ROWS"
    follows = cnnzoo.model_card(name).follows
    assert follows == rows[0].summary()
    assert follows.startswith("seeds ")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_has_exactly_one_row(name):
    rows = _covering(name, "recipe")
    assert len(rows) == 1, f"{name}: {len(rows)} recipe rows in cnnzoo.fidelity.ROWS"


def test_every_row_names_something_that_exists():
    known = {"network": set(cnnzoo.list_models()), "recipe": set(RECIPES)}
    for row in fidelity.ROWS:
        assert row.kind in fidelity.KINDS
        assert row.seed and row.paper and row.follows, row
        for subject in row.subjects if row.kind in known else ():
            assert any(row.covers(n) for n in known[row.kind]), f"{subject}: nothing registered"


def test_the_readme_table_is_the_rows():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert _writer().with_fidelity_table(readme) == readme, "rerun tools/write_model_cards.py"
    assert "| network | resnet20, resnet32" in readme


def test_a_pipe_in_a_cell_is_escaped_and_an_empty_cell_shown():
    row = fidelity.Fidelity(("x",), "network", "000 §1", "p", "a | b")
    line = fidelity.markdown_table((row,)).splitlines()[-1]
    assert line == "| network | x | 000 §1 | p | a \\| b | - |"


def test_the_writer_refuses_a_readme_without_markers():
    with pytest.raises(ValueError, match="fidelity"):
        _writer().with_fidelity_table("# no markers here\n")

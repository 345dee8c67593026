"""Importing cnnzoo changes nothing in the process (issue 17: import is free of side effects)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys
limit = sys.getrecursionlimit()
import cnnzoo
print(json.dumps({
    "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    "limit_changed": sys.getrecursionlimit() != limit,
    "heavy": sorted(m for m in ("tensorflow", "keras") if m in sys.modules),
    "version": cnnzoo.__version__,
}))
"""


def _probe(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_sets_nothing_and_loads_no_tensorflow():
    result = _probe(PROBE)
    assert result == {"onednn": None, "limit_changed": False, "heavy": [], "version": "0.1.0"}


def test_public_names_load_on_first_use():
    import cnnzoo

    assert {"build", "list_models", "model_card", "ModelCard", "register_model"} <= set(dir(cnnzoo))
    assert "resnet20" in cnnzoo.list_models("resnet*")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cnnzoo.nope  # noqa: B018


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "resnet*"], ["list", "--weights"]])
def test_help_and_list_answer_without_keras_or_tensorflow(argv):
    """issue 19, first contact: these commands need neither, so they import neither."""
    code = (
        "import contextlib, io, json, sys\n"
        "from cnnzoo import cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        code = cli.main({argv!r})\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "lines = len(out.getvalue().splitlines())\n"
        "print(json.dumps({'code': code, 'heavy': heavy, 'lines': lines}))\n"
    )
    result = _probe(code)
    assert result["code"] in (0, None) and result["heavy"] == []
    assert result["lines"] > 3

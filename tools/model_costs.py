"""Compute every registered model's multiply-adds and write `cnnzoo/multiply_adds.json`.

The model cards show these figures; `tests/test_model_costs.py` recomputes each one,
so the table cannot drift from the code. Rerun after adding or changing a model:

    python tools/model_costs.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras

import cnnzoo
from cnnzoo.costs import COSTS_FILE, multiply_adds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=COSTS_FILE)
    args = parser.parse_args()
    table = {}
    for name in cnnzoo.list_models():
        table[name] = multiply_adds(cnnzoo.build(name))
        keras.backend.clear_session()  # the large ImageNet models add up otherwise
        print(f"{name:24s} {table[name]:>16,d}", flush=True)
    Path(args.out).write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

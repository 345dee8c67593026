"""Compute every registered model's multiply-adds and write `cnnzoo/model_costs.py`.

The model cards show these figures; `tests/test_model_costs.py` recomputes each one,
so the table cannot drift from the code. Rerun after adding or changing a model:

    python tools/model_costs.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras

import cnnzoo
from cnnzoo.analysis import multiply_adds

HEADER = '''"""Multiply-adds per image of each registered model's default configuration.

Written by `tools/model_costs.py` from `cnnzoo.analysis.multiply_adds` (convolutions
and fully connected layers; He et al. 2015 Table 1's convention) and checked by
`tests/test_model_costs.py`. Do not edit by hand.
"""

MULTIPLY_ADDS: dict[str, int] = {
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parents[1] / "cnnzoo" / "model_costs.py")
    args = parser.parse_args()
    lines = [HEADER]
    for name in cnnzoo.list_models():
        macs = multiply_adds(cnnzoo.build(name))
        keras.backend.clear_session()  # the large ImageNet models add up otherwise
        print(f"{name:24s} {macs:>16,d}", flush=True)
        lines.append(f'    "{name}": {macs},\n')
    lines.append("}\n")
    Path(args.out).write_text("".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Write every registered model's card to `cnnzoo/model_cards.json`.

`cnnzoo list` reads that file rather than importing the builders (and with them
Keras and TensorFlow); `tests/test_registry.py` holds it equal to the registry's
cards, so rerun this after adding a model or changing a card:

    python tools/write_model_cards.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cnnzoo
from cnnzoo.cards import CARDS_FILE


def card_rows() -> list[dict]:
    """The registry's cards as JSON data, sorted by name."""
    return [cnnzoo.model_card(name).as_dict() for name in cnnzoo.list_models()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=CARDS_FILE)
    args = parser.parse_args()
    text = json.dumps(card_rows(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

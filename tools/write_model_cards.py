"""Write the registered models' cards to `cnnzoo/model_cards.json` and README's Fidelity table.

`cnnzoo list` reads the card file rather than importing the builders (and with
them Keras and TensorFlow); `tests/test_registry.py` holds it equal to the
registry's cards, and `tests/test_fidelity.py` holds the README's table equal to
`cnnzoo.fidelity.ROWS`, so rerun this after adding a model or changing a card:

    python tools/write_model_cards.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cnnzoo
from cnnzoo.cards import CARDS_FILE
from cnnzoo.fidelity import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
FIDELITY_BEGIN = "<!-- fidelity: written by tools/write_model_cards.py -->\n"
FIDELITY_END = "<!-- /fidelity -->"


def card_rows() -> list[dict]:
    """The registry's cards as JSON data, sorted by name."""
    return [cnnzoo.model_card(name).as_dict() for name in cnnzoo.list_models()]


def with_fidelity_table(readme: str) -> str:
    """`readme` with the text between the fidelity markers replaced by the table.

    Raises:
        ValueError: when the markers are missing or out of order.
    """
    head, begin, rest = readme.partition(FIDELITY_BEGIN)
    _, end, tail = rest.partition(FIDELITY_END)
    if not begin or not end:
        markers = f"{FIDELITY_BEGIN.strip()} ... {FIDELITY_END}"
        raise ValueError(f"README: expected the fidelity markers {markers}")
    return head + begin + markdown_table() + end + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=CARDS_FILE)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    text = json.dumps(card_rows(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    args.readme.write_text(with_fidelity_table(args.readme.read_text("utf-8")), "utf-8")
    print(f"wrote the Fidelity table of {args.readme}")


if __name__ == "__main__":
    main()

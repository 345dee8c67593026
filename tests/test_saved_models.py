"""`saved_models/`: the shipped models' SavedModels, as an app loads them, without cnnzoo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnzoo.weights import all_cards

SAVED_MODELS = Path(__file__).resolve().parents[1] / "saved_models"
EXPORTS = sorted(p.parent for p in SAVED_MODELS.glob("*/saved_model.pb"))

# What an app does (saved_models/README.md), in a process that never imports cnnzoo:
# load each export with TensorFlow alone and run its signature on the images given.
_APP = """
import json, sys
import numpy as np
import tensorflow as tf
out = {}
for directory in sys.argv[2:]:
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    images = np.load(sys.argv[1] + "/" + directory.rsplit("/", 1)[-1] + ".npy")
    result = serve(images=tf.constant(images))
    out[directory] = {
        "probabilities": result["probabilities"].numpy().tolist(),
        "class_name": [n.decode() for n in result["class_name"].numpy()],
    }
assert "cnnzoo" not in sys.modules, "the app imported cnnzoo"
print(json.dumps(out))
"""


def test_the_issue_s_exports_are_there():
    names = {p.name for p in EXPORTS}
    assert {"resnet20-cifar10", "wu2016_mnist-mnist"} <= names, sorted(names)


def test_every_export_is_of_the_shipped_file():
    cards = {card.name: card for card in all_cards()}
    assert sorted(p.name for p in EXPORTS) == sorted(cards), "saved_models/ and cnnzoo/weights/"
    for export in EXPORTS:
        source = json.loads((export / "cnnzoo.json").read_text(encoding="utf-8"))["weights"]
        card = cards[export.name]
        assert (source["file"], source["sha256"]) == (card.file, card.sha256), (
            f"{export} was exported from another file than the shipped {card.file}: "
            "python tools/train_zoo.py export"
        )


@pytest.mark.skipif(not EXPORTS, reason="no SavedModels under saved_models/")
def test_an_app_without_cnnzoo_gets_the_shipped_models_answers(tmp_path):
    import cnnzoo

    cards = {card.name: card for card in all_cards()}
    rng = np.random.default_rng(0)
    batches = {}
    for export in EXPORTS:
        shape = json.loads((export / "cnnzoo.json").read_text(encoding="utf-8"))["input_shape"]
        batches[export] = rng.integers(0, 256, (8, *shape), dtype=np.uint8)
        np.save(tmp_path / f"{export.name}.npy", batches[export])
    argv = [sys.executable, "-c", _APP, str(tmp_path), *map(str, EXPORTS)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    for export, images in batches.items():
        card = cards[export.name]
        model = cnnzoo.build(card.arch, weights=card.dataset)
        expected = np.asarray(model(images.astype("float32"), training=False))
        got = np.asarray(answers[str(export)]["probabilities"])
        np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=str(export))
        names = json.loads((export / "cnnzoo.json").read_text(encoding="utf-8"))["class_names"]
        assert answers[str(export)]["class_name"] == [names[i] for i in expected.argmax(1)]

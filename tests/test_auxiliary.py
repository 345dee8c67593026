"""Auxiliary classifiers: the weighted training loss, main-output metrics, saving, fit."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
from _recipes import fake_recipe

from cnnzoo import registry
from cnnzoo.training.auxiliary import AuxiliaryLossModel, inference_model, supports_aux_heads
from cnnzoo.training.trainer import RunSpec, fit


def _two_aux_net(input_shape=(8, 8, 3), classes=4, aux_heads=True, **_):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    main = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    if not aux_heads:
        return keras.Model(inputs, main, name="tiny")
    aux = [
        keras.layers.Dense(classes, activation="softmax", name=f"aux{i}_predictions")(x)
        for i in (1, 2)
    ]
    return keras.Model(inputs, [main, *aux], name="tiny")


def _compiled(weight=0.3):
    model = AuxiliaryLossModel(_two_aux_net(), aux_loss_weight=weight)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def test_total_loss_is_main_plus_weighted_auxiliaries():
    model = _compiled(0.3)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, 6)
    main, aux1, aux2 = (np.asarray(t) for t in model(x))

    def ce(p):  # by hand: mean negative log-likelihood of the true class
        return -np.mean(np.log(p[np.arange(6), y]))

    expected = ce(main) + 0.3 * ce(aux1) + 0.3 * ce(aux2)
    got = float(model.compute_loss(x, y, model(x)))
    assert got == pytest.approx(expected, rel=1e-5)
    # One training step reports that same total as its loss, and main-output metrics
    # under the single-output names.
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    assert set(logs) == {"loss", "accuracy"}
    assert logs["accuracy"] == pytest.approx(np.mean(main.argmax(1) == y))


def test_round_trip_and_inference_model(tmp_path):
    model = _compiled()
    x = np.random.default_rng(1).uniform(size=(2, 8, 8, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again, AuxiliaryLossModel) and again.aux_loss_weight == 0.3
    for a, b in zip(model(x), again(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    main = inference_model(again)
    assert len(main.outputs) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "The structure of `inputs` doesn't match"
        np.testing.assert_allclose(np.asarray(main(x)), np.asarray(model(x)[0]), atol=1e-6)
    inputs = keras.Input((2,))
    plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    assert inference_model(plain) is plain


def test_single_output_net_is_refused():
    with pytest.raises(ValueError, match="single output: no auxiliary heads"):
        AuxiliaryLossModel(_two_aux_net(aux_heads=False))


@pytest.mark.slow
def test_fit_trains_with_aux_heads_and_saves_the_main_classifier(tmp_path, monkeypatch):
    card = registry.ModelCard(
        name="tiny_aux",
        family="test",
        paper="test",
        section="test",
        input_shape=(8, 8, 3),
        num_classes=4,
        trainable_params=0,
        default_recipe="test",
        dataset="fake",
    )
    registry._ensure_loaded()
    monkeypatch.setitem(registry._BUILDERS, "tiny_aux", _two_aux_net)
    monkeypatch.setitem(registry._CARDS, "tiny_aux", card)
    assert supports_aux_heads("tiny_aux")
    recipe = fake_recipe(total_steps=6, aux_loss_weight=0.3)
    run = tmp_path / "run"
    results = fit(RunSpec("tiny_aux", recipe, run, max_eval_images=64), verbose=0)
    assert 0.0 <= results["test_accuracy"] <= 1.0
    checkpoint = keras.saving.load_model(run / "checkpoint.keras")
    assert isinstance(checkpoint, AuxiliaryLossModel)
    saved = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert len(saved.outputs) == 1 and saved.output_shape == (None, 10)
    assert json.loads((run / "results.json").read_text())["iterations"] == 6


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch, input_size, weight", [("googlenet", 224, 0.3), ("inception_v3", 299, 0.4)]
)
def test_one_training_step_of_a_zoo_net_with_aux_heads(arch, input_size, weight):
    import cnnzoo

    net = cnnzoo.build(arch, aux_heads=True, classes=10)
    heads = 3 if arch == "googlenet" else 2
    assert len(net.outputs) == heads
    model = AuxiliaryLossModel(net, aux_loss_weight=weight)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),  # a step that leaves the weights as they are
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(2, input_size, input_size, 3)).astype("float32")
    y = np.array([3, 7])
    # Dropout makes training-mode outputs random, so the by-hand total is checked on
    # one inference-mode pass; the step then shows training runs with the heads.
    outputs = [np.asarray(t) for t in model(x, training=False)]

    def ce(p):
        return -np.mean(np.log(p[np.arange(2), y]))

    expected = ce(outputs[0]) + weight * sum(ce(p) for p in outputs[1:])
    got = float(model.compute_loss(x, y, model(x, training=False)))
    assert got == pytest.approx(expected, rel=1e-5)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"} and np.isfinite(logs["loss"])

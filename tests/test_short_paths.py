"""Short-path training: each batch keeps K random residual branches; evaluation keeps all."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.training.short_paths import ShortPathModel, check_short_paths, with_short_paths


@pytest.fixture(scope="module")
def wrapped():
    keras.utils.set_random_seed(0)
    net = cnnzoo.build("resnet20")
    model = ShortPathModel(net, 3, seed=1, name=net.name)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return net, model


def test_each_step_draws_k_branches_as_a_function_of_seed_and_step(wrapped):
    _, model = wrapped
    assert len(model.gates) == 9  # resnet20: 3 stages of 3 units
    draws = [model.draw(step).numpy() for step in range(20)]
    assert all(d.sum() == 3 and set(np.unique(d)) <= {0.0, 1.0} for d in draws)
    np.testing.assert_array_equal(model.draw(7).numpy(), draws[7])  # resumable
    assert len({tuple(d) for d in draws}) > 10  # not one fixed subset
    # Every unit gets its turn over many steps.
    assert np.all(np.sum([model.draw(s).numpy() for s in range(200)], axis=0) > 0)


def test_training_switches_the_gates_and_evaluation_is_the_whole_net(wrapped):
    net, model = wrapped
    x = np.random.default_rng(0).random((8, 32, 32, 3), np.float32) * 255
    y = np.arange(8) % 10
    step = int(model.optimizer.iterations.numpy())
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    # The gates hold the last batch's draw: step + 1 (two batches).
    on = np.array([float(g.on.numpy()) for g in model.gates])
    np.testing.assert_array_equal(on, model.draw(step + 1).numpy())
    np.testing.assert_allclose(model.predict(x, verbose=0), net.predict(x, verbose=0), atol=1e-6)
    # The gated graph with every gate on is the net itself.
    for gate in model.gates:
        gate.on.assign(1.0)
    np.testing.assert_allclose(model.gated(x), net(x), atol=1e-5)


def test_it_saves_and_loads_with_its_settings(wrapped, tmp_path):
    _, model = wrapped
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ShortPathModel) and (loaded.branches, loaded.seed) == (3, 1)
    x = np.full((2, 32, 32, 3), 100.0, np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_what_it_refuses():
    with pytest.raises(ValueError, match="has no residual units"):
        ShortPathModel(cnnzoo.build("plain20"), 3)
    with pytest.raises(ValueError, match=r"1\.\.9 \('resnet20' has 9 units\), got 10"):
        ShortPathModel(cnnzoo.build("resnet20"), 10)
    with pytest.raises(ValueError, match="without --accumulate"):
        check_short_paths(3, 2, "default")
    with pytest.raises(ValueError, match="default strategy"):
        check_short_paths(3, 1, "mirrored")
    net = cnnzoo.build("resnet20")
    assert with_short_paths(net, 0) is net


@pytest.mark.slow
def test_fit_trains_short_paths_resumes_and_saves_the_whole_net(tmp_path):
    from _recipes import fake_recipe

    from cnnzoo.model_io import load_trained
    from cnnzoo.training.trainer import RunSpec, fit

    spec = RunSpec(
        "resnet20", fake_recipe(), tmp_path / "r", max_eval_images=64, steps=3, short_paths=4
    )
    assert fit(spec, verbose=0)["iterations"] == 3
    checkpoint, _ = load_trained(tmp_path / "r" / "checkpoint.keras")
    assert isinstance(checkpoint, ShortPathModel) and checkpoint.branches == 4
    assert fit(spec, verbose=0)["iterations"] == 3  # resumed from the wrapped checkpoint
    model, _ = load_trained(tmp_path / "r" / "model.keras")
    assert not isinstance(model, ShortPathModel)
    assert model.count_params() == checkpoint.net.count_params()
    # Another K is another run.
    with pytest.raises(ValueError, match="short_paths"):
        fit(dataclasses.replace(spec, short_paths=5), verbose=0)


def test_the_fit_command_takes_short_paths():
    from cnnzoo.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["fit", "--arch", "resnet20", "--short-paths", "4"]).short_paths == 4
    assert parser.parse_args(["fit", "--arch", "resnet20"]).short_paths == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "--arch", "resnet20", "--short-paths", "-1"])

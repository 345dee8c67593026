"""Gradient accumulation: N micro-batches make the update the whole batch makes."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from cnnzoo.training.accumulation import (
    GradientAccumulationModel,
    check_accumulation,
    with_accumulation,
)
from cnnzoo.training.net_wrapper import training_net
from cnnzoo.training.optimizer import SGDL2
from cnnzoo.training.schedules import StepSchedule


def _net(seed: int = 0) -> keras.Model:
    """Conv -> ReLU -> pool -> softmax: no BatchNormalization, so slices are independent."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax", kernel_initializer=init, name="fc")(x)
    return keras.Model(inputs, outputs, name="net")


def _compile(model: keras.Model) -> keras.Model:
    # Momentum, coupled L2 and a rate that changes after the first update: the
    # second update is right only if decay and schedule count updates.
    schedule = StepSchedule(boundaries=[1], values=[0.5, 0.05])
    model.compile(
        optimizer=SGDL2(learning_rate=schedule, momentum=0.9, l2=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def _data(seed: int = 1, n: int = 12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 5, n)


@pytest.mark.parametrize("micro_batches", [2, 4])
def test_accumulated_updates_equal_the_whole_batchs(micro_batches):
    whole = _compile(_net())
    sliced = _compile(with_accumulation(_net(), micro_batches))
    for step in range(3):
        x, y = _data(seed=step)
        logs_whole = whole.train_on_batch(x, y, return_dict=True)
        logs_sliced = sliced.train_on_batch(x, y, return_dict=True)
        assert logs_sliced["loss"] == pytest.approx(logs_whole["loss"], rel=1e-5)
    for a, b in zip(whole.get_weights(), sliced.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert int(sliced.optimizer.iterations) == int(whole.optimizer.iterations) == 3
    assert float(sliced.optimizer.learning_rate) == pytest.approx(0.05)


def test_one_micro_batch_is_the_model_itself_and_unwrapping_gives_the_net():
    net = _net()
    assert with_accumulation(net, 1) is net
    wrapped = with_accumulation(net, 3)
    assert isinstance(wrapped, GradientAccumulationModel) and wrapped.name == "net"
    assert training_net(wrapped) is net and training_net(net) is net


def test_the_wrapper_survives_saving(tmp_path):
    model = _compile(with_accumulation(_net(), 2))
    model.train_on_batch(*_data())
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, GradientAccumulationModel) and loaded.micro_batches == 2
    x, _ = _data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_batch_that_does_not_split_is_refused():
    model = _compile(with_accumulation(_net(), 5))
    with pytest.raises(Exception, match="must split into 5 slices"):
        model.train_on_batch(*_data(n=12))


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 128, "default"), "must be >= 1, got 0"),
        ((3, 128, "default"), "batch size 128 does not split into 3 equal micro-batches"),
        ((2, 128, "mirrored"), "not supported with the 'mirrored' strategy"),
    ],
)
def test_check_accumulation_names_the_problem(args, message):
    with pytest.raises(ValueError, match=message):
        check_accumulation(*args)
    check_accumulation(4, 128, "default")
    check_accumulation(1, 127, "mirrored")


@pytest.mark.slow
def test_fit_accumulates_resumes_and_saves_the_plain_net(tmp_path):
    from _recipes import fake_recipe

    from cnnzoo.model_io import load_trained
    from cnnzoo.training.trainer import RunSpec, fit

    spec = RunSpec(
        "resnet20", fake_recipe(), tmp_path / "r", max_eval_images=64, steps=3, accumulate=4
    )
    assert fit(spec, verbose=0)["iterations"] == 3  # updates, not micro-batches
    checkpoint, _ = load_trained(tmp_path / "r" / "checkpoint.keras")
    assert isinstance(checkpoint, GradientAccumulationModel) and checkpoint.micro_batches == 4
    assert fit(spec, verbose=0)["iterations"] == 3  # resumed from the wrapped checkpoint
    model, meta = load_trained(tmp_path / "r" / "model.keras")
    assert not isinstance(model, GradientAccumulationModel)
    assert model.count_params() == checkpoint.count_params()
    with pytest.raises(ValueError, match="batch size 64 does not split into 3"):
        fit(dataclasses.replace(spec, model_dir=tmp_path / "s", accumulate=3), verbose=0)


def test_the_fit_command_takes_accumulate():
    from cnnzoo.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["fit", "--arch", "resnet20", "--accumulate", "4"]).accumulate == 4
    assert parser.parse_args(["fit", "--arch", "resnet20"]).accumulate == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "--arch", "resnet20", "--accumulate", "0"])

"""The training loop in-process on the synthetic dataset: schedules, intervals, early stop."""

from __future__ import annotations

import csv
import dataclasses
import json

import keras
import numpy as np
import pytest
from _recipes import fake_recipe

from cnnzoo.training import callbacks as cb
from cnnzoo.training.recipes import get_recipe
from cnnzoo.training.trainer import RunSpec, fit, resolve_length

pytestmark = pytest.mark.slow


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_in_steps_converts_epochs():
    r = get_recipe("lecun1998").in_steps(100)
    assert r.schedule.total_steps == 2000 and r.schedule.epochs is None
    assert r.schedule.boundaries == (200, 500, 800, 1200) and r.schedule.boundary_epochs == ()


def test_resolve_length_interval_and_flags(tmp_path):
    spec = RunSpec("wu2016_mnist", get_recipe("wu2016_mnist"), tmp_path)
    resolved, per_epoch, interval = resolve_length(spec, 59_000)
    assert per_epoch == 1180 and interval == 200  # batch 50; validation every 200 (§3.1)
    assert resolved.recipe.schedule.total_steps == 20 * 1180
    short, _, interval = resolve_length(RunSpec("x", spec.recipe, tmp_path, steps=30), 59_000)
    assert short.recipe.schedule.total_steps == 30 and interval == 30


_fake_recipe = fake_recipe


def test_validate_every_and_half_life(tmp_path):
    recipe = _fake_recipe(
        epochs=2,
        validate_every=12,
        lr_schedule="half_life",
        half_life_epochs=1.0,
        lr_multipliers=[["bias$", 2.0]],
    )
    spec = RunSpec("wu2016_cifar", recipe, tmp_path / "r", max_eval_images=64)
    fit(spec, verbose=0)
    rows = _rows(tmp_path / "r" / "history.csv")
    # 2048 fake images / 64 = 32 iterations per epoch, 64 in all, validated every 12
    assert [int(float(r["iterations"])) for r in rows] == [12, 24, 36, 48, 60, 64]
    lrs = [float(r["lr"]) for r in rows]
    np.testing.assert_allclose(
        lrs, [0.05 * 0.5 ** (i / 32) for i in (12, 24, 36, 48, 60, 64)], rtol=1e-5
    )
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["recipe"]["schedule"]["total_steps"] == 64
    assert run["recipe"]["schedule"]["epochs"] is None


def test_resume_mid_epoch_continues_the_same_data(tmp_path):
    """Checkpointed mid-epoch and resumed, a run matches the uninterrupted one."""
    recipe = _fake_recipe(total_steps=20, validate_every=7, momentum=0.0)
    fit(RunSpec("wu2016_cifar", recipe, tmp_path / "full", max_eval_images=32), verbose=0)

    # A run that stopped after its first checkpoint (iteration 7 of 32 in the data
    # epoch), as a killed one would have; then the 20-iteration command is rerun.
    part = tmp_path / "part"
    first_leg = RunSpec("wu2016_cifar", recipe.override(total_steps=7), part, max_eval_images=32)
    fit(first_leg, verbose=0)
    run = json.loads((part / "run.json").read_text())
    run["recipe"]["schedule"]["total_steps"] = 20  # the killed run had been asked for 20
    (part / "run.json").write_text(json.dumps(run))
    fit(RunSpec("wu2016_cifar", recipe, part, max_eval_images=32), verbose=0)

    full_rows, part_rows = _rows(tmp_path / "full" / "history.csv"), _rows(part / "history.csv")
    assert [r["iterations"] for r in part_rows] == [r["iterations"] for r in full_rows]
    # Same batches at the same rates: the losses agree to float32 rounding (the net
    # has no BatchNorm); a different batch order would change them at the percent level.
    np.testing.assert_allclose(
        [float(r["loss"]) for r in part_rows], [float(r["loss"]) for r in full_rows], rtol=1e-4
    )


def test_stop_on_training_loss():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    x = np.tile(np.eye(3, dtype="float32")[:2], (32, 1))
    y = np.tile([0, 1], 32)
    stop = cb.StopOnTrainingLoss(threshold=0.05, steps_per_epoch=8)
    history = model.fit(x, y, batch_size=8, epochs=500, verbose=0, shuffle=False, callbacks=[stop])
    assert stop.stopped_at is not None and stop.stopped_at % 8 == 0
    assert len(history.history["loss"]) < 500
    assert history.history["loss"][-1] < 0.05 <= history.history["loss"][-2]


def test_plateau_lowers_the_rate(tmp_path):
    recipe = _fake_recipe(
        total_steps=40,
        validate_every=4,
        lr_schedule="plateau",
        plateau_patience=1,
        lr=0.5,
        lr_decay=0.1,
    )
    fit(RunSpec("wu2016_cifar", recipe, tmp_path / "p", max_eval_images=64), verbose=0)
    lrs = [float(r["lr"]) for r in _rows(tmp_path / "p" / "history.csv")]
    assert lrs[0] == pytest.approx(0.5)
    assert min(lrs) <= 0.05 + 1e-9  # at least one decay by 10 once accuracy stalled


def test_divergence_stops_with_a_clear_error_and_saves_no_nan_model(tmp_path):
    blown = _fake_recipe(total_steps=16, validate_every=4, lr=1e12)
    run = tmp_path / "e"
    with pytest.raises(RuntimeError, match=r"training diverged: .* iteration \d+ \(learning rate"):
        fit(RunSpec("wu2016_cifar", blown, run, max_eval_images=64), verbose=0)
    assert not (run / "model.keras").exists() and not (run / "results.json").exists()
    # Whatever checkpoint the blown run left (if any) holds finite weights only.
    if (run / "checkpoint.keras").exists():
        saved = keras.saving.load_model(run / "checkpoint.keras")
        assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in saved.weights)


def test_checkpoint_skips_an_epoch_with_nan_loss(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    checkpoint = cb.AtomicCheckpoint(tmp_path / "c.keras")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    before = (tmp_path / "c.keras").read_bytes()
    model.layers[0].kernel.assign(np.full((2, 1), np.nan, "float32"))
    checkpoint.on_epoch_end(1, {"loss": float("nan")})
    assert (tmp_path / "c.keras").read_bytes() == before


def test_an_auto_run_takes_each_sessions_policy_and_keeps_its_state(tmp_path, monkeypatch):
    """`--precision auto` picks per session: a bf16 checkpoint resumes in float32 exactly."""
    from cnnzoo.model_io import load_trained
    from cnnzoo.training import trainer

    recipe = _fake_recipe(total_steps=6, validate_every=3, momentum=0.9)
    run = tmp_path / "r"
    spec = RunSpec("resnet20", recipe, run, max_eval_images=64, precision="auto")
    machine = {"policy": ("mixed_bfloat16", "the CPU computes bfloat16 natively (test)")}
    monkeypatch.setattr(trainer, "auto_policy", lambda: machine["policy"])
    first_spec = dataclasses.replace(spec, recipe=recipe.override(total_steps=3))
    first = fit(first_spec, verbose=0)
    assert first["precision"]["policy"] == "mixed_bfloat16"
    identity = json.loads((run / "run.json").read_text())
    assert identity["precision"] == "auto"
    identity["recipe"]["schedule"]["total_steps"] = 6  # as if the 6-iteration run had been killed
    (run / "run.json").write_text(json.dumps(identity))
    checkpoint, _ = load_trained(run / "checkpoint.keras", compile=True)
    saved = [v.numpy() for v in checkpoint.weights + checkpoint.optimizer.variables]

    # The next session's machine has no native bfloat16: the run goes on in float32.
    machine["policy"] = ("float32", "the CPU has no native bfloat16 (test)")
    restored = {}
    real_move = trainer.moved_to_policy

    def move(trained, rebuilt):
        restored["model"] = real_move(trained, rebuilt)
        restored["values"] = [v.numpy() for v in rebuilt.weights + rebuilt.optimizer.variables]
        return restored["model"]

    monkeypatch.setattr(trainer, "moved_to_policy", move)
    results = fit(spec, verbose=0)
    assert results["iterations"] == 6 and np.isfinite(results["test_loss"])
    assert results["precision"]["policy"] == "float32"
    assert len(restored["values"]) == len(saved)
    for before, after in zip(saved, restored["values"], strict=True):
        np.testing.assert_array_equal(before, after)
    assert int(saved[-len(checkpoint.optimizer.variables)]) == 3  # iterations came along
    sessions = [json.loads(line) for line in (run / "sessions.jsonl").read_text().splitlines()]
    assert [(r["iteration"], r["precision"]["policy"]) for r in sessions] == [
        (0, "mixed_bfloat16"),
        (3, "float32"),
    ]
    model, meta = load_trained(run / "model.keras")
    assert meta["precision"] == "float32"
    convs = [la for la in model._flatten_layers() if isinstance(la, keras.layers.Conv2D)]
    assert convs and all(la.compute_dtype == "float32" for la in convs)


def test_moving_into_a_policy_refuses_a_different_model():
    """A checkpoint whose variables do not match the rebuilt model is an error, nothing copied."""
    from cnnzoo.training.precision import moved_to_policy

    def model(units):
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units)])
        m.compile(optimizer="sgd", loss="mse")
        m.optimizer.build(m.trainable_variables)
        return m

    trained, rebuilt = model(3), model(4)
    before = [w.numpy() for w in rebuilt.weights]
    with pytest.raises(
        ValueError,
        match=r"session's policy: weights, weight 'kernel': expected shape \(2, 4\), got \(2, 3\)",
    ):
        moved_to_policy(trained, rebuilt)
    for w, b in zip(rebuilt.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_fit_under_a_mixed_policy_resumes_with_it(tmp_path, policy):
    """`--precision`: the run trains under the policy, saves float32 outputs and resumes."""
    from cnnzoo.model_io import load_trained

    recipe = _fake_recipe(total_steps=6, validate_every=3, momentum=0.9)
    run = tmp_path / "r"
    spec = RunSpec("resnet20", recipe, run, max_eval_images=64, precision=policy)
    first = fit(
        RunSpec(
            "resnet20", recipe.override(total_steps=3), run, max_eval_images=64, precision=policy
        ),
        verbose=0,
    )
    assert first["iterations"] == 3
    identity = json.loads((run / "run.json").read_text())
    assert identity["precision"] == policy
    identity["recipe"]["schedule"]["total_steps"] = 6  # as if the 6-iteration run had been killed
    (run / "run.json").write_text(json.dumps(identity))
    # `--precision auto` resumes in the policy the run began with, whatever this CPU has.
    results = fit(dataclasses.replace(spec, precision="auto"), verbose=0)
    assert results["iterations"] == 6 and np.isfinite(results["test_loss"])
    assert results["precision"] == {"policy": policy, "why": "auto: kept from the run resumed"}
    session = json.loads((run / "sessions.jsonl").read_text().splitlines()[-1])
    assert session["precision"]["policy"] == policy

    model, meta = load_trained(run / "model.keras")
    assert meta["precision"] == policy
    compute = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[policy]
    convs = [la for la in model._flatten_layers() if isinstance(la, keras.layers.Conv2D)]
    assert convs and all(la.compute_dtype == compute for la in convs)
    assert all(v.dtype == "float32" for v in model.weights)
    probs = model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    # A float32 rerun of the same directory is a different run: refused, not mixed.
    with pytest.raises(ValueError, match="precision: was 'mixed"):
        fit(RunSpec("resnet20", recipe, run, max_eval_images=64), verbose=0)


def test_auto_precision_of_a_new_run_follows_the_hardware(tmp_path):
    from cnnzoo.compute_dtype import auto_policy

    run = tmp_path / "r"
    spec = RunSpec("wu2016_cifar", _fake_recipe(total_steps=2), run, max_eval_images=64)
    results = fit(dataclasses.replace(spec, precision="auto"), verbose=0)
    policy, why = auto_policy()
    assert results["precision"] == {"policy": policy, "why": f"auto: {why}"}
    # Recorded as "auto": each session that resumes the run picks for its own machine.
    assert json.loads((run / "run.json").read_text())["precision"] == "auto"
    assert json.loads((run / "model.json").read_text())["precision"] == policy


def test_fit_refuses_an_unknown_precision(tmp_path):
    spec = RunSpec("resnet20", _fake_recipe(), tmp_path / "r", precision="float16")
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        fit(spec, verbose=0)
    assert not (tmp_path / "r").exists()


def test_select_best_keeps_and_tests_the_best_validation_model(tmp_path):
    recipe = _fake_recipe(total_steps=40, validate_every=8, val_split=256)
    spec = RunSpec("wu2016_cifar", recipe, tmp_path / "r", max_eval_images=64, select="best")
    results = fit(spec, verbose=0)
    rows = _rows(tmp_path / "r" / "history.csv")
    scores = [float(r["val_accuracy"]) for r in rows]
    best = int(np.argmax(scores))  # the earliest of equal scores
    # best.keras carries the model's metadata, with how it was selected.
    best_meta = json.loads((tmp_path / "r" / "best.json").read_text())
    assert best_meta["class_names"] and best_meta["arch"] == "wu2016_cifar"
    record = best_meta["selected"]
    assert record["iteration"] == int(float(rows[best]["iterations"]))
    assert record["val_accuracy"] == pytest.approx(scores[best])
    assert results["selected"]["by"] == "val_accuracy"
    assert results["selected"]["iteration"] == record["iteration"]
    # The saved model is the selected one, and its test figure is that model's.
    from cnnzoo.model_io import load_trained

    saved, meta = load_trained(tmp_path / "r" / "model.keras")
    best_model, _ = load_trained(tmp_path / "r" / "best.keras")
    for a, b in zip(saved.get_weights(), best_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert meta["results"]["selected"] == results["selected"]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["select"] == "best"


def test_select_best_refuses_to_select_on_the_test_set(tmp_path):
    spec = RunSpec("wu2016_cifar", _fake_recipe(val_split=0), tmp_path / "r", select="best")
    with pytest.raises(ValueError, match="validates on its test images"):
        fit(spec, verbose=0)
    assert not (tmp_path / "r" / "checkpoint.keras").exists()


def test_no_validation_scores_the_test_set_once_at_the_end(tmp_path, monkeypatch):
    # A run on all training images: no pass over the test set until the end.
    passes = []
    evaluate = keras.Model.evaluate

    def counted(self, *args, **kwargs):
        passes.append(1)
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", counted)
    recipe = _fake_recipe(total_steps=12, validate_every=4, val_split=0)
    spec = RunSpec("wu2016_cifar", recipe, tmp_path / "r", max_eval_images=64, validate=False)
    results = fit(spec, verbose=0)
    rows = _rows(tmp_path / "r" / "history.csv")
    assert len(rows) == 3 and all(v == "NA" for k, v in rows[0].items() if k.startswith("val_"))
    assert len(passes) == 1 and 0.0 <= results["test_accuracy"] <= 1.0
    assert results["selected"] == {"by": "last", "iteration": 12}
    assert (tmp_path / "r" / "curves.png").is_file()


@pytest.mark.parametrize(
    ("overrides", "select", "message"),
    [
        ({"val_split": 256}, "best", "--select best picks the model on its validation"),
        ({"lr_schedule": "plateau"}, "last", "plateau schedule"),
    ],
)
def test_no_validation_refuses_what_needs_the_validation_accuracy(
    tmp_path, overrides, select, message
):
    recipe = _fake_recipe(total_steps=4, **overrides)
    spec = RunSpec("wu2016_cifar", recipe, tmp_path / "r", select=select, validate=False)
    with pytest.raises(ValueError, match=message):
        fit(spec, verbose=0)
    assert not (tmp_path / "r" / "run.json").exists()


def test_wall_seconds_and_sessions_add_up_over_a_resume(tmp_path):
    recipe = _fake_recipe(total_steps=16, validate_every=8)
    part = tmp_path / "r"
    fit(RunSpec("wu2016_cifar", recipe.override(total_steps=8), part, max_eval_images=32), 0)
    run = json.loads((part / "run.json").read_text())
    run["recipe"]["schedule"]["total_steps"] = 16  # as if the 16-iteration run had been killed at 8
    (part / "run.json").write_text(json.dumps(run))
    first = float(_rows(part / "history.csv")[0]["wall_seconds"])
    fit(RunSpec("wu2016_cifar", recipe, part, max_eval_images=32), verbose=0)
    rows = _rows(part / "history.csv")
    assert [int(float(r["iterations"])) for r in rows] == [8, 16]
    assert float(rows[0]["wall_seconds"]) == first
    assert float(rows[1]["wall_seconds"]) > first
    sessions = [json.loads(line) for line in (part / "sessions.jsonl").read_text().splitlines()]
    assert [s["iteration"] for s in sessions] == [0, 8]
    assert sessions[0]["machine"]["cores"] >= 1 and "isa" in sessions[0]["machine"]


def _kernels(path):
    from cnnzoo.training.init_from import weighted_layers

    model = keras.saving.load_model(path)
    return {n: np.asarray(layer.get_weights()[0]) for n, layer in weighted_layers(model).items()}


def test_init_from_copies_once_and_records_it(tmp_path):
    """--init-from starts the run from a trained model; resuming keeps the checkpoint."""
    recipe = _fake_recipe(total_steps=4, validate_every=2)
    fit(RunSpec("wu2016_cifar", recipe, tmp_path / "a", max_eval_images=32), verbose=0)
    spec = RunSpec(
        "wu2016_cifar", recipe, tmp_path / "b", max_eval_images=32, init_from=str(tmp_path / "a")
    )
    results = fit(spec, verbose=0)
    source = _kernels(tmp_path / "a" / "model.keras")
    assert results["init_from"]["source"] == str(tmp_path / "a" / "model.keras")
    assert results["init_from"]["copied"] == list(source) and not results["init_from"]["kept"]
    assert json.loads((tmp_path / "b" / "init_from.json").read_text()) == results["init_from"]
    trained = _kernels(tmp_path / "b" / "model.keras")
    assert not np.array_equal(trained["conv1"], source["conv1"])  # trained on from A's

    # Rerun: it resumes (at its end) from its checkpoint, without copying A's layers again.
    again = fit(spec, verbose=0)
    assert again["init_from"] == results["init_from"]
    resumed = _kernels(tmp_path / "b" / "model.keras")
    assert all(np.array_equal(resumed[n], trained[n]) for n in trained)


def test_init_from_refusals(tmp_path):
    named = _fake_recipe().override({"init_from_layers": ["conv1"]})
    with pytest.raises(ValueError, match=r"starts from a trained model's layers \(conv1\): pass"):
        fit(RunSpec("wu2016_cifar", named, tmp_path / "r", max_eval_images=32), verbose=0)
    missing = RunSpec(
        "wu2016_cifar", _fake_recipe(), tmp_path / "r", init_from=str(tmp_path / "none.keras")
    )
    with pytest.raises(FileNotFoundError, match="none.keras: no such file or run directory"):
        fit(missing, verbose=0)
    assert not (tmp_path / "r").exists()  # refused before anything was written

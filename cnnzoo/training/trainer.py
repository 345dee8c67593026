"""`cnnzoo fit`: recipe -> pipeline -> model -> training loop -> checkpoints, model, curves.

`train` is a short composition of named steps: resolve the data and the run's
length, open the run directory (`run_dir.RunDirectory`, which lists its files),
build or restore the model, assemble the callbacks, run the loop, and finish
(select, test once, save).

Rerunning the same command on the same directory resumes from the checkpoint:
the optimizer's iteration counter says where, the learning rate is a function of
it, and the data order is a function of (seed, epoch), so the resumed run sees
what the uninterrupted one would have.

On the default strategy the step is Keras's own `Model.fit`. On the "mirrored" and
"multiworker" strategies it is `distributed.CustomLoop` (`fit` fails under
`MultiWorkerMirroredStrategy`, keras-team/keras#20585); everything else — data,
model, optimizer, callbacks, checkpoints, files — is shared.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import keras
from absl import logging

import cnnzoo
from cnnzoo.compute_dtype import auto_policy
from cnnzoo.model_io import ModelMetadata, load_trained
from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import load_dataset
from cnnzoo.training import callbacks as cb
from cnnzoo.training import distributed
from cnnzoo.training.accumulation import check_accumulation
from cnnzoo.training.auxiliary import inference_model
from cnnzoo.training.init_from import initialize_from, source_model_path
from cnnzoo.training.inputs import (
    TrainingInputs,
    array_inputs,
    folder_inputs,
    prefetch_to_accelerator,
)
from cnnzoo.training.modeling import loss_and_metrics, make_model, targets_map
from cnnzoo.training.net_wrapper import training_net
from cnnzoo.training.precision import check_policy, moved_to_policy, precision_policy
from cnnzoo.training.recipe import Recipe
from cnnzoo.training.run_dir import BEST, RunDirectory
from cnnzoo.training.short_paths import check_short_paths

SELECTIONS = ("last", "best")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run, fully resolved from the command line and the recipe.

    Attributes:
        arch: registered model name.
        recipe: the recipe with architecture and command-line overrides applied.
        model_dir: where the run's files go.
        data_dir: directory with the official dataset files (None: env / tfds).
        seed: seeds initialization, data order and augmentation.
        arch_options: builder keyword arguments (e.g. {"shortcut": "B"}).
        max_eval_images: evaluate on the first N test/validation images only
            (smoke runs); None for all.
        epochs: train this many epochs instead of the recipe's iterations.
        steps: train this many iterations instead of the recipe's.
        data: a directory with ``train/<class>/`` and ``val/<class>/`` image trees
            to train on instead of the recipe's dataset.
        strategy: "default", "mirrored" or "multiworker" (see
            `distributed.make_strategy`); the recipe's batch size is the global
            batch, split over the replicas.
        cpu_replicas: "mirrored" on a machine without GPUs: mirror over this many
            logical CPU devices (testing and debugging).
        sync_bn: BatchNormalization with the statistics of the global batch
            rather than of each replica's shard.
        precision: a Keras dtype policy of `precision.POLICIES`, or "auto" (bfloat16
            where the CPU or GPU computes it natively, float32 elsewhere:
            `compute_dtype.auto_policy`, chosen again by each session that resumes
            the run, so that a run spanning machines computes in bfloat16 only on
            those that have it; `resolve_precision`); under the mixed ones the
            classifier output and the loss stay float32 and, for mixed_float16, the
            loss is scaled.
        per_session_precision: set by `resolve_precision` for an "auto" run: the run
            records "auto" as its precision, `precision` holds this session's policy.
        select: which model the run ends with, is tested and saved as model.keras:
            "last" (the end of the schedule, as the papers report) or "best" (the
            best validation accuracy seen; needs a validation split held out of
            the training set, never the test set).
        jit_compile: compile the training step with XLA: Keras's ``jit_compile``,
            whose "auto" uses XLA on GPUs and not on CPUs.
        steps_per_execution: training steps per call of the compiled function
            (Keras's ``steps_per_execution``); callbacks then see every N-th batch.
        init_from: a trained model (.keras file or run directory) whose layers a
            new run starts from (`init_from`; the recipe's ``init_from_layers``
            says which); a resumed run keeps its checkpoint's weights.
        accumulate: compute each batch's update as this many equal micro-batches,
            one at a time (`accumulation`): the same update in less memory, except
            that BatchNormalization sees micro-batch statistics.
        short_paths: train on this many random residual branches per batch, the
            other units passing their shortcut only (`short_paths`; 0: all).
        validate: evaluate the validation split (the test set where none is held
            out) after every epoch, for the curves and ``--select best``. False: no
            pass but the test set's, once, at the end (a timed run saves the
            passes; a run on all training images then scores its test set once).
    """

    arch: str
    recipe: Recipe
    model_dir: Path
    data_dir: str | None = None
    seed: int = 0
    arch_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_eval_images: int | None = None
    epochs: int | None = None
    steps: int | None = None
    data: str | None = None
    strategy: str = "default"
    cpu_replicas: int | None = None
    sync_bn: bool = False
    precision: str = "float32"
    select: str = "last"
    jit_compile: bool | str = "auto"
    steps_per_execution: int = 1
    init_from: str | None = None
    accumulate: int = 1
    short_paths: int = 0
    per_session_precision: bool = False
    validate: bool = True

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a rerun to resume this run."""
        identity = {
            "arch": self.arch,
            "recipe": self.recipe.as_dict(),
            "seed": self.seed,
            "arch_options": self.arch_options,
        }
        if self.data:  # absent for the built-in datasets, as in runs from before it existed
            identity["data"] = str(self.data)
        if self.per_session_precision:
            identity["precision"] = "auto"
        elif self.precision != "float32":  # likewise
            identity["precision"] = self.precision
        if self.select != "last":  # likewise
            identity["select"] = self.select
        if self.init_from:  # likewise
            identity["init_from"] = str(self.init_from)
        if self.accumulate != 1:  # likewise
            identity["accumulate"] = self.accumulate
        if self.short_paths:  # likewise
            identity["short_paths"] = self.short_paths
        return identity


def resolve_precision(spec: RunSpec) -> tuple[RunSpec, str]:
    """The spec with "auto" precision replaced by this session's policy, and why that one.

    An "auto" run is recorded as such (`RunSpec.per_session_precision`) and each
    session that resumes it picks again for its own machine: the zoo's runs span
    sessions on CPUs with and without native bfloat16, where bfloat16 trains 1.6x
    faster or 0.15x as fast (README "Mixed precision"). `_build_or_restore` moves
    the checkpoint into the session's policy. A run begun with an explicit policy
    keeps it, and so does one whose record predates per-session "auto" (it holds
    the policy "auto" chose then).
    """
    if spec.precision != "auto":
        return spec, "asked for"
    recorded = RunDirectory(spec.model_dir).recorded_identity()
    if recorded is not None and recorded.get("precision", "float32") != "auto":
        policy = recorded.get("precision", "float32")
        return dataclasses.replace(spec, precision=policy), "auto: kept from the run resumed"
    policy, why = auto_policy()
    spec = dataclasses.replace(spec, precision=policy, per_session_precision=True)
    return spec, f"auto: {why}"


def load_inputs(spec: RunSpec) -> TrainingInputs:
    """The run's data: its `--data` image folders, or the recipe's dataset."""
    if spec.data:
        crop = cnnzoo.model_card(spec.arch).input_shape[0]
        return folder_inputs(spec.recipe, spec.data, crop, spec.seed, spec.max_eval_images)
    data = load_dataset(spec.recipe.data.dataset, spec.data_dir)
    return array_inputs(spec.recipe, data, spec.seed, spec.max_eval_images)


def resolve_length(spec: RunSpec, train_size: int) -> tuple[RunSpec, int, int]:
    """Convert the recipe's epochs to iterations and apply --epochs / --steps.

    The schedule keeps its boundaries in iterations (the papers' unit), so a
    shorter run simply stops earlier on the same schedule.

    Returns:
        (spec with the recipe in iterations, iterations per pass over the data,
        iterations between validations — a Keras "epoch").
    """
    batch = spec.recipe.data.batch_size
    per_epoch = pipe.steps_per_epoch(train_size, batch)
    if per_epoch < 1:
        raise ValueError(f"batch size {batch} exceeds the {train_size} training images")
    recipe = spec.recipe.in_steps(per_epoch)
    total = recipe.schedule.total_steps
    if spec.epochs is not None:
        total = spec.epochs * per_epoch
    if spec.steps is not None:
        total = spec.steps
    if total < 1:
        raise ValueError(f"nothing to train: {total} iterations")
    recipe = recipe.override({"schedule.total_steps": total})
    interval = min(recipe.evaluation.validate_every or per_epoch, total)
    return dataclasses.replace(spec, recipe=recipe, epochs=None, steps=None), per_epoch, interval


def _check_init_from(spec: RunSpec) -> None:
    """A recipe that names layers to copy needs --init-from; a new run needs its file."""
    layers = spec.recipe.init_from_layers
    if layers and not spec.init_from:
        raise ValueError(
            f"recipe {spec.recipe.name!r} starts from a trained model's layers "
            f"({', '.join(layers)}): pass --init-from MODEL (a .keras file or a run directory)"
        )
    if spec.init_from and RunDirectory(spec.model_dir).recorded_identity() is None:
        source_model_path(spec.init_from)


def _check_run(spec: RunSpec, data: TrainingInputs, replicas: int) -> None:
    """Refuse what this run cannot do, before anything is written."""
    check_policy(spec.precision)
    _check_init_from(spec)
    if spec.select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}, got {spec.select!r}")
    if not spec.validate and spec.select == "best":
        raise ValueError(
            "--select best picks the model on its validation accuracy, which "
            "--no-validation does not compute: use --select last or validate"
        )
    if not spec.validate and spec.recipe.schedule.kind == "plateau":
        raise ValueError(
            f"recipe {spec.recipe.name!r} lowers its learning rate when the validation "
            "accuracy stalls (plateau schedule), which --no-validation does not compute: "
            "validate, or pick a recipe with a fixed schedule"
        )
    if spec.select == "best" and data.val_is_test:
        raise ValueError(
            "--select best picks the model on the validation set, and this run validates "
            "on its test images (no held-out split): selecting there would report a test "
            "figure chosen on the test set. Hold images out of the training set "
            "(--val-split N) or use --select last."
        )
    batch, clip = spec.recipe.data.batch_size, spec.recipe.optimizer.clip_norm
    check_accumulation(spec.accumulate, batch, spec.strategy)
    check_short_paths(spec.short_paths, spec.accumulate, spec.strategy)
    if batch % replicas:
        raise ValueError(
            f"batch size {batch} does not split evenly over the "
            f"{replicas} replicas of the {spec.strategy!r} strategy"
        )
    if clip and replicas > 1:
        # Keras clips inside apply_gradients, each replica its own share of the
        # gradient, before the replicas' shares are summed: not the global norm.
        raise ValueError(
            f"recipe {spec.recipe.name!r} clips the gradient norm (clip_norm {clip}), "
            f"which is not supported over {replicas} replicas yet; train it on the "
            "default strategy"
        )


def _metadata(spec: RunSpec, data: TrainingInputs) -> ModelMetadata:
    return ModelMetadata(
        arch=spec.arch,
        dataset=data.name,
        class_names=list(data.class_names),
        input_shape=list(data.input_shape),
        recipe=spec.recipe.as_dict(),
        arch_options=spec.arch_options,
        precision=spec.precision,
    )


def _build_or_restore(spec, data, steps_per_epoch, strategy, run, resuming) -> keras.Model:
    """The checkpoint's model when resuming, else a new one; built in the run's policy."""
    keras.utils.set_random_seed(spec.seed)
    # Layers keep the policy they are built (or loaded) with.
    with precision_policy(spec.precision), strategy.scope():
        if resuming:
            model, saved = load_trained(run.checkpoint, compile=True)
            moved = saved.get("precision", "float32") != spec.precision
            if spec.per_session_precision and moved:
                # An "auto" run resumed on a machine that picks another policy.
                model = moved_to_policy(model, _new_model(spec, data, steps_per_epoch))
        else:
            model = _new_model(spec, data, steps_per_epoch)
    if spec.sync_bn:
        distributed.set_sync_batch_norm(model)
    if not resuming:
        _initialize_from(spec, model, run)
    return model


def _new_model(spec, data, steps_per_epoch) -> keras.Model:
    """The run's model, initialized and compiled, under the active policy and strategy."""
    compile_options = {
        "jit_compile": spec.jit_compile,
        "steps_per_execution": spec.steps_per_execution,
    }
    return make_model(
        spec.arch,
        spec.recipe,
        data,
        data.stats_images,
        steps_per_epoch,
        spec.seed,
        compile_options=compile_options,
        accumulate=spec.accumulate,
        short_paths=spec.short_paths,
        **spec.arch_options,
    )


def _initialize_from(spec, model, run) -> None:
    """Copy --init-from's layers into a new run's model, say which, and keep the record.

    Only when the run starts: a resumed run's checkpoint already holds them, trained.
    """
    report = None
    if spec.init_from:
        report = initialize_from(model, spec.init_from, spec.recipe.init_from_layers)
        print(report.summary())
    if run.chief:
        run.record_init_from(report.as_dict() if report else None)


def _callbacks(spec, run, metadata, steps_per_epoch, previous_seconds) -> list:
    """The trainer's callbacks, in the order they must run."""
    recipe = spec.recipe
    callbacks = [
        cb.IterationLogs(),
        cb.WallClock(previous_seconds),
        cb.StopAtIteration(recipe.schedule.total_steps),
    ]
    if run.chief:
        every = min(50, recipe.evaluation.validate_every or steps_per_epoch)
        callbacks += [
            keras.callbacks.CSVLogger(str(run.path / "history.csv"), append=True),
            cb.WindowedTrainingLog(run.path / "steps.csv", every=every),
            keras.callbacks.TensorBoard(str(run.path / "logs"), write_graph=False),
        ]
    if recipe.schedule.kind == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_accuracy",
                mode="max",
                factor=recipe.schedule.factor,
                patience=recipe.schedule.patience,
                verbose=1,
            )
        )
    if recipe.schedule.stop_loss:
        callbacks.append(cb.StopOnTrainingLoss(recipe.schedule.stop_loss, steps_per_epoch))
    callbacks.append(cb.StopOnNonFiniteLoss())
    if run.chief and spec.select == "best":
        callbacks.append(cb.BestCheckpoint(run.path / BEST, metadata, monitor="val_accuracy"))
    if run.chief:
        # Last of the trainer's, so that the checkpoint holds what the others changed.
        callbacks.append(cb.AtomicCheckpoint(run.checkpoint, metadata))
    return callbacks


def _datasets(spec, data, done, steps_per_epoch):
    """(train, val, test) datasets; training resumes at iteration `done`'s exact batch."""
    to_targets = targets_map(spec.recipe, data.num_classes)
    train_ds = data.train_stream(done // steps_per_epoch).skip(done % steps_per_epoch)
    val_ds, test_ds = data.val, data.test
    if to_targets is not None:
        train_ds, val_ds, test_ds = (d.map(to_targets) for d in (train_ds, val_ds, test_ds))
    if spec.strategy == "default":
        # Last: prefetch_to_device must end the pipeline. (The distributed dataset
        # stages each replica's shard on its device itself.)
        train_ds = prefetch_to_accelerator(train_ds)
    return train_ds, val_ds, test_ds


def _run_loop(spec, model, strategy, datasets, callbacks, epochs, initial_epoch, interval, verbose):
    """Keras's `fit` on one device, `CustomLoop` on several; returns the loop (or None)."""
    train_ds, val_ds, _ = datasets
    common = {
        "epochs": epochs,
        "initial_epoch": initial_epoch,
        "steps_per_epoch": interval,
        "validation_data": val_ds if spec.validate else None,
        "callbacks": callbacks,
    }
    if spec.strategy == "default":
        # shuffle=False: the dataset orders each epoch itself, by (seed, epoch).
        model.fit(train_ds, shuffle=False, verbose=verbose, **common)
        return None
    loss, _ = loss_and_metrics(spec.recipe)
    loop = distributed.CustomLoop(model, loss, strategy, spec.recipe.data.batch_size)
    loop.fit(train_ds, verbose=1 if verbose == "auto" else verbose, **common)
    return loop


def _check_divergence(callbacks, run) -> None:
    divergence = next(c for c in callbacks if isinstance(c, cb.StopOnNonFiniteLoss))
    if divergence.diverged_at is None:
        return
    kept = (
        f"the last finite checkpoint is kept in {run.checkpoint}"
        if run.checkpoint.is_file()
        else "no checkpoint was written"
    )
    raise RuntimeError(
        f"training diverged: the loss became NaN or infinite at iteration "
        f"{divergence.diverged_at} (learning rate {divergence.lr:g}); {kept}. "
        "Lower the learning rate (--lr) or check the inputs' preprocessing."
    )


def _test_once(spec, run, model, loop, test_ds):
    """Select the model the run ends with and score it on the test set, once."""
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    selection = {"by": "last", "iteration": iterations}
    if spec.select == "best":
        model, selection = run.best_model(model)
    # Auxiliary heads, micro-batches and short paths are for training only: the test
    # scores and the saved model are the main classifier's, every unit on.
    final = inference_model(training_net(model))
    if final is not model:
        loss, metrics = loss_and_metrics(spec.recipe)
        # The trained optimizer, as the saved model of a run without heads has it.
        final.compile(optimizer=model.optimizer, loss=loss, metrics=metrics)
    if loop is None:
        scores = final.evaluate(test_ds, return_dict=True, verbose=0)
    else:
        scores = loop.evaluate(test_ds)
    return final, scores, selection, iterations


def _results(spec, data, scores, selection, iterations, trained, seconds) -> dict[str, Any]:
    images = trained * spec.recipe.data.batch_size
    return {
        "arch": spec.arch,
        "recipe": spec.recipe.name,
        "iterations": iterations,
        "test_accuracy": float(scores["accuracy"]),
        "test_top5_accuracy": float(scores["top5_accuracy"]),
        "test_loss": float(scores["loss"]),
        "test_images": int(data.n_test),
        "selected": selection,
        "wall_seconds_this_session": round(seconds, 1),
        "train_images_per_second": round(images / seconds, 1) if images else None,
    }


def _log_resume(run, done: int, initial_epoch: int, epochs: int) -> None:
    where = (
        f"iteration {done} (epoch {initial_epoch + 1} of {epochs})"
        if initial_epoch < epochs
        else f"iteration {done}: its training is complete; testing and saving it"
    )
    logging.info("Resuming %s at %s", run.path, where)


def fit(spec: RunSpec, verbose: int | str = "auto", callbacks=()) -> dict[str, Any]:
    """Train (or resume) a run and write everything `run_dir` lists.

    Args:
        spec: the run.
        verbose: Keras verbosity (progress bar by default).
        callbacks: further Keras callbacks, called after the trainer's own (for
            example a clock that times the steps: `tools/bench_train.py`).

    Returns:
        The results dict also written to results.json.
    """
    return train(spec, verbose, callbacks)[1]


def train(
    spec: RunSpec, verbose: int | str = "auto", extra_callbacks=()
) -> tuple[keras.Model, dict[str, Any]]:
    """`fit`, also returning the trained model (main classifier only).

    In a multi-worker cluster every worker gets the model; only the chief saves it.
    """
    # First: mirroring over logical CPUs and joining a cluster must precede
    # TensorFlow's device initialization.
    strategy = distributed.make_strategy(spec.strategy, cpu_replicas=spec.cpu_replicas)
    spec, precision_reason = resolve_precision(spec)
    logging.info("Computing in %s (%s)", spec.precision, precision_reason)
    data = load_inputs(spec)
    _check_run(spec, data, strategy.num_replicas_in_sync)
    spec, steps_per_epoch, interval = resolve_length(spec, data.n_train)
    # Keras's "epochs" are validation intervals; the data pipeline has real epochs.
    epochs = math.ceil(spec.recipe.schedule.total_steps / interval)
    run = RunDirectory(spec.model_dir, chief=distributed.is_chief(strategy))
    resuming = run.start(spec.identity())
    model = _build_or_restore(spec, data, steps_per_epoch, strategy, run, resuming)
    done = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) if resuming else 0
    initial_epoch = min(done // interval, epochs)
    previous_seconds = run.resume_logs(initial_epoch, done) if resuming else 0.0
    if resuming:
        _log_resume(run, done, initial_epoch, epochs)
    if run.chief:
        run.record_session(done, precision={"policy": spec.precision, "why": precision_reason})
    metadata = _metadata(spec, data)
    callbacks = _callbacks(spec, run, metadata, steps_per_epoch, previous_seconds)
    datasets = _datasets(spec, data, done, steps_per_epoch)
    clock = next(c for c in callbacks if isinstance(c, cb.WallClock))
    loop = _run_loop(
        spec,
        model,
        strategy,
        datasets,
        callbacks + list(extra_callbacks),
        epochs,
        initial_epoch,
        interval,
        verbose,
    )
    seconds = clock.seconds()  # the pauses left out, as in history.csv
    _check_divergence(callbacks, run)
    final, scores, selection, iterations = _test_once(spec, run, model, loop, datasets[2])
    results = _results(spec, data, scores, selection, iterations, iterations - done, seconds)
    results["precision"] = {"policy": spec.precision, "why": precision_reason}
    return final, _finish(run, final, metadata, results, spec)


def _finish(run, final, metadata, results, spec) -> dict[str, Any]:
    if not run.chief:
        logging.info(
            "Test accuracy %.4f; the chief writes the run's files", results["test_accuracy"]
        )
        return results
    init_from = run.init_from_record()
    if init_from is not None:
        results["init_from"] = init_from
    metadata = dataclasses.replace(metadata, results=results, selected=results["selected"])
    run.finish(final, metadata, title=f"{spec.arch} · {spec.recipe.name}")
    print(
        f"Test accuracy {results['test_accuracy']:.4f} (top-5 {results['test_top5_accuracy']:.4f}) "
        f"after {results['iterations']} iterations; model saved to {run.path / 'model.keras'}"
    )
    return results

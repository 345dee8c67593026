"""`cnnzoo fit`: recipe -> pipeline -> model -> Keras fit -> checkpoints, model, curves.

A run lives in its model directory:

    run.json          what was asked (architecture, resolved recipe, seed)
    checkpoint.keras  the model and optimizer after the last finished epoch
    history.csv       one row per epoch (loss, accuracy, validation, lr, iterations,
                      wall_seconds: the run's training time so far, over all sessions)
    sessions.jsonl    one line per invocation: when, from which iteration, on what machine
    best.keras        with --select best: the model of the best validation accuracy
                      (+ best.json: its iteration and score)
    steps.csv         training loss and accuracy of every 50 iterations
    logs/             TensorBoard
    model.keras       the final model (+ model.json, its metadata)
    results.json      test accuracy, wall time, throughput
    curves.png        loss and accuracy against iterations

Rerunning the same command on the same directory resumes from the checkpoint:
the optimizer's iteration counter says where, the learning rate is a function of
it, and the data order is a function of (seed, epoch), so the resumed run sees
what the uninterrupted one would have.

On the default strategy the step is Keras's own `Model.fit`. On the "mirrored" and
"multiworker" strategies it is `distributed.CustomLoop` (`fit` fails under
`MultiWorkerMirroredStrategy`, keras-team/keras#20585); everything else — data,
model, optimizer, callbacks, checkpoints, files — is shared. In a cluster only the
chief writes to the run directory; every worker reads its checkpoint to resume.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import cnnzoo
from cnnzoo.model_io import atomic_write_text, load_trained, save_trained
from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import ArrayDataset, load_dataset
from cnnzoo.training import callbacks as cb
from cnnzoo.training import distributed
from cnnzoo.training.auxiliary import AuxiliaryLossModel, inference_model, supports_aux_heads
from cnnzoo.training.inputs import (
    TrainingInputs,
    array_inputs,
    folder_inputs,
    prefetch_to_accelerator,
)
from cnnzoo.training.optimizer import SGDL2, RMSpropL2
from cnnzoo.training.precision import check_policy, float32_outputs, loss_scaled, precision_policy
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing
from cnnzoo.training.recipes import Recipe
from cnnzoo.training.schedules import HalfLifeDecay, StepSchedule, WarmupLinearDecay

CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
RUN_FILE = "run.json"
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
        precision: a Keras dtype policy of `precision.POLICIES`; under the mixed
            ones the classifier output and the loss stay float32 and, for
            mixed_float16, the loss is scaled.
        select: which model the run ends with, is tested and saved as model.keras:
            "last" (the end of the schedule, as the papers report) or "best" (the
            best validation accuracy seen; needs a validation split held out of
            the training set, never the test set).
        jit_compile: compile the training step with XLA: Keras's ``jit_compile``,
            whose "auto" uses XLA on GPUs and not on CPUs.
        steps_per_execution: training steps per call of the compiled function
            (Keras's ``steps_per_execution``); callbacks then see every N-th batch.
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
        if self.precision != "float32":  # likewise
            identity["precision"] = self.precision
        if self.select != "last":  # likewise
            identity["select"] = self.select
        return identity


def load_inputs(spec: RunSpec) -> TrainingInputs:
    """The run's data: its `--data` image folders, or the recipe's dataset."""
    if spec.data:
        crop = cnnzoo.model_card(spec.arch).input_shape[0]
        return folder_inputs(spec.recipe, spec.data, crop, spec.seed, spec.max_eval_images)
    data = load_dataset(spec.recipe.dataset, spec.data_dir)
    return array_inputs(spec.recipe, data, spec.seed, spec.max_eval_images)


def loss_and_metrics(recipe: Recipe):
    """Loss and metrics for integer labels (label smoothing needs one-hot targets)."""
    if recipe.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = [
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ]
    return loss, metrics


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """The recipe's learning rate: a schedule of the iteration, or a float for "plateau".

    Args:
        recipe: resolved recipe (boundaries in iterations).
        steps_per_epoch: iterations per pass over the training set.
    """
    if recipe.lr_schedule == "half_life":
        return HalfLifeDecay(recipe.lr, recipe.half_life_epochs * steps_per_epoch)
    if recipe.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            recipe.lr,
            decay_steps=max(1, round(recipe.decay_every_epochs * steps_per_epoch)),
            decay_rate=recipe.lr_decay,
            staircase=True,
        )
    if recipe.lr_schedule == "warmup_linear":
        # The cycle spans the run, also one shortened by --steps or --epochs.
        warmup = min(recipe.warmup_steps, recipe.total_steps - 1)
        return WarmupLinearDecay(recipe.lr, warmup, recipe.total_steps, start=recipe.warmup_lr)
    if recipe.lr_schedule == "plateau":
        # A plain rate is a variable that ReduceLROnPlateau can lower; it is saved
        # with the optimizer, so a resumed run keeps the lowered rate.
        return recipe.lr
    boundaries, values = recipe.schedule_points()
    return StepSchedule(boundaries, values)


def make_optimizer(recipe: Recipe, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """The recipe's optimizer and schedule, with coupled L2 decay and lr multipliers."""
    common = {
        "learning_rate": learning_rate(recipe, steps_per_epoch),
        "l2": recipe.weight_decay,
        "lr_multipliers": recipe.lr_multipliers,
        "global_clipnorm": recipe.clip_norm or None,
    }
    if recipe.optimizer == "rmsprop":
        return RMSpropL2(rho=recipe.rmsprop_rho, epsilon=recipe.rmsprop_epsilon, **common)
    return SGDL2(momentum=recipe.momentum, **common)


def make_model(
    arch: str,
    recipe: Recipe,
    data: ArrayDataset | TrainingInputs,
    train_images: np.ndarray,
    steps_per_epoch: int = 1,
    seed: int = 0,
    compile_options: dict[str, Any] | None = None,
    **arch_options,
) -> keras.Model:
    """Build `arch` for `data`, initialize it, prepend the preprocessing and compile it.

    Under a mixed global dtype policy (`precision.precision_policy`) the outputs
    are made float32 and, for mixed_float16, the optimizer is loss-scaled.

    Args:
        arch: registered model name.
        recipe: resolved recipe.
        data: the dataset or the run's inputs (for the input shape and classes).
        train_images: images the preprocessing statistics come from (never the test set).
        steps_per_epoch: iterations per epoch (for epoch-denominated schedules).
        seed: seed of the recipe's initialization scheme.
        compile_options: further `keras.Model.compile` arguments (``jit_compile``,
            ``steps_per_execution``).
        **arch_options: builder overrides.

    Returns:
        A compiled keras.Model taking raw pixels in [0, 255].
    """
    h, w, c = data.input_shape
    pad = recipe.pad_input
    options = {"input_shape": (h + 2 * pad, w + 2 * pad, c), "classes": data.num_classes}
    if recipe.aux_loss_weight and supports_aux_heads(arch):
        options["aux_heads"] = True
    net = float32_outputs(cnnzoo.build(arch, **{**options, **arch_options}))
    if recipe.init:
        from cnnzoo.training.init_schemes import apply_init_scheme

        apply_init_scheme(net, recipe.init, seed=seed)
    layers = preprocessing_layers(recipe.preprocessing, train_images, pad=pad)
    model = with_preprocessing(net, layers)
    if len(model.outputs) > 1:
        model = AuxiliaryLossModel(model, recipe.aux_loss_weight)
    loss, metrics = loss_and_metrics(recipe)
    optimizer = loss_scaled(make_optimizer(recipe, steps_per_epoch))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **(compile_options or {}))
    return model


def _targets(recipe: Recipe, classes: int):
    """Dataset map turning integer labels into what the loss expects."""
    import tensorflow as tf

    if not recipe.label_smoothing:
        return None
    return lambda x, y: (x, tf.one_hot(y, classes))


def _check_resumable(spec: RunSpec) -> bool:
    """Whether the model dir holds a checkpoint of this same run; error if of another."""
    run_file = spec.model_dir / RUN_FILE
    ckpt = spec.model_dir / CHECKPOINT
    if not ckpt.is_file():
        return False
    if not run_file.is_file():
        raise ValueError(
            f"{ckpt} exists but {run_file} does not: not a cnnzoo run directory; "
            "use another --model-dir"
        )
    # The optional fields of `RunSpec.identity` take their defaults when absent.
    defaults = {"precision": "float32", "select": "last"}
    previous = {**defaults, **json.loads(run_file.read_text(encoding="utf-8"))}
    current = {**defaults, **spec.identity()}
    diffs = [k for k in sorted(set(current) | set(previous)) if previous.get(k) != current.get(k)]
    if "recipe" in diffs:
        old, new = previous.get("recipe", {}), current["recipe"]
        diffs.remove("recipe")
        diffs += [f"recipe.{k}" for k in new if old.get(k) != new[k]]
    if diffs:
        detail = "; ".join(
            f"{d}: was {_field(previous, d)!r}, now {_field(current, d)!r}" for d in diffs
        )
        raise ValueError(
            f"{spec.model_dir} holds a checkpoint of a different run ({detail}). "
            "Rerun with the same settings to resume, or choose another --model-dir."
        )
    return True


def _field(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def _check_selection(spec: RunSpec, data: TrainingInputs) -> None:
    """Refuse to select a model on anything but a held-out validation split."""
    if spec.select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}, got {spec.select!r}")
    if spec.select == "best" and data.val_is_test:
        raise ValueError(
            "--select best picks the model on the validation set, and this run validates "
            "on its test images (no held-out split): selecting there would report a test "
            "figure chosen on the test set. Hold images out of the training set "
            "(--val-split N) or use --select last."
        )


def _record_session(model_dir: Path, iteration: int) -> None:
    """Append when, from which iteration and on what machine this invocation trains."""
    import platform

    import tensorflow as tf

    from cnnzoo.hardware import cpu_info

    record = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "iteration": iteration,
        "host": platform.node(),
        "machine": cpu_info(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    with open(model_dir / "sessions.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _best_model(model_dir: Path, last: keras.Model) -> tuple[keras.Model, dict[str, Any]]:
    """The best-validation model the run kept, and how it was selected.

    A run whose validations never produced a finite score falls back to `last`.
    """
    path = model_dir / BEST
    record_path = path.with_suffix(".json")
    if not (path.is_file() and record_path.is_file()):
        print(f"No validation score was recorded; {model_dir} keeps the last model")
        return last, {"by": "last", "iteration": int(last.optimizer.iterations.numpy())}
    record = json.loads(record_path.read_text(encoding="utf-8"))
    model, _ = load_trained(path, compile=True)
    return model, {"by": "val_accuracy", **record}


def resolve_length(spec: RunSpec, train_size: int) -> tuple[RunSpec, int, int]:
    """Convert the recipe's epochs to iterations and apply --epochs / --steps.

    The schedule keeps its boundaries in iterations (the papers' unit), so a
    shorter run simply stops earlier on the same schedule.

    Returns:
        (spec with the recipe in iterations, iterations per pass over the data,
        iterations between validations — a Keras "epoch").
    """
    per_epoch = pipe.steps_per_epoch(train_size, spec.recipe.batch_size)
    if per_epoch < 1:
        raise ValueError(
            f"batch size {spec.recipe.batch_size} exceeds the {train_size} training images"
        )
    recipe = spec.recipe.in_steps(per_epoch)
    total = recipe.total_steps
    if spec.epochs is not None:
        total = spec.epochs * per_epoch
    if spec.steps is not None:
        total = spec.steps
    if total < 1:
        raise ValueError(f"nothing to train: {total} iterations")
    recipe = recipe.override(total_steps=total)
    interval = min(recipe.validate_every or per_epoch, total)
    return dataclasses.replace(spec, recipe=recipe, epochs=None, steps=None), per_epoch, interval


def fit(spec: RunSpec, verbose: int | str = "auto", callbacks=()) -> dict[str, Any]:
    """Train (or resume) a run and write everything listed in the module docstring.

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
    check_policy(spec.precision)
    # First: mirroring over logical CPUs and joining a cluster must precede
    # TensorFlow's device initialization.
    strategy = distributed.make_strategy(spec.strategy, cpu_replicas=spec.cpu_replicas)
    chief = distributed.is_chief(strategy)
    data = load_inputs(spec)
    _check_selection(spec, data)
    spec, steps_per_epoch, interval = resolve_length(spec, data.n_train)
    replicas = strategy.num_replicas_in_sync
    if spec.recipe.batch_size % replicas:
        raise ValueError(
            f"batch size {spec.recipe.batch_size} does not split evenly over the "
            f"{replicas} replicas of the {spec.strategy!r} strategy"
        )
    if spec.recipe.clip_norm and replicas > 1:
        # Keras clips inside apply_gradients, each replica its own share of the
        # gradient, before the replicas' shares are summed: not the global norm.
        raise ValueError(
            f"recipe {spec.recipe.name!r} clips the gradient norm (clip_norm "
            f"{spec.recipe.clip_norm}), which is not supported over "
            f"{replicas} replicas yet; train it on the default strategy"
        )
    recipe = spec.recipe
    # Keras's "epochs" are validation intervals; the data pipeline has real epochs.
    epochs = math.ceil(recipe.total_steps / interval)

    model_dir = spec.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    resuming = _check_resumable(spec)
    if chief:
        atomic_write_text(model_dir / RUN_FILE, json.dumps(spec.identity(), indent=2))

    keras.utils.set_random_seed(spec.seed)
    # Layers keep the policy they are built (or loaded) with.
    with precision_policy(spec.precision), strategy.scope():
        if resuming:
            model, _ = load_trained(model_dir / CHECKPOINT, compile=True)
        else:
            model = make_model(
                spec.arch,
                recipe,
                data,
                data.stats_images,
                steps_per_epoch,
                spec.seed,
                compile_options={
                    "jit_compile": spec.jit_compile,
                    "steps_per_execution": spec.steps_per_execution,
                },
                **spec.arch_options,
            )
    if spec.sync_bn:
        distributed.set_sync_batch_norm(model)
    done = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) if resuming else 0
    initial_epoch = min(done // interval, epochs)
    if resuming:
        if chief:
            cb.truncate_rows(model_dir / "history.csv", "epoch", keep_below=initial_epoch)
            cb.truncate_rows(model_dir / "steps.csv", "iteration", keep_below=done + 1)
        print(f"Resuming {model_dir} at iteration {done} (epoch {initial_epoch + 1} of {epochs})")
    if chief:
        _record_session(model_dir, done)

    to_targets = _targets(recipe, data.num_classes)
    # Resume at the exact batch: the data epoch of iteration `done`, less the
    # batches of it already trained on.
    train_ds = data.train_stream(done // steps_per_epoch).skip(done % steps_per_epoch)
    val_ds = data.val
    if to_targets is not None:
        train_ds, val_ds = train_ds.map(to_targets), val_ds.map(to_targets)
    loop = None
    if spec.strategy == "default":
        # Last: prefetch_to_device must end the pipeline.
        train_ds = prefetch_to_accelerator(train_ds)
    else:
        # The distributed dataset stages each replica's shard on its device itself.
        loss, _ = loss_and_metrics(recipe)
        loop = distributed.CustomLoop(model, loss, strategy, recipe.batch_size)

    previous_seconds = cb.last_value(model_dir / "history.csv", "wall_seconds") if resuming else 0
    callbacks = [
        cb.IterationLogs(),
        cb.WallClock(previous_seconds or 0.0),
        cb.StopAtIteration(recipe.total_steps),
    ]
    if chief:
        callbacks += [
            keras.callbacks.CSVLogger(str(model_dir / "history.csv"), append=True),
            cb.WindowedTrainingLog(model_dir / "steps.csv", every=min(50, interval)),
            keras.callbacks.TensorBoard(str(model_dir / "logs"), write_graph=False),
        ]
    if recipe.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_accuracy",
                mode="max",
                factor=recipe.lr_decay,
                patience=recipe.plateau_patience,
                verbose=1,
            )
        )
    if recipe.early_stop_loss:
        callbacks.append(cb.StopOnTrainingLoss(recipe.early_stop_loss, steps_per_epoch))
    divergence = cb.StopOnNonFiniteLoss()
    callbacks.append(divergence)
    if chief and spec.select == "best":
        callbacks.append(cb.BestCheckpoint(model_dir / BEST, monitor="val_accuracy"))
    if chief:
        # Last, so that the checkpoint holds what the callbacks above changed.
        callbacks.append(cb.AtomicCheckpoint(model_dir / CHECKPOINT))
    callbacks += list(extra_callbacks)
    start = time.perf_counter()
    start_iter = done
    if loop is None:
        model.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=interval,
            validation_data=val_ds,
            callbacks=callbacks,
            shuffle=False,  # the dataset orders each epoch itself, by (seed, epoch)
            verbose=verbose,
        )
    else:
        loop.fit(
            train_ds,
            steps_per_epoch=interval,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=1 if verbose == "auto" else verbose,
            validation_data=val_ds,
        )
    train_seconds = time.perf_counter() - start
    if divergence.diverged_at is not None:
        kept = (
            f"the last finite checkpoint is kept in {model_dir / CHECKPOINT}"
            if (model_dir / CHECKPOINT).is_file()
            else "no checkpoint was written"
        )
        raise RuntimeError(
            f"training diverged: the loss became NaN or infinite at iteration "
            f"{divergence.diverged_at} (learning rate {divergence.lr:g}); {kept}. "
            "Lower the learning rate (--lr) or check the inputs' preprocessing."
        )
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))

    test_ds = data.test
    if to_targets is not None:
        test_ds = test_ds.map(to_targets)
    selection = {"by": "last", "iteration": iterations}
    if spec.select == "best":
        model, selection = _best_model(model_dir, model)
    # Auxiliary heads are for training only: the test scores and the saved model
    # are the main classifier's.
    final = inference_model(model)
    if final is not model:
        loss, metrics = loss_and_metrics(recipe)
        # The trained optimizer, as the saved model of a run without heads has it
        # (compile's default would be an unbuilt RMSprop in the saved file).
        final.compile(optimizer=model.optimizer, loss=loss, metrics=metrics)
    if loop is None:
        scores = final.evaluate(test_ds, return_dict=True, verbose=0)
    else:
        scores = loop.evaluate(test_ds)
    images_trained = (iterations - start_iter) * recipe.batch_size
    results = {
        "arch": spec.arch,
        "recipe": recipe.name,
        "iterations": iterations,
        "test_accuracy": float(scores["accuracy"]),
        "test_top5_accuracy": float(scores["top5_accuracy"]),
        "test_loss": float(scores["loss"]),
        "test_images": int(data.n_test),
        "selected": selection,
        "wall_seconds_this_session": round(train_seconds, 1),
        "train_images_per_second": round(images_trained / train_seconds, 1)
        if images_trained
        else None,
    }
    metadata = {
        "arch": spec.arch,
        "dataset": data.name,
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
        "recipe": recipe.as_dict(),
        "arch_options": spec.arch_options,
        "precision": spec.precision,
        "results": results,
    }
    if not chief:
        print(f"Test accuracy {results['test_accuracy']:.4f}; the chief writes the run's files")
        return final, results
    save_trained(final, model_dir / "model.keras", metadata)
    atomic_write_text(model_dir / "results.json", json.dumps(results, indent=2))
    from cnnzoo.training.curves import plot_curves

    if (model_dir / "history.csv").is_file():
        plot_curves(
            model_dir / "history.csv",
            model_dir / "curves.png",
            title=f"{spec.arch} · {recipe.name}",
            steps_csv=model_dir / "steps.csv",
        )
    print(
        f"Test accuracy {results['test_accuracy']:.4f} (top-5 {results['test_top5_accuracy']:.4f}) "
        f"after {iterations} iterations; model saved to {model_dir / 'model.keras'}"
    )
    return final, results

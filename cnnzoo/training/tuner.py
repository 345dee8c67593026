"""`cnnzoo tune`: a KerasTuner search over the initial learning rate (and weight decay).

Each trial trains the recipe's schedule compressed to the trial's length (warm-up
and decays at proportional iterations), on the training images minus a held-out
validation set; the test set is never looked at. The tuner's state lives in the
model directory, so rerunning the command continues the search.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras_tuner as kt

from cnnzoo.model_io import atomic_write_text
from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import load_dataset
from cnnzoo.training import inputs, trainer
from cnnzoo.training.recipes import Recipe

# He et al. 2016 hold out 5k of CIFAR-10's 50k training images for validation (§4.2).
DEFAULT_VAL_SPLIT = 5000


def tune(
    arch: str,
    recipe: Recipe,
    model_dir: Path,
    *,
    data_dir: str | None = None,
    max_trials: int = 8,
    epochs_per_trial: int = 2,
    steps_per_epoch: int | None = None,
    lr_range: tuple[float, float] = (1e-3, 1.0),
    tune_weight_decay: bool = False,
    wd_range: tuple[float, float] = (1e-5, 1e-3),
    seed: int = 0,
    max_eval_images: int | None = None,
    arch_options: dict[str, Any] | None = None,
    verbose: int | str = "auto",
) -> dict[str, float]:
    """Search the learning rate (log-uniform) and optionally weight decay.

    Args:
        arch: registered model name.
        recipe: resolved recipe (its val_split is used, or 5,000 if it has none).
        model_dir: the tuner's directory; rerunning with the same one resumes.
        data_dir: dataset files directory.
        max_trials: trials in all (including those of earlier runs).
        epochs_per_trial: epochs each trial trains.
        steps_per_epoch: iterations per epoch (default: one pass over the data).
        lr_range: (low, high) of the log-uniform learning-rate range.
        tune_weight_decay: search the weight decay too (log-uniform in `wd_range`).
        wd_range: (low, high) of the weight-decay range.
        seed: seed of the tuner, the data order and the initialization.
        max_eval_images: validate on this many held-out images only.
        arch_options: builder overrides.
        verbose: Keras verbosity.

    Returns:
        The best values, e.g. {"lr": 0.12}; also written to
        ``model_dir/best_overrides.json``, which `cnnzoo fit --overrides` reads.
    """
    if lr_range[0] <= 0 or lr_range[0] >= lr_range[1]:
        raise ValueError(f"lr range must satisfy 0 < low < high, got {lr_range}")
    if not recipe.val_split:
        recipe = recipe.override(val_split=DEFAULT_VAL_SPLIT)
    data = load_dataset(recipe.dataset, data_dir)
    if recipe.val_split >= len(data.train[0]):
        recipe = recipe.override(val_split=len(data.train[0]) // 10)
    train, val, _ = inputs.split_data(recipe, data, seed)
    spe = steps_per_epoch or pipe.steps_per_epoch(len(train[0]), recipe.batch_size)
    trial_recipe = recipe.in_steps(spe).scaled_to(spe * epochs_per_trial)

    def build(hp: kt.HyperParameters):
        changes = {"lr": hp.Float("lr", lr_range[0], lr_range[1], sampling="log")}
        if tune_weight_decay:
            changes["weight_decay"] = hp.Float("weight_decay", *wd_range, sampling="log")
        return trainer.make_model(
            arch,
            trial_recipe.override(**changes),
            data,
            train[0],
            spe,
            seed,
            **(arch_options or {}),
        )

    tuner = kt.RandomSearch(
        build,
        objective="val_accuracy",
        max_trials=max_trials,
        seed=seed,
        directory=str(model_dir),
        project_name="tune",
        overwrite=False,  # a rerun reloads finished trials and continues the search
    )
    val = inputs.limit_examples(val, max_eval_images)
    tuner.search(
        pipe.train_dataset(
            *train,
            recipe.batch_size,
            seed=seed,
            augment=recipe.augment,
            pad=recipe.augment_pad,
            flip=recipe.augment_flip,
        ),
        steps_per_epoch=spe,
        epochs=epochs_per_trial,
        validation_data=pipe.eval_dataset(*val, recipe.batch_size * 2),
        verbose=verbose,
    )
    # Highest score first, ties to the earliest trial: KerasTuner's own order among
    # equal scores can differ between processes, and a rerun must not change the answer.
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    if not trials:
        raise RuntimeError(f"no trial in {model_dir / 'tune'} finished with a score")
    # Trial ids are decimal strings; compare them as numbers ("10" after "9").
    trials.sort(key=lambda t: (-t.score, len(t.trial_id), t.trial_id))
    best = {k: float(v) for k, v in trials[0].hyperparameters.values.items()}
    summary = [
        {
            "trial": t.trial_id,
            "score": t.score,
            **{k: float(v) for k, v in t.hyperparameters.values.items()},
        }
        for t in trials
    ]
    atomic_write_text(Path(model_dir) / "best_overrides.json", json.dumps(best, indent=2))
    atomic_write_text(Path(model_dir) / "trials.json", json.dumps(summary, indent=2))
    return best

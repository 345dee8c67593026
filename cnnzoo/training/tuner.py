"""`cnnzoo tune`: a KerasTuner search over the initial learning rate (and weight decay).

Each trial trains the recipe's schedule compressed to the trial's length (warm-up
and decays at proportional iterations), on the training images minus a held-out
validation set; the test set is never looked at. The tuner's state lives in the
model directory, so rerunning the command continues the search.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras_tuner as kt

from cnnzoo.model_io import atomic_write_text
from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import load_dataset
from cnnzoo.training import inputs
from cnnzoo.training.graph_memory import released_gradients
from cnnzoo.training.modeling import make_model
from cnnzoo.training.recipe import Recipe

# A bound on trials and epochs per trial: more is a typo, not a search (days per trial here).
MAX_TRIALS = 1_000
# He et al. 2016 hold out 5k of CIFAR-10's 50k training images for validation (§4.2).
DEFAULT_VAL_SPLIT = 5000


def _trial_data(recipe: Recipe, data_dir, seed: int, steps_per_epoch, epochs_per_trial):
    """The recipe with a validation split, the data, its split and the trials' recipe."""
    if not recipe.evaluation.val_split:
        recipe = recipe.override({"evaluation.val_split": DEFAULT_VAL_SPLIT})
    data = load_dataset(recipe.data.dataset, data_dir)
    if recipe.evaluation.val_split >= len(data.train[0]):
        recipe = recipe.override({"evaluation.val_split": len(data.train[0]) // 10})
    train, val, _ = inputs.split_data(recipe, data, seed)
    spe = steps_per_epoch or pipe.steps_per_epoch(len(train[0]), recipe.data.batch_size)
    trial_recipe = recipe.in_steps(spe).scaled_to(spe * epochs_per_trial)
    return recipe, data, train, val, spe, trial_recipe


class _RandomSearch(kt.RandomSearch):
    """KerasTuner's random search, giving back each trial's traced graphs when it ends.

    Without it a 20-trial search grows by one training graph per trial (see
    `cnnzoo.training.graph_memory`).
    """

    def run_trial(self, trial, *args, **kwargs):
        with released_gradients():
            return super().run_trial(trial, *args, **kwargs)


def _best_trial(tuner, model_dir: Path) -> dict[str, float]:
    """The best trial's values (ties to the earliest); also writes them and all trials."""
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


def _search(tuner, data, train, val, spe, epochs, seed, verbose) -> None:
    """Run (or continue) the search on the training split, validating on `val`."""
    stream = pipe.train_dataset(
        *train,
        data.batch_size,
        seed=seed,
        augment=data.augment,
        pad=data.augment_pad,
        flip=data.augment_flip,
        affine=data.affine,
    )
    tuner.search(
        stream,
        steps_per_epoch=spe,
        epochs=epochs,
        validation_data=pipe.eval_dataset(*val, data.batch_size * 2),
        shuffle=False,  # the stream shuffles itself; Keras warns about a dataset otherwise
        verbose=verbose,
    )


def _check_bounds(lr_range, max_trials, epochs_per_trial) -> None:
    if not 0 < lr_range[0] < lr_range[1] < math.inf:
        raise ValueError(f"lr range must satisfy 0 < low < high, got {lr_range}")
    # KerasTuner treats 0 as "no bound": the search would never end (issue 19).
    for name, value in (("max_trials", max_trials), ("epochs_per_trial", epochs_per_trial)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRIALS:
            raise ValueError(f"{name} must be an int in [1, {MAX_TRIALS}], got {value!r}")


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

    Args: `arch`, `recipe` (its validation split is used, or 5,000 if it has
    none), `model_dir` (the tuner's state: rerunning with the same one resumes),
    `data_dir`, `max_trials` (including those of earlier runs), `epochs_per_trial`,
    `steps_per_epoch` (default one pass over the data), `lr_range` / `wd_range`
    (low, high of the log-uniform ranges), `tune_weight_decay`, `seed` (tuner,
    data order, initialization), `max_eval_images` (validate on so many held-out
    images), `arch_options` (builder overrides), `verbose` (Keras verbosity).

    Returns:
        The best values, e.g. {"lr": 0.12}; also written to
        ``model_dir/best_overrides.json``, which `cnnzoo fit --overrides` reads.
    """
    _check_bounds(lr_range, max_trials, epochs_per_trial)
    recipe, data, train, val, spe, trial_recipe = _trial_data(
        recipe, data_dir, seed, steps_per_epoch, epochs_per_trial
    )

    def build(hp: kt.HyperParameters):
        # Flat names: best_overrides.json feeds `fit --overrides` (LEGACY_FIELDS).
        changes = {"lr": hp.Float("lr", lr_range[0], lr_range[1], sampling="log")}
        if tune_weight_decay:
            changes["weight_decay"] = hp.Float("weight_decay", *wd_range, sampling="log")
        model_recipe = trial_recipe.override(changes)
        return make_model(arch, model_recipe, data, train[0], spe, seed, **(arch_options or {}))

    tuner = _RandomSearch(
        build,
        objective="val_accuracy",
        max_trials=max_trials,
        seed=seed,
        directory=str(model_dir),
        project_name="tune",
        overwrite=False,  # a rerun reloads finished trials and continues the search
    )
    val = inputs.limit_examples(val, max_eval_images)
    _search(tuner, recipe.data, train, val, spe, epochs_per_trial, seed, verbose)
    return _best_trial(tuner, model_dir)

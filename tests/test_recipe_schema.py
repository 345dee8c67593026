"""The recipe's typed sections: dotted and legacy overrides, schedule kinds, old run files."""

from __future__ import annotations

import json

import pytest

from cnnzoo.training import init_schemes, optimizer, preprocessing, schedules
from cnnzoo.training.recipe import (
    INIT_SCHEMES,
    OPTIMIZERS,
    PREPROCESSING,
    SCHEDULES,
    Exponential,
    HalfLife,
    Plateau,
    Recipe,
    StepDecay,
)
from cnnzoo.training.recipes import RECIPES, get_recipe

# A run.json recipe as cnnzoo's first (flat) format wrote it: lecun1998_distorted in
# iterations, every schedule's fields present whatever the kind.
LEGACY_LECUN = {
    "name": "lecun1998_distorted", "source": "LeCun et al. 1998", "dataset": "mnist",
    "preprocessing": "lecun", "augment": True, "augment_pad": 2, "augment_flip": False,
    "image_augment": "", "batch_size": 64, "total_steps": 18420, "lr": 0.05,
    "lr_boundaries": [1842, 4605, 7368, 11052], "lr_decay": 0.5, "warmup_steps": 0,
    "warmup_lr": 0.0, "momentum": 0.9, "weight_decay": 0.0, "label_smoothing": 0.0,
    "aux_loss_weight": 0.0, "val_split": 1000, "arch_overrides": {}, "epochs": None,
    "lr_schedule": "step", "lr_boundary_epochs": [], "half_life_epochs": 0.0,
    "plateau_patience": 2, "decay_every_epochs": 0.0, "optimizer": "sgd", "rmsprop_rho": 0.9,
    "rmsprop_epsilon": 1.0, "clip_norm": 0.0, "lr_multipliers": [], "validate_every": 0,
    "early_stop_loss": 0.0, "init": None, "pad_input": 2,
}  # fmt: skip


def test_every_allowed_value_has_its_implementation():
    assert set(preprocessing.PREPROCESSORS) == set(PREPROCESSING)
    assert set(schedules.SCHEDULE_BUILDERS) == set(SCHEDULES)
    assert set(optimizer.OPTIMIZERS) == set(OPTIMIZERS)
    assert init_schemes.INIT_SCHEMES == INIT_SCHEMES


def test_dotted_and_legacy_names_reach_the_same_field():
    r = get_recipe("he2016_cifar")
    assert r.override({"schedule.lr": 0.05}) == r.override(lr=0.05)
    assert r.override({"data.batch_size": 64}).data.batch_size == 64
    assert r.override(weight_decay=0.0).regularization.weight_decay == 0.0
    assert r.override(val_split=5000).evaluation.val_split == 5000
    with pytest.raises(ValueError, match="unknown recipe field.*'schedule.lrr'"):
        r.override({"schedule.lrr": 0.1})
    with pytest.raises(ValueError, match="recipe 'he2016_cifar': batch_size must be > 0"):
        r.override(batch_size=0)


def test_lr_decay_means_what_the_schedule_kind_says():
    assert get_recipe("he2016_cifar").override(lr_decay=0.2).schedule.factor == 0.2
    assert get_recipe("krizhevsky2012").override(lr_decay=0.5).schedule.factor == 0.5
    assert get_recipe("szegedy2015").override(lr_decay=0.9).schedule.rate == 0.9
    with pytest.raises(ValueError, match="lr_decay has no meaning for the 'warmup_linear'"):
        get_recipe("fast_cifar").override(lr_decay=0.1)


def test_changing_the_kind_keeps_the_common_fields():
    r = get_recipe("he2016_cifar").override(lr_schedule="half_life", half_life_epochs=5)
    assert isinstance(r.schedule, HalfLife)
    assert (r.schedule.lr, r.schedule.total_steps, r.schedule.half_life_epochs) == (0.1, 64_000, 5)
    with pytest.raises(ValueError, match="unknown recipe field.*boundaries"):
        r.override({"schedule.boundaries": (10,)})
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        r.override(lr_schedule="cosine")


def test_as_dict_round_trips_every_recipe():
    for recipe in RECIPES.values():
        again = Recipe.from_dict(json.loads(json.dumps(recipe.as_dict())))
        assert again == recipe, recipe.name
    assert RECIPES["szegedy2015"].as_dict()["schedule"]["kind"] == "exponential"
    assert isinstance(RECIPES["krizhevsky2012"].schedule, Plateau)
    assert isinstance(RECIPES["szegedy2016"].schedule, Exponential)


def test_an_old_flat_run_file_reads_as_todays_recipe():
    old = Recipe.from_dict(LEGACY_LECUN)
    assert isinstance(old.schedule, StepDecay)
    assert old.schedule.boundaries == (1842, 4605, 7368, 11052) and old.schedule.factor == 0.5
    assert (old.data.pad_input, old.data.augment_pad, old.evaluation.val_split) == (2, 2, 1000)
    today = get_recipe("lecun1998_distorted").in_steps(921)
    assert {k: v for k, v in old.flat().items() if k != "source"} == {
        k: v for k, v in today.flat().items() if k != "source"
    }


def test_arch_overrides_use_dotted_paths():
    r = get_recipe("he2016_cifar").for_arch("resnet110")
    assert (r.schedule.warmup_steps, r.schedule.warmup_lr) == (400, 0.01)
    assert get_recipe("he2016_cifar").for_arch("resnet20").schedule.warmup_steps == 0

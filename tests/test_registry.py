"""The registry and the families' catalogs: every model against its card, in one test.

`test_built_model_matches_its_card` builds every registered model once and checks it
against its card, then against what the family's papers give (the facts below, one
function per family); the family test modules check structure and options.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import keras
import pytest
from _resnet_table1 import TABLE1, derive
from _zoo import adds, bn_moving_stats, build_zeros, weight_layers

import cnnzoo
from cnnzoo import registry
from cnnzoo.costs import count_params
from cnnzoo.models import catalog, recursion_limit
from cnnzoo.pretrained import application_for

ENTRIES = {entry.card.name: entry for entry in catalog()}


def _slow(names):
    # resnet1202 (~30 s) and the 101- and 152-layer ImageNet nets take long to build.
    slow = ("resnet1202", "101", "152")
    return [pytest.param(n, marks=pytest.mark.slow) if n.endswith(slow) else n for n in names]


# ------------------------------------------------------------------ what each family's papers give


def _cifar_resnet(card, model, args):
    assert card.dataset == "cifar10"
    # One Add per residual unit, 3n in all; the plain nets have none.
    assert adds(model) == (0 if args["unit"] == "plain" else 3 * args["blocks"])
    # Depth as the papers count it: weight layers (convs and FC), shortcuts excluded.
    assert weight_layers(model) == int("".join(c for c in card.name if c.isdigit()))


def _imagenet_resnet(card, model, args):
    # He et al. 2016 Table 1's shapes give every count (tests/_resnet_table1.py).
    depth, unit = args["depth"], args["unit"]
    trainable, moving_stats, _ = derive(depth, unit, None if unit == "plain" else "B")
    counts = count_params(model)
    assert (counts["trainable"], counts["non_trainable"]) == (trainable, moving_stats)
    assert card.dataset == "imagenet2012" and card.input_shape == (224, 224, 3)
    assert card.num_classes == 1000
    assert card.default_recipe == "he2015_imagenet" and card.published_source
    assert weight_layers(model) == depth
    assert adds(model) == (0 if unit == "plain" else sum(TABLE1[depth][1]))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert not any(layer.use_bias for layer in convs)


def _classic(card, model, args):
    # LeNet-5, Wu 2016, AlexNet, VGG: no BatchNorm, and the papers' figures.
    assert not model.non_trainable_weights
    assert card.default_recipe and card.dataset and card.published and card.published_source


# name: (trainable, all weights incl. BN moving statistics, default recipe)
INCEPTION_COUNTS = {
    # Szegedy et al. 2014, Table 1 (biases, no BatchNorm).
    "googlenet": (6_998_552, 6_998_552, "szegedy2014"),
    # Derived from Ioffe & Szegedy 2015, Figure 5; within 1% of 11.26M.
    "bn_inception": (11_285_224, 11_305_256, "ioffe2015"),
    # keras.applications.InceptionV3.
    "inception_v3": (23_817_352, 23_851_784, "szegedy2015"),
    # Derived from Szegedy et al. 2016 (Rethinking), Table 1, Figures 5-7.
    "inception_v3_paper": (26_385_736, 26_424_648, "szegedy2015"),
    # Szegedy et al. 2016, Figures 3-9, BN scale and offset (timm's count).
    "inception_v4": (42_679_816, 42_742_984, "szegedy2016"),
    # Derived from Szegedy et al. 2016, Figures 10-15, Table 1.
    "inception_resnet_v1": (22_742_808, 22_769_848, "szegedy2016"),
    # keras.applications.InceptionResNetV2: 55,873,736 weights in all.
    "inception_resnet_v2": (55_813_192, 55_873_736, "szegedy2016"),
    # Derived from Szegedy et al. 2016, Figures 3, 7, 15-19, Table 1.
    "inception_resnet_v2_paper": (32_417_496, 32_450_360, "szegedy2016"),
    # Chollet 2017, Table 3; keras.applications.Xception: 22,910,480 in all.
    "xception": (22_855_952, 22_910_480, None),
}


def _inception(card, model, args):
    trainable, total, recipe = INCEPTION_COUNTS[card.name]
    counts = count_params(model)
    assert (counts["trainable"], counts["total"]) == (trainable, total)
    assert card.default_recipe == recipe
    assert card.dataset == "imagenet2012" and card.paper and card.section
    # 224x224 for GoogLeNet / BN-Inception, 299x299 for the rest (each one's paper).
    size = 224 if card.name in ("googlenet", "bn_inception") else 299
    assert card.input_shape == (size, size, 3) and card.num_classes == 1000


FAMILY_FACTS = {
    "cifar_resnet": _cifar_resnet,
    "imagenet_resnet": _imagenet_resnet,
    "lenet": _classic,
    "wu2016": _classic,
    "alexnet": _classic,
    "vgg": _classic,
    "googlenet": _inception,
    "inception": _inception,
    "inception_resnet": _inception,
    "xception": _inception,
}


def test_every_family_has_its_facts_and_every_model_a_card():
    assert sorted(ENTRIES) == cnnzoo.list_models()
    assert {entry.card.family for entry in ENTRIES.values()} == set(FAMILY_FACTS)
    assert set(INCEPTION_COUNTS) == {
        name for name, e in ENTRIES.items() if FAMILY_FACTS[e.card.family] is _inception
    }


@pytest.mark.parametrize("name", _slow(sorted(ENTRIES)))
def test_built_model_matches_its_card(name):
    card = cnnzoo.model_card(name)
    model = build_zeros(name)
    counts = count_params(model)
    assert counts["trainable"] == card.trainable_params
    assert counts["non_trainable"] == bn_moving_stats(model)
    assert model.name == name
    assert model.input_shape == (None, *card.input_shape)
    assert model.output_shape == (None, card.num_classes)
    FAMILY_FACTS[card.family](card, model, ENTRIES[name].args)
    del model
    keras.backend.clear_session()


# ------------------------------------------------------------------ the catalogs and the registry


def test_every_builder_is_the_public_function_of_its_name():
    for name, entry in ENTRIES.items():
        module = sys.modules[entry.builder.__module__]
        assert getattr(module, name) is entry.builder, name
        assert entry.builder.__name__ == name and entry.builder.__doc__, name


def test_builder_options_and_signatures():
    assert registry.builder_options("googlenet") == ("aux_heads",)
    assert registry.builder_options("vgg16") == ()
    resnet20 = ("kernel_initializer", "shortcut", "shared_preact", "shortcut_subsample")
    assert registry.builder_options("resnet20") == resnet20
    assert "stride_on" in registry.builder_options("resnet50")
    # A variant's signature shows the family's options with the variant's defaults.
    wu = inspect.signature(cnnzoo.models.cifar_resnet.wu_resnet32).parameters
    assert wu["shared_preact"].default == "first" and wu["classes"].default == 10
    assert wu["name"].default == "wu_resnet32" and wu["include_top"].default is True
    with pytest.raises(KeyError, match="unknown model 'resnet21'"):
        registry.builder_options("resnet21")


def test_a_variant_fixes_its_table_row():
    with pytest.raises(TypeError, match=r"vgg16 fixes \['config'\]"):
        cnnzoo.build("vgg16", config="A")
    with pytest.raises(TypeError, match="no_such_option"):
        cnnzoo.build("vgg16", no_such_option=1)


USER_MODEL = """
import dataclasses, json, keras, cnnzoo
from cnnzoo import registry
card = dataclasses.replace(
    cnnzoo.model_card("lenet5"), name="my_net", family="mine", input_shape=(8, 8, 3),
    num_classes=3, trainable_params=12,
)

@cnnzoo.register_model(card)
def my_net(include_top=True, input_shape=(8, 8, 3), classes=3, **_):
    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))

refused = []
for taken in ("my_net", "resnet20"):
    try:
        cnnzoo.register_model(dataclasses.replace(card, name=taken))(my_net)
    except ValueError as e:
        refused.append(str(e))
print(json.dumps({
    "listed": cnnzoo.list_models("my_*"),
    "card": cnnzoo.model_card("my_net") == card,
    "params": cnnzoo.build("my_net").count_params(),
    "options": registry.builder_options("my_net"),
    "refused": refused,
}))
"""


def test_register_model_for_users():
    # In a process of its own: the registry keeps what it is given for good.
    out = subprocess.run(
        [sys.executable, "-c", USER_MODEL], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "listed": ["my_net"],
        "card": True,
        "params": 12,
        "options": [],
        "refused": [
            "model 'my_net' is registered twice",
            "model 'resnet20' is registered twice",
        ],
    }


def test_cards_name_the_keras_applications_with_published_weights():
    named = {name: e.card for name, e in ENTRIES.items() if e.card.keras_application}
    assert sorted(named) == [
        "inception_resnet_v2",
        "inception_v3",
        "resnet101",
        "resnet152",
        "resnet50",
        "vgg16",
        "vgg19",
        "xception",
    ]
    for name, card in named.items():
        constructor, overrides = application_for(name)
        assert constructor is getattr(keras.applications, card.keras_application)
        assert overrides == card.keras_application_overrides


def test_model_modules_do_not_import_the_registry():
    # The dependency runs one way: the registry reads the families' catalogs.
    code = (
        "import sys, cnnzoo.models.vgg, cnnzoo.models.inception_resnet\n"
        "print(sorted(m for m in ('cnnzoo.registry', 'cnnzoo.pretrained') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_building_a_deep_net_leaves_the_recursion_limit_alone():
    limit = sys.getrecursionlimit()
    cnnzoo.build("resnet110", include_top=False)
    assert sys.getrecursionlimit() == limit
    # The limit is raised inside the block only, never lowered, restored on errors.
    with pytest.raises(KeyError), recursion_limit(limit + 500):
        assert sys.getrecursionlimit() == limit + 500
        raise KeyError("inside")
    assert sys.getrecursionlimit() == limit
    with recursion_limit(10):
        assert sys.getrecursionlimit() == limit


def test_the_card_file_cnnzoo_list_reads_is_the_registrys():
    """`cnnzoo/model_cards.json` (rerun tools/write_model_cards.py) equals the live cards."""
    from cnnzoo.cards import built_in_cards

    assert built_in_cards() == [cnnzoo.model_card(n) for n in cnnzoo.list_models()]

"""Recipes, the step schedule and the L2 optimizer against the papers' numbers."""

import keras
import numpy as np
import pytest

from cnnzoo.training.optimizer import make_optimizer
from cnnzoo.training.recipes import RECIPES, get_recipe, load_overrides
from cnnzoo.training.schedules import StepSchedule


def _lr_at(recipe, steps):
    boundaries, values = recipe.schedule.points()
    schedule = StepSchedule(boundaries, values)
    return [float(schedule(s)) for s in steps]


def test_he2016_schedule_boundaries():
    # He et al. 2016 §4.2: 0.1, /10 at 32k and 48k.
    r = get_recipe("he2016_cifar").for_arch("resnet20")
    got = _lr_at(r, [0, 1, 31_999, 32_000, 47_999, 48_000, 63_999])
    np.testing.assert_allclose(got, [0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    assert r.schedule.total_steps == 64_000 and r.data.batch_size == 128
    assert r.regularization.weight_decay == 1e-4 and r.init == "msra"


def test_he2016_resnet110_warmup():
    r = get_recipe("he2016_cifar").for_arch("resnet110")
    got = _lr_at(r, [0, 399, 400, 31_999, 32_000, 48_000])
    np.testing.assert_allclose(got, [0.01, 0.01, 0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_wu_schedule_boundaries():
    r = get_recipe("wu_resnet_cifar")
    got = _lr_at(r, [0, 499, 500, 31_999, 32_000, 47_999, 48_000, 63_999, 64_000, 79_999])
    expected = [0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert r.schedule.total_steps == 80_000 and r.data.preprocessing == "scale_pm1"
    assert r.init == "msra"  # W. Wu §3.2: He et al. 2015's initialization


def test_optimizer_carries_schedule_and_decay():
    opt = make_optimizer(get_recipe("wu_resnet_cifar"))
    assert opt.l2 == 1e-4 and abs(opt.momentum - 0.9) < 1e-7
    schedule = opt._learning_rate
    assert isinstance(schedule, StepSchedule)
    assert schedule.boundaries == [500, 32_000, 48_000, 64_000]
    assert schedule.values[:2] == [0.01, 0.1]


def test_override_rejects_unknown_field():
    with pytest.raises(ValueError, match="unknown recipe field.*'lrr'"):
        get_recipe("he2016_cifar").override(lrr=0.3)


def test_scaled_to_keeps_shape():
    r = get_recipe("wu_resnet_cifar").scaled_to(800)
    assert r.schedule.total_steps == 800
    assert r.schedule.boundaries == (320, 480, 640) and r.schedule.warmup_steps == 5


def test_recipe_validation_errors():
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        RECIPES["he2016_cifar"].override(preprocessing="zca")
    with pytest.raises(ValueError, match="lr must be > 0"):
        RECIPES["he2016_cifar"].override(lr=0.0)
    with pytest.raises(ValueError, match="augment_pad must be >= 0, got -1"):
        RECIPES["he2016_cifar"].override(augment_pad=-1)


def test_lecun1998_distorted_is_lecun1998_plus_translations():
    base, distorted = RECIPES["lecun1998"], RECIPES["lecun1998_distorted"]
    data = distorted.data
    assert (data.augment, data.augment_pad, data.augment_flip) == (True, 2, False)
    assert not base.data.augment
    same = {"name", "source", "data.augment", "data.augment_pad", "data.augment_flip"}
    assert {k: v for k, v in base.flat().items() if k not in same} == {
        k: v for k, v in distorted.flat().items() if k not in same
    }


def test_load_overrides_errors(tmp_path):
    bad = tmp_path / "o.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="o.json: expected a JSON object"):
        load_overrides(bad)
    bad.write_text("{lr: ")
    with pytest.raises(ValueError, match="o.json: not valid JSON"):
        load_overrides(bad)


def test_step_schedule_serializes():
    import keras

    s = StepSchedule([10, 20], [1.0, 0.5, 0.25])
    s2 = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert [float(s2(i)) for i in (9, 10, 20)] == [1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="len\\(values\\) == len\\(boundaries\\) \\+ 1"):
        StepSchedule([10], [1.0])


def test_half_life_decay():
    from cnnzoo.training.schedules import HalfLifeDecay

    s = HalfLifeDecay(0.01, half_life_steps=100)
    np.testing.assert_allclose(
        [float(s(t)) for t in (0, 100, 200, 50)], [0.01, 0.005, 0.0025, 0.01 / 2**0.5], rtol=1e-5
    )
    with pytest.raises(ValueError, match="half_life_steps must be > 0"):
        HalfLifeDecay(0.01, 0)


def test_inception_recipes_rmsprop_exponential_and_clipping():
    from cnnzoo.training.optimizer import RMSpropL2

    recipe = get_recipe("szegedy2015")
    opt = make_optimizer(recipe, steps_per_epoch=100)
    assert isinstance(opt, RMSpropL2)
    assert (opt.rho, opt.epsilon, opt.global_clipnorm) == (0.9, 1.0, 2.0)
    schedule = opt._learning_rate
    # Szegedy et al. 2015 §8: 0.045, x0.94 every two epochs (staircase).
    assert float(schedule(199)) == pytest.approx(0.045)
    assert float(schedule(200)) == pytest.approx(0.045 * 0.94)
    assert float(schedule(1000)) == pytest.approx(0.045 * 0.94**5)
    googlenet = make_optimizer(get_recipe("szegedy2014"), steps_per_epoch=10)
    assert float(googlenet._learning_rate(80)) == pytest.approx(0.01 * 0.96)
    assert get_recipe("szegedy2014").regularization.aux_loss_weight == 0.3
    with pytest.raises(ValueError, match="exponential schedule needs every_epochs"):
        recipe.override(decay_every_epochs=0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        recipe.override(optimizer="adam")


def test_wu2016_mnist_caffe_adds_only_the_caffe_solver_momentum_and_decay():
    base, caffe = RECIPES["wu2016_mnist"], RECIPES["wu2016_mnist_caffe"]
    assert (base.optimizer.momentum, base.regularization.weight_decay) == (0.0, 0.0)  # plain SGD
    assert (caffe.optimizer.momentum, caffe.regularization.weight_decay) == (0.9, 5e-4)
    same = {"name", "source", "optimizer.momentum", "regularization.weight_decay"}
    assert {k: v for k, v in base.flat().items() if k not in same} == {
        k: v for k, v in caffe.flat().items() if k not in same
    }


def test_fast_cifar_is_one_cycle_over_the_run():
    from cnnzoo.training.schedules import WarmupLinearDecay, learning_rate

    r = get_recipe("fast_cifar").in_steps(390)
    assert r.schedule.total_steps == 40 * 390 and r.regularization.label_smoothing == 0.1
    lr = learning_rate(r.schedule, 390)
    assert isinstance(lr, WarmupLinearDecay)
    assert float(lr(0)) == pytest.approx(0.02) and float(lr(782)) == pytest.approx(0.2)
    assert float(lr(r.schedule.total_steps)) == 0.0
    # A run shortened to fewer steps than the warm-up still gets a cycle.
    short = learning_rate(r.override(total_steps=100).schedule, 390)
    assert float(short(99)) > 0.0 and float(short(100)) == 0.0


def _changed(base, variant):
    """The dotted fields in which `variant` differs from `base` (name and source aside)."""
    a, b = base.flat(), variant.flat()
    return {k for k in a if a[k] != b[k]} - {"name", "source"}


@pytest.mark.parametrize(("name", "lr"), [("ioffe2015", 0.045), ("ioffe2015_x5", 0.0075)])
def test_ioffe2015_is_googlenets_recipe_accelerated(name, lr):
    # Ioffe & Szegedy 2015 §4.2.2: Inception 0.0015, BN-x5 0.0075, BN-x30 0.045;
    # §4.2.1: decay 6x faster, L2 / 5, no auxiliary heads (Figure 5 has none).
    base, recipe = get_recipe("szegedy2014"), get_recipe(name)
    assert _changed(base, recipe) == {
        "schedule.lr",
        "schedule.every_epochs",
        "schedule.epochs",
        "schedule.total_steps",
        "regularization.weight_decay",
        "regularization.aux_loss_weight",
    }
    opt = make_optimizer(recipe, steps_per_epoch=300)
    assert opt.l2 == pytest.approx(2e-4 / 5) and opt.momentum == pytest.approx(0.9)
    assert recipe.data.batch_size == 32 and recipe.schedule.total_steps == 6_000_000
    # GoogLeNet: x0.96 every 8 epochs (2,400 iterations here); BN: every 8/6 (400).
    lrs = [float(opt._learning_rate(i)) for i in (0, 399, 400, 799, 800, 2400)]
    expected = [lr, lr, lr * 0.96, lr * 0.96, lr * 0.96**2, lr * 0.96**6]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    googlenet = make_optimizer(base, steps_per_epoch=300)._learning_rate
    assert float(googlenet(2399)) == pytest.approx(0.01) == float(googlenet(2400)) / 0.96


def test_bn_inception_trains_with_ioffe2015_by_default():
    import cnnzoo

    card = cnnzoo.model_card("bn_inception")
    assert card.default_recipe == "ioffe2015" and get_recipe(card.default_recipe)
    # §4.2.1's "remove dropout" and "remove local response normalization" are the
    # builder's: it has neither.
    from cnnzoo.layers.lrn import LocalResponseNormalization

    net = cnnzoo.build("bn_inception", input_shape=(64, 64, 3), classes=10)
    kinds = (keras.layers.Dropout, LocalResponseNormalization)
    assert not [layer.name for layer in net.layers if isinstance(layer, kinds)]
    googlenet = cnnzoo.build("googlenet", input_shape=(64, 64, 3), classes=10)
    assert sum(isinstance(layer, kinds) for layer in googlenet.layers) == 3  # 2 LRN, dropout


@pytest.mark.parametrize(
    ("name", "augment", "lr", "layers"),
    [
        ("simonyan2014_s256", "vgg_s256", 0.01, ()),
        ("simonyan2014_s384", "vgg_s384", 1e-3, (".*",)),
        ("simonyan2014_from_a", "vgg_s256", 0.01, "VGG_A"),
    ],
)
def test_vgg_single_scale_and_from_a_recipes(name, augment, lr, layers):
    # Simonyan & Zisserman 2014 §3.1: fixed S = 256; S = 384 from the S = 256 net at
    # 1e-3; deeper nets from net A's first four conv and three FC layers.
    from cnnzoo.training.recipes import VGG_A_INIT_LAYERS

    base, recipe = get_recipe("simonyan2014"), get_recipe(name)
    layers = VGG_A_INIT_LAYERS if layers == "VGG_A" else layers
    assert (recipe.data.image_augment, recipe.init_from_layers) == (augment, layers)
    assert _changed(base, recipe) <= {"data.image_augment", "schedule.lr", "init_from_layers"}
    opt = make_optimizer(recipe.in_steps(5000), steps_per_epoch=5000)
    # The plateau schedule's rate is a variable that ReduceLROnPlateau lowers.
    assert float(opt.learning_rate) == pytest.approx(lr)
    assert opt.l2 == pytest.approx(5e-4) and opt.momentum == pytest.approx(0.9)
    assert recipe.in_steps(5000).schedule.total_steps == 74 * 5000


def test_init_from_layers_round_trips_and_checks_its_patterns():
    r = get_recipe("he2016_cifar").override({"init_from_layers": ["conv1", "fc.*"]})
    assert r.init_from_layers == ("conv1", "fc.*")
    assert r.override({"init_from_layers": "conv1"}).init_from_layers == ("conv1",)
    with pytest.raises(ValueError, match=r"'fc\(' is not a regular expression"):
        r.override({"init_from_layers": ["fc("]})


def test_wu2016_cifar_augmented_adds_only_the_theses_enlargement():
    # W. Wu 2016 thesis §2.2: translations, flips, slight rotations; §3.2's schedule.
    from cnnzoo.training.schedules import HalfLifeDecay

    base, augmented = RECIPES["wu2016_cifar"], RECIPES["wu2016_cifar_augmented"]
    assert _changed(base, augmented) == {"data.augment", "data.affine_rotate"}
    data = augmented.data
    assert (data.augment, data.augment_pad, data.augment_flip, data.affine_rotate) == (
        True,
        4,
        True,
        10.0,
    )
    assert not base.data.augment and base.data.preprocessing == "per_pixel_mean_255"
    lr = make_optimizer(augmented, steps_per_epoch=4900)._learning_rate
    assert isinstance(lr, HalfLifeDecay)
    # 0.0005 halving every 5 epochs of 4,900 iterations (§3.2).
    np.testing.assert_allclose(
        [float(lr(i)) for i in (0, 24_500, 49_000)], [5e-4, 2.5e-4, 1.25e-4], rtol=1e-6
    )

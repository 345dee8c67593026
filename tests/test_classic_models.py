"""LeNet-5, Wu 2016, AlexNet and VGG: parameter counts, shapes, names, weight transplant, saving."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from _zoo import assert_informative_match, build_zeros, reloaded, shared, trainable, zero_init

import cnnzoo
from cnnzoo.layers.lrn import LocalResponseNormalization
from cnnzoo.models import alexnet, lenet, vgg, wu2016

# Built models against their cards: tests/test_registry.py. Builds shared by the
# tests here start from zeros (tests/_zoo.py); tests needing real weights set them.
CLASSIC_NAMES = ["lenet5", *wu2016.MODELS.names(), *alexnet.MODELS.names(), *vgg.MODELS.names()]


def _names(model) -> list[str]:
    return [layer.name for layer in model.layers[1:]]  # without the InputLayer


# ------------------------------------------------------------------ cards


def test_cards_hold_the_briefed_figures():
    # alexnet_nonoverlap_pool, Krizhevsky et al. 2012 §3.4: 2x2 / 2 pooling keeps the 27,
    # 13, 6 maps ("output of equivalent dimensions"); pooling has no weights and fc6
    # still sees 6*6*256, so alexnet's 62,378,344. alexnet_conv6, §6 / Table 2's CNN*:
    # + conv6 256*(256*3*3+1) = 590,080 -> 62,968,424.
    expected = {
        # name: (trainable params, recipe, dataset)
        "lenet5": (61_706, "lecun1998_distorted", "mnist"),
        "wu2016_mnist": (150_770, "wu2016_mnist_caffe", "mnist"),
        "wu2016_cifar": (138_570, "wu2016_cifar", "cifar10"),
        "alexnet": (62_378_344, "krizhevsky2012", "imagenet2012"),
        "alexnet_nonoverlap_pool": (62_378_344, "krizhevsky2012", "imagenet2012"),
        "alexnet_conv6": (62_968_424, "krizhevsky2012", "imagenet2012"),
        "vgg11": (132_863_336, "simonyan2014", "imagenet2012"),
        "vgg11_lrn": (132_863_336, "simonyan2014", "imagenet2012"),
        "vgg13": (133_047_848, "simonyan2014", "imagenet2012"),
        "vgg16_c": (133_638_952, "simonyan2014", "imagenet2012"),
        "vgg16": (138_357_544, "simonyan2014", "imagenet2012"),
        "vgg19": (143_667_240, "simonyan2014", "imagenet2012"),
    }
    assert sorted(expected) == sorted(CLASSIC_NAMES)
    for name, (params, recipe, dataset) in expected.items():
        card = cnnzoo.model_card(name)
        assert (card.trainable_params, card.default_recipe, card.dataset) == (
            params,
            recipe,
            dataset,
        ), name
    published = {
        "lenet5": {"mnist_test_error": 0.8, "mnist_test_error_no_distortions": 0.95},
        "alexnet": {"imagenet2012_val_top1_error": 40.7, "imagenet2012_val_top5_error": 18.2},
        # Krizhevsky et al. 2012 §3.4 (the difference to alexnet only).
        "alexnet_nonoverlap_pool": {
            "imagenet2012_top1_error_above_alexnet": 0.4,
            "imagenet2012_top5_error_above_alexnet": 0.3,
        },
        # Krizhevsky et al. 2012 Table 2 (1 CNN*).
        "alexnet_conv6": {"imagenet2012_val_top1_error": 39.0, "imagenet2012_val_top5_error": 16.6},
    }
    for name, figures in published.items():
        assert cnnzoo.model_card(name).published == figures, name
    # Simonyan & Zisserman, Table 3 (single scale, S = Q = 256).
    table3 = {
        "vgg11": (29.6, 10.4),
        "vgg11_lrn": (29.7, 10.5),
        "vgg13": (28.7, 9.9),
        "vgg16_c": (28.1, 9.4),
        "vgg16": (27.0, 8.8),
        "vgg19": (27.3, 9.0),
    }
    for name, (top1, top5) in table3.items():
        published = cnnzoo.model_card(name).published
        assert published == {
            "imagenet2012_val_top1_error": top1,
            "imagenet2012_val_top5_error": top5,
        }


def test_alexnet_two_groups():
    model = shared("alexnet", groups=2)
    assert trainable(model) == alexnet.ALEXNET_GROUPED_PARAMS == 60_965_224
    grouped = {
        layer.name: layer.groups for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    }
    assert grouped == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    assert model.get_layer("conv4").kernel.shape == (3, 3, 192, 384)
    out = model(np.zeros((1, 227, 227, 3), "float32"), training=False)
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("activation", lenet.ACTIVATIONS)
def test_lenet5_activations(activation):
    model = cnnzoo.build("lenet5", activation=activation)
    assert trainable(model) == 61_706
    pool = (
        keras.layers.AveragePooling2D if activation == "scaled_tanh" else keras.layers.MaxPooling2D
    )
    assert isinstance(model.get_layer("s2"), pool) and isinstance(model.get_layer("s4"), pool)
    assert _names(model) == ["c1", "s2", "c3", "s4", "c5", "flatten", "f6", "predictions"]
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[1:6]]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120)]
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    y = model.predict(x, verbose=0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_lenet5_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'"):
        cnnzoo.build("lenet5", activation="sigmoid")


def test_scaled_tanh_is_lecuns():
    # LeCun et al. 1998, Appendix A: f(a) = 1.7159 tanh(2a/3), so f(+-1) ~ +-1.
    a = np.array([-1.0, 0.0, 1.0, 30.0], "float32")
    f = keras.ops.convert_to_numpy(lenet.scaled_tanh(a))
    np.testing.assert_allclose(f, 1.7159 * np.tanh(2.0 * a / 3.0), rtol=1e-6)
    np.testing.assert_allclose(f[[0, 2]], [-1.0, 1.0], atol=2e-4)


# ------------------------------------------------------------------ names and shapes


def test_wu2016_layers():
    cifar = shared("wu2016_cifar")
    assert _names(cifar) == [
        "conv1", "pool1", "relu1", "conv2", "relu2", "pool2",
        "conv3", "relu3", "pool3", "flatten", "fc1", "fc1_relu", "predictions",
    ]  # fmt: skip
    sizes = [cifar.get_layer(f"pool{i}").output.shape[1:3] for i in (1, 2, 3)]
    assert sizes == [(16, 16), (8, 8), (4, 4)]
    assert isinstance(cifar.get_layer("pool1"), keras.layers.MaxPooling2D)
    assert isinstance(cifar.get_layer("pool2"), keras.layers.AveragePooling2D)
    mnist = shared("wu2016_mnist")
    assert _names(mnist) == [
        "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc1_relu", "predictions",
    ]  # fmt: skip
    assert mnist.get_layer("pool2").output.shape[1:] == (4, 4, 40)
    # No nonlinearity between the convolutions ([1] §3.1.1).
    assert all(
        keras.activations.serialize(layer.activation) == "linear"
        for layer in mnist.layers
        if isinstance(layer, keras.layers.Conv2D)
    )


def test_alexnet_layers():
    model = shared("alexnet")
    assert _names(model) == [
        "conv1", "conv1_relu", "lrn1", "pool1",
        "conv2", "conv2_relu", "lrn2", "pool2",
        "conv3", "conv3_relu", "conv4", "conv4_relu", "conv5", "conv5_relu", "pool5",
        "flatten", "fc6", "fc6_relu", "fc6_dropout", "fc7", "fc7_relu", "fc7_dropout",
        "predictions",
    ]  # fmt: skip
    sizes = [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "pool2", "pool5")]
    assert sizes == [55, 27, 13, 6]
    lrn = model.get_layer("lrn1")
    assert isinstance(lrn, LocalResponseNormalization)
    settings = ("size", "k", "alpha", "beta", "alpha_convention")
    assert [getattr(lrn, a) for a in settings] == [5, 2.0, 1e-4, 0.75, "paper"]
    assert model.get_layer("fc6_dropout").rate == 0.5


# Krizhevsky et al. 2012 Fig. 2: the map side after each pooling on 227x227.
_POOL_MAPS = {"pool1": 27, "pool2": 13, "pool5": 6}


def _pools(model) -> dict[str, tuple]:
    return {
        n: (
            model.get_layer(n).pool_size,
            model.get_layer(n).strides,
            model.get_layer(n).output.shape[1],
        )
        for n in ("pool1", "pool2", "pool5")
    }


def test_alexnet_nonoverlap_pool_is_alexnet_with_2x2_windows():
    model, reference = shared("alexnet_nonoverlap_pool"), shared("alexnet")
    assert _names(model) == _names(reference)
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]
    # Krizhevsky et al. 2012 §3.4: z = 3, s = 2 (overlapping) against z = s = 2; on
    # 227x227, floor((55-2)/2)+1 = 27, floor((27-2)/2)+1 = 13, floor((13-2)/2)+1 = 6.
    assert _pools(reference) == {n: ((3, 3), (2, 2), size) for n, size in _POOL_MAPS.items()}
    assert _pools(model) == {n: ((2, 2), (2, 2), size) for n, size in _POOL_MAPS.items()}
    grouped = cnnzoo.build("alexnet_nonoverlap_pool", groups=2, include_top=False)
    assert trainable(grouped) == trainable(cnnzoo.build("alexnet", groups=2, include_top=False))


def test_alexnet_conv6_adds_one_convolution_over_pool5():
    model = shared("alexnet_conv6")
    names = _names(shared("alexnet"))
    at = names.index("pool5") + 1
    assert _names(model) == [*names[:at], "conv6", "conv6_relu", *names[at:]]
    conv6 = model.get_layer("conv6")
    assert conv6.kernel.shape == (3, 3, 256, 256) and conv6.padding == "same"
    assert model.get_layer("conv6_relu").output.shape[1:] == (6, 6, 256)
    assert model.get_layer("fc6").kernel.shape == (6 * 6 * 256, 4096)
    # groups=2 splits conv6 as conv5: 60,965,224 + 256*(128*3*3+1) = 61,260,392.
    grouped = shared("alexnet_conv6", groups=2)
    assert trainable(grouped) == alexnet.ALEXNET_CONV6_GROUPED_PARAMS == 61_260_392
    assert grouped.get_layer("conv6").groups == 2


def test_alexnet_without_lrn_and_bad_groups():
    model = cnnzoo.build("alexnet", lrn=False, include_top=False)
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    assert model.output_shape == (None, 6, 6, 256)
    with pytest.raises(ValueError, match="groups must be 1 or 2"):
        cnnzoo.build("alexnet", groups=4)


def test_vgg_layers():
    a_lrn = shared("vgg11_lrn")
    assert _names(a_lrn)[:3] == ["block1_conv1", "block1_lrn", "block1_pool"]
    assert isinstance(a_lrn.get_layer("block1_lrn"), LocalResponseNormalization)
    c = shared("vgg16_c")
    for b in (3, 4, 5):
        assert c.get_layer(f"block{b}_conv3").kernel_size == (1, 1)
        assert c.get_layer(f"block{b}_conv2").kernel_size == (3, 3)
    for name, convs in {"vgg11": 8, "vgg13": 10, "vgg16_c": 13, "vgg16": 13, "vgg19": 16}.items():
        model = shared(name)
        assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == convs
        assert _names(model)[-5:] == ["fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
        assert model.get_layer("block5_pool").output.shape[1:] == (7, 7, 512)


def test_init_scheme_layer_names_exist():
    # cnnzoo.training.init_schemes refers to these layers by name.
    wu = shared("wu2016_cifar")
    for n in ("conv1", "conv2", "conv3", "fc1", "predictions"):
        assert wu.get_layer(n).kernel is not None
    alex = shared("alexnet")
    for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "predictions"):
        assert alex.get_layer(n).kernel is not None


@pytest.mark.parametrize(
    "name, features",
    [
        ("lenet5", (1, 1, 120)),
        ("wu2016_mnist", (4, 4, 40)),
        ("wu2016_cifar", (4, 4, 64)),
        ("alexnet", (6, 6, 256)),
        ("vgg11", (7, 7, 512)),
    ],
)
def test_include_top_false_and_pooling(name, features):
    base = cnnzoo.build(name, include_top=False)
    assert base.output_shape == (None, *features)
    assert not any(layer.name in ("flatten", "predictions") for layer in base.layers)
    for pooling in ("avg", "max"):
        pooled = cnnzoo.build(name, include_top=False, pooling=pooling)
        assert pooled.output_shape == (None, features[-1])
        assert pooled.layers[-1].name == f"{pooling}_pool"
    with pytest.raises(ValueError, match="pooling must be"):
        cnnzoo.build(name, include_top=False, pooling="sum")


def test_classes_and_logits():
    model = cnnzoo.build("wu2016_cifar", classes=7, classifier_activation=None)
    assert model.output_shape == (None, 7)
    x = np.random.default_rng(1).normal(size=(3, 32, 32, 3)).astype("float32")
    assert not np.allclose(model.predict(x, verbose=0).sum(axis=1), 1.0)


# ------------------------------------------------------------------ weight transplant


def _random_weights(model, seed):
    # He-uniform kernels and small biases keep the activations of a 16-19 layer ReLU
    # net of order one (Keras's Glorot-uniform start shrinks them ~2x per layer, so
    # the softmax would be near-uniform and any transplant would "match"). Uniform
    # float32 draws: the fastest NumPy has for VGG's 100M-weight fc1.
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        bound = 0.1 if len(shape) == 1 else np.sqrt(6.0 / np.prod(shape[:-1]))
        u = rng.random(size=shape, dtype=np.float32)
        v.assign((2.0 * u - 1.0) * np.float32(bound))


@pytest.mark.slow
@pytest.mark.parametrize("name, reference", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_vgg_matches_keras_applications(name, reference):
    with zero_init():
        ref = getattr(keras.applications, reference)(weights=None)
    _random_weights(ref, seed=0)
    model = build_zeros(name)  # its weights are about to be replaced
    ours = {layer.name: layer for layer in model.layers if layer.weights}
    theirs = {layer.name: layer for layer in ref.layers if layer.weights}
    assert list(ours) == list(theirs)
    for layer_name, layer in theirs.items():
        # Layer by layer, by name; assign() raises on any shape mismatch.
        assert len(ours[layer_name].weights) == len(layer.weights) == 2
        for mine, source in zip(ours[layer_name].weights, layer.weights, strict=True):
            assert mine.shape == source.shape, layer_name
            mine.assign(source.value)
    # Pixels in [-1, 1]: with these weights the logits have std ~2, so the softmax is
    # neither near-uniform nor saturated and differs between the two images.
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(2, 224, 224, 3)).astype("float32")
    # One pass per net, returning the last hidden layer (fc2) and the predictions.
    ref_fc2, expected = (
        t.numpy() for t in keras.Model(ref.input, [ref.get_layer("fc2").output, ref.output])(x)
    )
    got_fc2, got = (
        t.numpy()
        for t in keras.Model(model.input, [model.get_layer("fc2").output, model.output])(x)
    )
    assert_informative_match(expected, got)
    np.testing.assert_allclose(got_fc2, ref_fc2, rtol=1e-4, atol=1e-5 * np.abs(ref_fc2).max())


# ------------------------------------------------------------------ serialization


def test_lenet5_keras_round_trip_safe_mode(tmp_path):
    model = cnnzoo.build("lenet5")
    x = np.random.default_rng(2).normal(size=(4, 32, 32, 1)).astype("float32")
    loaded = reloaded(model, tmp_path)
    assert _names(loaded) == _names(model)
    assert loaded.get_layer("c1").activation is lenet.scaled_tanh
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_lenet5_loads_in_a_fresh_process_with_cnnzoo_layers_imported(tmp_path):
    path = tmp_path / "lenet5.keras"
    cnnzoo.build("lenet5").save(path)
    # `import cnnzoo` alone imports no Keras (tests/test_import.py); the layers
    # module registers the custom layers plain Keras needs.
    code = textwrap.dedent(
        f"""
        import keras
        import cnnzoo.layers  # noqa: F401
        keras.saving.load_model({str(path)!r}, safe_mode=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_alexnet_lrn_serializes(tmp_path):
    # The LRN layers round-trip; a small input keeps the file small.
    model = cnnzoo.build("alexnet", include_top=False, input_shape=(67, 67, 3), groups=2)
    loaded = reloaded(model, tmp_path)
    x = np.random.default_rng(3).normal(size=(1, 67, 67, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert loaded.get_layer("conv2").groups == 2

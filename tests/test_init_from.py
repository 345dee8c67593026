"""`--init-from`: layers copied by name and shape, the VGG-A rule, and the errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.training.init_from import (
    copy_layers,
    initialize_from,
    source_model_path,
    weighted_layers,
)
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing
from cnnzoo.training.recipes import VGG_A_INIT_LAYERS, get_recipe


def _net(widths, classes=3, name="net"):
    """conv_i (3x3, widths[i] filters) ..., then ``fc`` and ``predictions``."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for i, width in enumerate(widths, start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"conv_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(4, name="fc")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _wrapped(widths, classes=3, seed=0):
    """The net behind the preprocessing layers, as `cnnzoo fit` trains and saves it."""
    keras.utils.set_random_seed(seed)
    images = np.random.default_rng(seed).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    head = preprocessing_layers("per_channel_standardize", images)
    return with_preprocessing(_net(widths, classes), head)


def _weights(model, name):
    return [np.asarray(w) for w in weighted_layers(model)[name].get_weights()]


def _same(a, b, name):
    pairs = zip(_weights(a, name), _weights(b, name), strict=True)
    return all(np.array_equal(x, y) for x, y in pairs)


def test_every_layer_with_the_same_name_and_shapes_is_copied():
    source, target = _wrapped((4, 6)), _wrapped((4, 5, 6), seed=1)
    copied, kept = copy_layers(target, source)
    # conv_2 is 4->6 in the source and 4->5 here; conv_3 is new; fc reads 6 in both.
    assert copied == ("conv_1", "fc", "predictions")
    assert kept["conv_3"] == "not in source"
    assert kept["conv_2"].startswith("shapes [(3, 3, 4, 5), (5,)] here, [(3, 3, 4, 6), (6,)]")
    assert all(_same(source, target, n) for n in copied)
    assert not _same(_wrapped((4, 5, 6), seed=1), target, "conv_1")  # really changed
    # The preprocessing statistics are the run's own, never copied.
    assert not any(n.startswith("preprocess_") for n in (*copied, *kept))


def test_patterns_copy_exactly_the_layers_they_name():
    source, target = _wrapped((4, 6)), _wrapped((4, 6), seed=1)
    copied, kept = copy_layers(target, source, patterns=("conv_1", "pre.*"))
    assert copied == ("conv_1", "predictions")
    assert kept == {"conv_2": "not requested", "fc": "not requested"}
    assert not _same(source, target, "conv_2")


def test_a_requested_layer_of_other_shapes_is_an_error_naming_both():
    source, target = _wrapped((4, 6)), _wrapped((4, 6), classes=5)
    with pytest.raises(ValueError, match=r"layer 'predictions' cannot be copied: shapes "):
        copy_layers(target, source, patterns=("predictions",))
    with pytest.raises(ValueError, match=r"layer 'conv_3' cannot be copied: not in source"):
        copy_layers(_wrapped((4, 6, 6)), source, patterns=("conv_3",))
    with pytest.raises(ValueError, match=r"'conv_9' matches no layer with weights"):
        copy_layers(target, source, patterns=("conv_9",))


def test_nothing_to_copy_is_an_error():
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Dense(2, name="other")])
    with pytest.raises(ValueError, match="no layer of source matches the model"):
        copy_layers(_wrapped((4,)), other)


def test_source_files_and_run_directories(tmp_path):
    source = _wrapped((4, 6))
    source.save(tmp_path / "model.keras")
    assert source_model_path(tmp_path) == tmp_path / "model.keras"
    report = initialize_from(_wrapped((4, 6), seed=1), tmp_path, ("conv_.*",))
    assert report.copied == ("conv_1", "conv_2") and report.source == str(tmp_path / "model.keras")
    assert report.as_dict()["patterns"] == ["conv_.*"]
    assert "copied 2 layers (conv_1, conv_2)" in report.summary()
    with pytest.raises(FileNotFoundError, match="no such file or run directory"):
        source_model_path(tmp_path / "missing.keras")
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(FileNotFoundError, match="no model.keras in that directory"):
        source_model_path(tmp_path / "unfinished")
    (tmp_path / "w.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a .keras file or a run directory"):
        source_model_path(tmp_path / "w.h5")


def test_vgg_a_layers_go_into_the_deeper_configurations():
    # Simonyan & Zisserman 2014 §3.1: net A's first four conv layers and three FC
    # layers, by name, into B-E; the other layers stay as initialized.
    small = {"input_shape": (32, 32, 3), "classes": 10}
    net_a = cnnzoo.build("vgg11", **small)
    assert list(weighted_layers(net_a))[:4] == list(VGG_A_INIT_LAYERS[:4])
    for deeper in ("vgg13", "vgg16", "vgg19"):
        net = cnnzoo.build(deeper, **small)
        copied, kept = copy_layers(net, net_a, get_recipe("simonyan2014_from_a").init_from_layers)
        assert copied == VGG_A_INIT_LAYERS, deeper
        assert "block1_conv2" in kept and "block4_conv1" in kept  # A has it; §3.1 leaves it

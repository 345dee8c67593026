"""ONNX, LiteRT and OpenVINO exports: each custom layer and the in-model preprocessing, run
by the format's own runtime and compared with Keras (issue 18 items 1-3).

Every case is a tiny model (a 3x3 convolution, the layer, global pooling, a softmax)
behind the recipe's preprocessing layers, exported once per format. A format whose
extra is not installed is skipped with the ``pip install`` line that brings it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from _tiny_models import save_tiny_model

from cnnzoo.export import EXPORT_METADATA_FILE
from cnnzoo.export_formats import (
    WRITER_MODULES,
    ExportVerificationError,
    export_model,
)
from cnnzoo.export_options import ExportChecks
from cnnzoo.export_runtimes import RUNTIMES, MissingExtraError, load_runtime, predict, require
from cnnzoo.layers import (
    FusedBatchNormalization,
    LocalResponseNormalization,
    ResidualScaling,
    StochasticPooling2D,
    ZeroPadShortcut,
    scaled_tanh,
)
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing

FORMATS = ("onnx", "litert", "openvino")
SHAPE = (16, 16, 3)
CLASS_NAMES = ["a", "b", "c", "d"]
# Random images, as many as the check needs to see every class of the tiny models.
CHECK = ExportChecks(data="random", count=24)
# Float exports compute Keras's sums in another order: probabilities agree to float32
# rounding, far below what a mis-converted layer (a wrong window, a lost scale) changes.
FLOAT_ATOL = 1e-5


def _need(fmt: str) -> None:
    """Skip, naming the extra, when the format's converter or runtime is not installed."""
    runtime = RUNTIMES[fmt]
    for module in (*WRITER_MODULES[fmt], runtime.module):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{module} not installed: pip install 'cnnzoo[{runtime.extra}]'")


def _residual_scaling(x):
    branch = keras.layers.Conv2D(8, 1, kernel_initializer=_init(1), name="branch")(x)
    return ResidualScaling(0.2, name="scaling")([x, branch])


def _fused_batch_norm(x):
    layer = FusedBatchNormalization(name="bn")
    x = layer(x)
    # Moving statistics away from (0, 1), so that the layer changes its input.
    rng = np.random.default_rng(0)
    layer.moving_mean.assign(rng.uniform(0, 0.5, 8).astype("float32"))
    layer.moving_variance.assign(rng.uniform(0.5, 2, 8).astype("float32"))
    return x


# Case -> (what follows the first convolution, the preprocessing mode, its padding).
CASES = {
    # alpha 1e-2 instead of the paper's 1e-4: at these small activations the paper's
    # normalization would change the output by less than the tolerance.
    "lrn": (lambda x: LocalResponseNormalization(alpha=1e-2, name="lrn")(x), "scale_pm1", 0),
    "stochastic_pooling": (
        lambda x: StochasticPooling2D(3, 2, padding="same", name="pool")(x),
        "scale_pm1",
        0,
    ),
    "residual_scaling": (_residual_scaling, "scale_pm1", 0),
    "shortcut_a": (lambda x: ZeroPadShortcut(16, 2, name="shortcut")(x), "scale_pm1", 0),
    "shortcut_a_max_pool": (
        lambda x: ZeroPadShortcut(16, 2, subsample="max_pool", name="shortcut")(x),
        "scale_pm1",
        0,
    ),
    "fused_batch_norm": (_fused_batch_norm, "scale_pm1", 0),
    # LeNet-5's: its activation behind its preprocessing (zero padding, LeCun's scaling).
    "scaled_tanh": (lambda x: keras.layers.Activation(scaled_tanh, name="tanh")(x), "lecun", 2),
    # The preprocessing heads with statistics: per-pixel mean (Rescaling + Normalization
    # over H, W, C) and per-channel standardization (Rescaling + Normalization over C).
    "preprocessing_per_pixel_mean": (lambda x: x, "per_pixel_mean", 0),
    "preprocessing_per_channel_standardize": (lambda x: x, "per_channel_standardize", 0),
}


def _init(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


def case_model(case: str) -> keras.Model:
    """The tiny classifier of `case`, taking raw [0, 255] pixels like a trained model."""
    body, mode, pad = CASES[case]
    # The net sees the padded size; the model takes SHAPE.
    inputs = keras.Input((SHAPE[0] + 2 * pad, SHAPE[1] + 2 * pad, SHAPE[2]))
    x = keras.layers.Conv2D(
        8, 3, padding="same", activation="relu", kernel_initializer=_init(0), name="conv"
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(body(x))
    outputs = keras.layers.Dense(
        len(CLASS_NAMES), activation="softmax", kernel_initializer=_init(2), name="predictions"
    )(x)
    net = keras.Model(inputs, outputs, name=f"tiny_{case}")
    train = np.random.default_rng(1).integers(0, 256, (64, *SHAPE), dtype=np.uint8)
    return with_preprocessing(net, preprocessing_layers(mode, train, pad=pad))


@pytest.mark.slow  # one conversion each, 2-6 s
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_custom_layer_runs_in_the_formats_runtime(case, fmt, tmp_path):
    _need(fmt)
    model = case_model(case)
    result = export_model(
        model, tmp_path / fmt, fmt, metadata={"class_names": CLASS_NAMES}, checks=CHECK
    )
    check = result.verification
    assert check.passed and check.agreement == 1.0, check.line()
    assert check.max_abs_diff < FLOAT_ATOL, check.line()
    # Any batch size, not only the check's batches of 64.
    images = np.random.default_rng(5).integers(0, 256, (3, *SHAPE), dtype=np.uint8)
    got = predict(load_runtime(fmt, result.model_file), images, batch_size=1)
    want = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=FLOAT_ATOL)

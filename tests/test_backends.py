"""The builders and custom layers on Keras's JAX and PyTorch backends (issue 18, item 5).

Keras chooses its backend when first imported, so each backend runs in one
process of its own (`_backend_worker.py`) that does all its work at once. This
process, on TensorFlow, builds the representative models (LeNet-5; AlexNet, with
LRN; ResNet-20, with option-A shortcuts; Inception-ResNet-v2, with residual
scaling; Xception; and `custom_layers_net`, the zoo having no stochastic-pooling
model), gives their BatchNorms the statistics of the input, and saves weights,
input and softmax outputs; the worker loads the weights into the same model built on
its backend and its outputs must match to 1e-4. The worker also checks stochastic
pooling's sampling mode and that the TensorFlow-only features raise
`cnnzoo.backend.BackendError`. The backends' workers run side by side.

With ``CNNZOO_BACKEND_MATRIX=full`` the workers also build every registered model
(at its smallest input) and run it once; that takes several minutes per backend on
the 2-core CI machine, so CI runs the representative set only.

A backend whose package is not installed skips, naming the package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from _backend_worker import build
from test_precision import tiny_input_shape

import cnnzoo

WORKER = Path(__file__).with_name("_backend_worker.py")
FULL = os.environ.get("CNNZOO_BACKEND_MATRIX") == "full"
# The tolerance on the softmax outputs for the same weights.
ATOL = 1e-4
CLASSES = 10
# Images that set the BatchNorm statistics (`_calibrate_batch_norm`).
CALIBRATION = 8
# Each backend's models in one process; the default set takes ~1 minute per backend.
TIMEOUT_S = 3600 if FULL else 600

# Smallest inputs the builders allow, to keep the test fast (see tiny_input_shape).
COMPARED = {
    "lenet5": (32, 32, 1),
    "alexnet": (67, 67, 3),
    "resnet20": (32, 32, 3),
    "inception_resnet_v2": (75, 75, 3),
    "xception": (71, 71, 3),
    "custom_layers_net": (16, 16, 3),
}
# The package each backend needs, for the skip message.
PACKAGES = {"jax": "jax", "torch": "torch"}


def _entry(name, input_shape, **extra):
    return {"name": name, "kwargs": {"input_shape": input_shape, "classes": CLASSES}, **extra}


def _calibrate_batch_norm(model, x, rng):
    """Random BatchNorm scales and offsets, and moving statistics taken from `x`.

    With Keras's initial statistics (mean 0, variance 1) inference-mode BatchNorm
    hardly normalizes, and the deep nets' softmax saturates to one-hot, which would
    hide any difference. One training step at momentum 0 sets every moving
    statistic to its layer's batch statistic on `x`: a batch of CALIBRATION images,
    as with two the 1x1 maps of Inception-ResNet-v2 normalize to +-1 and saturate.
    """
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        if layer.scale:
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
        if layer.center:
            layer.beta.assign(rng.normal(0.0, 0.2, layer.beta.shape).astype("float32"))
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Weights, input and TensorFlow outputs of each compared model; the worker's spec."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference outputs are TensorFlow's: run pytest on the TF backend")
    root = tmp_path_factory.mktemp("backends")
    rng = np.random.default_rng(0)
    compare, outputs = [], {}
    for name, shape in COMPARED.items():
        entry = _entry(name, shape, weights=str(root / f"{name}.weights.h5"))
        entry["input"] = str(root / f"{name}.npy")
        keras.utils.set_random_seed(0)
        model = build(entry)
        _calibrate_batch_norm(
            model, rng.normal(0.0, 1.0, (CALIBRATION, *shape)).astype("float32"), rng
        )
        x = rng.normal(0.0, 1.0, (2, *shape)).astype("float32")
        model.save_weights(entry["weights"])
        np.save(entry["input"], x)
        outputs[name] = keras.ops.convert_to_numpy(model(x, training=False))
        compare.append(entry)
        keras.backend.clear_session()
    names = cnnzoo.list_models() if FULL else []
    spec = {"compare": compare, "build": [_entry(n, tiny_input_shape(n)) for n in names]}
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return root, outputs


def _worker_env(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":
        # Building a model on JAX compiles one random-initializer kernel per weight
        # shape; XLA's cheapest optimization level halved the build time of
        # ResNet-20 and Xception on the 2-core CI machine. Outputs stay within ATOL.
        fast = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {fast}".strip()
    return env


@pytest.fixture(scope="module")
def workers(reference):
    """Each installed backend's worker, all at once: backend -> (report, outputs)."""
    root, _ = reference
    running = {}
    for backend, package in PACKAGES.items():
        if importlib.util.find_spec(package) is None:
            continue
        (root / backend).mkdir()
        command = [sys.executable, str(WORKER), str(root / "spec.json"), str(root / backend)]
        # To a file: a pipe not read while waiting for the other worker could fill up.
        with open(root / backend / "stderr.txt", "w", encoding="utf-8") as log:
            running[backend] = subprocess.Popen(
                command, env=_worker_env(backend), stdout=log, stderr=subprocess.STDOUT
            )
    results = {}
    for backend, process in running.items():
        process.wait(timeout=TIMEOUT_S)
        log = (root / backend / "stderr.txt").read_text(encoding="utf-8", errors="replace")
        assert process.returncode == 0, f"{backend} worker failed:\n{log[-4000:]}"
        report = json.loads((root / backend / "report.json").read_text(encoding="utf-8"))
        with np.load(root / backend / "outputs.npz") as outputs:
            results[backend] = report, dict(outputs)
    return results


@pytest.fixture(scope="module", params=sorted(PACKAGES))
def run(request, workers):
    """(report, outputs) of the worker on one backend."""
    backend = request.param
    if backend not in workers:
        pytest.skip(f"Keras's {backend} backend needs `pip install {PACKAGES[backend]}`")
    report, outputs = workers[backend]
    assert report["backend"] == backend
    return report, outputs


@pytest.mark.slow
def test_outputs_match_tensorflow_for_the_same_weights(run, reference):
    report, outputs = run
    _, expected = reference
    assert sorted(outputs) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(np.sum(want, axis=-1), 1.0, atol=1e-5, err_msg=name)
        # A one-hot softmax would match whatever the logits; these are far from it.
        assert want.max() < 0.9, f"{name}: saturated softmax {want.max()}"
        np.testing.assert_allclose(
            outputs[name], want, rtol=0, atol=ATOL, err_msg=f"{name} on {report['backend']}"
        )


@pytest.mark.slow
@pytest.mark.skipif(
    not FULL, reason="every registered model: CNNZOO_BACKEND_MATRIX=full (~10 min a backend)"
)
def test_every_registered_model_builds_and_runs(run):
    report, _ = run
    assert sorted(report["build"]) == cnnzoo.list_models()
    for name, result in report["build"].items():
        assert result["shape"] == [1, CLASSES], name
        assert result["finite"], name


@pytest.mark.slow
def test_stochastic_pooling_samples_an_activation_of_each_window(run):
    report, _ = run
    assert report["sampled_from_windows"]


@pytest.mark.slow
def test_tensorflow_only_features_name_the_backend(run):
    report, _ = run
    assert set(report["tensorflow_only"]) == {"savedmodel", "mirrored", "custom_loop"}
    for feature, message in report["tensorflow_only"].items():
        assert message is not None, f"{feature} raised no BackendError on {report['backend']}"
        assert repr(report["backend"]) in message
        assert "KERAS_BACKEND=tensorflow" in message

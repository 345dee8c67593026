"""The models of tests/test_backends.py on one Keras backend, in a process of its own.

    KERAS_BACKEND=jax python tests/_backend_worker.py SPEC.json OUT_DIR

Keras picks its backend once, when it is first imported, so every backend other
than the test process's own runs here. SPEC.json (written by the test) lists

- ``compare``: models to build, load the TensorFlow-saved weights into and run on
  the saved input (inference mode); their outputs go to ``OUT_DIR/outputs.npz``;
- ``build``: models only to build and run once on zeros;

and every run, with the checks of the TensorFlow-only features and of stochastic
pooling's sampling mode, goes to ``OUT_DIR/report.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def custom_layers_net(input_shape=(16, 16, 3), classes=10):
    """A small net of every cnnzoo custom layer: the zoo has no stochastic-pooling model.

    Conv → StochasticPooling2D ("same") → LRN (Caffe's α) → a residual block whose
    shortcut is `ZeroPadShortcut` with max-pool subsampling and whose sum is
    `ResidualScaling` → `FusedBatchNormalization` → ``scaled_tanh`` →
    StochasticPooling2D ("valid") → global average pooling → softmax.
    """
    import keras
    from keras import layers

    import cnnzoo.layers as custom

    inputs = keras.Input(input_shape, name="images")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = custom.StochasticPooling2D(3, 2, padding="same", seed=0, name="pool1")(x)
    x = custom.LocalResponseNormalization(5, alpha=1e-2, alpha_convention="caffe", name="lrn1")(x)
    branch = layers.Conv2D(16, 3, strides=2, padding="same", name="conv2")(x)
    shortcut = custom.ZeroPadShortcut(16, 2, subsample="max_pool", name="shortcut")(x)
    x = custom.ResidualScaling(0.2, name="add")([shortcut, branch])
    x = custom.FusedBatchNormalization(name="bn")(x)
    x = layers.Activation(custom.scaled_tanh, name="tanh")(x)
    x = layers.Conv2D(16, 1, activation="relu", name="conv3")(x)
    x = custom.StochasticPooling2D(2, 2, seed=1, name="pool2")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="custom_layers_net")


def build(entry):
    """The model a spec entry names: a registry model with overrides, or the net above."""
    import cnnzoo

    if entry["name"] == "custom_layers_net":
        return custom_layers_net(**entry["kwargs"])
    return cnnzoo.build(entry["name"], **entry["kwargs"])


def _forward(model, x):
    """The model's outputs on `x` in inference mode, as NumPy.

    `predict` compiles the whole model once on JAX; calling the model eagerly
    compiles every operation of a new shape on its own, which took 2-3x longer
    for Inception-ResNet-v2 and Xception on the 2-core CI machine.
    """
    return model.predict(x, batch_size=len(x), verbose=0)


def _compare(entries, out_dir: Path):
    """Outputs of each model on its saved weights and input; per-model seconds."""
    import keras
    import numpy as np

    outputs, seconds = {}, {}
    for entry in entries:
        start = time.perf_counter()
        model = build(entry)
        model.load_weights(entry["weights"])
        x = np.load(entry["input"])
        outputs[entry["name"]] = _forward(model, x)
        seconds[entry["name"]] = round(time.perf_counter() - start, 1)
        keras.backend.clear_session()
    np.savez(out_dir / "outputs.npz", **outputs)
    return seconds


def _build_only(entries):
    """For each model: its output shape on a batch of zeros, finite or not, and seconds."""
    import keras
    import numpy as np

    runs = {}
    for entry in entries:
        start = time.perf_counter()
        model = build(entry)
        y = _forward(model, np.zeros((1, *entry["kwargs"]["input_shape"]), "float32"))
        runs[entry["name"]] = {
            "shape": list(y.shape),
            "finite": bool(np.isfinite(y).all()),
            "seconds": round(time.perf_counter() - start, 1),
        }
        keras.backend.clear_session()
    return runs


def _sampled_from_windows():
    """Whether stochastic pooling in training mode outputs one activation of each window."""
    import keras
    import numpy as np

    from cnnzoo.layers import StochasticPooling2D

    x = np.random.default_rng(0).uniform(0.1, 1.0, (2, 4, 4, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(StochasticPooling2D(2, 2, seed=0)(x, training=True))
    windows = x.reshape(2, 2, 2, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 2, 2, 4, 3)
    return bool(np.isclose(windows, y[..., None, :]).any(axis=-2).all())


def _tensorflow_only_errors(tmp: Path):
    """The message each TensorFlow-only feature raises here (None if it raised nothing)."""
    import keras

    from cnnzoo.backend import BackendError
    from cnnzoo.export import export_saved_model
    from cnnzoo.training.distributed import CustomLoop, make_strategy

    model = custom_layers_net()
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer="sgd", loss=loss)
    features = {
        "savedmodel": lambda: export_saved_model(model, tmp / "savedmodel", metadata={}),
        "mirrored": lambda: make_strategy("mirrored"),
        "custom_loop": lambda: CustomLoop(model, loss, make_strategy("default"), 2),
    }
    messages = {}
    for feature, call in features.items():
        try:
            call()
            messages[feature] = None
        except BackendError as e:
            messages[feature] = str(e)
    return messages


def main(spec_file: str, out: str) -> int:
    import keras

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    out_dir = Path(out)
    report = {
        "backend": keras.backend.backend(),
        "compare_seconds": _compare(spec["compare"], out_dir),
        "build": _build_only(spec["build"]),
        "sampled_from_windows": _sampled_from_windows(),
        "tensorflow_only": _tensorflow_only_errors(out_dir),
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

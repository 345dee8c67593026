"""A tiny training run for the distribution tests, also runnable as a separate process.

`python tests/_distributed_worker.py STRATEGY OUT.npz` trains the tiny model below
for `STEPS` steps on `make_strategy(STRATEGY)` and writes its final weights and
last logs to OUT.npz. Mirroring over logical CPUs and joining a multi-worker
cluster both have to happen before TensorFlow initializes, hence a fresh process.

The model has no BatchNorm (whose statistics are per replica) but has an L2 kernel
regularizer, and the optimizer has coupled L2 and a bias lr multiplier, so every
term the loop scales by the number of replicas is exercised.
"""

from __future__ import annotations

import os
import sys

import numpy as np

INPUT_SHAPE = (8, 8, 3)
CLASSES = 3
GLOBAL_BATCH = 8
STEPS = 4


def model():
    """Conv → global average pooling → softmax Dense, with fixed initial weights."""
    import keras

    inputs = keras.Input(INPUT_SHAPE)
    x = keras.layers.Conv2D(
        4,
        3,
        activation="relu",
        kernel_regularizer=keras.regularizers.L2(1e-2),
        name="conv",
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="fc")(x)
    net = keras.Model(inputs, outputs, name="tiny")
    rng = np.random.default_rng(0)
    net.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in net.get_weights()])
    return net


def optimizer():
    """SGDL2 with momentum, a visible coupled L2 and Caffe's doubled bias rate."""
    from cnnzoo.training.optimizer import SGDL2

    return SGDL2(learning_rate=0.1, momentum=0.9, l2=1e-2, lr_multipliers=[("bias$", 2.0)])


def loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy()


def arrays(steps: int = STEPS):
    """`steps` global batches of random images and labels, the same in every process."""
    rng = np.random.default_rng(1)
    n = steps * GLOBAL_BATCH
    images = rng.normal(0, 1, (n, *INPUT_SHAPE)).astype("float32")
    labels = rng.integers(0, CLASSES, n).astype("int32")
    return images, labels


def dataset(steps: int = STEPS):
    """The batches of `arrays`, in order, `GLOBAL_BATCH` at a time."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(arrays(steps)).batch(
        GLOBAL_BATCH, drop_remainder=True
    )


def train(strategy, steps: int = STEPS):
    """Train with `train_with_strategy`; returns (weights, logs of the last epoch)."""
    from cnnzoo.training.distributed import train_with_strategy

    net = train_with_strategy(
        model,
        optimizer,
        loss(),
        lambda: dataset(steps),
        strategy,
        steps,
        global_batch_size=GLOBAL_BATCH,
    )
    history = net.history.history
    return [np.asarray(w) for w in net.get_weights()], {k: v[-1] for k, v in history.items()}


def main(argv: list[str]) -> int:
    name, out = argv
    # The strategy first: it configures the devices / joins the cluster.
    from cnnzoo.training.distributed import is_chief, make_strategy

    strategy = make_strategy(name, cpu_replicas=2 if name == "mirrored" else None)
    weights, logs = train(strategy)
    np.savez(
        out,
        *weights,
        replicas=strategy.num_replicas_in_sync,
        chief=is_chief(strategy),
        loss=logs["loss"],
        accuracy=logs["accuracy"],
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))

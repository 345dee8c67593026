"""The TensorFlow contenders: each a ``run(config, channel)`` that sets up, then times windows.

Each runs in a worker process of its own (see `worker`); ``config`` is the command
line's options merged with the row's modifiers (`contenders.parse_contender`).
Everything is set up through cnnzoo's and Keras's public interfaces: a modifier
changes an argument (``jit_compile``, ``steps_per_execution``, the model's layers),
never the code that runs.
"""

from __future__ import annotations

from pathlib import Path

from bench.data import infer_images, write_synthetic_cifar10
from bench.protocol import TRAIN_REWARM, Channel, KerasClock, loop_windows, max_steps

ARCH = "resnet20"
RECIPE = "he2016_cifar"  # He et al. 2016 §4.2, the recipe `cnnzoo fit --arch resnet20` uses


def configure_tf(config: dict):
    """TensorFlow with the row's thread pools; returns the ``tensorflow`` module."""
    import tensorflow as tf

    if config.get("intra_threads"):
        tf.config.threading.set_intra_op_parallelism_threads(config["intra_threads"])
    if config.get("inter_threads"):
        tf.config.threading.set_inter_op_parallelism_threads(config["inter_threads"])
    return tf


def with_keras_batch_norm(model):
    """A copy of `model` whose `FusedBatchNormalization` layers are Keras's own.

    Same layer names, weights (copied) and outputs: what the ``kerasbn`` modifier
    times is the fused kernel's gain, through `keras.models.clone_model`.
    """
    import keras

    from cnnzoo.layers.batch_norm import FusedBatchNormalization

    def clone(layer):
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def _build(config: dict):
    """The zoo's ResNet-20 (``cnnzoo.build``), with Keras's BatchNormalization under kerasbn."""
    import cnnzoo

    model = cnnzoo.build(ARCH)
    return with_keras_batch_norm(model) if config.get("keras_bn") else model


def run_keras(config: dict, channel: Channel) -> None:
    """The bare Keras step: SGD momentum 0.9 on random in-memory tensors, ``model.fit``."""
    tf = configure_tf(config)
    import keras
    import numpy as np

    batch = config["batch_size"]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch * 8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, batch * 8).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True)
    ds = ds.repeat().prefetch(tf.data.AUTOTUNE)
    model = _build(config)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=bool(config.get("xla")),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
    clock = KerasClock(channel, config["warmup_steps"], TRAIN_REWARM, config["steps"], batch)
    model.fit(
        ds, epochs=1, steps_per_epoch=max_steps(config), callbacks=[clock.callback], verbose=0
    )


def run_fit(config: dict, channel: Channel) -> None:
    """``cnnzoo fit``'s path: `trainer.fit` with the clock as its last callback.

    Real CIFAR-10 with ``--data-dir``, else `data.write_synthetic_cifar10`'s files, read by the
    same reader. ``xla`` and ``speN`` are the run's ``jit_compile`` and
    ``steps_per_execution`` (`trainer.RunSpec`).
    """
    configure_tf(config)
    from cnnzoo.training import trainer
    from cnnzoo.training.recipes import get_recipe

    batch = config["batch_size"]
    clock = KerasClock(channel, config["warmup_steps"], TRAIN_REWARM, config["steps"], batch)
    scratch = Path(config["scratch"])
    data_dir = config.get("data_dir")
    clock.info["dataset"] = "cifar10" if data_dir else "cifar10 (synthetic files)"
    if not data_dir:
        data_dir = str(write_synthetic_cifar10(scratch / "data"))
    spec = trainer.RunSpec(
        arch=ARCH,
        recipe=get_recipe(RECIPE).for_arch(ARCH).override(batch_size=batch),
        model_dir=scratch / "run",
        data_dir=data_dir,
        max_eval_images=config["infer_batch_size"],
        steps=max_steps(config),
        jit_compile=True if config.get("xla") else "auto",
        steps_per_execution=config.get("steps_per_execution", 1),
        precision="mixed_bfloat16" if config.get("precision") == "bfloat16" else "float32",
    )
    trainer.fit(spec, verbose=0, callbacks=[clock.callback])


def trained_model_file(config: dict, images) -> Path:
    """A `.keras` file as `cnnzoo fit` leaves it: the zoo net with its preprocessing layers."""
    import numpy as np
    from cnnzoo.pipelines.sources import ArrayDataset

    from cnnzoo.model_io import ModelMetadata, save_trained
    from cnnzoo.training.modeling import make_model
    from cnnzoo.training.recipes import get_recipe

    recipe = get_recipe(RECIPE).for_arch(ARCH)
    labels = np.zeros(len(images), np.int64)
    names = tuple(f"class_{i}" for i in range(10))
    data = ArrayDataset("cifar10", (images, labels), (images, labels), names)
    model = make_model(ARCH, recipe, data, images)
    if config.get("keras_bn"):
        model = with_keras_batch_norm(model)
    path = Path(config["scratch"]) / "model.keras"
    meta = ModelMetadata(
        arch=ARCH,
        dataset="cifar10",
        class_names=list(names),
        input_shape=[32, 32, 3],
        recipe=recipe.as_dict(),
    )
    save_trained(model, path, meta)
    return path


def _batches(tf, images, size: int, dtype=None) -> list:
    return [tf.constant(images[i : i + size], dtype) for i in range(0, len(images), size)]


def run_predict(config: dict, channel: Channel) -> None:
    """``model.predict`` over in-memory uint8->float32 images."""
    configure_tf(config)
    images, _ = infer_images(config)
    bs, x = config["infer_batch_size"], images.astype("float32")
    model = _build(config)

    def window():
        model.predict(x, batch_size=bs, verbose=0)
        return len(x)

    def one_batch():
        model.predict(x[:bs], batch_size=bs, verbose=0)

    loop_windows(channel, one_batch, window, {"images": len(x)})


def _loop_batches(channel: Channel, fn, batches: list, images: int) -> None:
    """Windows of `fn` over every batch (its result fetched), one untimed batch before each."""

    def window():
        for b in batches:
            fn(b)
        return images

    loop_windows(channel, lambda: fn(batches[0]), window, {"images": images})


def run_call(config: dict, channel: Channel) -> None:
    """``model(x, training=False)`` in a ``tf.function`` (``jit_compile`` under xla)."""
    tf = configure_tf(config)
    images, _ = infer_images(config)
    model = _build(config)
    fn = tf.function(lambda x: model(x, training=False), jit_compile=bool(config.get("xla")))
    batches = _batches(tf, images, config["infer_batch_size"], tf.float32)
    _loop_batches(channel, lambda b: fn(b).numpy(), batches, len(images))


def run_evaluate(config: dict, channel: Channel) -> None:
    """``cnnzoo evaluate``'s path: `load_inference` of the file, `score_dataset` over it."""
    configure_tf(config)
    from cnnzoo.pipelines import datasets as pipe

    from cnnzoo.evaluation.evaluate import score_dataset
    from cnnzoo.model_io import load_inference

    images, labels = infer_images(config)
    bs = config["infer_batch_size"]
    path = trained_model_file(config, images)
    model, _ = load_inference(path, config.get("precision"))
    ds = pipe.eval_dataset(images, labels, bs)
    first = pipe.eval_dataset(images[:bs], labels[:bs], bs)

    def window():
        score_dataset(model, ds)
        return len(images)

    loop_windows(channel, lambda: score_dataset(model, first), window, {"images": len(images)})


def run_savedmodel(config: dict, channel: Channel) -> None:
    """The ``serving_default`` signature of `export_saved_model`'s export, uint8 batches."""
    tf = configure_tf(config)
    from cnnzoo.export import INPUT_NAME, SIGNATURE_KEY, export_saved_model

    images, _ = infer_images(config)
    out = Path(config["scratch"]) / "saved_model"
    export_saved_model(trained_model_file(config, images), out, precision=config.get("precision"))
    loaded = tf.saved_model.load(str(out))  # kept: the signature needs its variables
    serve = loaded.signatures[SIGNATURE_KEY]
    batches = _batches(tf, images, config["infer_batch_size"])

    def fetch(b):
        serve(**{INPUT_NAME: b})["probabilities"].numpy()

    _loop_batches(channel, fetch, batches, len(images))

"""The model a recipe trains: the architecture, its initialization, its preprocessing, compiled.

Conventions every trained cnnzoo model follows (README "Contributing"):

* input: float32 images with raw pixel values in [0, 255], shape (N, H, W, C);
  the recipe's preprocessing is the model's first layers;
* output: class *probabilities* (the builders' default ``softmax`` classifier, as
  keras.applications'), so losses and metrics take probabilities
  (``from_logits=False``), and `predict`, `evaluate` and exports read them as
  they are. Under a mixed-precision policy the classifier stays float32.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from cnnzoo.training.accumulation import with_accumulation
from cnnzoo.training.auxiliary import AuxiliaryLossModel, supports_aux_heads
from cnnzoo.training.optimizer import make_optimizer
from cnnzoo.training.precision import float32_outputs, loss_scaled
from cnnzoo.training.preprocessing import preprocessing_layers, with_preprocessing
from cnnzoo.training.recipe import Recipe
from cnnzoo.training.short_paths import with_short_paths


def loss_and_metrics(recipe: Recipe):
    """Loss and top-1/top-5 metrics for the recipe's targets.

    Integer labels, or one-hot ones when the recipe smooths them (Keras's label
    smoothing needs one-hot targets; `targets_map` makes them).
    """
    smoothing = recipe.regularization.label_smoothing
    if smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        metrics = [
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ]
    return loss, metrics


def targets_map(recipe: Recipe, classes: int):
    """A dataset map turning integer labels into what the loss expects (None: as they are)."""
    import tensorflow as tf

    if not recipe.regularization.label_smoothing:
        return None
    return lambda x, y: (x, tf.one_hot(y, classes))


def make_model(
    arch: str,
    recipe: Recipe,
    data,
    train_images: np.ndarray,
    steps_per_epoch: int = 1,
    seed: int = 0,
    compile_options: dict[str, Any] | None = None,
    accumulate: int = 1,
    short_paths: int = 0,
    **arch_options,
) -> keras.Model:
    """Build `arch` for `data`, initialize it, prepend the preprocessing and compile it.

    Under a mixed global dtype policy (`precision.precision_policy`) the outputs
    are made float32 and, for mixed_float16, the optimizer is loss-scaled.

    Args:
        arch: registered model name.
        recipe: resolved recipe, in iterations.
        data: the dataset or the run's inputs (for ``input_shape`` and ``num_classes``).
        train_images: images the preprocessing statistics come from (never the test set).
        steps_per_epoch: iterations per epoch (for epoch-denominated schedules).
        seed: seed of the recipe's initialization scheme.
        compile_options: further `keras.Model.compile` arguments (``jit_compile``,
            ``steps_per_execution``).
        accumulate: compute each batch's update as this many micro-batches
            (`accumulation.GradientAccumulationModel`; 1: the model as it is).
        short_paths: residual branches on per training batch
            (`short_paths.ShortPathModel`; 0: every unit, the model as it is).
        **arch_options: builder overrides.

    Returns:
        A compiled keras.Model taking raw pixels in [0, 255].
    """
    import cnnzoo

    h, w, c = data.input_shape
    pad = recipe.data.pad_input
    options = {"input_shape": (h + 2 * pad, w + 2 * pad, c), "classes": data.num_classes}
    if recipe.regularization.aux_loss_weight and supports_aux_heads(arch):
        options["aux_heads"] = True
    net = float32_outputs(cnnzoo.build(arch, **{**options, **arch_options}))
    if recipe.init:
        from cnnzoo.training.init_schemes import apply_init_scheme

        apply_init_scheme(net, recipe.init, seed=seed)
    layers = preprocessing_layers(recipe.data.preprocessing, train_images, pad=pad)
    model = with_preprocessing(net, layers)
    if len(model.outputs) > 1:
        model = AuxiliaryLossModel(model, recipe.regularization.aux_loss_weight)
    model = with_short_paths(model, short_paths, seed=seed)
    model = with_accumulation(model, accumulate)
    loss, metrics = loss_and_metrics(recipe)
    optimizer = loss_scaled(make_optimizer(recipe, steps_per_epoch))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **(compile_options or {}))
    build_optimizer(model)
    return model


def build_optimizer(model: keras.Model) -> None:
    """Create the optimizer's variables (slots, iteration count) before the first step.

    Keras builds an unbuilt optimizer inside the first traced training step, and
    TensorFlow traces a function again when variables were created while tracing
    it: the whole step was traced twice (ResNet-20's first step 7.7 s against
    4.1 s, 2-core Zen 3). Building it here creates the same variables, for the
    same `trainable_variables`, with the same initial values.
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)

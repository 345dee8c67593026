"""Mixed precision: Keras dtype policies, float32 classifier outputs, loss scaling.

``cnnzoo fit --precision`` takes one of `POLICIES`:

- ``float32``: everything in float32 (the default, and what the papers did).
- ``mixed_bfloat16``: layers compute in bfloat16, variables stay float32.
- ``mixed_float16``: layers compute in float16, variables stay float32, and the
  loss is scaled dynamically so that small float16 gradients do not flush to zero.

What stays float32 under the mixed policies, as the Keras mixed-precision guide
recommends:

- the classifier outputs: `float32_outputs` rebuilds the layers that produce the
  model's outputs (the ``predictions`` Dense with its softmax, and the auxiliary
  heads' ones) with the float32 policy, so the softmax, the probabilities and the
  loss are float32;
- the loss: Keras losses compute in ``keras.config.floatx()`` (float32);
- the variables (kernels, BatchNorm's gamma, beta, moving mean and variance):
  the mixed policies' variable dtype is float32, and Keras's BatchNormalization
  computes its batch statistics in float32 whatever the compute dtype;
- LRN's windowed sum of squares and its power, and stochastic pooling's
  probabilities (`cnnzoo.layers`), which cast to float32 internally.

Loss scaling (mixed_float16 only): wrap the optimizer with `loss_scaled` before
``model.compile``. It returns a `SyncedLossScaleOptimizer`, Keras's dynamic
``LossScaleOptimizer`` (initial scale 2**15, halved on a step with inf/NaN
gradients, which is skipped, doubled after 2000 finite steps) that also agrees
across replicas, and that a saved model restores; see `loss_scaled` for why
Keras's implicit wrapping in ``compile`` is not enough.

Typical use (build, wrap and compile inside the block; the layers keep the
policy they were built with, so training, saving and export may follow outside)::

    with precision_policy("mixed_float16"):
        net = float32_outputs(cnnzoo.build("resnet20"))  # before init schemes
        model = with_preprocessing(net, layers)
        optimizer = loss_scaled(SGDL2(learning_rate=0.1, momentum=0.9, l2=1e-4))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

from cnnzoo.variable_pairs import matched_pairs

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")

# The policy whose float16 gradients need loss scaling.
LOSS_SCALED_POLICY = "mixed_float16"


def check_policy(name: str) -> str:
    """Return `name` if it is one of `POLICIES`.

    Raises:
        ValueError: naming the bad value and the allowed ones.
    """
    if not isinstance(name, str) or name not in POLICIES:
        raise ValueError(f"unknown precision {name!r}; expected one of: {', '.join(POLICIES)}")
    return name


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[keras.DTypePolicy]:
    """Set Keras's global dtype policy to `name` for the block, then restore the previous one.

    Layers take the global policy when they are created, so build (and wrap) the
    model inside the block; training, saving and export afterwards keep it. The
    previous policy is restored also when the block raises.

    Args:
        name: one of `POLICIES`.

    Yields:
        The policy in force, a `keras.DTypePolicy`.

    Raises:
        ValueError: for a name not in `POLICIES` (before anything is changed).
    """
    check_policy(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield keras.config.dtype_policy()
    finally:
        keras.config.set_dtype_policy(previous)


def _is_float32(tensor) -> bool:
    return keras.backend.standardize_dtype(tensor.dtype) == "float32"


def float32_outputs(model: keras.Model) -> keras.Model:
    """`model` with the layers that produce its outputs rebuilt under the float32 policy.

    Under a mixed policy the classifier (a Dense with softmax, or a separate
    softmax Activation) would compute in float16/bfloat16; rebuilt with
    ``dtype="float32"`` it casts its input up and computes the logits' softmax, the
    probabilities and so the loss in float32. Every output is handled, so the
    auxiliary heads of GoogLeNet and Inception v3 are too.

    The rebuilt layers keep their names, configuration and weights (copied from
    the originals, so pretrained weights survive); all other layers are shared
    with `model`, which should not be used afterwards. The new functional model
    keeps `model`'s name, dtype policy (so ``compile`` still wraps the optimizer
    for loss scaling under ``mixed_float16``) and trainable flag.

    Args:
        model: a functional `keras.Model`.

    Returns:
        `model` itself when all its outputs are float32 already (float32 policy,
        or a model already passed through this function); otherwise the new model.

    Raises:
        ValueError: if `model` is not functional, or an output layer cannot be
            rebuilt alone (it is a nested model, is called more than once, or its
            output also feeds other layers).
    """
    outputs = getattr(model, "outputs", None)
    if not outputs or not hasattr(outputs[0], "_keras_history"):
        raise ValueError(
            f"float32_outputs needs a functional model (built from keras.Input), got "
            f"{type(model).__name__} {model.name!r}"
        )
    if all(_is_float32(t) for t in outputs):
        return model
    rebuilt = _rebuild_output_layers(model, outputs)
    new_outputs = []
    for t in outputs:
        layer, _, tensor_index = t._keras_history
        out = rebuilt.get(id(layer))
        new_outputs.append(t if out is None else keras.tree.flatten(out)[tensor_index])
    structure = model._outputs_struct if hasattr(model, "_outputs_struct") else None
    if structure is not None:
        new_outputs = keras.tree.pack_sequence_as(structure, new_outputs)
    elif len(new_outputs) == 1:
        new_outputs = new_outputs[0]
    inputs = model._inputs_struct if hasattr(model, "_inputs_struct") else model.inputs
    try:
        new_model = keras.Model(inputs, new_outputs, name=model.name)
    except ValueError as e:
        # The old layer stays in the graph when its output also feeds other layers.
        raise ValueError(
            f"cannot rebuild the output layers of {model.name!r} alone: an output "
            f"that also feeds other layers is not supported ({e})"
        ) from e
    new_model.dtype_policy = model.dtype_policy
    if not model.trainable:
        # Only then: the setter recurses, and would unfreeze layers frozen one by one.
        new_model.trainable = False
    return new_model


def _rebuild_output_layers(model: keras.Model, outputs) -> dict[int, Any]:
    """{id(old layer): new output} for each non-float32 output layer, rebuilt in float32."""
    rebuilt: dict[int, Any] = {}
    for t in outputs:
        layer, node_index, _ = t._keras_history
        if _is_float32(t) or id(layer) in rebuilt:
            continue
        if isinstance(layer, (keras.Model, keras.layers.InputLayer)):
            raise ValueError(
                f"output layer {layer.name!r} of {model.name!r} is a "
                f"{type(layer).__name__}; float32_outputs rebuilds plain layers only"
            )
        if len(layer._inbound_nodes) != 1:
            raise ValueError(
                f"output layer {layer.name!r} of {model.name!r} is called "
                f"{len(layer._inbound_nodes)} times; cannot rebuild it alone"
            )
        config = layer.get_config()
        config["dtype"] = "float32"
        new_layer = type(layer).from_config(config)
        node = layer._inbound_nodes[node_index]
        new_out = new_layer(*node.arguments.args, **node.arguments.kwargs)
        new_layer.set_weights(layer.get_weights())
        rebuilt[id(layer)] = new_out
    return rebuilt


def uses_loss_scaling(policy: str | keras.DTypePolicy | None = None) -> bool:
    """Whether `policy` (default: the global one) trains with loss scaling (mixed_float16)."""
    if policy is None:
        policy = keras.config.dtype_policy()
    name = policy if isinstance(policy, str) else policy.name
    return name == LOSS_SCALED_POLICY


@keras.saving.register_keras_serializable(package="cnnzoo")
class SyncedLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """`keras.optimizers.LossScaleOptimizer` that skips a step when *any* replica overflowed.

    Keras's wrapper checks the gradients for inf/NaN on each replica before the
    replicas' gradients are summed (our optimizers' update step sums them, see
    `cnnzoo.training.optimizer`). Measured on two mirrored CPU replicas under
    ``fit``: when only one replica's gradients overflow, the first replica's
    verdict wins, the step is applied and every weight becomes NaN. Here the
    verdict is all-reduced, so all replicas skip the step and halve the scale
    together. With one replica it is Keras's wrapper unchanged.

    Arguments: those of `keras.optimizers.LossScaleOptimizer`.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        if keras.backend.backend() != "tensorflow":
            return finite
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return finite
        overflowed = context.all_reduce(
            tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32)
        )
        return tf.equal(overflowed, 0.0)


def loss_scaled(
    optimizer: keras.optimizers.Optimizer,
    policy: str | keras.DTypePolicy | None = None,
) -> keras.optimizers.Optimizer:
    """`optimizer` wrapped for dynamic loss scaling under mixed_float16.

    ``model.compile`` wraps the optimizer in a plain
    ``keras.optimizers.LossScaleOptimizer`` by itself when the model's policy is
    mixed_float16. Wrap explicitly instead, with this function, because:

    - the saved compile config then holds the wrapper, so `load_trained` (e.g. a
      resumed checkpoint) restores it with its scale and the optimizer state; with
      Keras's implicit wrapping the reloaded model (whose functional wrapper takes
      the global policy at load time) gets the bare optimizer and its saved
      variables are skipped ("Skipping variable loading for optimizer");
    - it does not depend on the policy the outermost model (e.g.
      `AuxiliaryLossModel`) happened to be created under;
    - `SyncedLossScaleOptimizer` skips overflowing steps on all replicas together.

    Custom loops call ``optimizer.scale_loss`` and ``apply_gradients`` as usual.
    ``learning_rate`` and ``iterations`` of the wrapper are the inner optimizer's;
    a step whose gradients are not finite is skipped (``iterations`` does not
    advance) and the scale (initially 2**15) halved; it doubles after 2000
    finite steps.

    Args:
        optimizer: e.g. `cnnzoo.training.optimizer.SGDL2`.
        policy: the policy name or object; default: the global policy.

    Returns:
        A `SyncedLossScaleOptimizer` around `optimizer` under mixed_float16 (the
        optimizer itself if it is a LossScaleOptimizer already), else `optimizer`.
    """
    if not uses_loss_scaling(policy) or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return SyncedLossScaleOptimizer(optimizer, name="loss_scale_optimizer")


def moved_to_policy(trained: keras.Model, rebuilt: keras.Model) -> keras.Model:
    """`rebuilt` holding `trained`'s state: a checkpoint moved into another dtype policy.

    A run whose precision is chosen per session (``--precision auto``) resumes on a
    machine that picks float32 where its checkpoint was trained in mixed_bfloat16,
    or the other way round. Layers keep the policy they were built with, so the
    session builds the run's model anew under its own policy (`rebuilt`, compiled,
    its optimizer built) and takes over every variable: weights, BatchNorm's moving
    statistics, the optimizer's iteration count and momenta. All of them are
    float32 under both policies, so nothing is rounded. Not for mixed_float16,
    whose loss-scaling optimizer holds state the others lack.

    Returns:
        `rebuilt`.

    Raises:
        ValueError: when the two models' or optimizers' variables differ in number
            or shape (nothing is assigned then).
    """
    for model in (trained, rebuilt):
        if uses_loss_scaling(model.dtype_policy) or isinstance(
            model.optimizer, keras.optimizers.LossScaleOptimizer
        ):
            raise ValueError(
                f"cannot move a {LOSS_SCALED_POLICY} run into another policy: its "
                "loss-scaling state has no counterpart"
            )
    where = "moving the checkpoint into the session's policy"
    pairs = matched_pairs(rebuilt.weights, trained.weights, f"{where}: weights")
    pairs += matched_pairs(
        rebuilt.optimizer.variables, trained.optimizer.variables, f"{where}: optimizer state"
    )
    for target, source in pairs:
        target.assign(source)
    return rebuilt

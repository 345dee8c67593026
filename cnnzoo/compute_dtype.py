"""The dtype a model computes in: the `auto` choice, and a model moved to another one.

bfloat16 pays only where the hardware computes it: on a CPU with AVX-512 BF16 or
AMX, or a GPU of compute capability 8.0 or newer (Ampere on). Elsewhere TensorFlow
emulates it: ResNet-20 trains at 0.15x of float32 on an AVX2-only EPYC (README
"Mixed precision"). `auto_policy` picks accordingly and says why.

`in_policy` gives a trained model (saved in either precision) that computes in
another: the same layers and weights, rebuilt under the new policy, the classifier
outputs kept float32 so that probabilities and their dtype do not change.
"""

from __future__ import annotations

from typing import Any

import keras

from cnnzoo.hardware import cpu_info, describe

# Keras dtype policy for each precision a command takes ("bfloat16" is the mixed policy:
# float32 variables, bfloat16 arithmetic).
POLICY_OF = {
    "float32": "float32",
    "bfloat16": "mixed_bfloat16",
    "mixed_bfloat16": "mixed_bfloat16",
    "mixed_float16": "mixed_float16",
}
# The first CUDA compute capability with bfloat16 tensor-core arithmetic (Ampere).
BF16_GPU_CAPABILITY = (8, 0)


def _gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each visible GPU ([] without GPUs)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        found.append(tuple(capability) if capability else (0, 0))
    return found


def auto_policy(
    cpu: dict[str, Any] | None = None, gpus: list[tuple[int, int]] | None = None
) -> tuple[str, str]:
    """The policy `--precision auto` picks here, and why, in one phrase.

    Args:
        cpu: `hardware.cpu_info()` (read when None).
        gpus: compute capabilities of the GPUs (queried when None).

    Returns:
        ("mixed_bfloat16" or "float32", reason).
    """
    gpus = _gpu_capabilities() if gpus is None else gpus
    if gpus:
        if all(tuple(c) >= BF16_GPU_CAPABILITY for c in gpus):
            return "mixed_bfloat16", f"GPU compute capability {gpus[0]} computes bfloat16"
        return "float32", f"GPU compute capability {min(gpus)} has no bfloat16 arithmetic"
    cpu = cpu or cpu_info()
    if cpu["native_bf16"]:
        return "mixed_bfloat16", f"the CPU computes bfloat16 natively ({describe(cpu)})"
    return "float32", f"the CPU has no native bfloat16, which it would emulate ({describe(cpu)})"


def policy_for(precision: str) -> tuple[str, str]:
    """(Keras policy, reason) for a `--precision` value: a name of `POLICY_OF`, or "auto"."""
    if precision == "auto":
        return auto_policy()
    if precision not in POLICY_OF:
        raise ValueError(
            f"unknown precision {precision!r}; expected auto or one of: {', '.join(POLICY_OF)}"
        )
    return POLICY_OF[precision], "asked for"


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` and of the models nested in it, models and inputs left out."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _leaf_layers(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            found.append(layer)
    return found


def _output_layer_names(model: keras.Model) -> set[str]:
    """Names of the layers producing the outputs of `model` and of its nested models."""
    names = {t._keras_history[0].name for t in model.outputs}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names |= _output_layer_names(layer)
    return names


def in_policy(model: keras.Model, policy: str) -> keras.Model:
    """`model` computing under the Keras dtype `policy`, with its weights; outputs float32.

    Every layer (of nested models too) is rebuilt from its config under `policy`,
    except the layers producing the outputs, which compute in float32 as in
    training (`training.precision.float32_outputs`). Inputs keep their dtype
    (uint8 images stay uint8). Returns `model` itself when nothing changes.

    Args:
        model: a functional model (as `cnnzoo fit` saves, or `cnnzoo.build` returns).
        policy: a Keras policy or a name of `POLICY_OF` ("bfloat16").
    """
    name = POLICY_OF.get(policy, policy)
    outputs = _output_layer_names(model)

    def wanted(layer) -> str:
        return "float32" if layer.name in outputs else name

    if all(layer.dtype_policy.name == wanted(layer) for layer in _leaf_layers(model)):
        return model

    def rebuilt(layer):
        config = layer.get_config()
        config["dtype"] = keras.DTypePolicy(wanted(layer))
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=rebuilt, recursive=True)
    clone.set_weights(model.get_weights())
    return clone

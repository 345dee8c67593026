"""What a model costs: parameters, multiply-adds, a per-layer table, and the cards' figures.

Multiply-adds (multiply-accumulates, MACs) are counted the way He et al. 2016
Table 1 counts "FLOPs" ("multiply-adds"): only the weight layers, convolutions
and fully connected layers, one per weight per output position. Biases,
BatchNorm, activations, pooling, padding and element-wise additions are not
counted. Figures are per image (batch 1) and use the shapes each layer has in
the model's functional graph, so the model needs a fixed input size.

`card_multiply_adds` reads the registered models' figures from
``multiply_adds.json`` beside this module, which `tools/model_costs.py` writes
with `multiply_adds` and `tests/test_model_costs.py` recomputes.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import NamedTuple

import keras

# Layers whose MACs are output positions x kernel size: the kernel already
# holds (taps x input channels per group x output channels), or (taps x channels
# x multiplier) for depthwise ones, so groups and dilation need no special case.
_CONV_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_SEPARABLE_LAYERS = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
# A transposed convolution applies its whole kernel once per *input* position.
_TRANSPOSED_LAYERS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


class LayerRow(NamedTuple):
    """One call of one layer in `layer_table`.

    Attributes:
        name: layer name; layers of nested models are prefixed ``"outer/inner"``.
        class_name: the layer's class name.
        output_shape: output shape in the graph (batch dimension ``None``); a list
            of shapes for layers with several outputs.
        params: the layer's parameter count on its first call, 0 on later calls
            of a shared layer (so the column sums to the model's total).
        macs: multiply-adds per image of this call (0 for layers not counted).
    """

    name: str
    class_name: str
    output_shape: tuple | list
    params: int
    macs: int


def count_params(model) -> dict[str, int]:
    """Trainable, non-trainable and total parameter counts of a model.

    Args:
        model: a built `keras.Model` (or layer).

    Returns:
        ``{"trainable": int, "non_trainable": int, "total": int}``; for Keras
        models ``total == model.count_params()``.
    """
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return {
        "trainable": int(trainable),
        "non_trainable": int(non_trainable),
        "total": int(trainable + non_trainable),
    }


def _per_image(shape, layer) -> tuple:
    """Shape without the batch axis; every dimension must be known."""
    dims = tuple(shape[1:])
    if any(d is None for d in dims):
        raise ValueError(
            f"layer {layer.name!r} has output shape {tuple(shape)} with unknown "
            "dimensions; multiply-adds need a model built for a fixed input size "
            "(e.g. input_shape=(32, 32, 3))"
        )
    return dims


def layer_macs(layer, input_shape, output_shape) -> int:
    """Multiply-adds per image of one call of a layer.

    Args:
        layer: the layer.
        input_shape: shape of its (first) input in the call, batch axis first.
        output_shape: shape of its output in the call, batch axis first.

    Returns:
        Multiply-adds for a single image; 0 for layers that are not counted
        (anything but convolutions, depthwise / separable / transposed
        convolutions and Dense).
    """
    if isinstance(layer, _SEPARABLE_LAYERS):
        positions = math.prod(_per_image(output_shape, layer)[:-1])
        kernels = math.prod(layer.depthwise_kernel.shape) + math.prod(layer.pointwise_kernel.shape)
        return int(positions * kernels)
    if isinstance(layer, _TRANSPOSED_LAYERS):
        return int(math.prod(_per_image(input_shape, layer)[:-1]) * math.prod(layer.kernel.shape))
    if isinstance(layer, _CONV_LAYERS):
        positions = math.prod(_per_image(output_shape, layer)[:-1])
        return int(positions * math.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Dense):
        # Dense acts on the last axis; leading axes (e.g. tokens) repeat it.
        positions = math.prod(_per_image(output_shape, layer)[:-1])
        return int(positions * math.prod(layer.kernel.shape))
    return 0


def _graph(model):
    """The functional graph behind a model (a Sequential keeps one once built)."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                f"Sequential model {model.name!r} has no graph yet; build it with an "
                "input shape (keras.Input or model.build) first"
            )
        return graph
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"{type(model).__name__} {model.name!r} is not a functional or Sequential "
            "model; its layers' shapes are not known without running it"
        )
    return model


def _shape(tensors):
    shapes = [tuple(t.shape) for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def _rows(model, prefix: str, seen: set[int], top: bool) -> list[LayerRow]:
    graph = _graph(model)
    # Only the calls made inside this graph: a layer may also be called elsewhere.
    own_nodes = {id(n) for nodes in graph._nodes_by_depth.values() for n in nodes}
    rows = []
    for op in graph.operations:
        for node in op._inbound_nodes:
            if id(node) not in own_nodes:
                continue
            if isinstance(op, keras.layers.InputLayer):
                if top:
                    rows.append(LayerRow(op.name, "InputLayer", _shape(node.outputs), 0, 0))
                continue
            if isinstance(op, keras.Model):
                # Flatten: the nested model's layers, with its own graph's shapes.
                rows.extend(_rows(op, f"{prefix}{op.name}/", seen, top=False))
                continue
            params = 0
            if isinstance(op, keras.layers.Layer) and id(op) not in seen:
                seen.add(id(op))
                params = op.count_params() if op.built else 0
            inputs = node.input_tensors
            macs = layer_macs(op, inputs[0].shape if inputs else None, node.outputs[0].shape)
            rows.append(
                LayerRow(
                    f"{prefix}{op.name}", type(op).__name__, _shape(node.outputs), params, macs
                )
            )
    return rows


def layer_table(model) -> list[LayerRow]:
    """One row per layer call, in graph order, nested models flattened.

    Args:
        model: a functional or built Sequential `keras.Model`.

    Returns:
        List of `LayerRow` (name, class_name, output_shape, params, macs).

    Raises:
        ValueError: for a subclassed model, an unbuilt Sequential, or a weight
            layer whose output size is unknown.
    """
    return _rows(model, "", set(), top=True)


def multiply_adds(model) -> int:
    """Multiply-adds per image of a model: conv and fully connected layers only.

    BatchNorm, activations, pooling, padding and additions are not counted, as in
    He et al. 2016 Table 1's FLOPs. Nested models are counted once per call.

    Args:
        model: a functional or built Sequential `keras.Model` with a fixed input size.

    Returns:
        Multiply-accumulates for one image.
    """
    return sum(row.macs for row in layer_table(model))


def _fmt_shape(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def format_summary(model) -> str:
    """A text summary: parameter counts, multiply-adds per image and the layer table.

    Args:
        model: a functional or built Sequential `keras.Model` with a fixed input size.

    Returns:
        The summary, lines joined by newlines (what ``cnnzoo summary`` prints).
    """
    rows = layer_table(model)
    counts = count_params(model)
    macs = sum(r.macs for r in rows)
    header = ("layer", "class", "output shape", "params", "mult-adds")
    body = [
        (r.name, r.class_name, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells):
        left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True)]
        right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:], strict=True)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    out = [
        f"model: {model.name}",
        f"trainable params:     {counts['trainable']:,}",
        f"non-trainable params: {counts['non_trainable']:,}",
        f"total params:         {counts['total']:,}",
        f"multiply-adds/image:  {macs:,} ({macs / 1e6:.2f}M; conv and dense layers only)",
        rule,
        line(header),
        rule,
        *(line(b) for b in body),
        rule,
    ]
    return "\n".join(out)


COSTS_FILE = Path(__file__).with_name("multiply_adds.json")


@functools.cache
def card_multiply_adds() -> dict[str, int]:
    """Multiply-adds per image of each registered model's default configuration."""
    return json.loads(COSTS_FILE.read_text(encoding="utf-8"))

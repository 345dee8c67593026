"""Layer responses (He et al. 2016 §4.2, Fig. 7): std of each 3x3 layer's output after BN.

He et al.: "The responses are the outputs of each 3x3 layer, after BN and before
other nonlinearity (ReLU/addition)"; ResNets' responses are generally smaller
than their plain counterparts', and the deeper the net the smaller, supporting
that residual functions are closer to zero (seed 001 §4.2: "ResNet's layers
respond less to the input"). Each layer's std is taken over all its outputs
(images, positions and channels) of the test images. Where no BN follows a 3x3
convolution (pre-activation units) the convolution's own output is the response.
"""

from __future__ import annotations

import keras
import numpy as np

from cnnzoo.analysis.blocks import find_block_net, ordered_nodes
from cnnzoo.analysis.surgery import interpret


def response_tensors(net: keras.Model) -> list[tuple[str, object]]:
    """(layer name, tensor) of each 3x3 convolution's response in `net`, in graph order."""
    nodes = ordered_nodes(net)
    consumers = {}
    for node in nodes:
        for t in node.input_tensors:
            consumers.setdefault(id(t), []).append(node.operation)
    out = []
    for node in nodes:
        layer = node.operation
        if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (3, 3):
            tensor = node.outputs[0]
            after = consumers.get(id(tensor), [])
            if len(after) == 1 and isinstance(after[0], keras.layers.BatchNormalization):
                bn_node = next(n for n in nodes if n.operation is after[0])
                layer, tensor = after[0], bn_node.outputs[0]
            out.append((layer.name, tensor))
    return out


def response_model(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """A model returning the responses of `model`'s 3x3 layers, and their names."""
    net = find_block_net(model)
    named = response_tensors(net)
    source = model.inputs[0]
    images = keras.Input(shape=source.shape[1:], dtype=source.dtype)
    values = {}
    interpret(model, images, {}, values)
    return keras.Model(images, [values[id(t)] for _, t in named]), [n for n, _ in named]


def response_stds(model, images, batch_size=250, bar=None) -> dict[str, float]:
    """Std of each 3x3 layer's response over `images` (float64 running sums)."""
    probe, names = response_model(model)
    sums = np.zeros(len(names))
    squares = np.zeros(len(names))
    counts = np.zeros(len(names))
    for start in range(0, len(images), batch_size):
        outs = probe(images[start : start + batch_size], training=False)
        for i, out in enumerate(outs):
            a = np.asarray(out, dtype=np.float64)
            sums[i] += a.sum()
            squares[i] += np.square(a).sum()
            counts[i] += a.size
        if bar is not None:
            bar.add(1)
    mean = sums / counts
    std = np.sqrt(np.maximum(squares / counts - mean**2, 0.0))
    return dict(zip(names, std.tolist(), strict=True))


def figure(results: dict):
    """He et al. Fig. 7: std per layer in depth order (top) and sorted by magnitude (bottom)."""
    from cnnzoo.analysis.report import pyplot

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6))
    for label, stds in results["std"].items():
        values = list(stds.values())
        top.plot(range(1, len(values) + 1), values, marker=".", label=label)
        bottom.plot(
            range(1, len(values) + 1), sorted(values, reverse=True), marker=".", label=label
        )
    top.set(xlabel="layer index (original)", ylabel="std")
    bottom.set(xlabel="layer index (sorted by magnitude)", ylabel="std")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig

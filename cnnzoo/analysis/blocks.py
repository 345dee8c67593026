"""The residual blocks of a functional model, found by their layer names.

Every residual family of the zoo names a unit's layers ``conv{s}_block{b}_...``
(keras.applications' convention, `cnnzoo.models._residual`): the residual branch
``{unit}_{k}_...`` with k >= 1, the projection or zero-padding shortcut
``{unit}_0_...``, the sum ``{unit}_add`` and, in original units, the ReLU after it
``{unit}_out``. Plain twins (plain20..plain110, plain18/34) have the same units
without shortcut and sum. This module reads those names off a built or loaded
model, so the studies run on any residual model of the zoo without a copy of its
definition, and without changing a name (trained weights depend on them).

A `BlockGraph` cuts the model's graph into stem, blocks and head; each `Block`
knows the tensors entering and leaving it, and for residual units which input of
the sum is the residual branch.
"""

from __future__ import annotations

import dataclasses
import re

import keras

# conv{stage}_block{unit}: the unit prefix of every residual family of the zoo.
UNIT_NAME = re.compile(r"^(conv\d+_block\d+)_")


@dataclasses.dataclass(frozen=True)
class Block:
    """One unit of a residual (or plain) network.

    Attributes:
        name: the unit prefix, e.g. ``"conv2_block1"``.
        nodes: its graph nodes in an order that computes them.
        input: the tensor entering the unit.
        output: the tensor leaving it (the next unit's input).
        add: the node of the residual sum ``{name}_add``; None for a plain unit.
        branch_index: which input of the sum is the residual branch (the other is
            the shortcut); None for a plain unit.
    """

    name: str
    nodes: tuple
    input: object
    output: object
    add: object = None
    branch_index: int | None = None

    @property
    def residual(self) -> bool:
        """Whether the unit adds a shortcut to its branch."""
        return self.add is not None

    @property
    def same_shape(self) -> bool:
        """Whether the unit keeps its input's shape (it can be skipped or moved)."""
        return tuple(self.input.shape) == tuple(self.output.shape)


@dataclasses.dataclass(frozen=True)
class BlockGraph:
    """A functional model cut into stem, units and head.

    Attributes:
        net: the functional model whose graph this is.
        stem: nodes before the first unit.
        blocks: the units in order, each feeding the next.
        head: nodes after the last unit.
    """

    net: keras.Model
    stem: tuple
    blocks: tuple[Block, ...]
    head: tuple

    @property
    def names(self) -> list[str]:
        """The units' names in order."""
        return [b.name for b in self.blocks]


def ordered_nodes(model: keras.Model) -> list:
    """The nodes of a functional model that compute something, inputs first."""
    by_depth = model._nodes_by_depth  # Keras keeps no public list of a graph's nodes
    nodes = [n for depth in sorted(by_depth, reverse=True) for n in by_depth[depth]]
    return [n for n in nodes if n.operation is not None and not n.is_input]


def _producer(tensor):
    return tensor._keras_history.operation


def holds_blocks(model) -> bool:
    """Whether `model` is functional and has layers named like residual units."""
    if not hasattr(model, "_nodes_by_depth"):
        return False
    return any(UNIT_NAME.match(layer.name) for layer in model.layers)


def find_block_net(model: keras.Model) -> keras.Model:
    """The functional model holding the units: `model` itself or a model nested in it.

    A trained cnnzoo model is its preprocessing layers followed by the
    architecture as a nested model (`cnnzoo.training.preprocessing`).

    Raises:
        ValueError: no layer of `model` or of a model nested in it is named like a unit.
    """
    if holds_blocks(model):
        return model
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            try:
                return find_block_net(layer)
            except ValueError:
                continue
    raise ValueError(
        f"model {model.name!r} has no residual units: expected layers named "
        f"conv<stage>_block<unit>_... (the zoo's ResNets and plain nets)"
    )


def _boundary(name, nodes):
    """The one tensor entering and the one leaving the unit's nodes."""
    produced = {id(t) for n in nodes for t in n.outputs}
    consumed = {id(t) for n in nodes for t in n.input_tensors}
    entering = {id(t): t for n in nodes for t in n.input_tensors if id(t) not in produced}
    leaving = [t for n in nodes for t in n.outputs if id(t) not in consumed]
    if len(entering) != 1 or len(leaving) != 1:
        raise ValueError(
            f"unit {name}: expected one tensor entering and one leaving, got "
            f"{len(entering)} and {len(leaving)}; its layers are not one chain link"
        )
    return next(iter(entering.values())), leaving[0]


def _branch_index(name, add_node):
    # The branch is the input computed by a {name}_{k}_ layer, k >= 1; the shortcut
    # is the unit's input, its pre-activation or its {name}_0_ projection/padding.
    branch = re.compile(rf"^{re.escape(name)}_[1-9]\d*_")
    hits = [i for i, t in enumerate(add_node.input_tensors) if branch.match(_producer(t).name)]
    if len(add_node.input_tensors) != 2 or len(hits) != 1:
        raise ValueError(
            f"{name}_add: expected a sum of a shortcut and one branch ({name}_1_..), got "
            f"inputs from {[_producer(t).name for t in add_node.input_tensors]}"
        )
    return hits[0]


def _make_block(name, nodes):
    start, end = _boundary(name, nodes)
    adds = [n for n in nodes if n.operation.name == f"{name}_add"]
    if not adds:
        return Block(name, tuple(nodes), start, end)
    return Block(name, tuple(nodes), start, end, adds[0], _branch_index(name, adds[0]))


def block_graph(net: keras.Model) -> BlockGraph:
    """Cut `net` (a functional model with units, `find_block_net`) into stem, units, head.

    Raises:
        ValueError: a unit whose layers are not one link of a chain, a unit not fed
            by the one before it, or a sum that is not shortcut + branch.
    """
    nodes = ordered_nodes(net)
    groups: dict[str, list] = {}
    where = []
    for i, node in enumerate(nodes):
        match = UNIT_NAME.match(node.operation.name)
        if match:
            groups.setdefault(match.group(1), []).append(node)
            where.append(i)
    if not groups:
        raise ValueError(f"model {net.name!r} has no layer named conv<stage>_block<unit>_...")
    blocks = tuple(_make_block(name, group) for name, group in groups.items())
    for before, after in zip(blocks, blocks[1:], strict=False):
        if after.input is not before.output:
            raise ValueError(f"unit {after.name} is not fed by unit {before.name}")
    inside = set(range(where[0], where[-1] + 1))
    stray = [nodes[i].operation.name for i in inside if i not in where]
    if stray:
        raise ValueError(f"layers between units belong to no unit: {stray}")
    return BlockGraph(net, tuple(nodes[: where[0]]), blocks, tuple(nodes[where[-1] + 1 :]))

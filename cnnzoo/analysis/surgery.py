"""Block surgery: skip residual branches, route gradients, reorder units, on any zoo ResNet.

`BlockSurgery` rebuilds a model's graph layer by layer from its own nodes,
calling the *same* layer objects (so the weights are shared, never copied), with
each unit's sum replaced by a `BlockGate`:

* residual unit: ``shortcut + on * branch``; ``on = 0`` deletes the branch and
  keeps the shortcut (Veit et al. 2016 §4.1: "we remove the residual module from
  a single building block, leaving the skip connection untouched");
* plain unit of the same input and output shape: ``(1 - on) * input + on * unit(input)``;
  ``on = 0`` removes the unit and passes its input on (see `cnnzoo.analysis.lesion`
  for why this is the plain net's "deleted layer").

The gates are non-trainable variables: setting them changes the function without
rebuilding it, so one rebuilt model serves every deletion and path study. Two more
variables per gate choose where the *gradient* flows without changing the forward
values (Veit et al. §4.2's path sampling). `BlockSurgery.build(order)` chains the
units in another order (same-shape units only) for the reordering study.
"""

from __future__ import annotations

import keras
from keras import ops

from cnnzoo.analysis.blocks import Block, block_graph, find_block_net, ordered_nodes

GATE_MODES = ("residual", "plain")


class BlockGate(keras.layers.Layer):
    """A unit's output with a switch on its branch, and switches on its gradient routes.

    Called on ``[shortcut, branch]``. Forward: ``shortcut + on * branch``
    (``"residual"``) or ``(1 - on) * shortcut + on * branch`` (``"plain"``, where
    the "shortcut" is the unit's input and the "branch" its output). With ``on = 1``
    both equal the unit's own output exactly (``1 * b == b`` and ``x + 0 == x`` in
    floating point). ``grad_shortcut`` and ``grad_branch`` scale the gradient that
    flows back into each input, leaving the forward values as they are.
    """

    def __init__(self, mode: str = "residual", **kwargs):
        super().__init__(**kwargs)
        if mode not in GATE_MODES:
            raise ValueError(f"mode must be one of {GATE_MODES}, got {mode!r}")
        self.mode = mode
        scalar = {"shape": (), "initializer": "ones", "trainable": False}
        self.on = self.add_weight(name="on", **scalar)
        self.grad_shortcut = self.add_weight(name="grad_shortcut", **scalar)
        self.grad_branch = self.add_weight(name="grad_branch", **scalar)

    def call(self, inputs):
        shortcut, branch = inputs
        on, gs, gb = (
            ops.cast(v, branch.dtype) for v in (self.on, self.grad_shortcut, self.grad_branch)
        )
        # x' = sg(x) + g * (x - sg(x)): the value of x (x - x == 0 exactly), gradient g.
        shortcut = ops.stop_gradient(shortcut) + gs * (shortcut - ops.stop_gradient(shortcut))
        branch = ops.stop_gradient(branch) + gb * (branch - ops.stop_gradient(branch))
        if self.mode == "plain":
            return (1 - on) * shortcut + on * branch
        return shortcut + on * branch

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _run(nodes, values: dict, call=None) -> None:
    """Compute `nodes` from the tensors in `values` (id -> value), adding their outputs."""
    for node in nodes:
        args, kwargs = node.arguments.fill_in(values)
        out = call(node, args, kwargs) if call else node.operation(*args, **kwargs)
        for tensor, value in zip(node.outputs, keras.tree.flatten(out), strict=True):
            values[id(tensor)] = value


def interpret(model: keras.Model, inputs, replace: dict, values: dict | None = None):
    """Run `model`'s graph on `inputs`, calling ``replace[layer](args)`` for some layers.

    Nested functional models are run node by node too, so a replaced layer inside
    them (the architecture inside a trained model) is found. `values`, when given,
    collects every computed tensor by id (to read intermediate responses).

    Returns:
        The model's outputs (one tensor, or a list for several).
    """
    values = {} if values is None else values
    for tensor, value in zip(model.inputs, keras.tree.flatten(inputs), strict=True):
        values[id(tensor)] = value

    def call(node, args, kwargs):
        op = node.operation
        if op in replace:
            return replace[op](*args)
        if hasattr(op, "_nodes_by_depth"):
            return interpret(op, args[0], replace, values)
        return op(*args, **kwargs)

    _run(ordered_nodes(model), values, call)
    outputs = [values[id(t)] for t in model.outputs]
    return outputs[0] if len(outputs) == 1 else outputs


class BlockSurgery:
    """Gated, reorderable rebuilds of a residual (or plain) model of the zoo.

    Args:
        model: a built or loaded model: a registry net (`cnnzoo.build`) or a trained
            model (preprocessing layers then the net).

    Attributes:
        graph: the net's `BlockGraph`.
        gates: unit name -> its `BlockGate`; units that can be neither skipped nor
            gated (plain units that change the shape) have none.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.graph = block_graph(find_block_net(model))
        self.gates = {}
        for block in self.graph.blocks:
            if block.residual or block.same_shape:
                mode = "residual" if block.residual else "plain"
                self.gates[block.name] = BlockGate(mode, name=f"{block.name}_gate")

    @property
    def blocks(self) -> tuple[Block, ...]:
        """The units in their original order."""
        return self.graph.blocks

    @property
    def gated(self) -> list[str]:
        """Names of the units that have a gate (can be deleted), in order."""
        return [b.name for b in self.blocks if b.name in self.gates]

    def set_on(self, on) -> None:
        """Switch branches: `on` maps unit names to bools (absent: on), or is the on-units set."""
        for name, gate in self.gates.items():
            value = name in on if isinstance(on, set | frozenset) else on.get(name, True)
            gate.on.assign(1.0 if value else 0.0)

    def delete(self, names) -> None:
        """Delete the branches of `names` (keep their shortcuts); every other unit on."""
        unknown = sorted(set(names) - set(self.gates))
        if unknown:
            raise ValueError(f"units without a gate (cannot be deleted): {unknown}")
        self.set_on({name: name not in set(names) for name in self.gates})

    def route_gradient(self, through_branch=None) -> None:
        """Let the gradient flow through the branches of `through_branch` only.

        Every other gated unit passes the gradient through its shortcut only; None
        restores both routes everywhere. Forward values are unchanged (Veit et al.
        §4.2: "for those k blocks, we only propagate through the residual module;
        for the remaining n - k blocks, we only propagate through the skip connection").
        """
        for name, gate in self.gates.items():
            branch = through_branch is None or name in through_branch
            shortcut = through_branch is None or name not in through_branch
            gate.grad_branch.assign(1.0 if branch else 0.0)
            gate.grad_shortcut.assign(1.0 if shortcut else 0.0)

    def check_order(self, order) -> list[int]:
        """`order` as a list of unit indices; each position keeps its in/out shapes.

        Raises:
            ValueError: not a permutation, or a unit moved where its shapes do not fit.
        """
        order = [int(i) for i in order]
        n = len(self.blocks)
        if sorted(order) != list(range(n)):
            raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order}")
        for position, index in enumerate(order):
            here, moved = self.blocks[position], self.blocks[index]
            shapes = (tuple(moved.input.shape), tuple(moved.output.shape))
            if shapes != (tuple(here.input.shape), tuple(here.output.shape)):
                raise ValueError(
                    f"unit {moved.name} {shapes} cannot take the place of {here.name}: "
                    f"only units of the same input and output shape swap"
                )
        return order

    def _run_block(self, block: Block, x):
        values = {id(block.input): x}
        gate = self.gates.get(block.name)

        def call(node, args, kwargs):
            if node is block.add:
                pair = args[0]
                shortcut, branch = pair[1 - block.branch_index], pair[block.branch_index]
                return gate([shortcut, branch])
            return node.operation(*args, **kwargs)

        _run(block.nodes, values, call)
        out = values[id(block.output)]
        return gate([x, out]) if gate is not None and not block.residual else out

    def run_net(self, x, order=None, probe=None):
        """The net on `x`, gated, units in `order`; `probe` is added at the first unit's input."""
        order = self.check_order(order if order is not None else range(len(self.blocks)))
        values = {id(self.graph.net.inputs[0]): x}
        _run(self.graph.stem, values)
        h = values[id(self.blocks[0].input)]
        if probe is not None:
            h = keras.layers.Add(name="gradient_probe")([h, probe])
        for index in order:
            h = self._run_block(self.blocks[index], h)
        values[id(self.blocks[-1].output)] = h
        _run(self.graph.head, values)
        outputs = [values[id(t)] for t in self.graph.net.outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def build(self, order=None, probe: bool = False) -> keras.Model:
        """A functional model: the whole model (preprocessing included) with gated units.

        Args:
            order: unit indices in the order to chain them (default: as built).
            probe: add a second input, zeros of the first unit's input shape, added
                there: the gradient with respect to it is the gradient arriving at
                the residual part's input (`cnnzoo.analysis.paths`).

        Returns:
            A keras.Model sharing every layer (and weight) with the original.
        """
        source = self.model.inputs[0]
        images = keras.Input(shape=source.shape[1:], dtype=source.dtype, name="images")
        inputs = [images]
        probe_input = None
        if probe:
            probe_input = keras.Input(shape=self.blocks[0].input.shape[1:], name="probe")
            inputs.append(probe_input)
        net = self.graph.net

        def run(x):
            return self.run_net(x, order, probe_input)

        outputs = run(images) if self.model is net else interpret(self.model, images, {net: run})
        return keras.Model(inputs if probe else images, outputs, name=f"{self.model.name}_gated")

"""Training a ResNet on short paths only (Veit et al. 2016 §4.2, issue 15 item 5).

Veit et al. read a ResNet of n residual units as 2^n paths whose lengths are
binomial, and find that the gradient reaching the input comes almost entirely from
short ones (5-17 units of 54). To check that the long paths are not needed for
training either, they retrained ResNet-110 with each mini-batch keeping only a
random subset of 23 of its 54 units (the others pass their shortcut only), so that
no path was longer than 23, and reported 5.96% error against 6.10% for the same net
trained whole.

`ShortPathModel` does that for any residual model of the zoo: each training batch
switches on `branches` residual branches drawn at random (without replacement) and
leaves the other units as their shortcuts, through `cnnzoo.analysis.surgery`'s gates
(the rebuilt graph shares every layer, so the net's own weights train). Evaluation,
prediction and the saved net are the whole net, every unit on. The branches that are
off are still computed (multiplied by 0): the saving is in path length, not time.
"""

from __future__ import annotations

import keras
from keras import ops

from cnnzoo.training.net_wrapper import NetWrapper


@keras.saving.register_keras_serializable(package="cnnzoo")
class ShortPathModel(NetWrapper):
    """Wraps a residual net: each training batch keeps `branches` random units' branches on.

    Args:
        net: the model to train (its inputs, outputs and weights are the wrapper's).
        branches: residual branches on per training batch, 1..n (n: the net's units).
        seed: seed of the draws. Batch i's draw is a function of (seed, i), i the
            optimizer's iteration count, so a resumed run draws what the
            uninterrupted one would have.
    """

    CONFIG_KEYS = ("branches", "seed")
    TRAINING_ONLY = True

    def __init__(self, net: keras.Model, branches: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        from cnnzoo.analysis.surgery import BlockSurgery

        surgery = BlockSurgery(net)
        self.gates = [g for g in surgery.gates.values() if g.mode == "residual"]
        check_branches(int(branches), len(self.gates), net.name)
        self.net = net
        self.branches = int(branches)
        self.seed = int(seed)
        self.gated = surgery.build()
        self.built = True  # the wrapped net is; saving must not think otherwise

    def call(self, inputs, training=False):
        if not training:
            return self.net(inputs, training=False)
        on = self.draw(self.optimizer.iterations)
        for i, gate in enumerate(self.gates):
            gate.on.assign(on[i])
        return self.gated(inputs, training=True)

    def draw(self, step):
        """Batch `step`'s float 0/1 vector over the units: `branches` ones at random places."""
        import tensorflow as tf

        n = len(self.gates)
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        scores = tf.random.stateless_uniform((n,), seed=seed)
        ranks = ops.argsort(ops.argsort(scores))  # each unit's rank among n uniforms
        return ops.cast(ranks < self.branches, "float32")


def check_branches(branches: int, units: int, name: str) -> None:
    """Refuse a count the net cannot take, naming the range.

    Raises:
        ValueError: the net has no residual units, or `branches` is outside 1..units.
    """
    if units == 0:
        raise ValueError(f"{name!r} has no residual units: short-path training needs a ResNet")
    if not 1 <= branches <= units:
        raise ValueError(
            f"--short-paths must be 1..{units} ({name!r} has {units} units), got {branches}"
        )


def check_short_paths(branches: int, accumulate: int, strategy: str) -> None:
    """Refuse what a short-path run cannot combine with, naming it.

    The gates are switched per batch inside the step: one replica and one
    micro-batch per step.

    Raises:
        ValueError: a negative count, ``--accumulate`` above 1 or a distributed strategy.
    """
    if branches < 0:
        raise ValueError(f"--short-paths must be >= 0 (0: every unit), got {branches}")
    if branches and accumulate != 1:
        raise ValueError(
            f"--short-paths trains without --accumulate (got --accumulate {accumulate})"
        )
    if branches and strategy != "default":
        raise ValueError(f"--short-paths trains with the default strategy, not {strategy!r}")


def with_short_paths(model: keras.Model, branches: int, seed: int = 0) -> keras.Model:
    """`model` wrapped to train on `branches` random units per batch (as it is for 0)."""
    if not branches:
        return model
    return ShortPathModel(model, branches, seed=seed, name=model.name)

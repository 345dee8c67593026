"""SGD with the papers' weight decay: an L2 term added to the gradient.

Caffe, Torch and the papers of this zoo apply weight decay by adding
``weight_decay * w`` to the gradient before momentum. Keras's `weight_decay`
argument instead shrinks the weights directly (decoupled, as in AdamW), which
with momentum 0.9 is roughly ten times weaker. This optimizer restores the
papers' semantics without adding regularizers to the architecture or terms to
the reported loss.
"""

from __future__ import annotations

import re

import keras


class _CoupledL2:
    """Coupled L2 decay and per-variable learning-rate multipliers for a Keras optimizer.

    Mixed in before the Keras optimizer class: the gradient each variable's update
    sees is ``mult * (g + l2 * w)``, whatever the update rule does with it after.

    Args:
        l2: decay coefficient (the papers' "weight decay", e.g. 1e-4).
        decay_pattern: regex on variable paths selecting decayed variables;
            by default convolution and dense kernels, not biases or BatchNorm.
        lr_multipliers: ``[(regex, multiplier), ...]`` on variable paths; the
            first match scales that variable's gradient (Caffe's ``lr_mult``; the
            thesis recipes train biases at twice the rate). For SGD, whose velocity
            accumulates lr * gradient, that is exactly a per-variable rate.
        **kwargs: the Keras optimizer's arguments (learning_rate, momentum, ...).
    """

    def __init__(
        self,
        l2: float = 0.0,
        decay_pattern: str = r"kernel$",
        lr_multipliers: list | tuple = (),
        **kwargs,
    ):
        if kwargs.get("weight_decay"):
            raise ValueError(
                f"{type(self).__name__} applies `l2` itself; do not also pass weight_decay"
            )
        super().__init__(**kwargs)
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.l2 = float(l2)
        self.decay_pattern = decay_pattern
        self._decay_regex = re.compile(decay_pattern)
        self.lr_multipliers = [(str(p), float(m)) for p, m in lr_multipliers]
        self._multiplier_regexes = [(re.compile(p), m) for p, m in self.lr_multipliers]

    def _decays(self, variable) -> bool:
        return self.l2 > 0 and self._decay_regex.search(variable.path) is not None

    def _multiplier(self, variable) -> float:
        for regex, mult in self._multiplier_regexes:
            if regex.search(variable.path):
                return mult
        return 1.0

    def _adjust(self, g, v, l2):
        if g is None:
            return g
        if self._decays(v):
            g = g + l2 * v
        mult = self._multiplier(v)
        return g * mult if mult != 1.0 else g

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Under tf.distribute this runs on each replica, before Keras sums the
        # replicas' gradients: each adds its share, so the sum holds l2 * w once
        # (measured: adding all of it made 2 mirrored replicas decay twice as fast).
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        l2 = self.l2 / replicas if replicas > 1 else self.l2
        grads = [self._adjust(g, v, l2) for g, v in zip(grads, trainable_variables, strict=True)]
        return super()._backend_update_step(grads, trainable_variables, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "l2": self.l2,
                "decay_pattern": self.decay_pattern,
                "lr_multipliers": [list(pm) for pm in self.lr_multipliers],
            }
        )
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class SGDL2(_CoupledL2, keras.optimizers.SGD):
    """SGD with momentum, coupled L2 weight decay and per-variable learning-rate multipliers.

    The update is Krizhevsky et al.'s (2012 §5) and Caffe's:
    v <- momentum * v - lr * mult * (g + l2 * w);  w <- w + v.
    Arguments: those of `_CoupledL2` and `keras.optimizers.SGD`.
    """


@keras.saving.register_keras_serializable(package="cnnzoo")
class RMSpropL2(_CoupledL2, keras.optimizers.RMSprop):
    """RMSProp (Szegedy et al. 2015 §8: decay 0.9, epsilon 1.0) with coupled L2 decay.

    Arguments: those of `_CoupledL2` and `keras.optimizers.RMSprop`.
    """


# --------------------------------------------------------------------------- the table
# A recipe's optimizer section kind -> ``(section, common arguments) -> optimizer``.
OPTIMIZERS = {
    "sgd": lambda section, common: SGDL2(momentum=section.momentum, **common),
    "rmsprop": lambda section, common: RMSpropL2(
        rho=section.rho, epsilon=section.epsilon, **common
    ),
}


def make_optimizer(recipe, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """The recipe's optimizer with its schedule, coupled L2 decay and lr multipliers.

    Args:
        recipe: a `Recipe` in iterations (`Recipe.in_steps`).
        steps_per_epoch: iterations per epoch (for epoch-denominated schedules).
    """
    from cnnzoo.training.schedules import learning_rate

    section = recipe.optimizer
    common = {
        "learning_rate": learning_rate(recipe.schedule, steps_per_epoch),
        "l2": recipe.regularization.weight_decay,
        "lr_multipliers": section.lr_multipliers,
        "global_clipnorm": section.clip_norm or None,
    }
    return OPTIMIZERS[section.kind](section, common)

"""Training with auxiliary classifiers (GoogLeNet's two, Inception v3's one).

The builders return ``[main, aux1, ...]`` when asked for auxiliary heads. During
training the loss is ``main + w * sum(aux)`` (Szegedy et al. 2014 §5: w = 0.3),
while metrics, evaluation, export and prediction see the main output alone.
Keras would name per-output metrics ``predictions_accuracy`` and so on; wrapping
the net and overriding `compute_loss`/`compute_metrics` keeps the single-output
names (``loss``, ``accuracy``) that the callbacks, logs and plots rely on.
"""

from __future__ import annotations

import keras

from cnnzoo import registry
from cnnzoo.training.net_wrapper import NetWrapper


def supports_aux_heads(arch: str) -> bool:
    """Whether the builder of `arch` takes an ``aux_heads`` option."""
    return "aux_heads" in registry.builder_options(arch)


@keras.saving.register_keras_serializable(package="cnnzoo")
class AuxiliaryLossModel(NetWrapper):
    """Wraps a multi-output net: loss = main + `aux_loss_weight` × each auxiliary loss.

    Args:
        net: a model whose first output is the classifier and whose other outputs
            are auxiliary classifiers of the same labels.
        aux_loss_weight: weight of each auxiliary loss.
    """

    CONFIG_KEYS = ("aux_loss_weight",)

    def __init__(self, net: keras.Model, aux_loss_weight: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        if len(net.outputs) < 2:
            raise ValueError(f"{net.name!r} has a single output: no auxiliary heads to weigh")
        self.net = net
        self.aux_loss_weight = float(aux_loss_weight)
        self.built = True  # the wrapped net is; saving must not think otherwise

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        main, *aux = y_pred
        # The compiled loss (built for one output) plus any regularization losses.
        total = super().compute_loss(x, y, main, sample_weight, training)
        for head in aux:
            total = total + self.aux_loss_weight * self._compile_loss(y, head, sample_weight)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, y_pred[0], sample_weight)

    def main_output_model(self) -> keras.Model:
        """The net without its auxiliary heads (shares the weights)."""
        # One input as a tensor, not a list of one: called with an image batch, a
        # list-input model warns that the structure does not match, every call.
        inputs = self.net.inputs[0] if len(self.net.inputs) == 1 else self.net.inputs
        return keras.Model(inputs, self.net.outputs[0], name=self.net.name)


def inference_model(model: keras.Model) -> keras.Model:
    """`model` as evaluation, export and prediction see it: the main output only."""
    if isinstance(model, AuxiliaryLossModel):
        return model.main_output_model()
    return model

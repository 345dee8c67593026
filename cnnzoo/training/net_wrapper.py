"""The base of the training wrappers that hold one net and save with it."""

from __future__ import annotations

import keras


class NetWrapper(keras.Model):
    """A `keras.Model` that wraps ``self.net`` and adds training behaviour around it.

    Saving writes the net inside the wrapper's config, with the subclass's own
    arguments named in `CONFIG_KEYS` (attributes of the same names), so that
    `from_config` rebuilds ``cls(net, **those)``.
    """

    CONFIG_KEYS: tuple[str, ...] = ()
    # True where the wrapper only changes how the net trains: evaluation, export and
    # the saved model are then the net alone (`training_net`).
    TRAINING_ONLY: bool = False

    def get_config(self):
        return {
            **super().get_config(),
            "net": keras.saving.serialize_keras_object(self.net),
            **{key: getattr(self, key) for key in self.CONFIG_KEYS},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        net = keras.saving.deserialize_keras_object(config.pop("net"), custom_objects)
        return cls(net, **config)


def training_net(model: keras.Model) -> keras.Model:
    """The net inside `model`'s training-only wrappers (what evaluation and export see)."""
    while isinstance(model, NetWrapper) and model.TRAINING_ONLY:
        model = model.net
    return model

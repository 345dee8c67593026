"""Layers the papers need and Keras does not ship; all serializable without custom_objects.

Importing this package registers every layer with `keras.saving`, so a saved
``.keras`` file that uses them loads with `keras.saving.load_model` alone.
"""

from cnnzoo.layers.shortcuts import ZeroPadShortcut

__all__ = ["ZeroPadShortcut"]

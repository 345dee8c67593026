"""Which parts of cnnzoo need Keras's TensorFlow backend, and the error that says so.

The builders and custom layers run on every Keras 3 backend (TensorFlow, JAX,
PyTorch; tests/test_backends.py). The tf.data pipelines do too: Keras's `fit`,
`evaluate` and `predict` take a `tf.data.Dataset` on any backend, so `cnnzoo fit`
trains on JAX and PyTorch with the default strategy. What traces the model into a
TensorFlow graph or runs it under `tf.distribute` does not: the SavedModel export
(its signature calls the model on TensorFlow tensors) and the mirrored and
multi-worker strategies (`cnnzoo.training.distributed`). Those call
`require_tensorflow` first, so that another backend fails at once, naming itself
and the feature, instead of deep inside a trace.
"""

from __future__ import annotations


class BackendError(RuntimeError):
    """A TensorFlow-only feature was used with Keras on another backend."""


def require_tensorflow(feature: str) -> None:
    """Raise unless Keras runs on its TensorFlow backend.

    Args:
        feature: what needs TensorFlow, for the message, e.g. ``"the SavedModel export"``.

    Raises:
        BackendError: Keras runs on another backend (``KERAS_BACKEND``).
    """
    # Imported here: the modules that call this import Keras only when they run.
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise BackendError(
            f"{feature} needs Keras's TensorFlow backend, but Keras runs on {backend!r} here "
            "(KERAS_BACKEND or ~/.keras/keras.json); run it with KERAS_BACKEND=tensorflow"
        )

"""Gradient accumulation: one update of a batch computed as N micro-batches, one at a time.

A net too deep for its batch's activations to fit in memory (ResNet-1202 at He et
al.'s batch 128 needs more than a 24 GiB machine has: README "Depth series") can
still take the batch's update: `GradientAccumulationModel` splits each batch into
``micro_batches`` equal slices, runs forward and backward on one slice at a time (a
``tf.while_loop``, so only one slice's activations are alive), averages the slices'
gradients and applies them once.

What stays exactly as without it: the mean of the slices' mean losses is the batch's
mean loss, so the averaged gradient is the batch's gradient, and the optimizer sees
it once per batch. Its iteration counter, the learning-rate schedule, the coupled L2
decay (`optimizer.SGDL2` adds ``l2 * w`` once per update), the data order, the
checkpoints and the callbacks all count updates, as before.

What differs: BatchNormalization normalizes each micro-batch with that micro-batch's
mean and variance (statistics of batch/N images, not of the batch: Ioffe & Szegedy
2015 §3.1's "mini-batch" is the slice), and its moving averages take N steps per
update. For a net without BatchNormalization the update equals the full batch's to
float rounding (tests/test_accumulation.py); with it, it is the update of a batch
whose BN "ghost batches" (Hoffer et al. 2017 §4) are batch/N.
"""

from __future__ import annotations

import keras

from cnnzoo.training.net_wrapper import NetWrapper


@keras.saving.register_keras_serializable(package="cnnzoo")
class GradientAccumulationModel(NetWrapper):
    """Wraps a single-output net: each training batch is taken as `micro_batches` slices.

    Args:
        net: the model to train (its inputs, outputs and weights are the wrapper's).
        micro_batches: slices per batch (>= 1); every training batch must split evenly.
    """

    CONFIG_KEYS = ("micro_batches",)
    TRAINING_ONLY = True

    def __init__(self, net: keras.Model, micro_batches: int, **kwargs):
        super().__init__(**kwargs)
        if int(micro_batches) < 1:
            raise ValueError(f"micro_batches must be >= 1, got {micro_batches}")
        if len(net.outputs) != 1:
            raise ValueError(
                f"{net.name!r} has {len(net.outputs)} outputs: gradient accumulation "
                "trains single-output nets (no auxiliary heads)"
            )
        self.net = net
        self.micro_batches = int(micro_batches)
        self.built = True  # the wrapped net is; saving must not think otherwise

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def _slice_gradients(self, x, y, weight):
        """Loss-tracked, metric-updated gradients of one slice (Keras's `train_step`'s own)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weight)
            # As Keras's train_step: the "loss" the logs and callbacks read.
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            scaled = self.optimizer.scale_loss(loss)
        self.compute_metrics(x, y, y_pred, sample_weight=weight)
        return tape.gradient(scaled, self.trainable_weights)

    def train_step(self, data):
        import tensorflow as tf

        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        n = self.micro_batches
        size = tf.shape(x)[0] // n
        tf.debugging.assert_equal(
            size * n, tf.shape(x)[0], message=f"a training batch must split into {n} slices"
        )

        def part(t, i):
            return None if t is None else t[i * size : (i + 1) * size]

        def body(i, sums):
            grads = self._slice_gradients(part(x, i), part(y, i), part(weight, i))
            return i + 1, [s + g for s, g in zip(sums, grads, strict=True)]

        zeros = [tf.zeros_like(w) for w in self.trainable_weights]
        # One slice at a time: that is the memory saving.
        _, sums = tf.while_loop(
            lambda i, _: i < n, body, (tf.constant(0), zeros), parallel_iterations=1
        )
        grads = [s / n for s in sums]
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self.get_metrics_result()


def with_accumulation(model: keras.Model, micro_batches: int) -> keras.Model:
    """`model` wrapped to accumulate `micro_batches` slices per update (as it is for 1)."""
    if micro_batches == 1:
        return model
    return GradientAccumulationModel(model, micro_batches, name=model.name)


def check_accumulation(micro_batches: int, batch_size: int, strategy: str) -> None:
    """Refuse a split the run cannot make, naming what would work.

    Raises:
        ValueError: `batch_size` does not split into `micro_batches` equal slices, or
            the run is distributed (`distributed.CustomLoop` has a step of its own).
    """
    if micro_batches < 1:
        raise ValueError(f"--accumulate must be >= 1, got {micro_batches}")
    if batch_size % micro_batches:
        raise ValueError(
            f"batch size {batch_size} does not split into {micro_batches} equal "
            "micro-batches: --accumulate must divide the batch size"
        )
    if micro_batches > 1 and strategy != "default":
        raise ValueError(
            f"--accumulate is not supported with the {strategy!r} strategy yet; "
            "train on the default strategy"
        )

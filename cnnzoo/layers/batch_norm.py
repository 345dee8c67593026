"""BatchNormalization computed by TensorFlow's fused kernel.

Keras 3's `keras.layers.BatchNormalization` computes the batch moments and the
normalization with a dozen element-wise TensorFlow ops, forward and backward
(Keras 2's ``fused=True`` is gone). TensorFlow's ``FusedBatchNormV3`` does each
direction in one op. Measured with ``tools/bench_train.py`` on the 2-core CI
machine, ResNet-20 at batch 128: training ~15% faster, the exported SavedModel's
inference 1.6x.

The layer is Keras's — same arguments, weights, variable names, moving-statistics
update and outputs to float rounding — and falls back to Keras's own code wherever
the fused kernel does not apply: other backends, inputs that are not 4-D
channels-last, masks, ``renorm``, and ``synchronized=True`` (cross-replica
statistics, `cnnzoo fit --sync-bn`).

Under ``mixed_bfloat16`` the kernel takes and returns bfloat16 (scale, offset and
statistics stay float32, as oneDNN's bf16 kernel computes them). Keras computes
normalization in float32 because of float16's narrow range (keras-core pull request
412); bfloat16 has float32's range, so that reason does not hold for it, and the
casts around every BatchNorm kept oneDNN on its float32 kernel between bf16
convolutions (issue 22: ResNet-20 training 721 -> 1,047 img/s on an AMX CPU).
float16 keeps the float32 computation.
"""

from __future__ import annotations

import keras

# Compute dtypes the fused kernel is fed directly; others (float16) are computed in float32.
NATIVE_DTYPES = frozenset({"float32", "bfloat16"})


@keras.saving.register_keras_serializable(package="cnnzoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` on TensorFlow's fused kernel (4-D NHWC inputs).

    Statistics are computed in float32 whatever the compute dtype (mixed
    precision), as Keras does; the normalized tensor is bfloat16 under
    ``mixed_bfloat16``, float32 otherwise. The moving variance is updated with the biased
    batch variance, as Keras does; the fused kernel's is unbiased (Bessel's
    correction), so it is rescaled by (n - 1) / n.
    """

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not getattr(self, "synchronized", False)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(
            inputs, self.compute_dtype if self.compute_dtype in NATIVE_DTYPES else "float32"
        )
        channels = x.shape[-1]
        gamma = keras.ops.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = keras.ops.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        if training and self.trainable:
            y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x,
                scale=gamma,
                offset=beta,
                mean=tf.constant([], tf.float32),
                variance=tf.constant([], tf.float32),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=True,
            )
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
            variance = variance * ((n - 1.0) / tf.maximum(n, 1.0))
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        else:
            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x,
                scale=gamma,
                offset=beta,
                mean=keras.ops.cast(self.moving_mean, "float32"),
                variance=keras.ops.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return tf.cast(y, self.compute_dtype)

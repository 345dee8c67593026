"""Dense (fully-convolutional) evaluation: a Flatten -> Dense head turned into convolutions.

Papers:
    [1] K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
        Image Recognition", ICLR 2015 (arXiv:1409.1556), §3.2: "the fully-connected
        layers are first converted to convolutional layers (the first FC layer to a
        7x7 conv. layer, the last two FC layers to 1x1 conv. layers). The resulting
        fully-convolutional net is then applied to the whole (uncropped) image. The
        result is a class score map with the number of channels equal to the number
        of classes, and a variable spatial resolution, dependent on the input image
        size. Finally, to obtain a fixed-size vector of class scores for the image,
        the class score map is spatially averaged (sum-pooled). We also augment the
        test set by horizontal flipping of the images; the soft-max class posteriors
        of the original and flipped images are averaged to obtain the final scores."
    [2] K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016 (arXiv:1512.03385), §3.4: "we adopt the
        fully-convolutional form as in [1], and average the scores at multiple
        scales" — a global-average-pooling head already takes any input size.
    [3] A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
        Convolutional Neural Networks", NIPS 2012, §2: "subtracting the mean activity
        over the training set from each pixel" (a per-pixel mean image).

The converted model shares every layer with the original except the converted
Dense layers, which are new Conv2D layers holding a copy of their weights (train
the original, convert again), and a per-pixel mean subtraction ([3] §2), which
fixes the input size. That one becomes `MeanImageOrChannelMean`: the mean image
where the input has the training size and, at any other size, the mean image's
average over height and width. That average
is the training set's mean of each channel over all images and positions, the
"channel pixel zero-mean" preprocessing of the nets that are evaluated densely (VGG,
seed 003 §3.2: "the mean of all red-channel pixels", green, blue); no text gives a
per-pixel mean image a value at positions it never had. `mean_substitutions` names
the replaced layers, and the evaluation reports them.

The class-score map is pooled to one vector per image by its spatial mean ([1] §3.2,
"spatially averaged") or, with ``pooling="max"``, its per-class maximum
(`DENSE_POOLING`).
"""

from __future__ import annotations

import dataclasses
import sys

import keras
import numpy as np
import tensorflow as tf

from cnnzoo.recursion import recursion_limit

# Layers that act on each feature independently, so a flattened vector and its
# "unflattened" 1x1 (or HxW) map give the same numbers feature by feature.
_FEATUREWISE = (
    keras.layers.Dropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Identity,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
# Layers that act on the last axis only: fine on a map once the vector's features
# are its channels (after the first converted Dense), wrong on a flattened map.
_CHANNELWISE = (keras.layers.BatchNormalization, keras.layers.LayerNormalization)
_MERGES = (keras.layers.Add, keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum)


def main_output_index(model: keras.Model) -> int:
    """Which output of `model` is the classifier: the one named ``predictions``, else the first.

    Auxiliary heads (GoogLeNet, Inception) are training aids; the papers evaluate
    the main classifier alone. cnnzoo builders name it ``predictions`` and a trained
    cnnzoo model puts its class probabilities first (`cnnzoo.model_io`).
    """
    outputs = model.outputs
    names = [t._keras_history.operation.name for t in outputs]
    return names.index("predictions") if "predictions" in names else 0


def classifier_model(model: keras.Model) -> keras.Model:
    """`model` itself if it has one output, else a model (sharing its layers) of the main one."""
    if len(model.outputs) == 1:
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.outputs[main_output_index(model)], name=model.name)


def is_per_pixel_normalization(layer) -> bool:
    """Whether `layer` is a Normalization over spatial axes: a per-pixel mean (and variance)."""
    return isinstance(layer, keras.layers.Normalization) and any(
        a % 4 in (1, 2) for a in layer.axis
    )


@dataclasses.dataclass(frozen=True)
class MeanSubstitution:
    """A per-pixel mean that dense evaluation replaces by its per-channel mean at other sizes.

    Attributes:
        layer: the Normalization layer's name (``preprocess_mean`` in trained models).
        size: (height, width) of its mean image: the size it is used at.
        channel_mean: the mean image averaged over height and width, per channel.
    """

    layer: str
    size: tuple[int, int]
    channel_mean: tuple[float, ...]

    def describe(self) -> str:
        """One line naming the substitution."""
        h, w = self.size
        means = ", ".join(f"{m:.2f}" for m in self.channel_mean)
        return (
            f"{self.layer}: the {h}x{w} per-pixel mean image is replaced by its per-channel "
            f"mean ({means}) at input sizes other than {h}x{w}"
        )


class MeanImageOrChannelMean(keras.layers.Layer):
    """A per-pixel Normalization that also takes other sizes: there, the per-channel mean.

    (x - mean) / std with the source layer's (1, H, W, C) mean and variance where the
    input is H x W, and with their averages over height and width elsewhere. Built by
    dense evaluation only (an evaluation-time stand-in; not registered for saving).
    """

    def __init__(self, source: keras.layers.Normalization, **kwargs):
        super().__init__(name=source.name, dtype=source.dtype_policy, **kwargs)
        if source.invert:
            raise ValueError(f"{source.name}: an inverted Normalization cannot be substituted")
        mean = np.asarray(keras.ops.convert_to_numpy(source.mean), "float32")
        variance = np.asarray(keras.ops.convert_to_numpy(source.variance), "float32")
        self.size = (int(mean.shape[1]), int(mean.shape[2]))
        # Keras's Normalization divides by max(sqrt(variance), epsilon).
        eps = keras.backend.epsilon()
        self.per_pixel = (mean, np.maximum(np.sqrt(variance), eps))
        channel_var = variance.mean(axis=(1, 2), keepdims=True)
        self.per_channel = (
            mean.mean(axis=(1, 2), keepdims=True),
            np.maximum(np.sqrt(channel_var), eps),
        )
        self.record = MeanSubstitution(
            source.name, self.size, tuple(float(m) for m in self.per_channel[0].ravel())
        )

    def _normalize(self, x, statistics):
        mean, std = (tf.cast(s, x.dtype) for s in statistics)
        return (x - mean) / std

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is not None and w is not None:  # a size known when traced: choose now
            same = (h, w) == self.size
            return self._normalize(x, self.per_pixel if same else self.per_channel)
        shape = tf.shape(x)
        same = tf.logical_and(tf.equal(shape[1], self.size[0]), tf.equal(shape[2], self.size[1]))
        return tf.cond(
            same,
            lambda: self._normalize(x, self.per_pixel),
            lambda: self._normalize(x, self.per_channel),
        )

    def compute_output_shape(self, input_shape):
        return input_shape


class _Converter:
    """Re-calls a model's layers on a (None, None, None, C) input, converting the head.

    It tracks which tensors of the new graph stand for vectors of the original:
    ``flat`` (a Flatten's input map, with the original map's (h, w)) and ``vector``
    (after the first converted Dense: the vector's features are the channels).
    """

    def __init__(self):
        self.flat: dict[int, tuple[int, int]] = {}
        self.vector: set[int] = set()
        self.converted: list[tuple[keras.layers.Dense, keras.layers.Conv2D]] = []
        self.substitutions: list[MeanSubstitution] = []

    def convert(self, model, x):
        """Apply `model`'s graph to tensor `x`, returning the new output tensor(s)."""
        if isinstance(model, keras.Sequential):
            for layer in model.layers:
                x = self.call(layer, x)
            return x
        if not isinstance(model, keras.Model) or len(model.inputs) != 1:
            raise ValueError(
                f"{model.name}: dense evaluation needs a functional or Sequential model "
                "with one image input"
            )
        sub = self.rebuild(model, keras.Input(batch_shape=x.shape, dtype=x.dtype))
        new_outputs = sub(x)
        for inner, outer in zip(sub.outputs, tf.nest.flatten(new_outputs), strict=True):
            self._inherit(inner, outer)
        return new_outputs

    def rebuild(self, model, inputs):
        """`model`'s graph re-run on the Input `inputs`, as a new functional model."""
        # clone_model with an identity clone_function re-runs the graph with the
        # same layer objects (weights shared), routing every call through `self.call`.
        # clone_model wants the input in the structure the model was built with.
        structured = [inputs] if isinstance(model.input, (list, tuple)) else inputs
        # Keras clones recursively, a frame or so per layer (cnnzoo.recursion).
        with recursion_limit(sys.getrecursionlimit() + 2 * len(model.layers)):
            return keras.models.clone_model(
                model,
                input_tensors=structured,
                clone_function=lambda layer: layer,
                call_function=self.call,
            )

    def _inherit(self, source, target):
        if id(source) in self.flat:
            self.flat[id(target)] = self.flat[id(source)]
        if id(source) in self.vector:
            self.vector.add(id(target))

    def call(self, layer, *args, **kwargs):
        inputs = [t for t in tf.nest.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
        flat = [t for t in inputs if id(t) in self.flat]
        vector = [t for t in inputs if id(t) in self.vector]

        if isinstance(layer, keras.Model):
            if len(inputs) != 1:
                raise ValueError(f"{layer.name}: nested models must take one input")
            if flat or vector:
                raise ValueError(f"{layer.name}: a nested model after the Flatten is not supported")
            return self.convert(layer, inputs[0])
        if is_per_pixel_normalization(layer):
            # The mean image fixes the input size; other sizes get its per-channel mean.
            substitute = MeanImageOrChannelMean(layer)
            self.substitutions.append(substitute.record)
            return substitute(*args, **kwargs)
        if isinstance(layer, keras.layers.Flatten):
            x = args[0]
            if len(x.shape) != 4 or layer.data_format != "channels_last":
                raise ValueError(f"{layer.name}: expected to flatten a channels-last 4-D map")
            try:
                original = layer.input.shape
            except (AttributeError, ValueError) as err:
                raise ValueError(f"{layer.name}: a Flatten called more than once") from err
            # Keep the map; the next Dense becomes a convolution over windows of
            # the map size the original Flatten saw.
            self.flat[id(x)] = (original[1], original[2])
            return x
        if isinstance(layer, keras.layers.Dense) and (flat or vector):
            out = self._dense_as_conv(layer, args[0])
            self.vector.add(id(out))
            return out

        if flat or vector:
            supported = _FEATUREWISE + (_CHANNELWISE + _MERGES if not flat else ())
            if not isinstance(layer, supported):
                where = "between Flatten and Dense" if flat else "after the converted Dense"
                raise ValueError(
                    f"{layer.name}: cannot convert a {type(layer).__name__} {where} to a "
                    "convolutional form"
                )
        outputs = layer(*args, **kwargs)
        for out in tf.nest.flatten(outputs):
            if flat:
                self.flat[id(out)] = self.flat[id(flat[0])]
            elif vector:
                self.vector.add(id(out))
        return outputs

    def _dense_as_conv(self, layer, x):
        """The Conv2D equal to `layer` on a flat vector (kernel = map size) or on channels (1x1)."""
        channels = x.shape[-1]
        fan_in, units = layer.kernel.shape
        if id(x) in self.flat:
            fh, fw = self.flat[id(x)]
        else:
            fh = fw = 1
        if fh * fw * channels != fan_in:
            raise ValueError(
                f"{layer.name}: {fan_in} inputs do not match a {fh}x{fw}x{channels} map"
            )
        conv = keras.layers.Conv2D(
            units,
            (fh, fw),
            padding="valid",
            activation=layer.activation,
            use_bias=layer.use_bias,
            dtype=layer.dtype_policy,
            name=layer.name,
        )
        conv.build((None, None, None, channels))
        copy_dense_weights(layer, conv)
        self.converted.append((layer, conv))
        return conv(x)


def copy_dense_weights(dense: keras.layers.Dense, conv: keras.layers.Conv2D) -> None:
    """Set `conv`'s kernel and bias to `dense`'s, reshaped to (fh, fw, C, units)."""
    # Flatten orders a channels-last map row by row, then column, then channel:
    # exactly the (fh, fw, C) layout of a Conv2D kernel, so a reshape is the conversion.
    conv.kernel.assign(keras.ops.reshape(dense.kernel, conv.kernel.shape))
    if dense.use_bias:
        conv.bias.assign(dense.bias)


def to_fully_convolutional(model: keras.Model, name: str | None = None) -> keras.Model:
    """Convert a classifier into the fully-convolutional net of dense evaluation ([1] §3.2).

    The first Dense after a ``Flatten`` becomes a Conv2D whose kernel is the feature
    map the Flatten saw (VGG ``fc1``: 7x7 on a 224 input; AlexNet ``fc6``: 6x6 on
    227), later Dense layers become 1x1 convolutions, with the same weights reshaped.
    Dropout and activations stay. A global-pooling head (ResNet) already accepts any
    size and stays as it is. Nested models (the trained-model wrapper with its
    preprocessing layers) are converted recursively. A per-pixel mean becomes
    `MeanImageOrChannelMean` (its per-channel mean at other sizes; see
    `mean_substitutions`). Only the main output is kept (`main_output_index`).

    Args:
        model: a Keras classifier taking (H, W, C) images.
        name: name of the new model; defaults to ``"<name>_fc"``.

    Returns:
        A model taking (None, None, None, C) images, of any size at least the
        original's, and returning a class-score map (B, h, w, classes): one score
        vector per window of the original input size (stride: the net's total
        subsampling, 32 for VGG). On an input of the original size the map is 1x1 and
        equals the original output. With a global-pooling head the map is always 1x1.
        The scores are whatever the original's last layer gives (softmax posteriors
        for cnnzoo models, computed per location).

    Raises:
        ValueError: for layers that have no convolutional equivalent after the
            Flatten, or a model without a classifier (4-D output).
    """
    model_fc, _ = _convert(classifier_model(model), name)
    return model_fc


def _convert(model, name=None):
    """`to_fully_convolutional`, also returning its `_Converter` (what it converted)."""
    if model.input_shape is None or len(model.input_shape) != 4:
        raise ValueError(
            f"{model.name}: expected an image input (None, H, W, C), got {model.input_shape}"
        )
    channels = model.input_shape[-1]
    inputs = keras.Input(shape=(None, None, channels), name="images")
    converter = _Converter()
    if isinstance(model, keras.Sequential):
        outputs = converter.convert(model, inputs)
    else:
        # The top-level graph is rebuilt in place (not nested in a wrapper), so the
        # converted model lists the same layers as the original.
        outputs = converter.rebuild(model, inputs).outputs[0]
    if len(outputs.shape) == 2:
        # Pooled head: the scores of the whole image, a 1x1 map.
        outputs = keras.layers.Reshape((1, 1, outputs.shape[-1]), name="score_map")(outputs)
    elif id(outputs) not in converter.vector:
        raise ValueError(
            f"{model.name}: its output {tuple(model.output_shape)} is not a class-score "
            "vector; build it with include_top=True"
        )
    return keras.Model(inputs, outputs, name=name or f"{model.name}_fc"), converter


def model_cache(model: keras.Model) -> dict:
    """A per-model store for evaluation's compiled functions and converted models.

    Kept on the model object itself (past Keras's attribute tracking, so it is no
    part of the model's layers, weights or saved file): it lives exactly as long as
    the model, which a global cache keyed by the model could not do, since what it
    holds refers back to the model.
    """
    cache = model.__dict__.get("_cnnzoo_eval_cache")
    if cache is None:
        cache = {}
        object.__setattr__(model, "_cnnzoo_eval_cache", cache)
    return cache


def cached_fully_convolutional(model: keras.Model) -> keras.Model:
    """`to_fully_convolutional(model)`, converted once per model and kept up to date.

    The converted model (and its compiled forward function) is reused across
    evaluations; the copied Dense weights are refreshed from `model` on every call,
    so training the original between evaluations is seen.
    """
    model_fc, converter = _cached_conversion(model)
    for dense, conv in converter.converted:
        copy_dense_weights(dense, conv)
    return model_fc


def _cached_conversion(model: keras.Model):
    cache = model_cache(model)
    if "fully_convolutional" not in cache:
        cache["fully_convolutional"] = _convert(classifier_model(model))
    return cache["fully_convolutional"]


def mean_substitutions(model: keras.Model) -> tuple[MeanSubstitution, ...]:
    """The per-pixel means whose per-channel mean the dense form of `model` uses at other sizes.

    Args:
        model: a classifier, as for `cached_fully_convolutional` (converted once, cached).

    Returns:
        One `MeanSubstitution` per per-pixel Normalization layer; empty for models
        without one.
    """
    return tuple(_cached_conversion(model)[1].substitutions)


def forward_function(model: keras.Model):
    """A cached `tf.function` running `model` in inference mode on a batch.

    ``reduce_retracing`` lets one trace serve every batch size and image size after
    the first few, which keeps evaluation over varying images from re-tracing.
    """
    cache = model_cache(model)
    if "forward" not in cache:

        @tf.function(reduce_retracing=True, autograph=False)
        def forward(x):
            return model(x, training=False)

        cache["forward"] = forward
    return cache["forward"]


def score_map(model_fc: keras.Model, images) -> np.ndarray:
    """The class-score map of a fully-convolutional model: (B, h, w, classes) NumPy."""
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    return forward_function(model_fc)(images).numpy()


def _max_pool_scores(scores):
    # Each class's best location; renormalised to sum to one, so that the result
    # averages with other views, protocols and models as a posterior does (the
    # ranking of the classes, and so the top-k error, is the maximum's).
    peak = tf.reduce_max(scores, axis=[1, 2])
    return peak / tf.reduce_sum(peak, axis=-1, keepdims=True)


_POOLERS = {
    # [1] §3.2: "the class score map is spatially averaged (sum-pooled)".
    "mean": lambda scores: tf.reduce_mean(scores, axis=[1, 2]),
    "max": _max_pool_scores,
}
# How a (B, h, w, K) posterior map can become (B, K) scores (`pool_score_map`).
DENSE_POOLING = tuple(_POOLERS)


def pool_score_map(scores, pooling: str = "mean") -> np.ndarray:
    """(B, h, w, K) posterior map -> (B, K): its spatial mean, or its per-class maximum.

    Args:
        scores: the posterior map (`score_map` of a softmax model).
        pooling: ``"mean"`` ([1] §3.2) or ``"max"`` (each class's highest posterior
            over the locations, divided by their sum over the classes).

    Returns:
        (B, K) float32 NumPy scores.
    """
    if pooling not in _POOLERS:
        raise ValueError(f"unknown dense pooling {pooling!r}; expected one of {DENSE_POOLING}")
    return _POOLERS[pooling](tf.convert_to_tensor(scores, tf.float32)).numpy()


def dense_predict(
    model_fc: keras.Model,
    images,
    mirror: bool = True,
    from_logits: bool = False,
    pooling: str = "mean",
) -> np.ndarray:
    """Dense evaluation of a batch of same-sized images ([1] §3.2).

    Posteriors, not logits, are averaged: the converted model applies its softmax at
    every location of the score map (the original's softmax classifier as a 1x1
    convolution), the (B, h, w, K) posterior map is averaged over its h x w
    locations, and the result averaged with that of the mirrored image ("the
    soft-max class posteriors of the original and flipped images are averaged",
    [1] §3.2). Image and mirror go through the model as one batch of 2B.

    Args:
        model_fc: from `to_fully_convolutional`.
        images: (B, H, W, C) images already at the test scale (shorter side Q, see
            `cnnzoo.pipelines.views.resize_shorter`), raw pixels as the model expects.
        mirror: average with the horizontally flipped images.
        from_logits: the model's scores are logits (``classifier_activation=None``):
            apply the softmax at every location first, so posteriors are averaged
            all the same.
        pooling: how the map becomes one vector, ``"mean"`` or ``"max"``
            (`pool_score_map`).

    Returns:
        (B, classes) float32 NumPy array of pooled posteriors.
    """
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    if images.shape.rank != 4:
        raise ValueError(f"expected a batch (B, H, W, C), got shape {images.shape}")
    batch = images.shape[0]
    if mirror:
        images = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    scores = forward_function(model_fc)(images)
    if from_logits:
        scores = tf.nn.softmax(scores, axis=-1)
    scores = pool_score_map(scores, pooling)
    if mirror:
        scores = (scores[:batch] + scores[batch:]) / 2
    return scores

"""Weight initialisations from the papers, selectable by name in a recipe.

A scheme re-assigns the kernels and biases of an already-built model, so model
builders keep Keras' defaults and the recipe alone decides how training starts:

    apply_init_scheme(model, "alexnet", seed=0)

Schemes act on convolution and dense layers (`keras.layers.Conv1D/2D/3D`,
including grouped ones, ``groups > 1``, and `keras.layers.Dense`), found by
walking the model's layers and those of nested models. A kernel layer held
inside a composite non-model layer (e.g. a grouped convolution written as
several Conv2D) answers to the composite's name. Other weights (batch
normalization, ...) are left as they are.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import keras
import numpy as np

_KERNEL_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a Dense (in, out) or convolution (*window, in, out) kernel."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return receptive * shape[-2], receptive * shape[-1]


def _glorot_uniform(rng: np.random.Generator, shape, name: str) -> np.ndarray:
    # Glorot & Bengio 2010, eq. 16: U[-sqrt(6 / (fan_in + fan_out)), +sqrt(...)].
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _caffe_xavier(rng: np.random.Generator, shape, name: str) -> np.ndarray:
    # Caffe's "xavier" filler (the thesis nets were trained in Caffe's manner):
    # U[-sqrt(3 / fan_in), +sqrt(3 / fan_in)], its default variance_norm FAN_IN —
    # for conv1 of wu2016_mnist three times Keras's Glorot limit.
    fan_in, _ = _fans(shape)
    limit = np.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def _he_normal(rng: np.random.Generator, shape, name: str) -> np.ndarray:
    # He et al. 2015, "Delving deep into rectifiers", §2.2: "a zero-mean Gaussian
    # distribution whose standard deviation is sqrt(2/n_l)", n_l = k² c = fan_in.
    # Plain, not truncated, Gaussian (keras.initializers.HeNormal truncates).
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def _gaussian(
    stds: dict[str, float], default: float | None = None
) -> Callable[[np.random.Generator, tuple, str], np.ndarray]:
    """A zero-mean Gaussian kernel initialiser with a std per layer name (else ``default``)."""

    def init(rng: np.random.Generator, shape, name: str) -> np.ndarray:
        return rng.normal(0.0, stds.get(name, default), size=shape)

    return init


# W. Wu 2016 thesis §3.2.1: zero-mean Gaussian weights, std per layer.
_WU2016_CIFAR_STDS = {
    "conv1": 1e-4,
    "conv2": 1e-4,
    "conv3": 1e-3,
    "fc1": 1e-2,
    "predictions": 1e-1,
}

# Caffe's examples/cifar10/cifar10_quick_train_test.prototxt, the net the thesis's
# CIFAR model follows layer for layer (conv 32/32/64 there, 24/32/64 here): only
# conv1 starts at 1e-4, so the signal survives the other four layers.
_CAFFE_CIFAR10_QUICK_STDS = {
    "conv1": 1e-4,
    "conv2": 1e-2,
    "conv3": 1e-2,
    "fc1": 1e-1,
    "predictions": 1e-1,
}

# Krizhevsky et al. 2012 §5: "We initialized the weights in each layer from a
# zero-mean Gaussian distribution with standard deviation 0.01. We initialized
# the neuron biases in the second, fourth, and fifth convolutional layers, as
# well as in the fully-connected hidden layers, with the constant 1 ... We
# initialized the neuron biases in the remaining layers with the constant 0."
_ALEXNET_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")


class _Scheme:
    """A kernel initialiser, the bias value per layer name, and the names it requires.

    ``covers_all`` schemes apply to every kernel layer; the others apply only to
    the layers they name, and a model with other kernel layers is an error, so a
    layer never keeps its builder's initialisation by accident.
    """

    def __init__(self, kernel, biases=None, required=(), covers_all=True):
        self.kernel = kernel
        self.biases = biases or {}
        self.required = tuple(required)
        self.covers_all = covers_all


_SCHEMES: dict[str, _Scheme] = {
    "glorot_uniform": _Scheme(_glorot_uniform),
    "caffe_xavier": _Scheme(_caffe_xavier),
    # Caffe's name for He et al.'s filler, which the recipes citing them use; Keras's
    # own "he_normal" initializer truncates, this scheme does not.
    "msra": _Scheme(_he_normal),
    "he_normal": _Scheme(_he_normal),
    "wu2016_cifar_gaussian": _Scheme(
        _gaussian(_WU2016_CIFAR_STDS), required=tuple(_WU2016_CIFAR_STDS), covers_all=False
    ),
    "caffe_cifar10_quick": _Scheme(
        _gaussian(_CAFFE_CIFAR10_QUICK_STDS),
        required=tuple(_CAFFE_CIFAR10_QUICK_STDS),
        covers_all=False,
    ),
    "alexnet": _Scheme(
        _gaussian({}, default=0.01),
        biases=dict.fromkeys(_ALEXNET_BIAS_ONE, 1.0),
        required=_ALEXNET_BIAS_ONE,
    ),
}

INIT_SCHEMES: tuple[str, ...] = tuple(_SCHEMES)


def _kernel_layers(
    layer: keras.layers.Layer, prefix: str = "", owner: str | None = None
) -> Iterator[tuple[str, str, keras.layers.Layer]]:
    """Yield (scheme name, path, layer) for every Conv/Dense layer under ``layer``.

    ``path`` joins the names from the top model down with "/"; ``owner`` is the
    name of the outermost composite (non-model) layer being walked, if any, and
    its kernel layers answer to that name.
    """
    # Keras 3 has no public list of a plain layer's sublayers; _flatten_layers is
    # what Model.layers itself uses.
    for child in layer._flatten_layers(include_self=False, recursive=False):
        name = child.name if owner is None else owner
        path = f"{prefix}{child.name}"
        if isinstance(child, _KERNEL_LAYERS):
            yield name, path, child
        elif isinstance(child, keras.Model):
            yield from _kernel_layers(child, f"{path}/", None)
        else:
            yield from _kernel_layers(child, f"{path}/", name)


def _check_coverage(model, scheme: str, spec: _Scheme, available: list[str]) -> None:
    """The model has every layer the scheme names, and a per-layer scheme names them all."""
    missing = [name for name in spec.required if name not in available]
    if missing:
        raise ValueError(
            f"init scheme {scheme!r} needs Conv/Dense layers named {missing} that model "
            f"{model.name!r} lacks; its Conv/Dense layers are {available}"
        )
    uncovered = [name for name in available if name not in spec.required]
    if not spec.covers_all and uncovered:
        raise ValueError(
            f"init scheme {scheme!r} specifies layers {list(spec.required)} only, but "
            f"model {model.name!r} also has Conv/Dense layers {uncovered}"
        )


def apply_init_scheme(model: keras.Model, scheme: str, seed: int = 0) -> None:
    """Re-initialise the Conv/Dense kernels and biases of a built model in place.

    Each layer draws from its own NumPy generator seeded by ``seed`` and the
    layer's path of names, so the result depends only on the seed and the names, not on
    the order of the layers or on Keras' global seed.

    Args:
        model: a built `keras.Model` (its weights must exist).
        scheme: one of `INIT_SCHEMES`:
            "glorot_uniform" (Glorot & Bengio 2010; biases 0),
            "caffe_xavier" (Caffe's "xavier" filler, U[±sqrt(3 / fan_in)]; biases 0),
            "msra" or its alias "he_normal" (He et al. 2015 §2.2, the untruncated
            N(0, 2 / fan_in); biases 0),
            "wu2016_cifar_gaussian" (W. Wu 2016 §3.2.1: N(0, σ²) with σ = 1e-4 for
            conv1 and conv2, 1e-3 for conv3, 1e-2 for fc1, 1e-1 for predictions;
            biases 0), "caffe_cifar10_quick" (the same layers with Caffe's
            cifar10_quick example's σ: 1e-4, 1e-2, 1e-2, 1e-1, 1e-1), "alexnet"
            (Krizhevsky et al. 2012 §5: N(0, 0.01²); biases 1 in conv2, conv4,
            conv5, fc6, fc7 and 0 elsewhere).
        seed: non-negative int; the same seed gives the same weights.

    Returns:
        None; the model's variables are assigned.

    Raises:
        ValueError: the scheme is unknown, the model is not built, the model
            lacks a layer the scheme names, or (for a per-layer scheme) it has
            Conv/Dense layers the scheme does not name.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; known schemes: {list(INIT_SCHEMES)}")
    if not model.built:
        raise ValueError(f"model {model.name!r} must be built before applying an init scheme")
    spec = _SCHEMES[scheme]
    targets = list(_kernel_layers(model))
    _check_coverage(model, scheme, spec, sorted({name for name, _, _ in targets}))
    for name, path, layer in targets:
        # crc32 is stable across runs (str hash is salted); the full path separates
        # kernel layers that share a composite's name.
        rng = np.random.default_rng([seed, zlib.crc32(path.encode())])
        kernel = layer.kernel
        kernel.assign(spec.kernel(rng, tuple(kernel.shape), name).astype(kernel.dtype))
        if getattr(layer, "bias", None) is not None:
            bias = layer.bias
            value = spec.biases.get(name, 0.0)
            bias.assign(np.full(tuple(bias.shape), value, dtype=bias.dtype))

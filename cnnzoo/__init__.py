"""cnnzoo: the classic CNN image classifiers for Keras 3, as their papers describe them."""

import os

# TensorFlow enables its oneDNN CPU kernels by itself only on CPUs with AVX-512
# (where turning them off cost ResNet-20 training 64% of its speed); on a 2-core
# AVX2 machine they trained it 1.4-1.6x faster too (tools/bench_train.py, README
# "Performance"). Before TensorFlow is imported, and only as a default:
# TF_ENABLE_ONEDNN_OPTS=0 in the environment still wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import cnnzoo.layers  # noqa: E402, F401  (registers custom layers so .keras files load)
from cnnzoo.registry import ModelCard, build, list_models, model_card, register_model

__all__ = ["ModelCard", "build", "list_models", "model_card", "register_model"]
__version__ = "0.1.0"

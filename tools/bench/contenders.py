"""The table of contenders, the modifiers a row may carry, and the targets' ratios.

A row of ``--contenders`` is a contender's name with optional modifiers after
colons (``keras:xla``, ``fit:spe4``, ``torch:cl``); `parse_contender` turns it into
the spec its worker reads. Adding a contender is a ``run(config, channel)``
function (`tf_rows`, `torch_rows`) and one line in `CONTENDERS`; adding a modifier
is one line in `MODIFIERS` and its name in the rows that accept it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from bench import tf_rows, torch_rows

# What every TensorFlow row accepts: its oneDNN setting, thread pools and batch size.
_TF = frozenset({"onednn", "intra", "inter", "bs"})


@dataclasses.dataclass(frozen=True)
class Contender:
    """One row of the benchmark.

    Attributes:
        kind: "train" (windows of ``--steps`` steps) or "infer" (``--infer-batches``).
        framework: "tensorflow" or "torch": which environment its worker gets.
        what: the report's description.
        run: ``run(config, channel)``, called in the worker process.
        modifiers: names of the `MODIFIERS` it accepts.
        preset: what the row sets in its spec (``{"precision": "bfloat16"}``).
    """

    kind: str
    framework: str
    what: str
    run: Callable
    modifiers: frozenset[str]
    preset: tuple[tuple[str, str], ...] = ()


def _tf(kind: str, what: str, run: Callable, modifiers: str = "") -> Contender:
    """A TensorFlow row taking `_TF`'s modifiers and the space-separated `modifiers`."""
    return Contender(kind, "tensorflow", what, run, _TF | frozenset(modifiers.split()))


def _torch(kind: str, what: str, run: Callable) -> Contender:
    """A PyTorch row: it takes a memory layout, torch.compile and a batch size."""
    return Contender(kind, "torch", what, run, frozenset({"layout", "compile", "bs"}))


# The bfloat16 rows (issue 22): cnnzoo under mixed_bfloat16, PyTorch under
# torch.autocast("cpu", torch.bfloat16); timed only on CPUs with native bfloat16.
BF16 = (("precision", "bfloat16"),)


def _bf16(row: Contender, what: str) -> Contender:
    return dataclasses.replace(row, what=what, preset=BF16)


# PyTorch's fastest CPU setting a user can pick besides eager: torch.compile
# (TorchInductor's C++/OpenMP kernels, oneDNN convolutions), channels-last.
COMPILED = (("torch_compile", True),)


def _compiled(row: Contender, what: str) -> Contender:
    return dataclasses.replace(row, what=what, preset=COMPILED)


CONTENDERS = {
    "keras": _tf(
        "train", "bare Keras model.fit, in-memory tensors", tf_rows.run_keras, "xla spe kerasbn"
    ),
    "fit": _tf("train", "cnnzoo fit whole path (trainer.fit)", tf_rows.run_fit, "xla spe"),
    "torch": _torch("train", "PyTorch ResNet-20 (option A) train", torch_rows.run_train),
    "predict": _tf("infer", "Keras model.predict", tf_rows.run_predict, "kerasbn"),
    "call": _tf("infer", "Keras model(x) in tf.function", tf_rows.run_call, "xla kerasbn"),
    "evaluate": _tf(
        "infer", "cnnzoo evaluate path (score_dataset)", tf_rows.run_evaluate, "kerasbn"
    ),
    "savedmodel": _tf(
        "infer", "exported SavedModel serving_default", tf_rows.run_savedmodel, "kerasbn"
    ),
    "torch-infer": _torch("infer", "PyTorch eval, inference_mode", torch_rows.run_infer),
}
CONTENDERS.update(
    {
        "fit-bf16": _bf16(CONTENDERS["fit"], "cnnzoo fit, --precision mixed_bfloat16"),
        "evaluate-bf16": _bf16(CONTENDERS["evaluate"], "cnnzoo evaluate --precision bfloat16"),
        "savedmodel-bf16": _bf16(CONTENDERS["savedmodel"], "export --precision bfloat16"),
        "torch-bf16": _bf16(CONTENDERS["torch"], "PyTorch train, autocast bfloat16"),
        "torch-bf16-infer": _bf16(CONTENDERS["torch-infer"], "PyTorch eval, autocast bfloat16"),
        "torch-compile": _compiled(CONTENDERS["torch"], "PyTorch train, torch.compile"),
        "torch-compile-infer": _compiled(CONTENDERS["torch-infer"], "PyTorch eval, torch.compile"),
    }
)
DEFAULT_CONTENDERS = (
    "keras",
    "fit",
    "torch",
    "torch-compile",
    "predict",
    "evaluate",
    "savedmodel",
    "torch-infer",
    "torch-compile-infer",
)


def _batch_size(spec: dict, match: re.Match) -> None:
    key = "batch_size" if spec["kind"] == "train" else "infer_batch_size"
    spec[key] = int(match[1])


def _layout(spec: dict, match: re.Match) -> None:
    spec["memory_format"] = "channels_last" if match[0] == "cl" else "contiguous"


# name -> (the modifier's full-match pattern, what it sets in the row's spec)
MODIFIERS: dict[str, tuple[str, Callable[[dict, re.Match], None]]] = {
    "xla": (r"xla", lambda spec, m: spec.update(xla=True)),
    "spe": (r"spe(\d+)", lambda spec, m: spec.update(steps_per_execution=int(m[1]))),
    "onednn": (r"onednn([01])", lambda spec, m: spec["env"].update(TF_ENABLE_ONEDNN_OPTS=m[1])),
    "intra": (r"intra(\d+)", lambda spec, m: spec.update(intra_threads=int(m[1]))),
    "inter": (r"inter(\d+)", lambda spec, m: spec.update(inter_threads=int(m[1]))),
    "kerasbn": (r"kerasbn", lambda spec, m: spec.update(keras_bn=True)),
    "layout": (r"cl|nchw", _layout),
    "compile": (r"compile", lambda spec, m: spec.update(torch_compile=True)),
    "bs": (r"bs(\d+)", _batch_size),
}

# The PyTorch rows a cnnzoo row is held against: the faster of those that ran.
TORCH_TRAIN = ("torch", "torch-compile")
TORCH_INFER = ("torch-infer", "torch-compile-infer")

# (numerator, denominator, target, what): the targets. A denominator
# that is a tuple is the fastest of its rows that ran.
TARGETS = (
    ("fit", "keras", 0.95, "cnnzoo fit whole path vs bare Keras step"),
    ("fit", TORCH_TRAIN, 1.2, "training: cnnzoo fit vs the faster PyTorch"),
    ("evaluate", TORCH_INFER, 1.2, "inference: cnnzoo evaluate vs the faster PyTorch"),
    ("savedmodel", TORCH_INFER, 1.2, "inference: SavedModel vs the faster PyTorch"),
    ("evaluate", "savedmodel", 0.95, "inference: cnnzoo evaluate vs its SavedModel export"),
    ("fit-bf16", "torch-bf16", 1.0, "bfloat16 training: cnnzoo fit vs PyTorch autocast"),
    ("evaluate-bf16", "torch-bf16-infer", 1.0, "bfloat16 inference: evaluate vs PyTorch"),
    ("savedmodel-bf16", "torch-bf16-infer", 1.0, "bfloat16 inference: SavedModel vs PyTorch"),
    ("fit-bf16", "fit", 1.5, "cnnzoo fit: bfloat16 vs float32"),
)


def parse_contender(text: str) -> dict:
    """The spec of one ``--contenders`` row, e.g. ``"fit:spe4"``.

    Returns:
        ``{"label", "name", "kind", "framework", "env"}`` plus what its modifiers set.

    Raises:
        SystemExit: an unknown contender, or a modifier it does not accept.
    """
    name, *mods = [p.strip() for p in text.split(":")]
    if name not in CONTENDERS:
        raise SystemExit(f"unknown contender {name!r}; known: {', '.join(CONTENDERS)}")
    contender = CONTENDERS[name]
    spec: dict = {"label": text, "name": name, "kind": contender.kind, "env": {}}
    spec.update(contender.preset)
    spec["framework"] = contender.framework
    for mod in mods:
        found = [(k, m) for k, (p, _) in MODIFIERS.items() if (m := re.fullmatch(p, mod))]
        if not found:
            raise SystemExit(f"{text}: unknown modifier {mod!r} (see --help)")
        key, match = found[0]
        if key not in contender.modifiers:
            accepted = ", ".join(sorted(contender.modifiers))
            raise SystemExit(f"{text}: {name} takes no {mod!r} modifier; it takes {accepted}")
        MODIFIERS[key][1](spec, match)
    return spec

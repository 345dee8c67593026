"""What machine a figure was measured on: CPU model, cores, the ISA features that matter.

Every throughput or wall-time figure cnnzoo writes (run histories, model cards,
benchmarks) names its machine, because the same command runs several times
faster on a CPU with AVX-512 or AMX than on one with AVX2 alone. Reading
/proc/cpuinfo needs no TensorFlow, so this module is cheap to import.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The instruction-set flags (as /proc/cpuinfo spells them) that decide which
# kernels oneDNN and PyTorch pick for convolutions: fp32 vector width, native
# bfloat16 dot products, Intel's matrix tiles.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo(path: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_info(path: str | Path = "/proc/cpuinfo") -> dict[str, object]:
    """The CPU as the figures need it named.

    Returns:
        {"model": "AMD EPYC ...", "cores": 2, "isa": ["avx2", "fma", ...],
        "native_bf16": bool}: `isa` lists the `ISA_FLAGS` the CPU has; native
        bfloat16 means AVX-512 BF16 or AMX.
    """
    fields = _cpuinfo(path)
    flags = set(fields.get("flags", "").split())
    isa = [f for f in ISA_FLAGS if f in flags]
    model = fields.get("model name") or platform.processor() or platform.machine()
    family = fields.get("cpu family")
    if family and fields.get("vendor_id") == "AuthenticAMD":
        # Virtual machines often report just "AMD EPYC"; the family tells Zen 3
        # (25) from Zen 5 (26), whose AVX-512 changes every figure.
        model = f"{model} (family {family}, model {fields.get('model', '?')})"
    return {
        "model": model,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "isa": isa,
        "native_bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
    }


def describe(info: dict[str, object] | None = None) -> str:
    """One line naming the machine, e.g. ``AMD EPYC (family 25, model 1), 2 cores, avx2 fma``."""
    info = info or cpu_info()
    isa = " ".join(info["isa"]) or "no AVX2"
    return f"{info['model']}, {info['cores']} cores, {isa}"

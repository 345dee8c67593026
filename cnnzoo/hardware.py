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


# fp32 FLOPs per cycle and core: two fused multiply-add pipes (AMD Zen 3-5, Intel
# Xeon Scalable Gold/Platinum), each of 16 (AVX-512) or 8 (AVX2) float32 lanes, two
# FLOPs per lane. The widest ISA the CPU has decides; an estimate, not a measurement.
FP32_FLOPS_PER_CYCLE = (("avx512f", 2 * 16 * 2), ("fma", 2 * 8 * 2))


def fp32_peak_gflops(path: str | Path = "/proc/cpuinfo") -> dict[str, float] | None:
    """The CPU's float32 peak from its cores, clock and ISA, as the speed figures cite it.

    Returns:
        {"gflops", "cores", "ghz", "flops_per_cycle"}: peak = cores x clock x
        `FP32_FLOPS_PER_CYCLE` (/proc/cpuinfo's "cpu MHz", which virtual machines
        report as the nominal clock); None where the clock or the ISA is unknown.
    """
    fields = _cpuinfo(path)
    flags = set(fields.get("flags", "").split())
    per_cycle = next((n for flag, n in FP32_FLOPS_PER_CYCLE if flag in flags), None)
    try:
        ghz = float(fields["cpu MHz"]) / 1000
    except (KeyError, ValueError):
        return None
    if per_cycle is None:
        return None
    cores = cpu_info(path)["cores"]
    return {
        "gflops": cores * ghz * per_cycle,
        "cores": cores,
        "ghz": ghz,
        "flops_per_cycle": per_cycle,
    }


def describe(info: dict[str, object] | None = None) -> str:
    """One line naming the machine, e.g. ``AMD EPYC (family 25, model 1), 2 cores, avx2 fma``."""
    info = info or cpu_info()
    isa = " ".join(info["isa"]) or "no AVX2"
    return f"{info['model']}, {info['cores']} cores, {isa}"

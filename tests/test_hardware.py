"""The machine description that figures carry."""

import pytest

from cnnzoo.hardware import cpu_info, describe, fp32_peak_gflops

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
cpu MHz\t\t: 2445.424
flags\t\t: fpu sse avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: something else
"""

SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
cpu MHz\t\t: 2700.000
flags\t\t: avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile
"""


def test_avx2_only_amd(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN3)
    info = cpu_info(path)
    assert info["model"] == "AMD EPYC (family 25, model 1)"  # the first processor's
    assert info["isa"] == ["avx2", "fma"] and info["native_bf16"] is False
    assert describe(info).endswith("cores, avx2 fma")


def test_amx_xeon(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(SAPPHIRE)
    info = cpu_info(path)
    assert info["model"].startswith("Intel(R) Xeon(R) Platinum")
    assert info["native_bf16"] is True and "amx_bf16" in info["isa"]


def test_no_cpuinfo(tmp_path):
    info = cpu_info(tmp_path / "missing")
    assert info["isa"] == [] and info["cores"] >= 1 and info["model"]
    assert "no AVX2" in describe(info)


def test_fp32_peak_from_cores_clock_and_isa(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN3)
    cores = cpu_info(path)["cores"]
    peak = fp32_peak_gflops(path)
    # AVX2: two FMA pipes x 8 lanes x 2 FLOPs per cycle and core.
    assert peak["flops_per_cycle"] == 32
    assert peak["gflops"] == pytest.approx(cores * 2.445424 * 32)
    path.write_text(SAPPHIRE)
    assert fp32_peak_gflops(path)["flops_per_cycle"] == 64  # AVX-512
    path.write_text(SAPPHIRE.replace("cpu MHz\t\t: 2700.000\n", ""))
    assert fp32_peak_gflops(path) is None  # no clock: no estimate

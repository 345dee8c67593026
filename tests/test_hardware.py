"""The machine description that figures carry."""

from cnnzoo.hardware import cpu_info, describe

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: something else
"""

SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
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

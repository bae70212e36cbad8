"""``tools/cuda_check.py`` (``make cuda-check``): NVRTC compiles of CUDA kernel files, without a GPU.

The compile tests need PyPI's ``nvidia-cuda-nvrtc`` (``make cuda-check`` installs it into the venv)
and are skipped without it; the ptxas report test also needs ``nvidia-cuda-nvcc``.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "cuda_check.py"
_spec = importlib.util.spec_from_file_location("cuda_check", _TOOL)
cuda_check = importlib.util.module_from_spec(_spec)
sys.modules["cuda_check"] = cuda_check  # dataclasses look their module up by name
_spec.loader.exec_module(cuda_check)

needs_nvrtc = pytest.mark.skipif(not cuda_check.nvrtc_available(), reason="nvidia-cuda-nvrtc not installed")

GOOD = r"""
__device__ __forceinline__ float half_to_float(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
template <typename T>
__device__ void scale(const T* x, T* y, T a, unsigned long long n) {
    unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i];
}
extern "C" __global__ void scale_f32(const float* x, float* y, float a, unsigned long long n) {
    scale<float>(x, y, a, n);
}
extern "C" __global__ void scale_f64(const double* x, double* y, double a, unsigned long long n) {
    scale<double>(x, y, a, n);
}
extern "C" __global__ void exp_f16(const unsigned short* x, float* y, unsigned long long n) {
    unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = expf(half_to_float(x[i]));
}
"""

BROKEN = r"""
extern "C" __global__ void relu_f32(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = fmaxf(x[i], no_such_value);
}
"""

PTXAS_OUTPUT = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'big_f32' for 'sm_90'
ptxas info    : Function properties for big_f32
    48 bytes stack frame, 40 bytes spill stores, 44 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 1024 bytes smem, 368 bytes cmem[0]
ptxas info    : Compile time = 12.000 ms
ptxas info    : Function properties for helper
    8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Compiling entry function 'small_f32' for 'sm_90'
ptxas info    : Function properties for small_f32
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 0 barriers, 360 bytes cmem[0]
"""


def test_parse_ptxas_reads_registers_and_spills_per_kernel():
    big, small = cuda_check.parse_ptxas(PTXAS_OUTPUT)
    assert (big.kernel, big.registers, big.stack, big.spill_stores, big.spill_loads, big.shared) == (
        "big_f32",
        255,
        48,
        40,
        44,
        1024,
    )
    assert big.spills
    assert (small.kernel, small.registers, small.spill_stores, small.spill_loads) == ("small_f32", 8, 0, 0)
    assert not small.spills


def test_contract_flags_includes_and_mangled_kernels():
    assert cuda_check.contract_problems(GOOD, ["scale_f32"]) == []
    problems = cuda_check.contract_problems("#include <cuda_fp16.h>\n", ["_Z4testPf", "ok"])
    assert len(problems) == 2
    assert "#include" in problems[0] and "_Z4testPf" in problems[1]


@needs_nvrtc
@pytest.mark.parametrize("arch", cuda_check.ARCHES)
def test_good_kernel_compiles_with_its_entries(arch):
    ok, log, ptx = cuda_check.compile_source(GOOD, arch, "good.cu")
    assert ok, log
    assert cuda_check.entries(ptx) == ["scale_f32", "scale_f64", "exp_f16"]
    assert f".target {arch}" in ptx


@needs_nvrtc
def test_broken_kernel_is_reported_with_the_nvrtc_log():
    ok, log, ptx = cuda_check.compile_source(BROKEN, "sm_90", "broken.cu")
    assert not ok and ptx == ""
    assert "broken.cu(4): error" in log and "no_such_value" in log


@needs_nvrtc
def test_mangled_kernel_fails_the_contract():
    ok, log, _ = cuda_check.compile_source("__global__ void k(float* y) { y[0] = 1.0f; }", "sm_80", "m.cu")
    assert not ok
    assert 'kernel _Z1kPf is not extern "C"' in log


@needs_nvrtc
def test_main_counts_kernels_and_failures(tmp_path, capsys):
    (tmp_path / "good.cu").write_text(GOOD)
    (tmp_path / "broken.cu").write_text(BROKEN)
    assert cuda_check.main(["--kernels", str(tmp_path), "--no-ptxas"]) == 1
    out = capsys.readouterr().out
    assert "no_such_value" in out
    # 3 kernels for each of sm_80 and sm_90; broken.cu fails for both.
    assert out.splitlines()[-1] == "cuda-check: 6 kernels compiled, 2 failed"


@needs_nvrtc
def test_ptxas_report_lists_every_kernel():
    try:
        cuda_check.find_ptxas()
    except cuda_check.ToolMissing:
        pytest.skip("nvidia-cuda-nvcc not installed")
    _, _, ptx = cuda_check.compile_source(GOOD, "sm_90", "good.cu")
    ok, output, usages = cuda_check.ptxas_usage(ptx, "sm_90")
    assert ok, output
    assert sorted(u.kernel for u in usages) == ["exp_f16", "scale_f32", "scale_f64"]
    assert all(0 < u.registers <= 255 and not u.spills for u in usages)

"""``mx.rtc`` without a GPU: NVRTC compilation (PyPI's nvidia-cuda-nvrtc, installed by
``make cuda-check``; skipped without it), signature parsing, and the errors of a launch that
cannot run. Launches on a real GPU are in tests/gpu/test_gpu_rtc.py."""

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

AXPY = r"""
extern "C" __global__ void axpy(const float *x, float *y, float alpha) {
    int i = threadIdx.x + blockIdx.x * blockDim.x;
    y[i] += alpha * x[i];
}
"""
TEMPLATE = r"""
template<typename DType>
__global__ void axpy(const DType *x, DType *y, DType alpha) {
    int i = threadIdx.x + blockIdx.x * blockDim.x;
    y[i] += alpha * x[i];
}
"""


def _nvrtc_available():
    try:
        mx.rtc._load_nvrtc()
    except MXNetError:
        return False
    return True


needs_nvrtc = pytest.mark.skipif(not _nvrtc_available(), reason="NVRTC not installed (make cuda-check installs it)")


@needs_nvrtc
def test_compiles_to_ptx_with_the_kernel():
    module = mx.rtc.CudaModule(AXPY)
    assert ".entry axpy(" in module.ptx
    kernel = module.get_kernel("axpy", "const float *x, float *y, float alpha")
    assert kernel._is_ndarray == [True, True, False]
    assert kernel._is_const == [True, False, False]
    assert kernel._dtypes == [np.dtype(np.float32)] * 3


@needs_nvrtc
def test_exported_templates_use_their_lowered_names():
    module = mx.rtc.CudaModule(TEMPLATE, exports=["axpy<float>", "axpy<double>"])
    k = module.get_kernel("axpy<double>", "const double *, double *, double")
    assert k._symbol.startswith("_Z") and k._symbol in module.ptx
    assert k._dtypes == [np.dtype(np.float64)] * 3
    with pytest.raises(MXNetError, match="not in the compiled module"):
        module.get_kernel("axpy", "const float *x, float *y, float alpha")


@needs_nvrtc
def test_options_reach_nvrtc():
    module = mx.rtc.CudaModule(AXPY, options=["--gpu-architecture=compute_80"])
    assert ".target sm_80" in module.ptx
    with pytest.raises(MXNetError, match="compiling the source failed"):
        mx.rtc.CudaModule(AXPY, options="--no-such-option")


@needs_nvrtc
def test_compile_errors_carry_the_nvrtc_log():
    with pytest.raises(MXNetError, match=r"compiling the source failed[\s\S]*undefined_thing"):
        mx.rtc.CudaModule('extern "C" __global__ void k(float *y) { y[0] = undefined_thing; }')


@needs_nvrtc
def test_signatures_are_parsed_as_mxnet():
    module = mx.rtc.CudaModule(AXPY)
    for sig in (
        "const float *x,float *y,float alpha",
        "const float *, float *, float",
        "const  float*x, float * y, float a",
    ):
        assert module.get_kernel("axpy", sig)._is_ndarray == [True, True, False]
    with pytest.raises(ValueError, match="Invalid function prototype"):
        module.get_kernel("axpy", "const float *x, float **y, float alpha")
    with pytest.raises(ValueError, match="Invalid function prototype"):
        module.get_kernel("axpy", "const *x")
    with pytest.raises(TypeError, match="Unsupported kernel argument type unsigned"):
        module.get_kernel("axpy", "unsigned *x")


@needs_nvrtc
def test_launch_errors_without_a_usable_gpu():
    func = mx.rtc.CudaModule(AXPY).get_kernel("axpy", "const float *x, float *y, float alpha")
    x, y = mx.nd.ones((4,)), mx.nd.zeros((4,))
    with pytest.raises(MXNetError, match="only be launched on a GPU context"):
        func.launch([x, y, 1.0], mx.cpu(), (1, 1, 1), (4, 1, 1))
    with pytest.raises(MXNetError, match="grid_dims must be a tuple of 3 positive integers"):
        func.launch([x, y, 1.0], mx.gpu(0), (1, 1), (4, 1, 1))
    with pytest.raises(MXNetError, match="expects 3 arguments but got 2"):
        func.launch([x, y], mx.gpu(0), (1, 1, 1), (4, 1, 1))
    if mx.num_gpus() == 0:
        with pytest.raises(MXNetError, match="argument 0 is on cpu"):
            func.launch([x, y, 1.0], mx.gpu(0), (1, 1, 1), (4, 1, 1))
    assert y.asnumpy().tolist() == [0.0] * 4  # nothing ran


def test_missing_nvrtc_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(mx.rtc, "_nvrtc", None)
    monkeypatch.setattr(mx.rtc._cuda_libs, "find_library", lambda pattern: None)
    monkeypatch.setattr(mx.rtc.ctypes.util, "find_library", lambda name: None)
    real_cdll = mx.rtc.ctypes.CDLL

    def no_nvrtc(path, *args, **kwargs):
        if "nvrtc" in str(path):
            raise OSError(f"{path}: cannot open shared object file")
        return real_cdll(path, *args, **kwargs)

    monkeypatch.setattr(mx.rtc.ctypes, "CDLL", no_nvrtc)
    with pytest.raises(MXNetError, match="pip install nvidia-cuda-nvrtc"):
        mx.rtc.CudaModule(AXPY)

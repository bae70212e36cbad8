"""``mx.rtc`` on the device: kernels compiled at run time, launched on GPU arrays (MXNet 1.9.1's
documented examples and the engine's ordering around a launch). Real GPUs only."""

import numpy as np
import pytest
from _target import IS_MXNET, mx

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
MIXED = r"""
#include <cuda_fp16.h>
extern "C" __global__ void mixed(const __half *h, float *out, int n, int64_t k, double d, int8_t c) {
    extern __shared__ float tile[];
    int i = threadIdx.x;
    if (i < n) { tile[i] = __half2float(h[i]); }
    __syncthreads();
    if (i < n) { out[i] = tile[n - 1 - i] * (float)k + (float)d + (float)c; }
}
"""


@pytest.fixture
def gpu(dev):
    if dev.device_type != "gpu":
        pytest.skip("mx.rtc launches need a real GPU")
    return dev


def test_axpy_as_documented(gpu):
    module = mx.rtc.CudaModule(AXPY)
    func = module.get_kernel("axpy", "const float *x, float *y, float alpha")
    x = mx.nd.ones((10,), ctx=gpu)
    y = mx.nd.zeros((10,), ctx=gpu)
    func.launch([x, y, 3.0], gpu, (1, 1, 1), (10, 1, 1))
    np.testing.assert_allclose(y.asnumpy(), np.full(10, 3.0, np.float32))


def test_template_exports_and_float64(gpu):
    module = mx.rtc.CudaModule(TEMPLATE, exports=["axpy<float>", "axpy<double>"])
    f64 = module.get_kernel("axpy<double>", "const double *x, double *y, double alpha")
    x = mx.nd.array(np.arange(256), ctx=gpu, dtype="float64")
    y = mx.nd.ones((256,), ctx=gpu, dtype="float64")
    f64.launch([x, y, 0.5], gpu, (2, 1, 1), (128, 1, 1))
    np.testing.assert_allclose(y.asnumpy(), 1 + 0.5 * np.arange(256))


@pytest.mark.skipif(IS_MXNET, reason="mxrs-specific: scalar kinds and shared memory")
def test_scalar_kinds_and_shared_memory(gpu):
    try:
        module = mx.rtc.CudaModule(MIXED, options=["-default-device"])
    except mx.base.MXNetError as exc:
        if "cuda_fp16.h" in str(exc):
            pytest.skip("NVRTC without its CUDA headers")
        raise
    k = module.get_kernel("mixed", "const __half *h, float *out, int n, int64_t k, double d, int8_t c")
    h = mx.nd.array(np.arange(8), ctx=gpu, dtype="float16")
    out = mx.nd.zeros((8,), ctx=gpu)
    k.launch([h, out, 8, 2, 0.25, -1], gpu, (1, 1, 1), (8, 1, 1), shared_mem=8 * 4)
    np.testing.assert_allclose(out.asnumpy(), np.arange(8)[::-1] * 2 + 0.25 - 1)


def test_launch_is_ordered_with_other_ops(gpu):
    func = mx.rtc.CudaModule(AXPY).get_kernel("axpy", "const float *x, float *y, float alpha")
    x = mx.nd.ones((4096,), ctx=gpu) * 2  # written by an op queued before the launch
    y = mx.nd.zeros((4096,), ctx=gpu)
    for _ in range(5):
        func.launch([x, y, 1.0], gpu, (16, 1, 1), (256, 1, 1))
    z = y + 1  # reads the launch's output
    np.testing.assert_allclose(z.asnumpy(), np.full(4096, 11.0, np.float32))


def test_wrong_arguments_raise(gpu):
    func = mx.rtc.CudaModule(AXPY).get_kernel("axpy", "const float *x, float *y, float alpha")
    x = mx.nd.ones((4,), ctx=gpu)
    with pytest.raises((mx.base.MXNetError, AssertionError)):
        func.launch([x, 3.0], gpu, (1, 1, 1), (4, 1, 1))
    if not IS_MXNET:
        with pytest.raises(mx.base.MXNetError, match="dtype float64"):
            func.launch([x, mx.nd.zeros((4,), ctx=gpu, dtype="float64"), 1.0], gpu, (1, 1, 1), (4, 1, 1))
        with pytest.raises(mx.base.MXNetError, match="is on cpu"):
            func.launch([x, mx.nd.zeros((4,)), 1.0], gpu, (1, 1, 1), (4, 1, 1))
    y = mx.nd.zeros((4,), ctx=gpu)
    func.launch([x, y, 1.0], gpu, (1, 1, 1), (4, 1, 1))
    assert y.asnumpy().tolist() == [1.0] * 4

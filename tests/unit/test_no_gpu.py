"""Without a GPU: mxrs imports, reports 0 GPUs and fails cleanly on ``mx.gpu(i)`` arrays.

These run on machines without a CUDA GPU (CI, this project's VMs); on a GPU machine they skip
and tests/gpu covers the device.
"""

import pytest
from _target import IS_MXNET, mx

pytestmark = pytest.mark.skipif(mx.context.num_gpus() > 0, reason="needs a machine without a GPU")


def test_num_gpus_is_zero():
    assert mx.context.num_gpus() == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: mx.nd.ones((2, 3), ctx=mx.gpu(0)),
        lambda: mx.nd.zeros((0,), ctx=mx.gpu(0)),
        lambda: mx.nd.array([[1.0, 2.0]], ctx=mx.gpu(0)),
        lambda: mx.nd.ones((2, 3)).copyto(mx.gpu(0)),
        lambda: mx.nd.ones((2, 3)).as_in_context(mx.gpu(0)),
        lambda: mx.nd.random.uniform(shape=(4,), ctx=mx.gpu(0)),
    ],
    ids=["ones", "zeros-0-size", "array", "copyto", "as_in_context", "random"],
)
def test_gpu_array_raises_mxneterror_naming_the_device(make):
    with pytest.raises(mx.base.MXNetError) as info:
        make().wait_to_read()
    msg = str(info.value)
    assert "gpu(0)" in msg or "gpu" in msg.lower(), msg


@pytest.mark.skipif(IS_MXNET, reason="mxrs message")
def test_gpu_error_names_what_is_missing():
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.ones((2, 3), ctx=mx.gpu(0))
    msg = str(info.value).lower()
    assert "gpu(0)" in msg, msg
    assert any(
        s in msg for s in ("no cuda", "no such gpu", "driver", "no gpu", "no device", "cuda backend", "not available")
    ), msg


@pytest.mark.skipif(IS_MXNET, reason="mxrs message")
def test_other_gpu_ids_name_the_device():
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.zeros((1,), ctx=mx.gpu(7))
    assert "gpu(7)" in str(info.value), str(info.value)


def test_cpu_still_works_after_gpu_failure():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.ones((2,), ctx=mx.gpu(0))
    x = mx.nd.ones((2, 3))
    assert (x + 1).asnumpy().sum() == 12.0


def test_gpu_context_objects_and_empty_cache_on_cpu():
    ctx = mx.gpu(3)
    assert str(ctx) == "gpu(3)"
    # empty_cache on a CPU context has nothing to release and must not fail.
    mx.cpu().empty_cache()
    mx.cpu(1).empty_cache()


@pytest.mark.skipif(IS_MXNET, reason="mxrs module")
def test_cuda_preload_is_idempotent_and_never_raises():
    from mxrs import _cuda_libs

    first = _cuda_libs.preload()
    second = _cuda_libs.preload()
    assert first == second
    assert isinstance(_cuda_libs.library_dirs(), list)
    loaded, errors = _cuda_libs.loaded()
    assert isinstance(loaded, dict) and isinstance(errors, dict)
    assert _cuda_libs.find_library("libdefinitely-not-a-cuda-lib.so.99") is None


@pytest.mark.skipif(IS_MXNET, reason="mxrs module")
def test_cuda_preload_finds_pip_layout(tmp_path, monkeypatch):
    """A fake ``site-packages/nvidia/cu13/lib`` on sys.path is found (CUDA 13 wheel layout)."""
    from mxrs import _cuda_libs

    lib = tmp_path / "nvidia" / "cu13" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcublas.so.13").write_bytes(b"")
    (tmp_path / "nvidia" / "cuda_nvrtc" / "lib").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    dirs = _cuda_libs.library_dirs()
    assert str(lib.resolve()) in dirs
    assert _cuda_libs.find_library("libcublas.so.13") == str(lib.resolve() / "libcublas.so.13")

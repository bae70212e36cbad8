"""mx.library.load with MXNet 1.9.1's own example library (gemm_lib.cc), compiled here against
v1.9.1's lib_api.h/lib_api.cc read from an MXNet source checkout (``MXNET_SRC_REPO``; skipped
without one, as in CI, where tests/unit/test_library.py covers the same calls with a library of
our own)."""

import os
import shutil
import subprocess

import mxrs as mx
import numpy as np
import pytest

MXNET_SRC = os.environ.get("MXNET_SRC_REPO", "/work/.mirror/apache+mxnet/repo")
FILES = {
    "include/mxnet/lib_api.h": "include/mxnet/lib_api.h",
    "lib_api.cc": "src/lib_api.cc",
    "gemm_lib.cc": "example/extensions/lib_custom_op/gemm_lib.cc",
}


@pytest.fixture(scope="module")
def gemm_lib(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed")
    if not os.path.isdir(MXNET_SRC):
        pytest.skip(f"no MXNet source at {MXNET_SRC} (set MXNET_SRC_REPO)")
    d = tmp_path_factory.mktemp("gemm_lib")
    for dst, src in FILES.items():
        p = subprocess.run(["git", "-C", MXNET_SRC, "show", f"v1.9.1:{src}"], capture_output=True, check=False)
        if p.returncode != 0:
            pytest.skip(f"cannot read {src} of MXNet v1.9.1: {p.stderr.decode()[:200]}")
        (d / dst).parent.mkdir(parents=True, exist_ok=True)
        (d / dst).write_bytes(p.stdout)
    out = d / "libgemm_lib.so"
    cmd = [gxx, "-shared", "-fPIC", "-std=c++11", "-O2", "gemm_lib.cc", "lib_api.cc", "-o", str(out), "-I", "include"]
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    return str(out)


@pytest.fixture(scope="module")
def loaded(gemm_lib):
    mx.library.load(gemm_lib, verbose=False)
    return gemm_lib


def _ab(seed=0):
    rs = np.random.RandomState(seed)
    return rs.rand(3, 4).astype(np.float32), rs.rand(4, 2).astype(np.float32)


def test_load_adds_the_operators(gemm_lib, capfd):
    mx.library.load(gemm_lib)
    assert callable(mx.nd.my_gemm) and callable(mx.nd.state_gemm)


def test_my_gemm_forward_matches_numpy(loaded):
    a, b = _ab()
    c = mx.nd.my_gemm(mx.nd.array(a), mx.nd.array(b))
    assert c.shape == (3, 2) and c.dtype == np.float32
    np.testing.assert_allclose(c.asnumpy(), a @ b, rtol=1e-5)
    # Inputs still being computed by the engine are waited for.
    c2 = mx.nd.my_gemm(mx.nd.array(a) * 2, mx.nd.array(b) + 1)
    np.testing.assert_allclose(c2.asnumpy(), (a * 2) @ (b + 1), rtol=1e-5)
    out = mx.nd.zeros((3, 2))
    assert mx.nd.my_gemm(mx.nd.array(a), mx.nd.array(b), out=out) is out
    np.testing.assert_allclose(out.asnumpy(), a @ b, rtol=1e-5)


@pytest.mark.parametrize("op", ["my_gemm", "state_gemm"])
def test_backward_matches_numpy(loaded, op):
    a, b = _ab(1)
    x, y = mx.nd.array(a), mx.nd.array(b)
    x.attach_grad()
    y.attach_grad()
    dc = np.arange(6, dtype=np.float32).reshape(3, 2)
    with mx.autograd.record():
        c = getattr(mx.nd, op)(x, y)
    c.backward(mx.nd.array(dc))
    np.testing.assert_allclose(c.asnumpy(), a @ b, rtol=1e-5)
    np.testing.assert_allclose(x.grad.asnumpy(), dc @ b.T, rtol=1e-5)
    np.testing.assert_allclose(y.grad.asnumpy(), a.T @ dc, rtol=1e-5)


def test_stateful_op_gets_its_attributes(loaded, capfd):
    a, b = _ab(2)
    c = mx.nd.state_gemm(mx.nd.array(a), mx.nd.array(b), test_kw=100)
    np.testing.assert_allclose(c.asnumpy(), a @ b, rtol=1e-5)
    out = capfd.readouterr().out
    # The library's createOpState read test_kw; its state counted one forward and was destroyed.
    assert "Info: stateful operator created" in out and "Info: keyword + number of forward: 101" in out
    assert "Info: destructing MyStatefulGemm" in out


def test_library_errors_reach_the_user(loaded):
    a, _ = _ab()
    with pytest.raises(
        mx.base.MXNetError, match=r"'my_gemm'.*inferShape failed for input shapes \[\(3, 4\), \(3, 4\)\]"
    ) as info:
        mx.nd.my_gemm(mx.nd.array(a), mx.nd.array(a))
    assert "Exected first input axis 1 equals to second input axis 0" in str(info.value)
    with pytest.raises(mx.base.MXNetError, match="Expected input 0 to have float32 type"):
        mx.nd.my_gemm(mx.nd.array(a, dtype="float64"), mx.nd.array(a.T, dtype="float64"))
    with pytest.raises(mx.base.MXNetError, match=r"expects inputs \['data0', 'data1'\], got 1"):
        mx.nd.my_gemm(mx.nd.array(a))


def test_load_checks_the_path(tmp_path):
    with pytest.raises(mx.base.MXNetError, match="does NOT exist"):
        mx.library.load(str(tmp_path / "nope.so"))
    rel = tmp_path / "x.so"
    rel.write_bytes(b"")
    with pytest.raises(mx.base.MXNetError, match="is not an absolute path"):
        mx.library.load(os.path.relpath(rel))
    txt = tmp_path / "x.txt"
    txt.write_text("")
    with pytest.raises(mx.base.MXNetError, match="is NOT a library file"):
        mx.library.load(str(txt))
    with pytest.raises(mx.base.MXNetError, match="cannot be loaded"):
        mx.library.load(str(rel))


def test_load_a_library_without_lib_api(tmp_path):
    libm = next((p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6") if os.path.exists(p)), None)
    if libm is None:
        pytest.skip("no libm.so.6 to try")
    dst = tmp_path / "libm_copy.so"
    shutil.copy(libm, dst)
    with pytest.raises(mx.base.MXNetError, match="missing symbol '_opVersion'"):
        mx.library.load(str(dst))

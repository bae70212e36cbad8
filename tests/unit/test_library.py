"""``mx.library.load``: operator libraries built against MXNet 1.9.1's extension API.

The library under test is ``tests/data/extensions/ext_ops.c``, compiled here with the system C
compiler (the tests skip without one). It exports the C entry points of MXNet's
``lib_api.h`` (version 11), so it exercises the same calls a library built from MXNet's own
``lib_api.cc`` receives; the values are checked against NumPy.
"""

import os
import shutil
import subprocess

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

SRC = os.path.join(os.path.dirname(__file__), "..", "data", "extensions", "ext_ops.c")
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the test library")


def _build(tmp_dir, name, *defines):
    out = os.path.join(tmp_dir, f"lib{name}.so")
    subprocess.run([CC, "-shared", "-fPIC", "-O1", *defines, SRC, "-o", out], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    path = _build(str(tmp_path_factory.mktemp("ext")), "ext_ops")
    mx.library.load(path, verbose=False)
    return path


def test_load_adds_the_operators_to_nd(lib, capsys):
    for name in ("my_gemm", "my_scale", "state_count"):
        assert callable(getattr(mx.nd, name))
    mx.library.load(lib)  # a second load of the same file is a no-op
    assert capsys.readouterr().out == ""


def test_forward_matches_numpy(lib):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    c = mx.nd.my_gemm(mx.nd.array(a), mx.nd.array(b))
    assert c.shape == (3, 2)
    np.testing.assert_allclose(c.asnumpy(), a @ b, rtol=1e-5, atol=1e-6)
    y = mx.nd.my_scale(mx.nd.array(a), scale=2.5)
    np.testing.assert_allclose(y.asnumpy(), a * 2.5, rtol=1e-6)


def test_backward_runs_the_library_gradient(lib):
    rng = np.random.default_rng(1)
    a_np, b_np = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    head = rng.standard_normal((4, 2)).astype(np.float32)
    a, b = mx.nd.array(a_np), mx.nd.array(b_np)
    a.attach_grad()
    b.attach_grad()
    with mx.autograd.record():
        y = mx.nd.my_scale(mx.nd.my_gemm(a, b), scale="3")
    y.backward(mx.nd.array(head))
    np.testing.assert_allclose(a.grad.asnumpy(), 3 * head @ b_np.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.asnumpy(), 3 * a_np.T @ head, rtol=1e-5, atol=1e-5)


def test_stateful_operator_keeps_its_state_per_instance(lib):
    x = mx.nd.array(np.zeros((2, 2), dtype=np.float32))
    assert mx.nd.state_count(x, start=10).asnumpy().tolist() == [[11.0, 11.0], [11.0, 11.0]]
    assert mx.nd.state_count(x).asnumpy()[0, 0] == 1.0
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.state_count(x, start=5)
    y.backward(mx.nd.ones((2, 2)) * 2)
    assert y.asnumpy()[0, 0] == 6.0
    assert x.grad.asnumpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_library_failures_raise_mxnet_error_with_its_messages(lib):
    a = mx.nd.ones((2, 3))
    with pytest.raises(MXNetError, match=r"my_scale.*parseAttrs failed[\s\S]*needs the attribute 'scale'"):
        mx.nd.my_scale(a)
    with pytest.raises(MXNetError, match=r"inferShape failed for input shapes \[\(2, 3\), \(2, 3\)\][\s\S]*axis 1"):
        mx.nd.my_gemm(a, a)
    with pytest.raises(MXNetError, match=r"inferType failed[\s\S]*expected float32") as info:
        mx.nd.my_gemm(a, mx.nd.ones((3, 2), dtype="float64"))
    # only the messages of this failure, not the earlier ones
    assert "needs the attribute" not in str(info.value)
    # the operators still work after the failures
    assert mx.nd.my_gemm(a, mx.nd.ones((3, 1))).asnumpy().tolist() == [[3.0], [3.0]]


def test_bad_paths_and_versions(tmp_path):
    with pytest.raises(MXNetError, match="does NOT exist"):
        mx.library.load(str(tmp_path / "nope.so"))
    rel = os.path.relpath(SRC)
    with pytest.raises(MXNetError, match="not an absolute path"):
        mx.library.load(rel)
    with pytest.raises(MXNetError, match="is NOT a library file"):
        mx.library.load(os.path.abspath(SRC))
    v12 = _build(str(tmp_path), "v12", "-DEXT_VERSION=12")
    with pytest.raises(MXNetError, match=r"library version \(12\) does not match MXNet version \(11\)"):
        mx.library.load(v12, verbose=False)
    old = _build(str(tmp_path), "initfail", "-DEXT_MIN_MXNET=99999")
    with pytest.raises(MXNetError, match="failed to initialize[\\s\\S]*MXNet version too old"):
        mx.library.load(old, verbose=False)
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(MXNetError, match="cannot be loaded"):
        mx.library.load(str(bogus))


def test_symbolic_use(lib):
    if not hasattr(mx.sym, "Custom"):
        pytest.skip("mx.sym.Custom is not available")
    a_np = np.arange(6, dtype=np.float32).reshape(2, 3)
    b_np = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    x, w = mx.sym.Variable("x"), mx.sym.Variable("w")
    net = mx.sym.my_scale(mx.sym.my_gemm(x, w), scale=2)
    exe = net.simple_bind(mx.cpu(), x=(2, 3), w=(3, 4))
    exe.arg_dict["x"][:] = a_np
    exe.arg_dict["w"][:] = b_np
    out = exe.forward(is_train=True)[0]
    np.testing.assert_allclose(out.asnumpy(), 2 * a_np @ b_np, rtol=1e-5)
    exe.backward(mx.nd.ones((2, 4)))
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 2 * np.ones((2, 4)) @ b_np.T, rtol=1e-5)

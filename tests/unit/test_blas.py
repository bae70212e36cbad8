"""Large float32 ``dot`` through NumPy's OpenBLAS (when found) agrees with the pure-Rust path."""

import os
import subprocess
import sys

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

pytestmark = pytest.mark.skipif(IS_MXNET, reason="mxrs BLAS selection")

CASES = [
    ((96, 80), (80, 72), False, False),
    ((80, 96), (80, 72), True, False),
    ((96, 80), (72, 80), False, True),
    ((80, 96), (72, 80), True, True),
]


@pytest.mark.parametrize("sa,sb,ta,tb", CASES)
def test_large_dot_matches_numpy(sa, sb, ta, tb):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    want = (a.T if ta else a) @ (b.T if tb else b)
    got = mx.nd.dot(mx.nd.array(a), mx.nd.array(b), transpose_a=ta, transpose_b=tb).asnumpy()
    assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_batch_dot_large_matches_numpy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 70, 80)).astype(np.float32)
    b = rng.standard_normal((3, 80, 90)).astype(np.float32)
    assert_allclose(mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(b)).asnumpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_blas_found_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("the lookup reads /proc/self/maps")
    assert mx._native.has_external_sgemm() == (os.environ.get("MXRS_BLAS", "1") != "0")


def test_pure_rust_path_gives_the_same_product():
    code = (
        "import numpy as np, mxrs as mx\n"
        "a = np.arange(96 * 80, dtype=np.float32).reshape(96, 80) % 7 - 3\n"
        "b = np.arange(80 * 72, dtype=np.float32).reshape(80, 72) % 5 - 2\n"
        "assert not mx._native.has_external_sgemm()\n"
        "r = mx.nd.dot(mx.nd.array(a), mx.nd.array(b)).asnumpy()\n"
        "assert (r == a @ b).all()\n"
        "print('ok')\n"
    )
    env = dict(os.environ, MXRS_BLAS="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]

"""Large float32 ``dot`` through the OpenBLAS of ``scipy-openblas32`` agrees with NumPy and with
the pure-Rust path (``MXRS_BLAS=0``); ``MXRS_BLAS_LIBRARY`` overrides the library."""

import os
import subprocess
import sys

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

pytestmark = pytest.mark.skipif(IS_MXNET, reason="mxrs BLAS selection")

# 520 * 516 * 512 multiply-adds: just above the size that goes to the BLAS.
LARGE = [
    ((520, 512), (512, 516), False, False),
    ((512, 520), (512, 516), True, False),
    ((520, 512), (516, 512), False, True),
    ((512, 520), (516, 512), True, True),
]
SMALL = [((96, 80), (80, 72), False, False), ((80, 96), (72, 80), True, True)]


@pytest.mark.parametrize("sa,sb,ta,tb", LARGE + SMALL)
def test_dot_matches_numpy(sa, sb, ta, tb):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    want = (a.T if ta else a) @ (b.T if tb else b)
    got = mx.nd.dot(mx.nd.array(a), mx.nd.array(b), transpose_a=ta, transpose_b=tb).asnumpy()
    assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_batch_dot_large_matches_numpy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 520, 512)).astype(np.float32)
    b = rng.standard_normal((2, 512, 516)).astype(np.float32)
    assert_allclose(mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(b)).asnumpy(), a @ b, rtol=1e-4, atol=1e-3)


def test_the_dependency_provides_the_blas():
    if os.environ.get("MXRS_BLAS") == "0" or os.environ.get("MXRS_BLAS_LIBRARY"):
        pytest.skip("the environment chooses the BLAS")
    scipy_openblas32 = pytest.importorskip("scipy_openblas32")
    path = mx._blas.library()
    assert path is not None
    assert os.path.samefile(path, os.path.join(scipy_openblas32.get_lib_dir(), os.path.basename(path)))
    assert os.path.samefile(mx._blas._package_library(), path)


def test_importing_mxrs_opens_no_blas():
    """OpenBLAS starts a thread when opened: mxrs opens it at the first product that goes to it
    (512^3 multiply-adds; 32^3 on Intel CPUs with AVX-512), never at import or for products
    below both bounds."""
    code = (
        "import mxrs as mx\n"
        "mx.nd.dot(mx.nd.ones((16, 16)), mx.nd.ones((16, 16))).wait_to_read()\n"
        "lib = mx._blas._package_library()\n"
        "print(lib is not None and any(lib in line for line in open('/proc/self/maps')))\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/maps")
    pytest.importorskip("scipy_openblas32")
    assert _run(code).strip() == "False"


def _run(code, **env):
    """Run ``code`` in a fresh interpreter with ``env`` added; returns its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, **env), timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


# A large product of small integers: exact in float32 on every path.
EXACT_PRODUCT = (
    "import numpy as np, mxrs as mx\n"
    "a = np.arange(520 * 512, dtype=np.float32).reshape(520, 512) % 7 - 3\n"
    "b = np.arange(512 * 516, dtype=np.float32).reshape(512, 516) % 5 - 2\n"
    "r = mx.nd.dot(mx.nd.array(a), mx.nd.array(b)).asnumpy()\n"
    "assert (r == a.astype(np.float64) @ b).all()\n"
    "print(mx._native.blas_library())\n"
)


def test_pure_rust_path_gives_the_same_product():
    assert _run(EXACT_PRODUCT, MXRS_BLAS="0").strip() == "None"


def test_blas_library_variable_overrides_the_package():
    # A library that cannot be opened: nothing else is tried, so the product runs on gemm.
    assert _run(EXACT_PRODUCT, MXRS_BLAS_LIBRARY="/nonexistent/libopenblas.so").strip() == "None"


def test_blas_library_variable_names_the_library():
    pytest.importorskip("scipy_openblas32")
    path = mx._blas._package_library()
    assert _run(EXACT_PRODUCT, MXRS_BLAS="1", MXRS_BLAS_LIBRARY=path).strip() == path

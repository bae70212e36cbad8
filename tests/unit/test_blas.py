"""Large float32 ``dot`` through the OpenBLAS of ``scipy-openblas32`` agrees with NumPy and with
the pure-Rust path (``MXRS_BLAS=0``); ``MXRS_BLAS_LIBRARY`` overrides the library. Small and
mid-sized products (mxrs's own kernels on CPUs with AVX-512, the gemm crate elsewhere) agree
with NumPy at every block edge, split over the threads or not."""

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


# (m, k, n): the AVX-512 kernels' blocks are 12 rows by 32 columns with depth chunks of 256;
# products from 2^20 multiply-adds are split over the threads by column panels (n >= 64) or
# row blocks, and right operands used by many blocks are copied into panels first.
MID = [
    (1, 1, 1),
    (13, 300, 33),
    (12, 64, 32),
    (25, 70, 17),
    (100, 130, 70),
    (128, 128, 128),
    (96, 257, 200),
    (40, 600, 300),
    (300, 80, 40),
]


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", MID)
def test_mid_sized_dot_matches_numpy(m, k, n, ta, tb):
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
    got = mx.nd.dot(mx.nd.array(a), mx.nd.array(b), transpose_a=ta, transpose_b=tb).asnumpy()
    assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_split_and_unsplit_products_agree_at_every_bound():
    """The products of ``MID`` with every one split (``MXRS_AVX512_SPLIT_MIN_MACS=1``, even
    1x1x1), and with mxrs's own kernels turned off (the gemm crate), are exact on small integers
    and equal to the default path's bits."""
    code = (
        "import numpy as np, mxrs as mx\n"
        f"shapes = {MID!r}\n"
        "out = []\n"
        "for m, k, n in shapes:\n"
        "    a = np.arange(m * k, dtype=np.float32).reshape(m, k) % 7 - 3\n"
        "    b = np.arange(k * n, dtype=np.float32).reshape(k, n) % 5 - 2\n"
        "    r = mx.nd.dot(mx.nd.array(a), mx.nd.array(b)).asnumpy()\n"
        "    assert (r == a.astype(np.float64) @ b).all(), (m, k, n)\n"
        "    out.append(float(r.sum()))\n"
        "print(out)\n"
    )
    default = _run(code)
    assert _run(code, MXRS_AVX512_SPLIT_MIN_MACS="1") == default
    assert _run(code, MXRS_AVX512_GEMM_MAX_MACS="0") == default


@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_batch_dot_of_small_products_matches_numpy(ta, tb):
    # 128 products of 32x32 (split over the threads by groups of products) and a ragged batch.
    rng = np.random.default_rng(3)
    for bs, m, k, n in [(128, 32, 32, 32), (37, 9, 40, 20)]:
        a = rng.standard_normal((bs, k, m) if ta else (bs, m, k)).astype(np.float32)
        b = rng.standard_normal((bs, n, k) if tb else (bs, k, n)).astype(np.float32)
        want = (a.transpose(0, 2, 1) if ta else a) @ (b.transpose(0, 2, 1) if tb else b)
        got = mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(b), transpose_a=ta, transpose_b=tb)
        assert_allclose(got.asnumpy(), want, rtol=1e-4, atol=1e-3)


def test_products_from_several_threads_at_once_are_right():
    """Products split over the helper threads, called from several Python threads at once (each
    split taking blocks from the others' helpers' queue)."""
    import threading

    rng = np.random.default_rng(4)
    a = rng.standard_normal((160, 150)).astype(np.float32)
    b = rng.standard_normal((150, 170)).astype(np.float32)
    want = a.astype(np.float64) @ b
    xa, xb = mx.nd.array(a), mx.nd.array(b)
    errors = []

    def run():
        for _ in range(20):
            err = np.abs(mx.nd.dot(xa, xb).asnumpy() - want).max()
            if err > 1e-3:
                errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


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
    (above 512^3 multiply-adds; 32^3 on Intel CPUs with AVX-512 where mxrs's own kernels are
    turned off), never at import or for products below both bounds."""
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


def test_opening_the_blas_starts_no_threads():
    """OpenBLAS starts one spinning thread per CPU when it loads; mxrs runs every call on the
    calling thread, so it loads the library as seen from one CPU and no pool starts (the spin
    took a core from the first products for about 0.1 s)."""
    if not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2:
        pytest.skip("counts /proc/self/task threads; needs two CPUs")
    pytest.importorskip("scipy_openblas32")
    code = (
        "import os, numpy as np, mxrs as mx\n"
        "tasks = lambda: len(os.listdir('/proc/self/task'))\n"
        "a, b = np.ones((520, 512)), np.ones((512, 516))\n"
        # float64 never goes to the BLAS: it starts whatever threads a large product starts.
        "mx.nd.dot(mx.nd.array(a, dtype='float64'), mx.nd.array(b, dtype='float64')).wait_to_read()\n"
        "before = tasks()\n"
        "mx.nd.dot(mx.nd.array(a), mx.nd.array(b)).wait_to_read()\n"
        "print(mx._native.blas_library() is not None, tasks() - before)\n"
    )
    env = {k: "" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")}
    assert _run(code, MXRS_BLAS="1", **env).split() == ["True", "0"]


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

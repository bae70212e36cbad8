"""``mx.test_utils``: comparisons, tolerances, random inputs, contexts and environment.

``MXRS_TEST_TARGET=mxnet`` runs the same file against real MXNet 1.9.1; the expected messages
were produced by MXNet 1.9.1.
"""

import os
import sys

import numpy as np
import pytest
from _target import IS_MXNET, mx

tu = mx.test_utils

# MXNet 1.9.1's message for assert_almost_equal(a, b) with a = [1, 2, 3], b = [1, 2.5, 3].
MSG_1D = (
    "\nItems are not equal:\n"
    "Error 400.000000 exceeds tolerance rtol=1.000000e-04, atol=1.000000e-03 (mismatch 33.333333%).\n"
    "Location of maximum error: (1,), a=2.00000000, b=2.50000000\n"
    " ACTUAL: array([1., 2., 3.], dtype=float32)\n"
    " DESIRED: array([1. , 2.5, 3. ], dtype=float32)"
)
# ... and for a (2, 3, 4) float64 NDArray against NumPy, names=("x", "y"), rtol=1e-3, atol=1e-4.
MSG_3D = (
    "\nItems are not equal:\n"
    "Error 833.333333 exceeds tolerance rtol=1.000000e-03, atol=1.000000e-04 (mismatch 8.333333%).\n"
    "Location of maximum error: (0, 0, 1), x=1.00000000, y=0.50000000\n"
    " ACTUAL: array([[[ 0.,  1.,  2.,  3.],\n        [ 4.,  5.,  6.,  7.],\n"
    "        [ 8.,  9., 10., 11.]],...\n"
    " DESIRED: array([[[ 0. ,  0.5,  2. ,  3. ],\n        [ 4. ,  5. ,  6. ,  7. ],\n"
    "        [ 8. ,  9. , 10. , 11. ]],..."
)


def test_assert_almost_equal_message_is_mxnets(capsys):
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = a.copy()
    b[1] = 2.5
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(a, b)
    assert str(err.value) == MSG_1D
    out = capsys.readouterr().out
    assert "*** Maximum errors for vector of size 3:  rtol=0.0001, atol=0.001" in out
    assert "  1: Error 400.000000  Location of error: (1,), a=2.00000000, b=2.50000000" in out


def test_assert_almost_equal_names_tolerances_and_ndarrays(capsys):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    b = a.copy()
    b[1, 2, 3] += 1
    b[0, 0, 1] -= 0.5
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(mx.nd.array(a, dtype="float64"), b, names=("x", "y"), rtol=1e-3, atol=1e-4)
    assert str(err.value) == MSG_3D
    out = capsys.readouterr().out
    assert "  2: Error 41.493776  Location of error: (1, 2, 3), x=23.00000000, y=24.00000000" in out
    if IS_MXNET:
        # MXNet leaves np.set_printoptions(threshold=4, suppress=True) behind.
        np.set_printoptions(threshold=1000, suppress=False)
    # mxrs formats the message under those options and restores the caller's.
    assert np.get_printoptions()["threshold"] == 1000


def test_assert_almost_equal_passes_within_tolerance():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    tu.assert_almost_equal(a, a + 5e-4)  # float32 default atol 1e-3
    tu.assert_almost_equal(mx.nd.array(a), mx.nd.array(a + 5e-4))
    tu.assert_almost_equal(a, a * 1.01, rtol=0.02, atol=0)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(a, a * 1.01, rtol=0.001, atol=0)
    # A dict of dtype -> tolerance, and the default for dtypes it does not name.
    tu.assert_almost_equal(a, a * 1.01, rtol={np.dtype(np.float32): 0.02}, atol=0)
    # The larger default of the two dtypes applies: float16's atol is 0.1.
    tu.assert_almost_equal(a.astype(np.float16), a + 0.05)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(a, a + 0.05)


def test_assert_almost_equal_nan_and_bool():
    a = np.array([1.0, np.nan])
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(a, a)
    tu.assert_almost_equal(a, a, equal_nan=True)
    tu.assert_almost_equal(np.array([True, False]), np.array([True, False]))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.array([True, False]), np.array([True, True]))
    tu.assert_almost_equal_ignore_nan(np.array([1.0, np.nan, 3.0]), np.array([1.0, 5.0, np.nan]))


def test_assert_almost_equal_shapes():
    a = np.ones((2, 3), dtype=np.float32)
    tu.assert_almost_equal(a, np.ones((3,), dtype=np.float32))  # broadcast
    with pytest.raises(AssertionError, match=r"a.shape = \(2, 3\) and b.shape = \(3,\) are not equal"):
        tu.assert_almost_equal(a, np.ones((3,), dtype=np.float32), use_broadcast=False)


def test_almost_equal_and_same():
    a = np.array([1.0, 2.0])
    assert tu.almost_equal(a, a + 1e-6) is True or tu.almost_equal(a, a + 1e-6) == True  # noqa: E712
    # Defaults are float64's: rtol 1e-5, atol 1e-20.
    assert not tu.almost_equal(a, a * (1 + 2e-5))
    assert tu.almost_equal(a, a * (1 + 2e-5), rtol=1e-4)
    assert tu.same(a, a.copy())
    assert not tu.same(a, a + 1)
    assert not tu.same(a, np.ones(3))


def test_assert_almost_equal_with_err():
    a = np.zeros(100, dtype=np.float32)
    b = a.copy()
    b[:3] = 1  # 3% of the elements differ
    tu.assert_almost_equal_with_err(a, b, etol=0.05)
    with pytest.raises(AssertionError, match="mismatch 3.000000%"):
        tu.assert_almost_equal_with_err(a, b, etol=0.02)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal_with_err(a, b)  # etol 0: plain assert_almost_equal


def test_assert_exception():
    def boom(x, y=0):
        raise ValueError(x + y)

    tu.assert_exception(boom, ValueError, 1, y=2)
    with pytest.raises(AssertionError):
        tu.assert_exception(lambda: None, ValueError)
    with pytest.raises(ValueError):
        tu.assert_exception(boom, KeyError, 1)


def test_default_tolerances():
    assert tu.default_rtols()[np.dtype(np.float16)] == 1e-2
    assert tu.default_rtols()[np.dtype(np.float32)] == 1e-4
    assert tu.default_rtols()[np.dtype(np.float64)] == 1e-5
    assert tu.default_atols()[np.dtype(np.float16)] == 1e-1
    assert tu.default_atols()[np.dtype(np.float32)] == 1e-3
    assert tu.default_atols()[np.dtype(np.float64)] == 1e-20
    assert tu.default_rtols()[np.dtype(np.int32)] == 0
    assert tu.default_atols()[np.dtype(np.uint8)] == 0
    assert tu.default_numeric_eps()[np.dtype(np.float32)] == 1.0 / 2**9
    assert tu.default_dtype() is np.float32
    assert tu.get_rtol() == 1e-5 and tu.get_atol() == 1e-20 and tu.get_etol() == 0
    assert tu.get_rtol(0.5) == 0.5 and tu.get_etol(0.1) == 0.1


def test_effective_dtype_and_get_tolerance():
    x16 = mx.nd.zeros((2,), dtype="float16")
    x32 = np.zeros(2, dtype=np.float32)
    assert tu.effective_dtype(x16) == np.dtype(np.float16)
    assert tu.effective_dtype(x32) == np.dtype(np.float32)
    assert tu.get_tolerance(x32, 0.5, tu.default_rtols()) == 0.5
    assert tu.get_tolerance(x32, None, tu.default_rtols()) == 1e-4
    assert tu.get_tolerance(x32, {np.dtype(np.float32): 0.25}, tu.default_rtols()) == 0.25
    assert tu.get_tolerance(x16, {np.dtype(np.float32): 0.25}, tu.default_rtols()) == 1e-2
    assert tu.get_tols(x16, x32, None, None) == (1e-2, 1e-1)
    assert tu.get_tols(1.0, x32, None, None) == (1e-4, 1e-3)  # a Python float is float64


def test_default_context_can_be_set():
    old = tu.default_context()
    assert old == mx.current_context()
    try:
        tu.set_default_context(mx.cpu(3))
        assert tu.default_context() == mx.cpu(3)
        assert mx.nd.zeros((1,)).context == mx.cpu(3)
        assert tu.rand_ndarray((2, 2)).context == mx.cpu(3)
    finally:
        tu.set_default_context(old)
    assert tu.default_context() == old


def test_list_gpus():
    assert list(tu.list_gpus()) == list(range(mx.context.num_gpus()))


def test_random_arrays_and_shapes():
    np.random.seed(0)
    a = tu.random_arrays((2, 3))
    assert a.shape == (2, 3) and a.dtype == np.float32
    a, b, c = tu.random_arrays((1,), (4, 5), ())
    assert b.shape == (4, 5) and c.shape == () and c.dtype == np.float32
    us = tu.random_uniform_arrays((3,), (2, 2), low=2.0, high=3.0, dtype=np.float64)
    assert us[1].shape == (2, 2) and us[0].dtype == np.float64
    assert all(((u >= 2) & (u < 3)).all() for u in us)
    with pytest.raises(TypeError):
        tu.random_uniform_arrays((3,), bad=1)
    for _ in range(20):
        s2 = tu.rand_shape_2d(3, 4)
        assert len(s2) == 2 and 1 <= s2[0] <= 3 and 1 <= s2[1] <= 4
        s3 = tu.rand_shape_3d(2, 2, 2)
        assert len(s3) == 3 and all(1 <= d <= 2 for d in s3)
        sn = tu.rand_shape_nd(4, 3)
        assert isinstance(sn, tuple) and len(sn) == 4 and all(1 <= d <= 3 for d in sn)
        assert all(0 <= d <= 1 for d in tu.rand_shape_nd(3, 1, allow_zero_size=True))
        x, y = tu.rand_coord_2d(0, 5, 10, 12)
        assert 0 <= x < 5 and 10 <= y < 12


def test_random_sample():
    pop = list(range(10))
    sample = tu.random_sample(pop, 4)
    assert len(sample) == 4 and len(set(sample)) == 4 and set(sample) <= set(pop)
    assert pop == list(range(10))
    with pytest.raises(AssertionError):
        tu.random_sample(pop, 11)


def test_rand_ndarray():
    arr = tu.rand_ndarray((3, 4), dtype="float64", ctx=mx.cpu(1))
    assert isinstance(arr, mx.nd.NDArray)
    assert arr.shape == (3, 4) and arr.dtype == np.float64 and arr.context == mx.cpu(1)
    assert tu.rand_ndarray((5,)).dtype == np.float32


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), [2, 1]])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("func", [np.sum, np.max, np.prod])
def test_np_reduce(axis, keepdims, func):
    dat = np.random.RandomState(1).rand(2, 3, 4)
    ax = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_allclose(tu.np_reduce(dat, axis, keepdims, func), func(dat, axis=ax, keepdims=keepdims))


def test_environment_sets_and_restores():
    os.environ.pop("MXRS_TU_A", None)
    os.environ["MXRS_TU_B"] = "old"
    with tu.environment("MXRS_TU_A", "1"):
        assert os.environ["MXRS_TU_A"] == "1"
    assert "MXRS_TU_A" not in os.environ
    with tu.environment({"MXRS_TU_A": "x", "MXRS_TU_B": None}):
        assert os.environ["MXRS_TU_A"] == "x" and "MXRS_TU_B" not in os.environ
    assert os.environ["MXRS_TU_B"] == "old" and "MXRS_TU_A" not in os.environ
    with pytest.raises(RuntimeError), tu.environment("MXRS_TU_B", "new"):
        assert os.environ["MXRS_TU_B"] == "new"
        raise RuntimeError("body fails")
    assert os.environ["MXRS_TU_B"] == "old"
    del os.environ["MXRS_TU_B"]


@pytest.mark.skipif(IS_MXNET, reason="mxnet.util holds getenv/setenv in MXNet")
def test_getenv_setenv():
    tu.setenv("MXRS_TU_C", "v")
    assert tu.getenv("MXRS_TU_C") == "v" == os.environ["MXRS_TU_C"]
    tu.setenv("MXRS_TU_C", None)
    assert tu.getenv("MXRS_TU_C") is None


def test_environment_reaches_the_library():
    # MXNET_ENGINE_TYPE is read by the library when an engine check runs: the value set in
    # the block is the one it sees.
    with tu.environment("MXNET_SAFE_ACCUMULATION", "1"):
        assert os.environ["MXNET_SAFE_ACCUMULATION"] == "1"
        x = mx.nd.ones((4,), dtype="float16")
        assert mx.nd.sum(x).asscalar() == 4


def test_misc_helpers():
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(tu.collapse_sum_like(a, (3, 1)), a.sum(axis=(0, 2)).reshape(3, 1))
    assert tu.collapse_sum_like(a, (0, 4)).shape == (0, 4)
    np.testing.assert_allclose(tu.assign_each(np.array([1.0, 2.0]), lambda v: v * 3), [3.0, 6.0])
    np.testing.assert_allclose(tu.assign_each2(np.array([1.0, 2.0]), np.array([3.0, 4.0]), max), [3.0, 4.0])
    assert tu.create_2d_tensor(3, 2).asnumpy().tolist() == [[0, 0], [1, 1], [2, 2]]
    assert tu.create_vector(4).asnumpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(tu.get_identity_mat(3).asnumpy(), np.eye(3))
    assert tu.get_identity_mat_batch(2).shape == (2, 2, 2)
    x = mx.nd.ones((3,))
    assert tu.same_array(x, x)
    assert not tu.same_array(x, x.copy())
    data = mx.sym.Variable("data")
    s1 = mx.sym.FullyConnected(data, num_hidden=2)
    assert tu.same_symbol_structure(s1, mx.sym.FullyConnected(data, num_hidden=5))
    assert not tu.same_symbol_structure(s1, mx.sym.Activation(data, act_type="relu"))
    assert tu.is_op_runnable() is True
    assert tu.has_tvm_ops() is False
    assert tu.is_aarch64_run() is False or tu.is_aarch64_run() is True
    calls = []

    @tu.retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) >= 2

    flaky()
    assert len(calls) == 2


def test_discard_stderr(capfd, monkeypatch):
    # Under capfd, sys.stderr has no file descriptor; the real one writes to fd 2.
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    with tu.discard_stderr():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_statistical_checks():
    np.random.seed(3)
    gen = lambda n: np.random.normal(0, 1.0, size=n)  # noqa: E731
    assert tu.mean_check(gen, 0, 1.0, nsamples=100000)
    assert not tu.mean_check(lambda n: np.random.normal(0.5, 1.0, size=n), 0, 1.0, nsamples=100000)
    assert tu.var_check(gen, 1.0, nsamples=100000)
    buckets, probs = tu.gen_buckets_probs_with_ppf(lambda q: q * 4.0, 4)
    assert buckets == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)] and probs == [0.25] * 4
    pytest.importorskip("scipy")
    uniform = lambda n: np.random.uniform(0, 4, size=n)  # noqa: E731
    p, obs, exp = tu.chi_square_check(uniform, buckets, probs, nsamples=40000)
    assert p > 0.001 and obs.sum() == 40000 and list(exp) == [10000] * 4
    tu.verify_generator(uniform, buckets, probs, nsamples=20000, nrepeat=3)
    with pytest.raises(AssertionError, match="Generator test fails"):
        tu.verify_generator(lambda n: np.random.uniform(0, 2, size=n), buckets, probs, nsamples=20000, nrepeat=3)


def test_random_matrices():
    np.random.seed(4)
    m = tu.new_matrix_with_real_eigvals_2d(4)
    assert np.allclose(np.linalg.eigvals(m).imag, 0, atol=1e-8)
    s = tu.new_sym_matrix_with_real_eigvals_nd((2, 3, 3))
    assert s.shape == (2, 3, 3) and np.allclose(s, np.swapaxes(s, 1, 2))
    q = tu.new_orthonormal_matrix_2d(3)
    assert np.allclose(q @ q.T, np.eye(3))
    assert tu.new_matrix_with_real_eigvals_nd((2, 2, 3, 3)).shape == (2, 2, 3, 3)

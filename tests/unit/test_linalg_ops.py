"""``mx.nd.linalg`` / ``mx.sym.linalg`` against real MXNet 1.9.1 (``ops_linalg_golden.json``):
gemm, gemm2, potrf, potri, trmm, trsm, syrk, gelqf, syevd, sumlogdiag, extractdiag, makediag,
extracttrian, maketrian, inverse, det, slogdet; forward values and gradients, float64,
the namespaces, and the errors of bad input."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, forward, load
from _target import IS_MXNET, mx

CASES = load("linalg")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["gemm_axis0", "potrf_upper_batch", "trsm_right_t", "gelqf", "inverse_batch", "det"])
def test_float64_forward(name):
    case = CASES[name]
    for got, want in zip(forward(case, "float64"), case["outputs"], strict=True):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got.asnumpy().ravel(), want["data"], rtol=1e-5, atol=1e-6)


def _rand(shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape)


def test_namespaces_are_the_registered_ops():
    a, b = mx.nd.array(_rand((2, 3, 4))), mx.nd.array(_rand((2, 4, 5), 1))
    want = np.matmul(a.asnumpy(), b.asnumpy())
    for fn in (mx.nd.linalg.gemm2, mx.nd.linalg_gemm2):
        np.testing.assert_allclose(fn(a, b).asnumpy(), want, rtol=1e-5, atol=1e-6)
    for short in ["gemm", "gemm2", "potrf", "potri", "trmm", "trsm", "syrk", "gelqf", "syevd", "sumlogdiag"]:
        assert callable(getattr(mx.nd.linalg, short)) and callable(getattr(mx.sym.linalg, short))
    for short in ["extractdiag", "makediag", "extracttrian", "maketrian", "inverse", "det", "slogdet"]:
        assert callable(getattr(mx.nd.linalg, short)) and callable(getattr(mx.sym.linalg, short))
    assert callable(mx.sym.linalg_potrf) and callable(mx.nd.linalg_slogdet)


def test_symbols_names_outputs_and_shapes():
    x = mx.sym.var("a")
    assert mx.sym.linalg.gemm2(x, mx.sym.var("b"), name="g").list_outputs() == ["g_output"]
    assert mx.sym.linalg.gemm2(x, mx.sym.var("b")).name.startswith("gemm2")
    assert mx.sym.linalg_gemm2(x, mx.sym.var("b")).name.startswith("linalg_gemm2")
    assert mx.sym.linalg.gelqf(x, name="lq").list_outputs() == ["lq_output0", "lq_output1"]
    assert len(mx.sym.linalg.slogdet(x).list_outputs()) == 2
    assert len(mx.sym.linalg.det(x).list_outputs()) == 1
    _, outs, _ = mx.sym.linalg.gelqf(x).infer_shape(a=(2, 3, 5))
    assert outs == [(2, 3, 5), (2, 3, 3)]
    _, outs, _ = mx.sym.linalg.det(x).infer_shape(a=(4, 3, 3))
    assert outs == [(4,)]
    sym = mx.sym.linalg.gemm(x, mx.sym.var("b"), mx.sym.var("c"), transpose_a=True)
    assert sym.list_arguments() == ["a", "b", "c"]
    assert sym.infer_shape(a=(2, 4, 3), b=(2, 4, 5), c=(2, 3, 5))[1] == [(2, 3, 5)]
    args, outs, _ = sym.infer_shape(a=(2, 4, 3), b=(2, 4, 5))
    assert args == [(2, 4, 3), (2, 4, 5), (2, 3, 5)] and outs == [(2, 3, 5)]


def test_factorizations_against_numpy():
    m = _rand((3, 4, 4), 2)
    spd = m @ np.swapaxes(m, -1, -2) + 4 * np.eye(4)
    a = mx.nd.array(spd, dtype="float64")
    chol = mx.nd.linalg.potrf(a).asnumpy()
    np.testing.assert_allclose(chol, np.linalg.cholesky(spd), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mx.nd.linalg.potri(mx.nd.array(chol, dtype="float64")).asnumpy(), np.linalg.inv(spd))
    np.testing.assert_allclose(mx.nd.linalg.inverse(a).asnumpy(), np.linalg.inv(spd), rtol=1e-10)
    np.testing.assert_allclose(mx.nd.linalg.det(a).asnumpy(), np.linalg.det(spd), rtol=1e-10)
    sign, logabs = mx.nd.linalg.slogdet(mx.nd.array(m, dtype="float64"))
    want_sign, want_log = np.linalg.slogdet(m)
    np.testing.assert_allclose(sign.asnumpy(), want_sign)
    np.testing.assert_allclose(logabs.asnumpy(), want_log, rtol=1e-10)
    u, lam = mx.nd.linalg.syevd(a)
    np.testing.assert_allclose(lam.asnumpy(), np.linalg.eigvalsh(spd), rtol=1e-10)
    recon = np.swapaxes(u.asnumpy(), -1, -2) @ (lam.asnumpy()[..., None] * u.asnumpy())
    np.testing.assert_allclose(recon, spd, rtol=1e-10, atol=1e-10)
    q, lo = mx.nd.linalg.gelqf(mx.nd.array(_rand((2, 3, 5), 3), dtype="float64"))
    np.testing.assert_allclose(lo.asnumpy() @ q.asnumpy(), _rand((2, 3, 5), 3), atol=1e-12)
    np.testing.assert_allclose(
        q.asnumpy() @ np.swapaxes(q.asnumpy(), -1, -2), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12
    )


def test_singular_determinant_gradient_is_zero():
    a = mx.nd.array([[1.0, 2.0], [2.0, 4.0]])
    a.attach_grad()
    with mx.autograd.record():
        d = mx.nd.linalg.det(a)
    d.backward()
    assert d.asnumpy()[0] == 0.0
    np.testing.assert_array_equal(a.grad.asnumpy(), np.zeros((2, 2)))
    sign, logabs = mx.nd.linalg.slogdet(a)
    assert sign.asnumpy()[0] == 0.0 and logabs.asnumpy()[0] == -np.inf


def _raises(fn, *needles):
    with pytest.raises(mx.base.MXNetError) as e:
        fn().wait_to_read()
    if not IS_MXNET:
        for n in needles:
            assert n in str(e.value), (n, str(e.value))


def test_bad_inputs():
    ones = mx.nd.ones
    _raises(lambda: mx.nd.linalg.potrf(ones((2, 3))), "linalg_potrf", "(2,3)", "square")
    _raises(
        lambda: mx.nd.linalg.potrf(mx.nd.array([[1.0, 2.0], [2.0, 1.0]])), "linalg_potrf", "positive definite", "(2,2)"
    )
    _raises(lambda: mx.nd.linalg.gemm2(ones((2, 2, 3)), ones((3, 3, 2))), "linalg_gemm2", "(2,2,3)", "(3,3,2)")
    _raises(lambda: mx.nd.linalg.gemm2(ones((2, 3)), ones((2, 3))), "linalg_gemm2", "incompatible")
    _raises(lambda: mx.nd.linalg.gemm(ones((2, 3)), ones((3, 4)), ones((2, 5))), "linalg_gemm", "(2,5)")
    _raises(lambda: mx.nd.linalg.trsm(ones((2, 3, 3)), ones((3, 3, 2))), "linalg_trsm", "batch")
    _raises(lambda: mx.nd.linalg.gelqf(ones((3, 2))), "linalg_gelqf", "(3,2)")
    _raises(lambda: mx.nd.linalg.inverse(mx.nd.zeros((2, 2))), "linalg_inverse", "singular")
    _raises(lambda: mx.nd.linalg.maketrian(ones((2, 5))), "linalg_maketrian", "(2,5)")
    _raises(lambda: mx.nd.linalg.extractdiag(ones((3, 3)), offset=3), "linalg_extractdiag", "offset")
    _raises(lambda: mx.nd.linalg.sumlogdiag(ones((3,))), "linalg_sumlogdiag", "(3)")
    _raises(lambda: mx.nd.linalg.det(ones((2, 2), dtype="int32")), "linalg_det", "floating point")
    _raises(lambda: mx.nd.linalg.gemm2(ones((2, 2), dtype="float16"), ones((2, 2), dtype="float16")), "linalg_gemm2")


def test_autograd_through_a_chain_of_linalg_ops():
    # sumlogdiag(potrf(A)) is log(det(A)) / 2, whose gradient is inverse(A) / 2.
    m = _rand((2, 3, 3), 4)
    spd = m @ np.swapaxes(m, -1, -2) + 3 * np.eye(3)
    a = mx.nd.array(spd, dtype="float64")
    a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.linalg.sumlogdiag(mx.nd.linalg.potrf(a))
    y.backward()
    np.testing.assert_allclose(y.asnumpy(), 0.5 * np.linalg.slogdet(spd)[1], rtol=1e-12)
    np.testing.assert_allclose(a.grad.asnumpy(), 0.5 * np.linalg.inv(spd), rtol=1e-10, atol=1e-12)
    # A gemm2 product followed by its inverse.
    b = mx.nd.array(_rand((2, 3, 3), 5) + 3 * np.eye(3), dtype="float64")
    b.attach_grad()
    with mx.autograd.record():
        z = mx.nd.linalg.inverse(mx.nd.linalg.gemm2(b, b, transpose_b=True)).sum()
    z.backward()
    bb = b.asnumpy()
    inv = np.linalg.inv(bb @ np.swapaxes(bb, -1, -2))
    # d sum(inv(B B^T)) / dB = -(G + G^T) B with G = inv^T 1 inv^T.
    g = np.swapaxes(inv, -1, -2) @ np.ones((3, 3)) @ np.swapaxes(inv, -1, -2)
    np.testing.assert_allclose(b.grad.asnumpy(), -(g + np.swapaxes(g, -1, -2)) @ bb, rtol=1e-9, atol=1e-12)

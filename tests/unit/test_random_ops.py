"""``mx.nd.random`` / ``mx.sym.random`` and the sampling ops behind them.

The samplers (``_random_*`` with number parameters, ``_sample_*`` with array parameters,
``_sample_multinomial``) are checked for shapes, dtypes, reproducibility under
``mx.random.seed`` and sample moments against theory; the densities ``random_pdf_*`` and their
gradients against real MXNet 1.9.1 (``ops_random_golden.json``, made by
``tools/golden/extra_ops.py random``).
"""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

CASES = load("random")
N = 100_000


@pytest.mark.parametrize("name", sorted(CASES))
def test_pdf_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pdf_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-4, atol=1e-5)


# Each distribution: mx.nd.random function, number parameters, theoretical mean and variance.
MOMENTS = {
    "uniform": (mx.nd.random.uniform, (-1.0, 3.0), 1.0, 16 / 12),
    "normal": (mx.nd.random.normal, (1.5, 2.0), 1.5, 4.0),
    "gamma": (mx.nd.random.gamma, (2.5, 2.0), 5.0, 10.0),
    "gamma_small_shape": (mx.nd.random.gamma, (0.4, 1.0), 0.4, 0.4),
    "exponential": (mx.nd.random.exponential, (0.5,), 0.5, 0.25),
    "poisson": (mx.nd.random.poisson, (3.5,), 3.5, 3.5),
    "poisson_large": (mx.nd.random.poisson, (40.0,), 40.0, 40.0),
    "negative_binomial": (mx.nd.random.negative_binomial, (3, 0.4), 4.5, 11.25),
    "generalized_negative_binomial": (mx.nd.random.generalized_negative_binomial, (2.0, 0.3), 2.0, 3.2),
    "randint": (mx.nd.random.randint, (-3, 7), 1.5, (10**2 - 1) / 12),
}


def _assert_moments(x, mean, var, what):
    """Sample mean within 5 standard errors, variance within 5% (plus a little for small ones)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    assert abs(x.mean() - mean) <= 5 * np.sqrt(var / x.size) + 1e-9, (what, x.mean(), mean)
    assert abs(x.var() - var) <= 0.05 * var + 1e-3, (what, x.var(), var)


@pytest.mark.parametrize("dist", sorted(MOMENTS))
def test_scalar_sampler_moments(dist):
    fn, params, mean, var = MOMENTS[dist]
    mx.random.seed(7)
    x = fn(*params, shape=(N,)).asnumpy()
    assert x.shape == (N,)
    _assert_moments(x, mean, var, dist)
    if dist in ("poisson", "poisson_large", "negative_binomial", "generalized_negative_binomial", "randint"):
        assert np.all(x == np.round(x)), dist
    if dist == "uniform":
        assert x.min() >= -1.0 and x.max() < 3.0
    if dist == "randint":
        assert x.min() == -3 and x.max() == 6


def test_array_sampler_moments():
    """``_sample_*``: row i holds samples of the distribution of parameter element i."""
    mx.random.seed(11)
    n = N // 2
    cases = [
        (mx.nd.random.normal, ([0.0, 5.0], [1.0, 0.5]), [0.0, 5.0], [1.0, 0.25]),
        (mx.nd.random.uniform, ([0.0, 2.0], [1.0, 6.0]), [0.5, 4.0], [1 / 12, 16 / 12]),
        (mx.nd.random.gamma, ([1.0, 9.0], [2.0, 0.5]), [2.0, 4.5], [4.0, 2.25]),
        (mx.nd.random.exponential, ([1.0, 0.25],), [1.0, 0.25], [1.0, 0.0625]),
        (mx.nd.random.poisson, ([1.0, 20.0],), [1.0, 20.0], [1.0, 20.0]),
        (mx.nd.random.negative_binomial, ([2.0, 5.0], [0.5, 0.8]), [2.0, 1.25], [4.0, 1.5625]),
        (mx.nd.random.generalized_negative_binomial, ([3.0, 1.0], [0.5, 0.0]), [3.0, 1.0], [7.5, 1.0]),
    ]
    for fn, params, means, variances in cases:
        x = fn(*(mx.nd.array(p) for p in params), shape=n).asnumpy()
        assert x.shape == (2, n), fn.__name__
        for row, m, v in zip(x, means, variances, strict=True):
            _assert_moments(row, m, v, fn.__name__)


def test_randn():
    mx.random.seed(3)
    x = mx.nd.random.randn(200, 500, loc=2.0, scale=3.0)
    assert x.shape == (200, 500) and x.dtype == np.float32
    _assert_moments(x.asnumpy(), 2.0, 9.0, "randn")
    assert mx.nd.random.randn(4, dtype="float64").dtype == np.float64
    y = mx.nd.random.randn(3, loc=mx.nd.array([0.0, 10.0]), scale=mx.nd.array([1.0, 1.0]))
    assert y.shape == (2, 3)


SCALAR_FNS = {
    "uniform": (mx.nd.random.uniform, (0, 1)),
    "normal": (mx.nd.random.normal, (0, 1)),
    "gamma": (mx.nd.random.gamma, (2, 1)),
    "exponential": (mx.nd.random.exponential, (1,)),
    "poisson": (mx.nd.random.poisson, (2,)),
    "negative_binomial": (mx.nd.random.negative_binomial, (2, 0.5)),
    "generalized_negative_binomial": (mx.nd.random.generalized_negative_binomial, (2, 0.5)),
}


@pytest.mark.parametrize("dist", sorted(SCALAR_FNS))
def test_shapes_and_dtypes(dist):
    fn, params = SCALAR_FNS[dist]
    one = fn(*params)
    assert one.shape == (1,) and one.dtype == np.float32
    assert fn(*params, shape=(2, 3)).shape == (2, 3)
    assert fn(*params, shape=4, dtype="float64").dtype == np.float64
    assert fn(*params, shape=4, dtype="float16").dtype == np.float16
    out = mx.nd.zeros((3, 2), dtype="float64")
    fn(*params, out=out)
    assert out.dtype == np.float64 and out.shape == (3, 2)
    # Array parameters: params.shape + shape, float32 unless dtype says otherwise.
    arrays = [mx.nd.array(np.full((2, 2), p)) for p in params]
    assert fn(*arrays).shape == (2, 2)
    got = fn(*arrays, shape=(3,), dtype="float64")
    assert got.shape == (2, 2, 3) and got.dtype == np.float64
    f64 = [mx.nd.array(np.full((2,), p), dtype="float64") for p in params]
    assert fn(*f64).dtype == np.float32  # the parameters' dtype does not carry over
    with pytest.raises(mx.base.MXNetError):
        fn(*params, shape=2, dtype="int32").asnumpy()


def test_randint_dtypes():
    assert mx.nd.random.randint(0, 5).dtype == np.int32
    x = mx.nd.random.randint(-(2**40), 2**40, shape=(1000,), dtype="int64")
    assert x.dtype == np.int64 and np.abs(x.asnumpy()).max() > 2**32
    with pytest.raises(mx.base.MXNetError):
        mx.nd.random.randint(0, 5, dtype="float32").asnumpy()


@pytest.mark.parametrize("dist", sorted(SCALAR_FNS))
def test_seed_reproduces_draws(dist):
    fn, params = SCALAR_FNS[dist]
    arrays = [mx.nd.array([p, p]) for p in params]

    def draw():
        return fn(*params, shape=(50,)).asnumpy(), fn(*arrays, shape=(25,)).asnumpy()

    mx.random.seed(123)
    a = draw()
    mx.random.seed(123)
    b = draw()
    mx.random.seed(124)
    c = draw()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_multinomial_shapes_and_values():
    p = mx.nd.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    assert mx.nd.random.multinomial(p).shape == (2,)
    assert mx.nd.random.multinomial(p).dtype == np.int32
    assert mx.nd.random.multinomial(p, shape=(4, 5)).shape == (2, 4, 5)
    assert mx.nd.random.multinomial(mx.nd.array([0.5, 0.5])).shape == (1,)
    assert mx.nd.random.multinomial(mx.nd.array([0.5, 0.5]), shape=(3, 2)).shape == (3, 2)
    assert mx.nd.random.multinomial(p, dtype="uint8").dtype == np.uint8
    assert mx.nd.random.multinomial(p, dtype="float64").dtype == np.float64
    mx.random.seed(5)
    idx, logp = mx.nd.random.multinomial(p, shape=N // 2, get_prob=True)
    assert idx.shape == logp.shape == (2, N // 2) and logp.dtype == np.float32
    idx, logp = idx.asnumpy(), logp.asnumpy()
    freq = np.stack([np.bincount(row, minlength=3) for row in idx]) / idx.shape[1]
    np.testing.assert_allclose(freq, p.asnumpy(), atol=0.01)
    np.testing.assert_allclose(logp, np.log(np.take_along_axis(p.asnumpy(), idx, axis=1)), rtol=1e-6)
    mx.random.seed(9)
    a = mx.nd.random.multinomial(p, shape=20).asnumpy()
    mx.random.seed(9)
    np.testing.assert_array_equal(a, mx.nd.random.multinomial(p, shape=20).asnumpy())


def test_multinomial_log_prob_gradient():
    """The gradient of the log-probabilities: ograd / p summed at each drawn outcome."""
    p = mx.nd.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    p.attach_grad()
    head = mx.nd.array(np.linspace(-1, 1, 8).reshape(2, 4))
    with mx.autograd.record():
        idx, logp = mx.nd.random.multinomial(p, shape=4, get_prob=True)
    logp.backward(head)
    want = np.zeros((2, 3))
    for i in range(2):
        for j, k in enumerate(idx.asnumpy()[i]):
            want[i, k] += head.asnumpy()[i, j] / p.asnumpy()[i, k]
    np.testing.assert_allclose(p.grad.asnumpy(), want, rtol=1e-5)


def test_sample_ops_give_zero_gradients():
    mu, sigma = mx.nd.array([0.0, 1.0]), mx.nd.array([1.0, 2.0])
    mu.attach_grad()
    sigma.attach_grad()
    with mx.autograd.record():
        y = mx.nd.random.normal(mu, sigma, shape=3)
    y.backward(mx.nd.ones((2, 3)))
    np.testing.assert_array_equal(mu.grad.asnumpy(), [0, 0])
    np.testing.assert_array_equal(sigma.grad.asnumpy(), [0, 0])


def test_symbol_random_dispatch_and_inference():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    s = mx.sym.random.gamma(a, b, shape=(4,))
    assert s.infer_shape(a=(2, 3), b=(2, 3))[1] == [(2, 3, 4)]
    assert s.infer_type(a=np.float64, b=np.float64)[1] == [np.float32]
    assert mx.sym.random.uniform(0, 2, shape=(3, 5)).infer_shape()[1] == [(3, 5)]
    assert mx.sym.random.poisson(a, dtype="float64").infer_type(a=np.float32)[1] == [np.float64]
    m = mx.sym.random.multinomial(a, shape=2)  # get_prob defaults to True here, as in MXNet
    assert m.infer_shape(a=(3, 4))[1] == [(3, 2), (3, 2)]
    assert m.infer_type(a=np.float32)[1] == [np.int32, np.float32]
    # Run one: samples of U[low, high) per row.
    u = mx.sym.random.uniform(a, b, shape=(100,))
    ex = u.bind(mx.cpu(), {"a": mx.nd.array([0.0, 10.0]), "b": mx.nd.array([1.0, 20.0])})
    out = ex.forward()[0].asnumpy()
    assert out.shape == (2, 100)
    assert 0 <= out[0].min() and out[0].max() < 1 and 10 <= out[1].min() and out[1].max() < 20
    x = mx.sym.random.exponential(mx.sym.var("scale"), shape=2)
    assert x.infer_shape(scale=(5,))[1] == [(5, 2)]
    assert mx.sym.random.randn(2, 3).infer_shape()[1] == [(2, 3)]
    assert mx.sym.random.randint(0, 4, shape=(2,)).infer_type()[1] == [np.int32]


@pytest.mark.parametrize(
    "call",
    [
        "mx.nd.random.normal(0, 0, shape=2)",
        "mx.nd.random.normal(0, -1, shape=2)",
        "mx.nd.random.gamma(0, 1, shape=2)",
        "mx.nd.random.gamma(1, -1, shape=2)",
        "mx.nd.random.exponential(-1, shape=2)",
        "mx.nd.random.poisson(-1, shape=2)",
        "mx.nd.random.negative_binomial(-1, 0.5, shape=2)",
        "mx.nd.random.negative_binomial(2.5, 0.5, shape=2)",
        "mx.nd.random.generalized_negative_binomial(-1, 1, shape=2)",
        "mx.nd.random.uniform(2, 1, shape=2)",
        "mx.nd.random.randint(5, 3, shape=2)",
        "mx.nd.random.multinomial(mx.nd.array([[0.5, 0.5]]), dtype='int64')",
        "mx.nd.random.multinomial(mx.nd.array([[1, 0]], dtype='int32'))",
        "mx.nd.random.uniform(mx.nd.array([0, 1]), mx.nd.array([[2, 3]]))",
        "mx.nd.random.uniform(mx.nd.array([0, 1]), mx.nd.array([2, 3]), shape=(0,))",
        "mx.nd.random_pdf_normal(mx.nd.ones((2, 3)), mx.nd.zeros((3,)), mx.nd.ones((3,)))",
        "mx.nd.random_pdf_normal(mx.nd.ones((2,)), mx.nd.zeros((2, 1)), mx.nd.ones((2, 1)))",
        "mx.nd.random_pdf_poisson(mx.nd.ones((2, 3), dtype='int32'), mx.nd.ones((2,), dtype='int32'))",
        "mx.nd.random_pdf_dirichlet(mx.nd.ones((2, 4, 3)), mx.nd.ones((2, 2)))",
    ],
)
def test_bad_parameters_raise(call):
    with pytest.raises(mx.base.MXNetError):
        eval(call).asnumpy()  # run-time checks surface at the read, as in MXNet


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 loops forever on a non-positive gamma shape")
@pytest.mark.parametrize(
    "call",
    [
        "mx.nd.random.gamma(mx.nd.array([1, 0]), mx.nd.array([1, 1]))",
        "mx.nd.random.exponential(mx.nd.array([1, -1]))",
        "mx.nd.random.negative_binomial(mx.nd.array([1, 1]), mx.nd.array([0.5, 0]))",
    ],
)
def test_bad_array_parameters_raise(call):
    with pytest.raises(mx.base.MXNetError, match="at parameter index 1"):
        eval(call).asnumpy()


def test_mixed_parameter_types_rejected():
    with pytest.raises(AssertionError):
        mx.nd.random.normal(mx.nd.array([1.0]), 2)
    with pytest.raises(ValueError):
        mx.nd.random.normal("a", 1)


def test_mx_random_exports_every_sampler():
    for name in ("uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial"):
        assert getattr(mx.random, name) is getattr(mx.nd.random, name)
    for name in ("negative_binomial", "generalized_negative_binomial", "shuffle", "randint"):
        assert getattr(mx.random, name) is getattr(mx.nd.random, name)


def test_like_samplers():
    """``mx.nd.random.*_like``: samples of the shape and dtype of ``data``, zero gradient."""
    mx.random.seed(2)
    data = mx.nd.zeros((400, 250), dtype="float64")
    x = mx.nd.random.gamma_like(data, alpha=2.0, beta=0.5)
    assert x.shape == (400, 250) and x.dtype == np.float64
    _assert_moments(x.asnumpy(), 1.0, 0.5, "gamma_like")
    u = mx.nd.random.uniform_like(mx.nd.zeros((3, 4)), low=5, high=6).asnumpy()
    assert u.dtype == np.float32 and u.min() >= 5 and u.max() < 6
    for fn in (mx.nd.random.normal_like, mx.nd.random.exponential_like, mx.nd.random.poisson_like):
        assert fn(mx.nd.ones((2, 5), dtype="float16")).dtype == np.float16
    nb = mx.nd.random.negative_binomial_like(mx.nd.ones((10,)), k=3, p=0.5).asnumpy()
    assert np.all(nb == np.round(nb)) and nb.min() >= 0
    assert mx.nd.random.generalized_negative_binomial_like(mx.nd.ones((2, 2)), mu=2, alpha=0.5).shape == (2, 2)
    s = mx.sym.random.poisson_like(mx.sym.var("d"), lam=3)
    assert s.infer_shape(d=(2, 5))[1] == [(2, 5)]
    assert s.infer_type(d=np.float64)[1] == [np.float64]
    d = mx.nd.ones((2, 3))
    d.attach_grad()
    with mx.autograd.record():
        y = mx.nd.random.normal_like(d)
    y.backward()
    np.testing.assert_array_equal(d.grad.asnumpy(), np.zeros((2, 3)))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.random.exponential_like(mx.nd.ones((2,)), lam=0).asnumpy()


def test_sample_unique_zipfian():
    """Distinct log-uniform classes per row and the draws taken (MXNet's doc: ~16k here)."""
    mx.random.seed(4)
    samples, tries = mx.nd._internal._sample_unique_zipfian(750000, shape=(4, 8192))
    assert samples.shape == (4, 8192) and tries.shape == (4,)
    assert samples.dtype == np.int64 and tries.dtype == np.int64
    s = samples.asnumpy()
    assert all(len(np.unique(row)) == 8192 for row in s)
    assert s.min() >= 0 and s.max() < 750000
    assert np.all((tries.asnumpy() > 14000) & (tries.asnumpy() < 19000))
    # Log-uniform: about as many classes in [0, 10) as in [10, 100) drawn with replacement.
    small = mx.nd._internal._sample_unique_zipfian(1000, shape=(2000, 1))[0].asnumpy()
    assert 0.6 < (small < 10).sum() / ((small >= 10) & (small < 100)).sum() < 1.6
    with pytest.raises(mx.base.MXNetError):
        mx.nd._internal._sample_unique_zipfian(10, shape=(1, 20))[0].asnumpy()

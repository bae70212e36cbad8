"""Random inputs and statistical checks of random generators (``mx.test_utils``)."""

import numpy as np
import numpy.random as rnd

from mxrs import ndarray as nd
from mxrs.context import current_context
from mxrs.test_utils._compare import default_dtype
from mxrs.test_utils._sparse import rand_sparse_ndarray

__all__ = [
    "random_arrays",
    "random_uniform_arrays",
    "random_sample",
    "rand_ndarray",
    "rand_shape_2d",
    "rand_shape_3d",
    "rand_shape_nd",
    "rand_coord_2d",
    "np_reduce",
    "assign_each",
    "assign_each2",
    "create_2d_tensor",
    "create_vector",
    "get_identity_mat",
    "get_identity_mat_batch",
    "gen_buckets_probs_with_ppf",
    "mean_check",
    "var_check",
    "chi_square_check",
    "verify_generator",
    "new_matrix_with_real_eigvals_2d",
    "new_matrix_with_real_eigvals_nd",
    "new_orthonormal_matrix_2d",
    "new_sym_matrix_with_real_eigvals_2d",
    "new_sym_matrix_with_real_eigvals_nd",
]


def random_arrays(*shapes):
    """Standard-normal float32 NumPy arrays of the given shapes (one array for one shape)."""
    dtype = default_dtype()
    arrays = [
        np.array(np.random.randn(), dtype=dtype) if len(s) == 0 else np.random.randn(*s).astype(dtype) for s in shapes
    ]
    if len(arrays) == 1:
        return arrays[0]
    return arrays


def random_uniform_arrays(*shapes, **kwargs):
    """A list of uniform NumPy arrays (``low`` 0, ``high`` 1, ``dtype`` float32 by default)."""
    low = kwargs.pop("low", 0.0)
    high = kwargs.pop("high", 1.0)
    dtype = kwargs.pop("dtype", default_dtype())
    if len(kwargs) > 0:
        raise TypeError("Got unexpected argument/s : " + str(kwargs.keys()))
    return [np.random.uniform(low, high, size=s).astype(dtype) for s in shapes]


def random_sample(population, k):
    """``k`` elements of the list ``population`` in random order (the list is not changed)."""
    assert 0 <= k <= len(population)
    population_copy = population[:]
    np.random.shuffle(population_copy)
    return population_copy[0:k]


def rand_ndarray(
    shape,
    stype="default",
    density=None,
    dtype=None,
    modifier_func=None,
    shuffle_csr_indices=False,
    distribution=None,
    ctx=None,
):
    """A standard-normal NDArray of ``shape`` on ``ctx`` (the default context), or for
    ``stype`` ``'csr'``/``'row_sparse'`` a random sparse array (``rand_sparse_ndarray``)."""
    ctx = ctx if ctx else current_context()
    if stype != "default":
        arr, _ = rand_sparse_ndarray(
            shape,
            stype,
            density=density,
            modifier_func=modifier_func,
            dtype=dtype,
            shuffle_csr_indices=shuffle_csr_indices,
            distribution=distribution,
            ctx=ctx,
        )
        return arr
    return nd.array(random_arrays(shape), dtype=dtype, ctx=ctx)


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """A random 2-d shape with sizes up to ``dim0``/``dim1`` (from 1, or 0 if allowed)."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """A random 3-d shape with sizes up to ``dim0``/``dim1``/``dim2``."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1), rnd.randint(low, dim2 + 1)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """A random shape of ``num_dim`` sizes, each up to ``dim``."""
    low = 0 if allow_zero_size else 1
    return tuple(rnd.randint(low, dim + 1, size=num_dim))


def rand_coord_2d(x_low, x_high, y_low, y_high):
    """A random int64 point ``(x, y)`` with ``x_low <= x < x_high`` and ``y_low <= y < y_high``."""
    x = np.random.randint(x_low, x_high, dtype=np.int64)
    y = np.random.randint(y_low, y_high, dtype=np.int64)
    return x, y


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """Reduce ``dat`` with ``numpy_reduce_func`` (``np.sum``, ``np.max``...) over ``axis``
    (None, an int or several), one axis at a time, keeping reduced axes as 1 if ``keepdims``."""
    if isinstance(axis, int):
        axis = [axis]
    else:
        axis = list(axis) if axis is not None else range(len(dat.shape))
    ret = dat
    for i in reversed(sorted(axis)):
        ret = numpy_reduce_func(ret, axis=i)
    if keepdims:
        keepdims_shape = list(dat.shape)
        for i in axis:
            keepdims_shape[i] = 1
        ret = ret.reshape(tuple(keepdims_shape))
    return ret


def assign_each(the_input, function):
    """``function`` applied to each element of ``the_input`` (a float64 copy when None)."""
    if function is None:
        return np.array(the_input)
    output = np.zeros(the_input.shape)
    for idx, val in np.ndenumerate(the_input):
        output[idx] = function(val)
    return output


def assign_each2(input1, input2, function):
    """``function`` applied to each pair of elements of ``input1`` and ``input2``."""
    if function is None:
        return np.array(input1)
    assert input1.shape == input2.shape
    output = np.zeros(input1.shape)
    for idx, val in np.ndenumerate(input1):
        output[idx] = function(val, input2[idx])
    return output


def create_2d_tensor(rows, columns, dtype=np.int64):
    """A ``(rows, columns)`` NDArray whose row ``i`` holds ``i`` (for large-tensor tests)."""
    a = nd.arange(0, rows, dtype=dtype).reshape(rows, 1)
    return nd.broadcast_to(a, shape=(a.shape[0], columns))


def create_vector(size, dtype=np.int64):
    """``arange(size)`` as an NDArray (for large-tensor tests)."""
    return nd.arange(0, size, dtype=dtype)


def get_identity_mat(size):
    """The ``size`` x ``size`` identity as a float32 NDArray."""
    return nd.array(np.eye(size, dtype=np.float32))


def get_identity_mat_batch(size):
    """Two identity matrices stacked: shape ``(2, size, size)``."""
    eye = np.eye(size, dtype=np.float32)
    return nd.array(np.stack([eye, eye]))


def gen_buckets_probs_with_ppf(ppf, nbuckets):
    """``nbuckets`` equally likely buckets ``(ppf(i/n), ppf((i+1)/n))`` and their probabilities."""
    assert nbuckets > 0
    probs = [1.0 / nbuckets for _ in range(nbuckets)]
    buckets = [(ppf(i / float(nbuckets)), ppf((i + 1) / float(nbuckets))) for i in range(nbuckets)]
    return buckets, probs


def mean_check(generator, mu, sigma, nsamples=1000000):
    """Whether the mean of ``generator(nsamples)`` lies within ``mu +- 3 sigma / sqrt(n)``."""
    samples = np.array(generator(nsamples))
    sample_mean = samples.mean()
    bound = 3 * sigma / np.sqrt(nsamples)
    return bool(mu - bound < sample_mean < mu + bound)


def var_check(generator, sigma, nsamples=1000000):
    """Whether the sample variance of ``generator(nsamples)`` lies within
    ``sigma^2 +- 3 sqrt(2 sigma^4 / (n - 1))``."""
    samples = np.array(generator(nsamples))
    sample_var = samples.var(ddof=1)
    bound = 3 * np.sqrt(2 * sigma**4 / (nsamples - 1))
    return bool(sigma**2 - bound < sample_var < sigma**2 + bound)


def chi_square_check(generator, buckets, probs, nsamples=1000000):
    """Chi-square test of ``generator(nsamples)`` against ``probs`` over ``buckets`` (ranges
    ``(lo, hi)`` for a continuous distribution, else the possible values). Returns
    ``(p, observed_freq, expected_freq)``. Needs scipy, imported here rather than with the
    package: ``import mxrs`` imports ``test_utils`` (as MXNet does), and scipy.stats took half a
    second of it and started SciPy's OpenBLAS threads, which then spun beside every op."""
    try:
        import scipy.stats as ss  # type: ignore[import-untyped]
    except ImportError:  # scipy is optional, as in MXNet
        raise ImportError("scipy is not available. Please check if the scipy python bindings are installed.") from None
    assert isinstance(buckets, list)
    samples = generator(nsamples)
    assert len(probs) == len(buckets)
    continuous = isinstance(buckets[0], (list, tuple))
    if continuous:
        buckets_npy = np.zeros((len(buckets) * 2,), dtype=np.float32)
        for i, _ in enumerate(buckets):
            assert buckets[i][0] <= buckets[i][1]
            if i < len(buckets) - 1:
                assert buckets[i][1] <= buckets[i + 1][0]
            buckets_npy[i * 2] = buckets[i][0]
            buckets_npy[i * 2 + 1] = buckets[i][1]
        sample_bucket_ids = np.searchsorted(buckets_npy, samples, side="right") // 2
    else:
        sample_bucket_ids = np.array(samples)
    expected_freq = (nsamples * np.array(probs, dtype=np.float32)).astype(np.int32)
    obs_freq = np.zeros(shape=len(buckets), dtype=np.int64)
    for i, _ in enumerate(buckets):
        obs_freq[i] = (sample_bucket_ids == (i if continuous else buckets[i])).sum()
    _, p = ss.chisquare(f_obs=obs_freq, f_exp=expected_freq)
    return p, obs_freq, expected_freq


def verify_generator(generator, buckets, probs, nsamples=1000000, nrepeat=5, success_rate=0.2, alpha=0.05):
    """Repeat :func:`chi_square_check` ``nrepeat`` times; raise ``AssertionError`` unless at
    least ``success_rate`` of the p-values exceed ``alpha``. Returns the p-values."""
    cs_ret_l, obs_freq_l, expected_freq_l = [], [], []
    for _ in range(nrepeat):
        cs_ret, obs_freq, expected_freq = chi_square_check(
            generator=generator, buckets=buckets, probs=probs, nsamples=nsamples
        )
        cs_ret_l.append(cs_ret)
        obs_freq_l.append(obs_freq)
        expected_freq_l.append(expected_freq)
    success_num = (np.array(cs_ret_l) > alpha).sum()
    if success_num < nrepeat * success_rate:
        raise AssertionError(
            f"Generator test fails, Chi-square p={cs_ret_l!s}, obs_freq={obs_freq_l!s}, "
            f"expected_freq={expected_freq_l!s}.\nbuckets={buckets!s}, probs={probs!s}"
        )
    return cs_ret_l


def new_matrix_with_real_eigvals_2d(n):
    """A well-conditioned ``n`` x ``n`` NumPy matrix with small real eigenvalues."""
    shape = (n, n)
    while True:
        d = np.diag(np.random.uniform(-1.0, 1.0, shape[-1]))
        eye = np.eye(shape[-1]).reshape(shape)
        v = np.random.uniform(-1.0, 1.0, shape[-1]).reshape(shape[:-1] + (1,))
        v = v / np.linalg.norm(v, axis=-2, keepdims=True)
        u = eye - 2 * np.matmul(v, np.swapaxes(v, -1, -2))
        q = np.matmul(u, d)
        if np.linalg.cond(q, 2) < 3:
            break
    d = np.diag(np.random.uniform(-10.0, 10.0, n))
    return np.matmul(np.matmul(np.linalg.inv(q), d), q)


def new_matrix_with_real_eigvals_nd(shape):
    """A batch of :func:`new_matrix_with_real_eigvals_2d` matrices of ``shape``."""
    n = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return np.array([new_matrix_with_real_eigvals_2d(shape[-1]) for _ in range(n)]).reshape(shape)


def new_orthonormal_matrix_2d(n):
    """A random orthonormal ``n`` x ``n`` NumPy matrix."""
    x = np.random.randn(n, n)
    return np.linalg.qr(np.matmul(x.T, x))[0]


def new_sym_matrix_with_real_eigvals_2d(n):
    """A random symmetric ``n`` x ``n`` NumPy matrix with eigenvalues in [-10, 10]."""
    q = new_orthonormal_matrix_2d(n)
    d = np.diag(np.random.uniform(-10.0, 10.0, n))
    return np.matmul(np.matmul(q.T, d), q)


def new_sym_matrix_with_real_eigvals_nd(shape):
    """A batch of :func:`new_sym_matrix_with_real_eigvals_2d` matrices of ``shape``."""
    n = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return np.array([new_sym_matrix_with_real_eigvals_2d(shape[-1]) for _ in range(n)]).reshape(shape)

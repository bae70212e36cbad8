"""``mx.nd.random``: samples of the usual distributions, as ``mxnet.ndarray.random``.

Scalar parameters draw from the ``_random_*`` ops (``shape`` samples of one distribution);
NDArray parameters from the ``_sample_*`` ops (``shape`` samples of the distribution of each
parameter element, so the output has shape ``params.shape + shape``). Every draw comes from
the context's generator, which ``mx.random.seed`` reseeds.

The ``*_like`` functions (``_random_*_like`` ops) draw as many samples as ``data`` has
elements, of its shape and dtype.
"""

from numbers import Number

from mxrs.base import _Null
from mxrs.context import current_context
from mxrs.ndarray import _ops
from mxrs.ndarray._call import _call
from mxrs.ndarray.ndarray import NDArray

__all__ = [
    "uniform",
    "normal",
    "randn",
    "poisson",
    "exponential",
    "gamma",
    "multinomial",
    "negative_binomial",
    "generalized_negative_binomial",
    "shuffle",
    "randint",
    "uniform_like",
    "normal_like",
    "gamma_like",
    "exponential_like",
    "poisson_like",
    "negative_binomial_like",
    "generalized_negative_binomial_like",
]

# (scalar op, array op, parameter names) of each distribution.
_OPS = {
    "uniform": ("_random_uniform", "_sample_uniform", ("low", "high")),
    "normal": ("_random_normal", "_sample_normal", ("loc", "scale")),
    "poisson": ("_random_poisson", "_sample_poisson", ("lam",)),
    "exponential": ("_random_exponential", "_sample_exponential", ("lam",)),
    "gamma": ("_random_gamma", "_sample_gamma", ("alpha", "beta")),
    "negative_binomial": ("_random_negative_binomial", "_sample_negative_binomial", ("k", "p")),
    "generalized_negative_binomial": (
        "_random_generalized_negative_binomial",
        "_sample_generalized_negative_binomial",
        ("mu", "alpha"),
    ),
    "randint": ("_random_randint", None, ("low", "high")),
}


def _random_helper(dist, params, shape, dtype, ctx, out, kwargs):
    """Dispatch to the scalar sampler or, for NDArray parameters, the array sampler."""
    random, sampler, names = _OPS[dist]
    if isinstance(params[0], NDArray):
        for p in params[1:]:
            assert isinstance(p, NDArray), (
                f"Distribution parameters must all have the same type, but got both {type(params[0])} and {type(p)}."
            )
        if sampler is None:
            raise ValueError(f"{dist}: parameters must be numbers, got NDArray")
        return _call(sampler, list(params), {"shape": shape, "dtype": dtype}, out, None, kwargs)
    if isinstance(params[0], Number):
        if ctx is None:
            ctx = current_context()
        if shape is _Null and out is None:
            shape = 1
        for p in params[1:]:
            assert isinstance(p, Number), (
                f"Distribution parameters must all have the same type, but got both {type(params[0])} and {type(p)}."
            )
        attrs = dict(zip(names, params, strict=True))
        if shape is _Null and out is not None:
            shape = out.shape  # MXNet infers it from the output
        attrs.update(shape=shape, dtype=dtype)
        return _call(random, [], attrs, out, ctx, kwargs)
    raise ValueError(f"Distribution parameters must be either NDArray or numbers, but got {type(params[0])}.")


def uniform(low=0, high=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the uniform distribution on [low, high)."""
    return _random_helper("uniform", [low, high], shape, dtype, ctx, out, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the normal distribution of mean ``loc`` and standard deviation ``scale``."""
    return _random_helper("normal", [loc, scale], shape, dtype, ctx, out, kwargs)


def randn(*shape, **kwargs):
    """Normal samples of shape ``shape`` (``loc``, ``scale``, ``dtype``, ``ctx``, ``out`` as
    keywords)."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    ctx = kwargs.pop("ctx", None)
    out = kwargs.pop("out", None)
    assert isinstance(loc, (int, float, NDArray))
    assert isinstance(scale, (int, float, NDArray))
    return _random_helper("normal", [loc, scale], shape, dtype, ctx, out, kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the Poisson distribution of rate ``lam`` (as floats)."""
    return _random_helper("poisson", [lam], shape, dtype, ctx, out, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the exponential distribution of scale ``scale`` (rate ``1 / scale``)."""
    return _random_helper("exponential", [1.0 / scale], shape, dtype, ctx, out, kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the gamma distribution of shape ``alpha`` and scale ``beta``."""
    return _random_helper("gamma", [alpha, beta], shape, dtype, ctx, out, kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the negative binomial distribution: failures before ``k`` successes of
    probability ``p`` each (as floats)."""
    return _random_helper("negative_binomial", [k, p], shape, dtype, ctx, out, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples of the negative binomial distribution of mean ``mu`` and dispersion ``alpha``
    (variance ``mu + alpha mu^2``; as floats)."""
    return _random_helper("generalized_negative_binomial", [mu, alpha], shape, dtype, ctx, out, kwargs)


def multinomial(data, shape=_Null, get_prob=False, out=None, dtype="int32", **kwargs):
    """Indices drawn from the categorical distributions along ``data``'s last axis (which must
    sum to 1); with ``get_prob`` also their log-probabilities, as ``[samples, log_probs]``."""
    attrs = {"shape": shape, "get_prob": get_prob, "dtype": dtype}
    return _call("_sample_multinomial", [data], attrs, out, None, kwargs)


def shuffle(data, **kwargs):
    """A copy of ``data`` shuffled along its first axis."""
    return _call("_shuffle", [data], {}, kwargs.pop("out", None), None, kwargs)


def randint(low, high, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from [low, high) (int32 unless ``dtype='int64'``)."""
    return _random_helper("randint", [low, high], shape, dtype, ctx, out, kwargs)


# The `_random_*_like` ops: samples of the shape and dtype of `data`.
uniform_like = _ops._random_uniform_like
normal_like = _ops._random_normal_like
gamma_like = _ops._random_gamma_like
exponential_like = _ops._random_exponential_like
poisson_like = _ops._random_poisson_like
negative_binomial_like = _ops._random_negative_binomial_like
generalized_negative_binomial_like = _ops._random_generalized_negative_binomial_like

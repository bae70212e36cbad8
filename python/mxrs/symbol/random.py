"""``mx.sym.random``: sampling symbols, as ``mxnet.symbol.random``.

Number parameters make ``_random_*`` nodes; Symbol parameters make ``_sample_*`` nodes whose
output has shape ``params.shape + shape``.

The ``*_like`` functions (``_random_*_like`` ops) draw as many samples as ``data`` has
elements, of its shape and dtype.
"""

from numbers import Number

from mxrs.base import _Null
from mxrs.symbol import _ops
from mxrs.symbol.symbol import Symbol

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


def _random_helper(random, sampler, params, shape, dtype, kwargs):
    """Dispatch to the scalar sampler or, for Symbol parameters, the array sampler."""
    if isinstance(params[0], Symbol):
        for p in params[1:]:
            assert isinstance(p, Symbol), (
                f"Distribution parameters must all have the same type, but got both {type(params[0])} and {type(p)}."
            )
        if sampler is None:
            raise ValueError("parameters must be numbers, got Symbol")
        return sampler(*params, shape=shape, dtype=dtype, **kwargs)
    if isinstance(params[0], Number):
        for p in params[1:]:
            assert isinstance(p, Number), (
                f"Distribution parameters must all have the same type, but got both {type(params[0])} and {type(p)}."
            )
        return random(*params, shape=shape, dtype=dtype, **kwargs)
    raise ValueError(f"Distribution parameters must be either Symbol or numbers, but got {type(params[0])}.")


def uniform(low=0, high=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the uniform distribution on [low, high)."""
    return _random_helper(_ops._random_uniform, _ops._sample_uniform, [low, high], shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the normal distribution of mean ``loc`` and standard deviation ``scale``."""
    return _random_helper(_ops._random_normal, _ops._sample_normal, [loc, scale], shape, dtype, kwargs)


def randn(*shape, **kwargs):
    """Normal samples of shape ``shape`` (``loc``, ``scale``, ``dtype`` as keywords)."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    assert isinstance(loc, (int, float, Symbol))
    assert isinstance(scale, (int, float, Symbol))
    return _random_helper(_ops._random_normal, _ops._sample_normal, [loc, scale], shape, dtype, kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the Poisson distribution of rate ``lam``."""
    return _random_helper(_ops._random_poisson, _ops._sample_poisson, [lam], shape, dtype, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the exponential distribution of scale ``scale`` (rate ``1 / scale``)."""
    return _random_helper(_ops._random_exponential, _ops._sample_exponential, [1.0 / scale], shape, dtype, kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the gamma distribution of shape ``alpha`` and scale ``beta``."""
    return _random_helper(_ops._random_gamma, _ops._sample_gamma, [alpha, beta], shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the negative binomial distribution (failures before ``k`` successes)."""
    return _random_helper(_ops._random_negative_binomial, _ops._sample_negative_binomial, [k, p], shape, dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, **kwargs):
    """Samples of the negative binomial distribution of mean ``mu`` and dispersion ``alpha``."""
    return _random_helper(
        _ops._random_generalized_negative_binomial,
        _ops._sample_generalized_negative_binomial,
        [mu, alpha],
        shape,
        dtype,
        kwargs,
    )


def multinomial(data, shape=_Null, get_prob=True, dtype="int32", **kwargs):
    """Indices drawn from the categorical distributions along ``data``'s last axis; with
    ``get_prob`` (the default here, as in MXNet) a second output of their log-probabilities."""
    return _ops._sample_multinomial(data, shape, get_prob, dtype=dtype, **kwargs)


def shuffle(data, **kwargs):
    """``data`` shuffled along its first axis."""
    return _ops._shuffle(data, **kwargs)


def randint(low, high, shape=_Null, dtype=_Null, **kwargs):
    """Integers drawn uniformly from [low, high)."""
    return _random_helper(_ops._random_randint, None, [low, high], shape, dtype, kwargs)


# The `_random_*_like` ops: samples of the shape and dtype of `data`.
uniform_like = _ops._random_uniform_like
normal_like = _ops._random_normal_like
gamma_like = _ops._random_gamma_like
exponential_like = _ops._random_exponential_like
poisson_like = _ops._random_poisson_like
negative_binomial_like = _ops._random_negative_binomial_like
generalized_negative_binomial_like = _ops._random_generalized_negative_binomial_like

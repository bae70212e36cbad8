"""Random sampling: ``mx.nd.random.uniform``, ``normal``, ``randint``, ``shuffle``."""

from mxrs.base import _Null
from mxrs.ndarray.ndarray import _call


def _shape(shape, out):
    # Without a shape, an `out` array gives it (MXNet infers it from the output).
    return out.shape if shape is _Null and out is not None else shape


__all__ = ["uniform", "normal", "randint", "shuffle"]


def uniform(low=0, high=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from the uniform distribution on [low, high)."""
    return _call(
        "_random_uniform", [], {"low": low, "high": high, "shape": _shape(shape, out), "dtype": dtype}, out, ctx, kwargs
    )


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from the normal distribution N(loc, scale^2)."""
    return _call(
        "_random_normal",
        [],
        {"loc": loc, "scale": scale, "shape": _shape(shape, out), "dtype": dtype},
        out,
        ctx,
        kwargs,
    )


def randint(low, high, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from [low, high)."""
    return _call(
        "_random_randint", [], {"low": low, "high": high, "shape": _shape(shape, out), "dtype": dtype}, out, ctx, kwargs
    )


def shuffle(data, **kwargs):
    """A copy of ``data`` shuffled along its first axis."""
    return _call("_shuffle", [data], {}, kwargs.pop("out", None), None, kwargs)

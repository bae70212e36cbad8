"""MXNet 1.x's ``mx.sym`` functions built on registry ops with a Python front: ``histogram``
and ``split_v2``, and the creation functions ``arange``, ``linspace`` and ``full`` and the
binary functions ``pow``/``power`` and ``hypot`` of symbols and numbers."""

from mxrs.symbol import _ops


def histogram(a, bins=10, range=None, **kwargs):  # noqa: A002 - MXNet's argument name
    """The histogram of ``a``'s values: a symbol of two outputs (counts, bin edges). ``bins``
    is a symbol of edges, or a count of equal bins over ``range`` (required here)."""
    from mxrs.symbol.symbol import Symbol

    if isinstance(bins, Symbol):
        return _ops._histogram(data=a, bins=bins, **kwargs)
    if isinstance(bins, int):
        if range is None:
            raise ValueError("null range is not supported in symbol mode")
        return _ops._histogram(data=a, bin_cnt=bins, range=range, **kwargs)
    raise ValueError("bins argument should be either an integer or an NDArray")


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Split ``ary`` along ``axis`` into equal sections or at the given indices."""
    if isinstance(indices_or_sections, int):
        return _ops._split_v2(ary, axis=axis, squeeze_axis=squeeze_axis, sections=indices_or_sections)
    if isinstance(indices_or_sections, tuple):
        indices = (0, *indices_or_sections)
        return _ops._split_v2(ary, indices=indices, axis=axis, squeeze_axis=squeeze_axis)
    raise ValueError("indices_or_sections must either int or tuple of ints")


def full(shape, val, dtype=None, **kwargs):
    """A symbol of ``shape`` filled with ``val``."""
    return _ops._full(shape=shape, dtype=dtype or "float32", value=float(val), **kwargs)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None):
    """A symbol of evenly spaced values in [start, stop), each repeated ``repeat`` times."""
    if infer_range:
        raise ValueError("arange: infer_range=True is not supported")
    return _ops._arange(start=start, stop=stop, step=step, repeat=repeat, name=name, dtype=dtype or "float32")


def linspace(start, stop, num, endpoint=True, name=None, dtype=None):
    """A symbol of ``num`` evenly spaced values from ``start`` to ``stop``."""
    return _ops._linspace(start=start, stop=stop, num=num, endpoint=endpoint, name=name, dtype=dtype or "float32")


def _binary(array_op, scalar_op, rscalar_op, number):
    """A function of two symbols or a symbol and a number, as MXNet's ``mx.sym.pow``."""
    from mxrs.symbol.symbol import Symbol

    def fn(lhs, rhs):
        if isinstance(lhs, Symbol) and isinstance(rhs, Symbol):
            return getattr(_ops, array_op)(lhs, rhs)
        if isinstance(lhs, Symbol) and isinstance(rhs, (int, float)):
            return getattr(_ops, scalar_op)(lhs, scalar=rhs)
        if isinstance(rhs, Symbol) and isinstance(lhs, (int, float)):
            return getattr(_ops, rscalar_op)(rhs, scalar=lhs)
        if isinstance(lhs, (int, float)) and isinstance(rhs, (int, float)):
            return number(lhs, rhs)
        raise TypeError(f"types ({type(lhs)}, {type(rhs)}) not supported")

    return fn


def pow(base, exp):  # noqa: A001 - MXNet's name
    """``base ** exp`` elementwise, for symbols (same shapes) and numbers."""
    return _binary("_power", "_power_scalar", "_rpower_scalar", lambda a, b: a**b)(base, exp)


def power(base, exp):
    """Same as :func:`pow`."""
    return pow(base, exp)


def hypot(left, right):
    """``sqrt(left ** 2 + right ** 2)`` elementwise, for symbols (same shapes) and numbers."""
    return _binary("_hypot", "_hypot_scalar", "_hypot_scalar", lambda a, b: (a * a + b * b) ** 0.5)(left, right)


__all__ = ["histogram", "split_v2", "full", "arange", "linspace", "pow", "power", "hypot"]

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


__all__ = ["histogram", "split_v2"]

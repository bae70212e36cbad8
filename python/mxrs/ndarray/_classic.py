"""MXNet 1.x's deprecated ``mx.nd`` functions built on registry ops: ``onehot_encode``,
``concatenate``, ``histogram`` and ``split_v2``, with MXNet's signatures."""

import warnings

import numpy as np

from mxrs.base import MXNetError
from mxrs.ndarray import _ops
from mxrs.ndarray.ndarray import NDArray, array


def onehot_encode(indices, out):
    """One-hot rows of ``out``'s shape from ``indices``, written into ``out`` (deprecated:
    use ``one_hot``)."""
    return _ops._onehot_encode(indices, out, out=out)


def concatenate(arrays, axis=0, always_copy=True):
    """Join ``arrays`` along ``axis`` (deprecated: use ``concat``). With ``always_copy=False`` a
    single array is returned itself."""
    if not arrays:
        raise MXNetError("concatenate: needs at least one array")
    if not always_copy and len(arrays) == 1:
        return arrays[0]
    first = arrays[0]
    for a in arrays[1:]:
        same = a.shape[:axis] == first.shape[:axis] and a.shape[axis + 1 :] == first.shape[axis + 1 :]
        if not same or a.dtype != first.dtype:
            raise MXNetError(
                f"concatenate: arrays of shapes {first.shape} ({first.dtype}) and {a.shape} ({a.dtype}) "
                f"differ off axis {axis} or in dtype"
            )
    return _ops.Concat(*arrays, dim=axis)


def histogram(a, bins=10, range=None):  # noqa: A002 - MXNet's argument name
    """The histogram of ``a``'s values: (counts, bin edges). ``bins`` is a count of equal bins
    over ``range`` or an array of edges; a count without a range uses numpy's bins, as MXNet does."""
    if isinstance(bins, NDArray):
        return _ops._histogram(data=a, bins=bins)
    if isinstance(bins, (int, np.integer)):
        if range is None:
            warnings.warn("range is not specified, using numpy's result to ensure consistency with numpy", stacklevel=2)
            res, bin_bounds = np.histogram(a.asnumpy(), bins=bins)
            return array(res), array(bin_bounds)
        return _ops._histogram(data=a, bin_cnt=bins, range=range)
    raise ValueError("bins argument should be either an integer or an NDArray")


def _split_indices(axis_size, indices_or_sections):
    """The start of each piece, as MXNet's ``split_v2`` computes it."""
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or axis_size % sections:
            raise ValueError("array split does not result in an equal division")
        size = axis_size // sections
        return [i * size for i in range(sections)]
    if isinstance(indices_or_sections, tuple):
        return [0] + list(indices_or_sections)
    raise ValueError("indices_or_sections must either int or tuple of ints")


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Split ``ary`` along ``axis`` into equal sections or at the given indices (a list when
    there are several pieces)."""
    indices = _split_indices(ary.shape[axis], indices_or_sections)
    return _ops._split_v2(ary, indices=tuple(indices), axis=axis, squeeze_axis=squeeze_axis)


__all__ = ["onehot_encode", "concatenate", "histogram", "split_v2"]

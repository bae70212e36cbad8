"""Dtype names and conversions between NumPy's dtypes and mxrs's (the NDArray class's helpers)."""

from typing import Any

import numpy as np

from mxrs.base import DTypeError

_DTYPE_NAMES: dict[np.dtype, str] = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.float16): "float16",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int8): "int8",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "bool",
}


# NumPy has no bfloat16; as MXNet does, arrays of it show this structured dtype (raw bits).
BFLOAT16 = np.dtype([("bfloat16", "<u2")])


def _np_dtype(name):
    """mxrs dtype name -> the NumPy dtype of ``asnumpy``."""
    return BFLOAT16 if name == "bfloat16" else np.dtype(name)


def _host_array(src, name):
    """A C-contiguous NumPy array holding ``src`` converted to the mxrs dtype ``name``."""
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one.)
    if name != "bfloat16":
        return src.astype(name, order="C", copy=False)
    if src.dtype == BFLOAT16:
        return np.asarray(src, order="C")
    bits = np.asarray(src, dtype=np.float32, order="C").view(np.uint32)
    rounded = (bits + (((bits >> 16) & 1) + 0x7FFF)) >> 16  # round to nearest even
    return rounded.astype(np.uint16).view(BFLOAT16)


# Names already resolved by _dtype_name, by the (hashable) dtype a caller passed.
_DTYPE_NAME_OF: dict[Any, str] = {}


def _dtype_name(dtype):
    """NumPy-compatible dtype (name, class, np.dtype) -> mxrs dtype name."""
    if dtype is None:
        return "float32"
    try:
        return _DTYPE_NAME_OF[dtype]
    except (KeyError, TypeError):
        pass
    name = _resolve_dtype_name(dtype)
    if len(_DTYPE_NAME_OF) < 256:
        _DTYPE_NAME_OF[dtype] = name
    return name


def _resolve_dtype_name(dtype):
    if isinstance(dtype, str) and dtype in ("bfloat16", "bf16"):
        return "bfloat16"
    if isinstance(dtype, np.dtype) and dtype == BFLOAT16:
        return "bfloat16"
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"unknown dtype {dtype!r}") from e
    if d not in _DTYPE_NAMES:
        raise DTypeError(f"dtype {d} is not supported by mxrs NDArray")
    return _DTYPE_NAMES[d]

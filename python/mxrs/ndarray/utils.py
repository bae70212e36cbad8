"""``mx.nd.save`` / ``mx.nd.load`` in MXNet's binary format."""

import os

from mxrs import _native
from mxrs.ndarray.ndarray import NDArray, _wrap

__all__ = ["save", "load", "load_frombuffer"]


def save(fname, data):
    """Save an NDArray, a list of NDArrays or a dict of str -> NDArray to ``fname``.

    The write is atomic: a temporary file in the same folder is renamed over the target, so a
    failure midway leaves any previous file intact.
    """
    if isinstance(data, NDArray):
        arrays, names = [data], list[str]()
    elif isinstance(data, dict):
        arrays, names = [], []
        for k, v in data.items():
            if not isinstance(k, str):
                raise TypeError("save only accepts dict str->NDArray or list of NDArray")
            if not isinstance(v, NDArray):
                raise TypeError("save only accepts dict str->NDArray or list of NDArray")
            names.append(k)
            arrays.append(v)
        if not arrays:
            names = []
    elif isinstance(data, list):
        if not all(isinstance(v, NDArray) for v in data):
            raise TypeError("save only accepts dict str->NDArray or list of NDArray")
        arrays, names = list(data), []
    else:
        raise ValueError("data needs to either be a NDArray, dict of str, NDArray pairs or a list of NDarrays.")
    _native.save(os.fspath(fname), [a._handle for a in arrays], names)


def _result(handles, names):
    arrays = [_wrap(h) for h in handles]
    if names:
        return dict(zip(names, arrays))
    return arrays


def load(fname):
    """Load a file written by ``save`` (mxrs or MXNet): a list, or a dict when it has names."""
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError("fname required to be a string")
    return _result(*_native.load(os.fspath(fname)))


def load_frombuffer(buf):
    """Like ``load``, from the bytes of such a file."""
    if not isinstance(buf, (bytes, bytearray)):
        raise TypeError("buf required to be a bytes-like object")
    return _result(*_native.load_frombuffer(bytes(buf)))

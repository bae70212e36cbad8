"""``mx.nd.save`` / ``mx.nd.load`` in MXNet's binary format.

Files of dense arrays are written by the native writer. A file holding a sparse array (csr,
row_sparse) is assembled here: dense records come from the native writer's record bytes, sparse
records are written as MXNet 1.9.1 writes them (storage type, storage shape, shape, context,
dtype, per aux array its dtype and shape, then the values and the aux arrays), byte for byte.
Loading keeps sparse records sparse.
"""

import os
import struct

import numpy as np

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
    if any(a.stype != "default" for a in arrays):
        _native.write_file(os.fspath(fname), _file_bytes(arrays, names))
        return
    _native.save(os.fspath(fname), [a._handle for a in arrays], names)


_LIST_MAGIC = 0x112
_V2_MAGIC = 0xF993FAC9
_STYPE_ID = {"row_sparse": 1, "csr": 2}
_TYPE_FLAG = {
    "float32": 0,
    "float64": 1,
    "float16": 2,
    "uint8": 3,
    "int32": 4,
    "int8": 5,
    "int64": 6,
    "bool": 7,
    "bfloat16": 12,
}


def _shape_bytes(shape):
    return struct.pack("<i", len(shape)) + b"".join(struct.pack("<q", int(d)) for d in shape)


def _raw(a):
    """The little-endian element bytes of a dense array."""
    return np.ascontiguousarray(a.asnumpy()).tobytes()


def _sparse_record(a):
    """The V2 record of a sparse array (context cpu(0), as MXNet writes for CPU arrays)."""
    aux = list(a._sp_aux)
    head = struct.pack("<Ii", _V2_MAGIC, _STYPE_ID[a.stype]) + _shape_bytes(a.data.shape) + _shape_bytes(a.shape)
    head += struct.pack("<iii", 1, 0, _TYPE_FLAG[a.data._handle.dtype])
    for x in aux:
        head += struct.pack("<i", _TYPE_FLAG[x._handle.dtype]) + _shape_bytes(x.shape)
    return head + _raw(a.data) + b"".join(_raw(x) for x in aux)


def _file_bytes(arrays, names):
    parts = [struct.pack("<QQQ", _LIST_MAGIC, 0, len(arrays))]
    for a in arrays:
        parts.append(_sparse_record(a) if a.stype != "default" else a._handle.save_raw())
    parts.append(struct.pack("<Q", len(names)))
    for n in names:
        raw = n.encode()
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def _loaded(handle, sparse):
    if sparse is None:
        return _wrap(handle)
    from mxrs.ndarray import _sparse_base as sp  # noqa: PLC0415 - sparse builds on this package

    stype, shape, aux = sparse
    data, aux = _wrap(handle), [_wrap(h) for h in aux]
    if stype == 2:
        if aux[0].shape == (0,):  # an all-zero csr array may be saved with an empty indptr
            aux[0] = sp._idx(np.zeros(shape[0] + 1, np.int64), data.context)
        sp._check("csr", tuple(shape), data, aux)
        return sp.CSRNDArray(data, aux, shape)
    sp._check("row_sparse", tuple(shape), data, aux)
    return sp.RowSparseNDArray(data, aux, shape)


def _result(loaded, names):
    arrays = [_loaded(h, sp) for h, sp in loaded]
    if names:
        return dict(zip(names, arrays))
    return arrays


def load(fname):
    """Load a file written by ``save`` (mxrs or MXNet): a list, or a dict when it has names."""
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError("fname required to be a string")
    return _result(*_native.load_sparse(os.fspath(fname)))


def load_frombuffer(buf):
    """Like ``load``, from the bytes of such a file."""
    if not isinstance(buf, (bytes, bytearray)):
        raise TypeError("buf required to be a bytes-like object")
    return _result(*_native.load_frombuffer_sparse(bytes(buf)))

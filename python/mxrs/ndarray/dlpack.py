"""DLPack and the array protocols: sharing NDArray memory with NumPy, PyTorch and other libraries.

Export is zero-copy. ``to_dlpack_for_read`` waits for the engine's pending writes to the array,
``to_dlpack_for_write`` (and ``__dlpack__``, whose consumer may write) for its pending reads and
writes too; after that the other library and mxrs use the same memory, so each sees the other's
writes, and the capsule (then the consumer's tensor) keeps that memory alive. Ops pushed after the
export are not ordered with the other library's work: call ``wait_to_read()`` on the array before
the other library touches it again, as with MXNet.

Import (``from_dlpack``, ``from_numpy(zero_copy=True)``) is zero-copy too, as in MXNet: the new
array uses the producer's memory, so writes on either side are seen by the other, and the
producer's tensor is released (its DLPack deleter run) when the last mxrs array using it is freed.
The other library's work is not ordered with mxrs ops: finish it before mxrs reads the array, and
call ``wait_to_read()`` before the other library touches the memory again. The data is copied
instead (the new array is then independent) when mxrs cannot use the memory as it is: a tensor that
is not C-contiguous, one whose address is not aligned for its dtype, one a DLPack 1.0 producer
marks read-only (a read-only NumPy array, for instance), an empty one, or an import into a context
other than the CPU.
"""

from typing import Any

import numpy as np

from mxrs import _native
from mxrs.base import MXNetValueError
from mxrs.ndarray.ndarray import NDArray, _ctx, _wrap, array

__all__ = ["to_dlpack_for_read", "to_dlpack_for_write", "from_dlpack", "from_numpy"]

# DLPack device types (``DLDeviceType``).
_DL_CPU, _DL_CUDA = 1, 2


def to_dlpack_for_read(data):
    """A DLPack capsule sharing ``data``'s memory, once its pending writes are done (MXNet's).

    The consumer should only read it.
    """
    return _native.to_dlpack(data.handle, False, False)


def to_dlpack_for_write(data):
    """A DLPack capsule sharing ``data``'s memory, once its pending reads and writes are done.

    The consumer may write it; mxrs sees the writes.
    """
    return _native.to_dlpack(data.handle, True, False)


def _capsule(obj):
    """The DLPack capsule of ``obj``: asked for as DLPack 1.0 (which can say read-only), else 0.8."""
    try:
        return obj.__dlpack__(max_version=(1, 0))
    except TypeError:
        return obj.__dlpack__()


def from_dlpack(dlpack, ctx=None):
    """An NDArray sharing the memory of a DLPack capsule or of an object with ``__dlpack__``.

    A capsule is consumed (a second use raises ``MXNetValueError``, as MXNet's assertion does). The
    array uses the producer's memory without a copy, which stays alive as long as the array does;
    see the module's notes for the cases that copy.
    """
    if hasattr(dlpack, "__dlpack__"):
        dlpack = _capsule(dlpack)
    return _wrap(_native.from_dlpack(dlpack, _ctx(ctx)._pair()))


def from_numpy(ndarray, zero_copy=True, array_cls=NDArray):
    """An NDArray from a NumPy array, as MXNet's ``mx.nd.from_numpy``.

    With ``zero_copy=True`` the array must be C-contiguous and is consumed as in MXNet: the NDArray
    shares its memory (through NumPy's ``__dlpack__``), and the NumPy array is made read-only and
    should not be used afterwards. A misaligned or already read-only array is copied (see the
    module's notes). With ``zero_copy=False`` the data is copied.
    """
    if not zero_copy:
        return array(ndarray, dtype=ndarray.dtype)
    if not ndarray.flags["C_CONTIGUOUS"]:
        raise MXNetValueError("Only c-contiguous arrays are supported for zero-copy")
    try:
        capsule = _capsule(ndarray)
    except BufferError:
        # NumPy exports no DLPack for some arrays (non-native byte order): copy those.
        res = array(ndarray, dtype=ndarray.dtype.newbyteorder("="))
    else:
        res = _wrap(_native.from_dlpack(capsule, _ctx(None)._pair()))
    ndarray.flags["WRITEABLE"] = False
    return res if array_cls is NDArray else array_cls(handle=res.handle)


def _dlpack(self, stream=None, max_version=None, dl_device=None, copy=None):
    """The DLPack protocol: a capsule sharing this array's memory (a copy's when ``copy=True``).

    ``stream`` is ignored (host memory). A consumer that passes ``max_version`` of 1 or more gets a
    DLPack 1.0 ``"dltensor_versioned"`` capsule, any other a DLPack 0.8 ``"dltensor"`` one.
    """
    if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
        raise BufferError(f"cannot export an array on {self.context} to DLPack device {tuple(dl_device)}")
    src = self.copy() if copy else self
    versioned = max_version is not None and tuple(max_version)[0] >= 1
    return _native.to_dlpack(src.handle, True, versioned)


def _dlpack_device(self):
    """``(device type, device id)`` as DLPack numbers them."""
    ctx = self.context
    return (_DL_CUDA, ctx.device_id) if ctx.device_type == "gpu" else (_DL_CPU, 0)


def _array(self, dtype=None, copy=None):
    """The NumPy array protocol: a copy, or with ``copy=False`` a view of the same memory.

    ``np.asarray(x, copy=False)`` (NumPy 2) is zero-copy: it waits for pending reads and writes
    and shares the memory. Otherwise a copy is made, as ``asnumpy`` does.
    """
    if copy is False:
        if dtype is not None and np.dtype(dtype) != np.dtype(self.dtype):
            raise ValueError(f"cannot view an array of {np.dtype(self.dtype)} as {np.dtype(dtype)} without a copy")
        return np.from_dlpack(self)
    a = self.asnumpy()
    return a if dtype is None else a.astype(dtype)


def _buffer(self, flags):
    """The buffer protocol (Python 3.12+, PEP 688): a memoryview of the same memory."""
    view: Any = np.from_dlpack(self)
    return memoryview(view)


def install(cls):
    """Give the NDArray class the DLPack methods and array protocols."""
    cls.__dlpack__ = _dlpack
    cls.__dlpack_device__ = _dlpack_device
    cls.__array__ = _array
    cls.__buffer__ = _buffer
    cls.to_dlpack_for_read = to_dlpack_for_read
    cls.to_dlpack_for_write = to_dlpack_for_write

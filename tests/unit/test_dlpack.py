"""DLPack and the array protocols, both ways with NumPy and PyTorch (CPU; skipped without torch).

Export is zero-copy: writes on either side are seen on the other, the engine's pending writes
(and, for a writer, reads) finish before the other library gets the memory, and a capsule or
the consumer's tensor keeps the memory alive after mxrs drops its array.

Import is zero-copy too: the new array uses the producer's memory, which stays alive while the
array does, and the producer's deleter runs once the last array using it is freed. Misaligned,
non-contiguous and read-only tensors are copied.
"""

import ctypes
import gc
import sys
import threading
import time
import weakref

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError, MXNetValueError


def _torch():
    """PyTorch, or a skip where it is not installed (``make test-python`` installs it)."""
    return pytest.importorskip("torch")


class _Capsule:
    """A capsule as an object NumPy's ``from_dlpack`` takes (it wants ``__dlpack__``)."""

    def __init__(self, cap):
        self.cap = cap

    def __dlpack__(self, **kwargs):
        return self.cap

    def __dlpack_device__(self):
        return (1, 0)


def test_mxnet_names_and_device():
    x = mx.nd.array([[1, 2], [3, 4]])
    assert x.__dlpack_device__() == (1, 0)
    for cap in (x.to_dlpack_for_read(), mx.nd.to_dlpack_for_write(x)):
        assert type(cap).__name__ == "PyCapsule" and "dltensor" in repr(cap)
    y = mx.nd.from_dlpack(x.to_dlpack_for_read())
    np.testing.assert_array_equal(y.asnumpy(), [[1, 2], [3, 4]])
    assert y.dtype == np.float32 and y.context == mx.cpu()


def test_capsule_is_consumed_once():
    cap = mx.nd.arange(3).to_dlpack_for_read()
    mx.nd.from_dlpack(cap)
    with pytest.raises(MXNetValueError, match="consumed only once"):
        mx.nd.from_dlpack(cap)
    with pytest.raises(MXNetError, match="DLPack capsule"):
        mx.nd.from_dlpack(object())


def test_numpy_view_sees_mxrs_writes_and_mxrs_sees_numpy_writes():
    x = mx.nd.arange(6).reshape((2, 3)) * 2
    a = np.from_dlpack(x)
    np.testing.assert_array_equal(a, [[0, 2, 4], [6, 8, 10]])
    a[0, 0] = 100.0
    assert x[0, 0].asscalar() == 100.0
    x += 1  # an engine op on the shared memory: the view sees it once it is done
    x[1] = 7
    x.wait_to_read()
    np.testing.assert_array_equal(a, [[101, 3, 5], [7, 7, 7]])
    b = np.asarray(x, copy=False)
    assert b.ctypes.data == a.ctypes.data
    c = np.asarray(x)  # the default stays a copy
    assert c.ctypes.data != a.ctypes.data


def test_export_waits_for_pending_writes():
    # A large op still running when the other library asks for the memory.
    x = mx.nd.ones((512, 512))
    for _ in range(20):
        x = mx.nd.dot(x, mx.nd.ones((512, 512))) / 512.0
    np.testing.assert_allclose(np.from_dlpack(x), np.ones((512, 512)), rtol=1e-5)
    y = mx.nd.zeros((256, 256))
    for _ in range(30):
        y += 1
    np.testing.assert_array_equal(np.from_dlpack(_Capsule(y.to_dlpack_for_read())), np.full((256, 256), 30.0))


def test_write_export_waits_for_pending_reads():
    x = mx.nd.ones((300, 300))
    reads = [mx.nd.dot(x, x) for _ in range(8)]  # pending reads of x
    a = np.from_dlpack(x)  # __dlpack__ exports for writing
    a[:] = 5.0  # would corrupt the reads if they had not finished
    for r in reads:
        np.testing.assert_allclose(r.asnumpy(), np.full((300, 300), 300.0))
    assert x.sum().asscalar() == 5.0 * 300 * 300


def test_capsule_and_view_keep_the_memory_alive():
    x = mx.nd.arange(1 << 18)
    cap = x.to_dlpack_for_read()
    del x
    gc.collect()
    np.testing.assert_array_equal(mx.nd.from_dlpack(cap).asnumpy()[-3:], [262141, 262142, 262143])
    y = mx.nd.arange(1 << 18) + 1
    view = np.from_dlpack(y)
    del y
    gc.collect()
    mx.nd.waitall()
    junk = [mx.nd.ones((1 << 18,)) * 9 for _ in range(4)]  # would reuse a freed buffer
    mx.nd.waitall()
    assert view[0] == 1.0 and view[-1] == float(1 << 18) and len(junk) == 4
    # An unconsumed capsule frees its tensor when collected (nothing leaks or crashes).
    for _ in range(100):
        mx.nd.ones((64,)).to_dlpack_for_write()


def test_dtypes_round_trip_through_numpy():
    for dt in (np.float32, np.float64, np.float16, np.uint8, np.int8, np.int32, np.int64, np.bool_):
        src = (np.arange(12) % 3).astype(dt).reshape(3, 4)
        x = mx.nd.array(src, dtype=dt)
        np.testing.assert_array_equal(np.from_dlpack(x), src)
        back = mx.nd.from_dlpack(src)
        assert back.dtype == np.dtype(dt).type
        np.testing.assert_array_equal(back.asnumpy(), src)


def test_views_of_a_slice_and_a_scalar():
    x = mx.nd.arange(12).reshape((4, 3))
    row = x[2]
    np.testing.assert_array_equal(np.from_dlpack(row), [6, 7, 8])
    s = mx.nd.array([3.5]).reshape(())
    assert np.from_dlpack(s).shape == ()


def test_from_numpy_as_mxnet():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mx.nd.from_numpy(a)
    assert not a.flags.writeable  # consumed, as MXNet does
    np.testing.assert_array_equal(x.asnumpy(), np.arange(6).reshape(2, 3))
    b = np.arange(4, dtype=np.int64)
    y = mx.nd.from_numpy(b, zero_copy=False)
    assert b.flags.writeable and y.dtype == np.int64
    with pytest.raises(ValueError, match="c-contiguous"):
        mx.nd.from_numpy(np.ones((3, 4), dtype=np.float32).T)


def test_non_contiguous_import_copies():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for src in (a[:, ::2], a.T, a[::-1], a[1:, 1:3]):
        x = mx.nd.from_dlpack(src)
        np.testing.assert_array_equal(x.asnumpy(), src)
    x = mx.nd.from_dlpack(a[:, 1::2])
    a[:, 1] = -1.0  # a copy: the producer's later writes are not seen
    np.testing.assert_array_equal(x.asnumpy(), [[1, 3], [5, 7], [9, 11]])


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the Python buffer protocol needs Python 3.12 (PEP 688)")
def test_buffer_protocol():
    x = mx.nd.arange(4)
    m = memoryview(x)
    assert m.format == "f" and m.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_torch_shares_memory_both_ways_of_writing():
    torch = _torch()
    x = mx.nd.arange(6).reshape((2, 3))
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float32 and t.shape == (2, 3)
    t[1, 1] = -5.0
    assert x[1, 1].asscalar() == -5.0
    x *= 2
    x.wait_to_read()
    assert t.tolist() == [[0, 2, 4], [6, -10, 10]]
    t2 = torch.utils.dlpack.from_dlpack(mx.nd.ones((3,)).to_dlpack_for_write())
    t2 += 1
    assert t2.tolist() == [2.0, 2.0, 2.0]


def test_torch_to_mxrs():
    torch = _torch()
    t = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    x = mx.nd.from_dlpack(t)
    assert x.dtype == np.float64 and x.shape == (3, 4)
    np.testing.assert_array_equal(x.asnumpy(), t.numpy())
    y = mx.nd.from_dlpack(torch.utils.dlpack.to_dlpack(torch.ones(2, 2, dtype=torch.int64)))
    np.testing.assert_array_equal(y.asnumpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(mx.nd.from_dlpack(t.t()).asnumpy(), t.t().numpy())
    z = mx.nd.from_dlpack(torch.tensor([True, False]))
    assert z.dtype == np.bool_ and z.asnumpy().tolist() == [True, False]


def test_torch_reads_after_pending_mxrs_writes_from_another_thread():
    torch = _torch()
    x = mx.nd.zeros((200, 200))
    done = []

    def work():
        for _ in range(50):
            x[:] = x + 1
        done.append(True)

    th = threading.Thread(target=work)
    th.start()
    th.join()
    t = torch.from_dlpack(x)
    assert done and float(t.sum()) == 50.0 * 200 * 200


def test_torch_tensor_keeps_memory_alive():
    torch = _torch()
    x = mx.nd.arange(1000) + 0
    t = torch.from_dlpack(x)
    del x
    gc.collect()
    for _ in range(4):
        (mx.nd.ones((1000,)) * 7).wait_to_read()
    assert float(t[999]) == 999.0


def test_whole_array_writes_go_into_the_shared_buffer():
    # Without sharing, a whole-array write swaps in the op's new buffer; shared, it copies in.
    x = mx.nd.zeros((4, 4))
    a = np.from_dlpack(x)
    x[:] = 3.0
    x.wait_to_read()
    assert (a == 3.0).all()
    mx.nd.elemwise_add(mx.nd.ones((4, 4)), mx.nd.ones((4, 4)), out=x)
    x.wait_to_read()
    assert (a == 2.0).all()
    mx.nd.dot(mx.nd.ones((4, 4)), mx.nd.ones((4, 4)), out=x)
    x.wait_to_read()
    assert (a == 4.0).all() and a.ctypes.data == np.from_dlpack(x).ctypes.data


# --- Zero-copy import -------------------------------------------------------------------------

_DTYPES = (np.float32, np.float64, np.float16, np.uint8, np.int8, np.int32, np.int64, np.bool_)


def _addr(x):
    """The address of an NDArray's first element (through a zero-copy NumPy view)."""
    return np.from_dlpack(x).ctypes.data


def _wait_until(cond, what):
    """Poll ``cond`` for a few seconds: a release off the GIL runs on mxrs's release thread."""
    deadline = time.monotonic() + 10
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        gc.collect()
        time.sleep(0.01)


def test_numpy_import_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mx.nd.from_dlpack(a)
    assert _addr(x) == a.ctypes.data
    a[0, 0] = 42.0  # a NumPy write is seen by mxrs
    assert x[0, 0].asscalar() == 42.0
    x[:] = 5  # whole-array mxrs writes go into NumPy's memory
    x.wait_to_read()
    np.testing.assert_array_equal(a, np.full((2, 3), 5.0))
    x += 1
    x[1] = 9
    mx.nd.elemwise_mul(x, x, out=x)
    x.wait_to_read()
    np.testing.assert_array_equal(a, [[36, 36, 36], [81, 81, 81]])
    assert _addr(x) == a.ctypes.data


def test_every_dtype_imports_without_a_copy():
    for dt in _DTYPES:
        a = (np.arange(12) % 3).astype(dt).reshape(3, 4)
        x = mx.nd.from_dlpack(a)
        assert x.dtype == np.dtype(dt).type and x.shape == (3, 4)
        assert _addr(x) == a.ctypes.data, dt
        a[2, 3] = 1
        assert x.asnumpy()[2, 3] == 1, dt
        x[0] = 0
        x.wait_to_read()
        assert not a[0].any(), dt


def test_import_keeps_the_producer_alive_and_releases_it_when_freed():
    a = np.arange(1 << 16, dtype=np.float64)
    ref = weakref.ref(a)
    x = mx.nd.from_dlpack(a)
    del a
    gc.collect()
    assert ref() is not None  # NumPy's DLPack tensor holds the array until mxrs releases it
    junk = [mx.nd.ones((1 << 16,), dtype="float64") * 3 for _ in range(4)]
    mx.nd.waitall()
    assert x[-1].asscalar() == float((1 << 16) - 1) and len(junk) == 4
    view = x[10:20]  # a view keeps the memory too
    del x
    gc.collect()
    assert ref() is not None
    np.testing.assert_array_equal(view.asnumpy(), np.arange(10, 20))
    del view
    _wait_until(lambda: ref() is None, "NumPy's deleter ran")


def test_release_after_pending_ops_and_from_another_thread():
    a = np.zeros((300, 300), dtype=np.float32)
    ref = weakref.ref(a)
    x = mx.nd.from_dlpack(a)
    del a
    outs = [mx.nd.dot(x, x) for _ in range(4)]  # pending ops hold the array too
    del x
    mx.nd.waitall()
    assert all(o.sum().asscalar() == 0 for o in outs)
    _wait_until(lambda: ref() is None, "the array is released after the ops")
    b = np.ones(1000, dtype=np.float32)
    ref_b = weakref.ref(b)
    box = [mx.nd.from_dlpack(b)]
    del b
    th = threading.Thread(target=box.clear)  # the last handle dies on another thread
    th.start()
    th.join()
    _wait_until(lambda: ref_b() is None, "a release from another thread")


def test_misaligned_import_copies():
    raw = np.zeros(4 * 8 + 1, dtype=np.uint8)
    a = raw[1:].view(np.float32)
    assert not a.flags.aligned
    a[:] = np.arange(8)
    x = mx.nd.from_dlpack(a)
    np.testing.assert_array_equal(x.asnumpy(), np.arange(8))
    a[0] = 100.0  # a copy: independent of the producer
    x[1] = -1.0
    x.wait_to_read()
    assert x[0].asscalar() == 0.0 and a[1] == 1.0


def test_read_only_import_copies():
    a = np.arange(5, dtype=np.int32)
    a.flags.writeable = False  # DLPack 1.0 says read-only: mxrs must not write it
    x = mx.nd.from_dlpack(a)
    x[:] = 7
    x.wait_to_read()
    np.testing.assert_array_equal(a, np.arange(5))
    np.testing.assert_array_equal(x.asnumpy(), np.full(5, 7))
    assert _addr(x) != a.ctypes.data


def test_empty_and_scalar_imports():
    e = mx.nd.from_dlpack(np.zeros((0, 3), dtype=np.float32))
    assert e.shape == (0, 3) and e.asnumpy().size == 0
    s = np.array(2.5)
    x = mx.nd.from_dlpack(s)
    assert x.shape == () and _addr(x) == s.ctypes.data
    s[()] = 3.5
    assert x.asscalar() == 3.5


def test_mxrs_to_mxrs_shares_memory():
    x = mx.nd.arange(6)
    y = mx.nd.from_dlpack(x)  # x.__dlpack__: for writing
    assert _addr(y) == _addr(x)
    y[:] = 3
    y.wait_to_read()
    assert x.asnumpy().tolist() == [3.0] * 6
    z = mx.nd.from_dlpack(x.to_dlpack_for_write())
    z += 1
    z.wait_to_read()
    assert x.asnumpy().tolist() == [4.0] * 6


def test_pending_writes_to_an_import_finish_before_export():
    a = np.zeros((256, 256), dtype=np.float32)
    x = mx.nd.from_dlpack(a)
    for _ in range(30):
        x += 1
    view = np.from_dlpack(x)  # waits for the writes
    assert view.ctypes.data == a.ctypes.data
    np.testing.assert_array_equal(view, np.full((256, 256), 30.0))
    np.testing.assert_array_equal(a, np.full((256, 256), 30.0))


def test_from_numpy_zero_copy_shares_and_marks_read_only():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mx.nd.from_numpy(a)
    assert not a.flags.writeable and _addr(x) == a.ctypes.data
    x *= 2
    x.wait_to_read()
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3) * 2)
    r = np.arange(3, dtype=np.int64)
    r.flags.writeable = False
    y = mx.nd.from_numpy(r)  # already read-only: copied
    y[:] = 0
    y.wait_to_read()
    assert r.tolist() == [0, 1, 2]
    big = np.arange(4, dtype=">i4")  # no DLPack for a non-native byte order: copied
    z = mx.nd.from_numpy(big)
    assert z.asnumpy().tolist() == [0, 1, 2, 3] and not big.flags.writeable
    w = mx.nd.from_numpy(np.ones(3, dtype=np.float32), array_cls=mx.nd.NDArray)
    assert w.asnumpy().tolist() == [1.0, 1.0, 1.0]


# A DLPack producer written with ctypes, to reach what NumPy and PyTorch never hand out
# (byte offsets, deleters counted exactly, DLPack 1.0 flags).


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManaged(ctypes.Structure):
    pass


class _DLManagedV1(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_DLManaged._fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]
_DLManagedV1._fields_ = [
    ("major", ctypes.c_uint32),
    ("minor", ctypes.c_uint32),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", _Deleter),
    ("flags", ctypes.c_uint64),
    ("dl_tensor", _DLTensor),
]
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class _Producer:
    """float32 elements ``[byte_offset, byte_offset + 4 n)`` of ``buf`` in a DLPack capsule."""

    def __init__(self, buf, byte_offset, n, flags=None):
        self.released = 0
        self.shape = (ctypes.c_int64 * 1)(n)
        self.deleter = _Deleter(self._delete)
        tensor = _DLTensor(buf.ctypes.data, _DLDevice(1, 0), 1, _DLDataType(2, 32, 1), self.shape, None, byte_offset)
        if flags is None:
            self.managed = _DLManaged(tensor, None, self.deleter)
            name = b"dltensor"
        else:
            self.managed = _DLManagedV1(1, 0, None, self.deleter, flags, tensor)
            name = b"dltensor_versioned"
        self.capsule = _capsule_new(ctypes.addressof(self.managed), name, None)

    def _delete(self, _ptr):
        self.released += 1


def test_byte_offsets_share_when_aligned_and_copy_otherwise():
    buf = np.zeros(64, dtype=np.uint8)
    buf[8:24] = np.arange(4, dtype=np.float32).view(np.uint8)
    p = _Producer(buf, 8, 4)
    x = mx.nd.from_dlpack(p.capsule)
    assert repr(p.capsule).startswith('<capsule object "used_dltensor"')
    assert p.released == 0 and _addr(x) == buf.ctypes.data + 8
    x[:] = 7
    x.wait_to_read()
    assert buf[8:24].view(np.float32).tolist() == [7.0] * 4
    del x
    gc.collect()
    assert p.released == 1  # the GIL was held: released at once, exactly once
    q = _Producer(buf, 10, 4)  # 10 is not a multiple of 4: copied, released at import
    y = mx.nd.from_dlpack(q.capsule)
    assert q.released == 1
    np.testing.assert_array_equal(y.asnumpy(), buf[10:26].view(np.float32))


def test_versioned_capsules_and_the_read_only_flag():
    buf = np.arange(4, dtype=np.float32)
    p = _Producer(buf, 0, 4, flags=0)
    x = mx.nd.from_dlpack(p.capsule)
    assert repr(p.capsule).startswith('<capsule object "used_dltensor_versioned"')
    assert p.released == 0 and _addr(x) == buf.ctypes.data
    del x
    gc.collect()
    assert p.released == 1
    r = _Producer(buf, 0, 4, flags=1)  # DLPACK_FLAG_BITMASK_READ_ONLY: copied
    y = mx.nd.from_dlpack(r.capsule)
    assert r.released == 1 and _addr(y) != buf.ctypes.data
    y[:] = 0
    y.wait_to_read()
    assert buf.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_torch_import_shares_memory_both_ways():
    torch = _torch()
    t = torch.zeros(2, 3)
    x = mx.nd.from_dlpack(t)
    assert _addr(x) == t.data_ptr()
    t[0, 1] = 4.0
    assert x[0, 1].asscalar() == 4.0
    x += 1
    x.wait_to_read()
    assert t.tolist() == [[1, 5, 1], [1, 1, 1]]
    back = torch.from_dlpack(x)  # mxrs -> torch of the same memory
    assert back.data_ptr() == t.data_ptr()
    back[1] = -2.0
    assert x[1].asnumpy().tolist() == [-2.0, -2.0, -2.0] and t[1].tolist() == [-2.0, -2.0, -2.0]
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int8, torch.int32):
        s = torch.arange(6).to(dt)
        y = mx.nd.from_dlpack(s)
        assert torch.from_dlpack(y).data_ptr() == s.data_ptr(), dt
        s[5] = 1
        assert y.astype("float32")[5].asscalar() == 1, dt
    sliced = torch.arange(10, dtype=torch.int64)[3:7]  # a storage offset
    z = mx.nd.from_dlpack(sliced)
    assert _addr(z) == sliced.data_ptr() and z.asnumpy().tolist() == [3, 4, 5, 6]


def test_torch_import_lifetime():
    torch = _torch()
    from torch.multiprocessing.reductions import StorageWeakRef

    t = torch.arange(1 << 16, dtype=torch.float32)
    storage = StorageWeakRef(t.untyped_storage())
    x = mx.nd.from_dlpack(t)
    del t
    gc.collect()
    assert not storage.expired()  # mxrs holds the tensor
    junk = [mx.nd.ones((1 << 16,)) * 2 for _ in range(4)]
    mx.nd.waitall()
    assert x[-1].asscalar() == float((1 << 16) - 1) and len(junk) == 4
    del x
    _wait_until(storage.expired, "PyTorch's deleter ran")

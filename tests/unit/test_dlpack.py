"""DLPack and the array protocols, both ways with NumPy and PyTorch (CPU; skipped without torch).

Export is zero-copy: writes on either side are seen on the other, the engine's pending writes
(and, for a writer, reads) finish before the other library gets the memory, and a capsule or
the consumer's tensor keeps the memory alive after mxrs drops its array.
"""

import gc
import sys
import threading

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError, MXNetValueError

try:
    import torch
    import torch.utils.dlpack as tdl
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


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


def test_non_contiguous_import_is_refused():
    with pytest.raises(MXNetError, match="C-contiguous"):
        mx.nd.from_dlpack(np.ones((3, 4), dtype=np.float32)[:, ::2])


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the Python buffer protocol needs Python 3.12 (PEP 688)")
def test_buffer_protocol():
    x = mx.nd.arange(4)
    m = memoryview(x)
    assert m.format == "f" and m.tolist() == [0.0, 1.0, 2.0, 3.0]


@needs_torch
def test_torch_shares_memory_both_ways_of_writing():
    x = mx.nd.arange(6).reshape((2, 3))
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float32 and t.shape == (2, 3)
    t[1, 1] = -5.0
    assert x[1, 1].asscalar() == -5.0
    x *= 2
    x.wait_to_read()
    assert t.tolist() == [[0, 2, 4], [6, -10, 10]]
    t2 = tdl.from_dlpack(mx.nd.ones((3,)).to_dlpack_for_write())
    t2 += 1
    assert t2.tolist() == [2.0, 2.0, 2.0]


@needs_torch
def test_torch_to_mxrs():
    t = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    x = mx.nd.from_dlpack(t)
    assert x.dtype == np.float64 and x.shape == (3, 4)
    np.testing.assert_array_equal(x.asnumpy(), t.numpy())
    y = mx.nd.from_dlpack(tdl.to_dlpack(torch.ones(2, 2, dtype=torch.int64)))
    np.testing.assert_array_equal(y.asnumpy(), np.ones((2, 2)))
    with pytest.raises(MXNetError, match="C-contiguous"):
        mx.nd.from_dlpack(t.t())
    z = mx.nd.from_dlpack(torch.tensor([True, False]))
    assert z.dtype == np.bool_ and z.asnumpy().tolist() == [True, False]


@needs_torch
def test_torch_reads_after_pending_mxrs_writes_from_another_thread():
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


@needs_torch
def test_torch_tensor_keeps_memory_alive():
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

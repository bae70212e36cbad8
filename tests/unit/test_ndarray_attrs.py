"""NDArray's attributes (shape, ndim, size, dtype, context) on arrays made every way (MXNet 1.9.1)."""

import numpy as np
import pytest
from _target import IS_MXNET, mx

DTYPES = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"]


def _made_every_way():
    """(how, array, the NumPy array it equals) for arrays made by a constructor, an operator,
    an op function, a view, a slice, a reshape, `astype`, `copyto` and autograd."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = mx.nd.array(x)
    g = mx.nd.array(x)
    g.attach_grad()
    with mx.autograd.record():
        y = g * 2
    y.backward()
    return [
        ("array", a, x),
        ("operator", a + a, x + x),
        ("reflected", 1 - a, 1 - x),
        ("op function", mx.nd.relu(a - 5), np.maximum(x - 5, 0)),
        ("reduction", a.sum(axis=1), x.sum(axis=1)),
        ("row", a[1], x[1]),
        ("slice", a[0:1], x[0:1]),
        ("reshape", a.reshape((4, 6)), x.reshape(4, 6)),
        ("flat", a.reshape((-1,)), x.reshape(-1)),
        ("astype", a.astype("int32"), x.astype(np.int32)),
        ("copyto", a.copyto(mx.cpu(1)), x),
        ("grad", g.grad, np.full_like(x, 2)),
        ("recorded", y, x * 2),
        ("ones 1-d", mx.nd.ones((5,), dtype="int64"), np.ones(5, np.int64)),
        ("in place", _in_place(mx.nd.array(x)), x + 1),
    ]


def _in_place(a):
    a += 1
    return a


@pytest.mark.parametrize("case", range(15))
def test_attributes_of_arrays_made_every_way(case):
    how, a, expected = _made_every_way()[case]
    assert a.shape == expected.shape, how
    assert type(a.shape) is tuple and all(type(d) is int for d in a.shape), how
    assert a.ndim == expected.ndim, how
    assert a.size == expected.size, how
    assert a.dtype == expected.dtype.type, how
    np.testing.assert_array_equal(a.asnumpy(), expected)
    assert a.context == (mx.cpu(1) if how == "copyto" else mx.cpu(0)), how


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_is_numpys_scalar_type(dtype):
    a = mx.nd.zeros((2, 2), dtype=dtype)
    assert a.dtype is np.dtype(dtype).type
    assert (a + a).dtype is np.dtype(dtype).type
    assert a.asnumpy().dtype == np.dtype(dtype)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's NDArray has no bfloat16 constructor from NumPy")
def test_bfloat16_dtype_is_the_structured_dtype_mxnet_shows():
    a = mx.nd.ones((3,), dtype="bfloat16")
    assert a.dtype == np.dtype([("bfloat16", "<u2")])
    assert a.asnumpy().dtype == a.dtype


def test_context_is_a_new_object_each_read():
    a = mx.nd.ones((2,), ctx=mx.cpu(1))
    c1, c2 = a.context, a.context
    assert c1 == c2 == mx.cpu(1) and c1 is not c2
    assert a.ctx == mx.cpu(1)
    assert (c1.device_type, c1.device_id, c1.device_typeid) == ("cpu", 1, 1)
    assert str(c1) == "cpu(1)" and hash(c1) == hash(mx.cpu(1))
    # A context read off an array works as a `with` block, and nesting restores the outer one.
    with a.context:
        assert mx.nd.ones((1,)).context == mx.cpu(1)
        with mx.nd.ones((1,), ctx=mx.cpu(2)).context:
            assert mx.nd.ones((1,)).context == mx.cpu(2)
        assert mx.nd.ones((1,)).context == mx.cpu(1)
    assert mx.nd.ones((1,)).context == mx.cpu(0)


def test_attributes_follow_a_replaced_array():
    # `attach_grad` and an op writing `out=` keep the object and change what it holds.
    a = mx.nd.ones((2, 3))
    assert a.shape == (2, 3)
    a.attach_grad()
    assert a.shape == (2, 3) and a.dtype == np.float32
    b = (a + 1).astype("float64")
    assert b.dtype == np.float64
    mx.nd.elemwise_add(b, b, out=b)
    assert b.shape == (2, 3) and b.dtype == np.float64


def test_sparse_arrays_keep_their_logical_attributes():
    csr = mx.nd.array(np.eye(3, dtype=np.float32)).tostype("csr")
    # (MXNet leaves a sparse array's `size` undefined: it raises NotImplementedError.)
    assert csr.shape == (3, 3) and csr.ndim == 2
    assert csr.dtype == np.float32 and csr.context == mx.cpu(0)
    rsp = mx.nd.zeros((4, 2)).tostype("row_sparse")
    assert rsp.shape == (4, 2) and rsp.ndim == 2 and rsp.stype == "row_sparse"


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native getters")
def test_attributes_are_the_native_base_classs_getters():
    base = mx._native.NDArrayBase
    for name in ("shape", "ndim", "size", "dtype", "_ctx"):
        assert name not in mx.nd.NDArray.__dict__, name
        assert type(base.__dict__[name]).__name__ == "getset_descriptor", name
    # Read off the handle too, they agree with it.
    a = mx.nd.ones((2, 5), dtype="int8") * 3
    h = a._handle
    assert (list(a.shape), a.size, a._ctx) == (h.shape, h.size, h.ctx)
    with pytest.raises(AttributeError):
        a.shape = (10,)


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native getters over `_handle`")
def test_attributes_of_an_array_without_a_handle_raise():
    a = mx.nd.ones((2,))
    del a._handle
    with pytest.raises(AttributeError, match="_handle"):
        a.shape  # noqa: B018
    with pytest.raises(AttributeError, match="_handle"):
        a.dtype  # noqa: B018
    a._handle = object()
    with pytest.raises(TypeError, match="NDArrayHandle"):
        a.size  # noqa: B018
    # A new handle makes it whole again.
    a._handle = mx.nd.zeros((4, 1))._handle
    assert a.shape == (4, 1) and a.size == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_asnumpy_and_asscalar_give_writable_copies(dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    a = mx.nd.array(x, dtype=dtype)
    got = a.asnumpy()
    assert got.dtype == np.dtype(dtype) and got.shape == (2, 3) and got.flags.writeable
    np.testing.assert_array_equal(got, x)
    got[0, 0] = 5  # a copy: the array keeps its value
    assert a.asnumpy()[0, 0] == 0
    np.testing.assert_array_equal(a[1].asnumpy(), x[1])  # a row view
    if not IS_MXNET:  # MXNet 1.9.1's legacy arrays take no zero-size shapes (0 means unknown)
        assert mx.nd.zeros((0, 3), dtype=dtype).asnumpy().shape == (0, 3)
    s = (a[1:2, 2:3].reshape((1,)) + 1).asscalar()
    assert type(s) is np.dtype(dtype).type and s == x[1, 2] + 1
    with pytest.raises(ValueError):
        a.asscalar()

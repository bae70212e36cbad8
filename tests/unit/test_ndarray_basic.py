"""NDArray creation, attributes, conversion, copying, reshape and repr (MXNet 1.9.1)."""

import contextlib

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal

ALL_DTYPES = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"]
MXRS_ONLY = pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")


def npv(x):
    assert isinstance(x, mx.nd.NDArray)
    return x.asnumpy()


# --------------------------------------------------------------------------- creation


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
def test_creation_default_dtype_is_float32(fn):
    x = getattr(mx.nd, fn)((2, 3))
    assert x.shape == (2, 3)
    assert x.dtype == np.float32
    assert x.dtype is np.float32  # dtype is the numpy scalar type, not np.dtype
    assert x.context == mx.cpu(0)


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
def test_creation_int_shape(fn):
    assert getattr(mx.nd, fn)(3).shape == (3,)
    assert getattr(mx.nd, fn)((4,)).shape == (4,)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_zeros_ones_dtypes(dtype):
    z = mx.nd.zeros((2, 3), dtype=dtype)
    o = mx.nd.ones((2, 3), dtype=dtype)
    e = mx.nd.empty((1,), dtype=dtype)
    assert z.dtype == np.dtype(dtype).type
    assert o.dtype == np.dtype(dtype).type
    assert e.dtype == np.dtype(dtype).type
    assert npv(z).dtype == np.dtype(dtype)
    assert_array_equal(npv(z), np.zeros((2, 3), dtype=dtype))
    assert_array_equal(npv(o), np.ones((2, 3), dtype=dtype))


def test_dtype_accepts_numpy_types():
    assert mx.nd.zeros((2,), dtype=np.int32).dtype == np.int32
    assert mx.nd.ones((2,), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_full_dtypes(dtype):
    x = mx.nd.full((2, 2), 3.7, dtype=dtype)
    assert x.dtype == np.dtype(dtype).type
    expected = {"float32": 3.7, "float64": 3.7, "float16": 3.69921875}.get(dtype, 3)
    assert_allclose(npv(x), np.full((2, 2), expected, dtype=dtype), rtol=1e-6)


def test_full_default_dtype():
    x = mx.nd.full((2, 2), 7)
    assert x.dtype == np.float32
    assert_array_equal(npv(x), [[7.0, 7.0], [7.0, 7.0]])
    assert_array_equal(npv(mx.nd.full((2,), 7, dtype="int32")), np.array([7, 7], np.int32))


def test_array_from_list_is_float32():
    x = mx.nd.array([1, 2, 3])
    assert x.dtype == np.float32
    assert x.shape == (3,)
    assert_array_equal(npv(x), np.array([1, 2, 3], np.float32))
    assert mx.nd.array([True, False]).dtype == np.float32
    assert mx.nd.array((1, 2, 3)).shape == (3,)


@pytest.mark.parametrize("src_dtype", ["float64", "int64", "int32", "uint8"])
def test_array_from_numpy_is_float32_by_default(src_dtype):
    # MXNet 1.x ignores the numpy dtype unless dtype= is given
    x = mx.nd.array(np.array([[1, 2], [3, 4]], dtype=src_dtype))
    assert x.dtype == np.float32
    assert_array_equal(npv(x), np.array([[1, 2], [3, 4]], np.float32))


def test_array_from_float64_numpy_gives_float32():
    src = np.array([0.1, 1e-3, 12345.678], dtype=np.float64)
    x = mx.nd.array(src)
    assert x.dtype == np.float32
    assert_array_equal(npv(x), src.astype(np.float32))


SOURCE_DTYPES = ["float32", "float64", "int64", "int32", "uint8", "int8", "float16", "bool", ">f4", ">f8", ">i8", "<f8"]


@pytest.mark.parametrize("src_dtype", SOURCE_DTYPES)
@pytest.mark.parametrize("layout", ["c", "transposed", "strided", "scalar", "empty"])
def test_array_from_numpy_converts_like_astype(src_dtype, layout):
    # Every source dtype and layout, converted as NumPy's astype("float32") does (the native
    # conversion takes C-contiguous float32/64, int32/64 and uint8; the rest goes through Python).
    rng = np.random.RandomState(3)
    vals = rng.uniform(-300, 300, (4, 6))
    if np.dtype(src_dtype).kind == "f":
        vals.flat[:4] = [np.inf, -np.inf, 1e300 if np.dtype(src_dtype).itemsize == 8 else 0.5, -0.0]
    if np.dtype(src_dtype).kind == "i" and np.dtype(src_dtype).itemsize == 8:
        vals = rng.randint(-(2**62), 2**62, (4, 6), dtype=np.int64)
    with np.errstate(all="ignore"):
        src = vals.astype(src_dtype)
    src = {
        "c": src,
        "transposed": src.T,
        "strided": src[::2, 1::2],
        "scalar": src[1, 2] * np.ones((), src_dtype),
        "empty": src[:0],
    }[layout]
    x = mx.nd.array(src)
    with np.errstate(all="ignore"):
        want = src.astype(np.float32)
    assert x.dtype == np.float32 and x.shape == want.shape
    assert_array_equal(npv(x), want)


def test_array_from_ndarray_keeps_dtype():
    src = mx.nd.array([1, 2], dtype="int32")
    assert mx.nd.array(src).dtype == np.int32
    assert mx.nd.array(src, dtype="float16").dtype == np.float16


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_array_dtypes(dtype):
    x = mx.nd.array([[1, 2], [3, 4]], dtype=dtype)
    assert x.dtype == np.dtype(dtype).type
    assert_array_equal(npv(x), np.array([[1, 2], [3, 4]], dtype=dtype))


def test_array_float_to_int_truncates():
    assert_array_equal(npv(mx.nd.array([1.9, -1.9], dtype="int32")), [1, -1])
    assert_array_equal(npv(mx.nd.array([1.9, -1.9], dtype="int8")), [1, -1])
    assert_array_equal(npv(mx.nd.array([1.9, -1.9], dtype="int64")), [1, -1])
    assert_array_equal(npv(mx.nd.array([200], dtype="int8")), [-56])
    assert_array_equal(npv(mx.nd.array([300, -1], dtype="uint8")), [44, 255])


def test_array_ctx():
    x = mx.nd.array([[1, 2], [3, 4]], ctx=mx.cpu(1))
    assert x.context == mx.cpu(1)


def test_array_ragged_is_typeerror():
    with pytest.raises(TypeError):
        mx.nd.array([[1, 2], [3]])


def test_arange():
    x = mx.nd.arange(5)
    assert x.dtype == np.float32
    assert_array_equal(npv(x), [0, 1, 2, 3, 4])
    assert_array_equal(npv(mx.nd.arange(1, 3, 0.5)), [1.0, 1.5, 2.0, 2.5])
    assert_array_equal(npv(mx.nd.arange(5, 1, -1)), [5, 4, 3, 2])
    assert_array_equal(npv(mx.nd.arange(2.5)), [0, 1, 2])
    assert_array_equal(npv(mx.nd.arange(2, 8, 2, repeat=2)), [2, 2, 4, 4, 6, 6])
    y = mx.nd.arange(0, 1, 0.1)
    assert y.shape == (10,)
    assert_allclose(npv(y), np.arange(0, 1, 0.1), rtol=1e-6)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_arange_dtypes(dtype):
    x = mx.nd.arange(4, dtype=dtype)
    assert x.dtype == np.dtype(dtype).type
    assert_array_equal(npv(x), np.arange(4, dtype=dtype))


def test_arange_bad_range_raises():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.arange(-3).wait_to_read()


def test_linspace():
    assert_allclose(npv(mx.nd.linspace(0, 1, 5)), [0, 0.25, 0.5, 0.75, 1.0])
    assert_allclose(npv(mx.nd.linspace(0, 1, 5, endpoint=False)), [0, 0.2, 0.4, 0.6, 0.8], rtol=1e-6)
    assert mx.nd.linspace(0, 1, 5).dtype == np.float32


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_linspace_dtypes(dtype):
    x = mx.nd.linspace(0, 4, 3, dtype=dtype)
    assert x.dtype == np.dtype(dtype).type
    assert_array_equal(npv(x), np.array([0, 2, 4], dtype=dtype))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_zeros_like_ones_like(dtype):
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]], dtype=dtype, ctx=mx.cpu(1))
    z = mx.nd.zeros_like(a)
    o = mx.nd.ones_like(a)
    assert z.shape == o.shape == (2, 3)
    assert z.dtype == o.dtype == np.dtype(dtype).type
    assert z.context == o.context == mx.cpu(1)
    assert_array_equal(npv(z), np.zeros((2, 3), dtype))
    assert_array_equal(npv(o), np.ones((2, 3), dtype))
    assert_array_equal(npv(a), [[1, 2, 3], [4, 5, 6]])  # input untouched


# --------------------------------------------------------------------------- attributes


def test_attributes():
    x = mx.nd.ones((2, 3, 4))
    assert x.shape == (2, 3, 4)
    assert isinstance(x.shape, tuple)
    assert x.size == 24
    assert isinstance(x.size, int)
    assert x.ndim == 3
    assert x.context == mx.cpu(0)
    assert x.ctx == mx.cpu(0)
    assert x.dtype == np.float32
    assert x.stype == "default"
    assert len(x) == 2
    assert len(mx.nd.ones(5)) == 5


def test_T():
    x = mx.nd.arange(6).reshape((2, 3))
    t = x.T
    assert t.shape == (3, 2)
    assert_array_equal(npv(t), [[0, 3], [1, 4], [2, 5]])
    assert mx.nd.ones((2, 3, 4)).T.shape == (4, 3, 2)
    assert mx.nd.ones(3).T.shape == (3,)
    # .T is a copy
    t[0, 0] = 99
    assert x[0, 0].asscalar() == 0


def test_iteration_and_len():
    a = mx.nd.arange(24).reshape((2, 3, 4))
    rows = list(a)
    assert len(rows) == 2
    assert all(isinstance(r, mx.nd.NDArray) for r in rows)
    assert [r.shape for r in rows] == [(3, 4), (3, 4)]
    assert_array_equal(npv(rows[1]), np.arange(12, 24).reshape(3, 4))
    items = list(mx.nd.array([1, 2, 3]))
    assert [i.shape for i in items] == [(1,), (1,), (1,)]
    assert [i.asscalar() for i in items] == [1.0, 2.0, 3.0]


# --------------------------------------------------------------------------- conversion


def test_asnumpy_is_a_copy():
    x = mx.nd.arange(6).reshape((2, 3))
    a = x.asnumpy()
    assert type(a) is np.ndarray
    assert a.dtype == np.float32
    assert a.flags["C_CONTIGUOUS"]
    a[0, 0] = 1000
    assert x[0, 0].asscalar() == 0
    assert mx.nd.ones(2, dtype="float16").asnumpy().dtype == np.float16


def test_asscalar():
    v = mx.nd.array([3.5]).asscalar()
    assert v == 3.5
    assert type(v) is np.float32
    i = mx.nd.array([3], dtype="int32").asscalar()
    assert i == 3
    assert type(i) is np.int32
    assert mx.nd.ones((1, 1, 1)).asscalar() == 1.0


def test_asscalar_non_scalar_raises_valueerror():
    with pytest.raises(ValueError, match="not a scalar"):
        mx.nd.ones((2,)).asscalar()


def test_bool_of_arrays():
    assert bool(mx.nd.array([2.5])) is True
    assert bool(mx.nd.zeros(1)) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mx.nd.ones(2))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_astype(dtype):
    x = mx.nd.array([[0, 1, 2], [3, 4, 5]])
    y = x.astype(dtype)
    assert y.dtype == np.dtype(dtype).type
    assert y.shape == (2, 3)
    assert_array_equal(npv(y), np.arange(6).reshape(2, 3).astype(dtype))


def test_astype_copy_semantics():
    x = mx.nd.ones((2, 3))
    assert x.astype("float32") is not x
    assert x.astype("float32", copy=False) is x
    assert x.astype("int64", copy=True) is not x
    assert x.astype(np.float64).dtype == np.float64
    y = x.astype("float32")
    y[:] = 5
    assert x.asnumpy().sum() == 6


def test_astype_float_to_int_truncates_and_wraps():
    assert_array_equal(npv(mx.nd.array([1.7, -1.7, 2.5]).astype("int32")), [1, -1, 2])
    assert_array_equal(npv(mx.nd.array([300, 255]).astype("uint8")), [44, 255])


def test_copy_is_independent():
    x = mx.nd.arange(6).reshape((2, 3))
    c = x.copy()
    assert c is not x
    assert c.shape == x.shape and c.dtype == x.dtype and c.context == x.context
    c[0, 1] = -7
    assert_array_equal(npv(x), [[0, 1, 2], [3, 4, 5]])
    assert_array_equal(npv(c), [[0, -7, 2], [3, 4, 5]])


def test_copyto_context():
    x = mx.nd.arange(4)
    y = x.copyto(mx.cpu(1))
    assert y is not x
    assert y.context == mx.cpu(1)
    assert_array_equal(npv(y), [0, 1, 2, 3])
    y[:] = 0
    assert_array_equal(npv(x), [0, 1, 2, 3])


def test_copyto_ndarray_returns_target():
    x = mx.nd.arange(24).reshape((2, 3, 4))
    d = mx.nd.zeros((2, 3, 4), ctx=mx.cpu(2))
    r = x.copyto(d)
    assert r is d
    assert d.context == mx.cpu(2)
    assert_array_equal(npv(d), np.arange(24).reshape(2, 3, 4))


def test_copyto_ndarray_converts_dtype():
    x = mx.nd.array([1.5, 2.5, -3.5])
    h = mx.nd.zeros((3,), dtype="int32")
    x.copyto(h)
    assert h.dtype == np.int32
    assert_array_equal(npv(h), [1, 2, -3])


def test_copyto_shape_mismatch_raises():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.ones((2, 3)).copyto(mx.nd.zeros((3,))).wait_to_read()


def test_copyto_bad_type_raises_typeerror():
    with pytest.raises(TypeError, match="copyto does not support type"):
        mx.nd.ones((2, 3)).copyto(5)


def test_as_in_context():
    x = mx.nd.arange(3)
    assert x.as_in_context(mx.cpu(0)) is x
    y = x.as_in_context(mx.cpu(1))
    assert y is not x
    assert y.context == mx.cpu(1)
    assert_array_equal(npv(y), [0, 1, 2])


def test_wait_to_read_returns_none():
    x = mx.nd.ones((2, 2)) * 3
    assert x.wait_to_read() is None
    assert mx.nd.waitall() is None
    assert_array_equal(npv(x), np.full((2, 2), 3, np.float32))


# --------------------------------------------------------------------------- reshape


@pytest.mark.parametrize(
    "spec,expected",
    [
        ((-1,), (24,)),
        ((2, -1), (2, 12)),
        ((6, -1), (6, 4)),
        ((4, 6), (4, 6)),
        ((0, -1), (2, 12)),
        ((-1, 0), (8, 3)),
        ((0, 0, -1), (2, 3, 4)),
        ((-2,), (2, 3, 4)),
        ((0, -2), (2, 3, 4)),
        ((-3, 4), (6, 4)),
        ((0, -3), (2, 12)),
        ((-3, -2), (6, 4)),
        ((2, -4, 1, 3, 4), (2, 1, 3, 4)),
        ((2, -4, -1, 3, -2), (2, 1, 3, 4)),
        ((-4, 1, 2, -2), (1, 2, 3, 4)),
        ((-4, 1, 2, -3), (1, 2, 12)),
        ((-4, -1, 2, 0, 0), (1, 2, 3, 4)),
    ],
)
def test_reshape_special_codes(spec, expected):
    a = mx.nd.arange(24).reshape((2, 3, 4))
    b = a.reshape(spec)
    assert b.shape == expected
    assert_array_equal(npv(b).ravel(), np.arange(24))
    assert mx.nd.reshape(a, shape=spec).shape == expected


def test_reshape_codes_4d():
    x = mx.nd.ones((2, 3, 4, 5))
    assert x.reshape((-3, -3)).shape == (6, 20)
    assert x.reshape((-2,)).shape == (2, 3, 4, 5)
    assert x.reshape((-3, -2)).shape == (6, 4, 5)


def test_reshape_reverse():
    a = mx.nd.arange(24).reshape((2, 3, 4))
    assert a.reshape((0, -1), reverse=True).shape == (3, 8)
    assert a.reshape((-1, 0), reverse=True).shape == (6, 4)
    x = mx.nd.ones((10, 5, 4))
    assert x.reshape((-1, 0)).shape == (40, 5)
    assert x.reshape((-1, 0), reverse=True).shape == (50, 4)


def test_reshape_call_forms():
    a = mx.nd.arange(24).reshape((2, 3, 4))
    assert a.reshape(4, 6).shape == (4, 6)
    assert a.reshape((4, 6)).shape == (4, 6)
    assert a.reshape(shape=(4, 6)).shape == (4, 6)
    assert a.reshape(-1).shape == (24,)
    assert a.reshape(3, -1).shape == (3, 8)


def test_reshape_other_spellings_and_gradient():
    # Python ints go the native way; lists, NumPy ints and bools the Python one: all agree.
    a = mx.nd.arange(6).reshape((2, 3))
    assert a.reshape([3, 2]).shape == (3, 2)
    assert a.reshape(np.int64(3), 2).shape == (3, 2)
    assert a.reshape((np.int32(-1),)).shape == (6,)
    w = mx.nd.array(np.arange(6, dtype=np.float32).reshape(3, 2))
    a.attach_grad()
    with mx.autograd.record():
        y = (a.reshape((3, 2)) * w).sum() + (a.reshape(6) * 2).sum()
    y.backward()
    assert_array_equal(npv(a.grad), np.arange(6).reshape(2, 3) + 2)


def test_reshape_shares_memory():
    a = mx.nd.arange(24).reshape((2, 3, 4))
    b = a.reshape((6, 4))
    b[0, 0] = 100
    assert a[0, 0, 0].asscalar() == 100
    a[1] = -1
    assert_array_equal(npv(b)[3:], -np.ones((3, 4)))


def test_reshape_bad_size_raises():
    a = mx.nd.arange(6).reshape((2, 3))
    with pytest.raises(ValueError):
        a.reshape((4, -1))
    with pytest.raises(mx.base.MXNetError):
        a.reshape((5, 5))
    with pytest.raises(mx.base.MXNetError):
        a.reshape((-1, -1))


# --------------------------------------------------------------------------- repr / str


def test_repr_2d_float():
    assert repr(mx.nd.ones((2, 3))) == "\n[[1. 1. 1.]\n [1. 1. 1.]]\n<NDArray 2x3 @cpu(0)>"
    assert str(mx.nd.ones((2, 3))) == "\n[[1. 1. 1.]\n [1. 1. 1.]]\n<NDArray 2x3 @cpu(0)>"


@pytest.mark.parametrize(
    "make,text",
    [
        (lambda: mx.nd.ones((1,)), "\n[1.]\n<NDArray 1 @cpu(0)>"),
        (lambda: mx.nd.array([1, 2, 3]), "\n[1. 2. 3.]\n<NDArray 3 @cpu(0)>"),
        (lambda: mx.nd.array([1.5, 2.25]), "\n[1.5  2.25]\n<NDArray 2 @cpu(0)>"),
        (lambda: mx.nd.array([1e10, 1]), "\n[1.e+10 1.e+00]\n<NDArray 2 @cpu(0)>"),
        (
            lambda: mx.nd.ones((2, 3)) * 0.1,
            "\n[[0.1 0.1 0.1]\n [0.1 0.1 0.1]]\n<NDArray 2x3 @cpu(0)>",
        ),
        (
            lambda: mx.nd.zeros((2, 3), dtype="uint8"),
            "\n[[0 0 0]\n [0 0 0]]\n<NDArray 2x3 @cpu(0)>",
        ),
        (lambda: mx.nd.zeros((2,), dtype="int64"), "\n[0 0]\n<NDArray 2 @cpu(0)>"),
        (lambda: mx.nd.array([-1, 2], dtype="int8"), "\n[-1  2]\n<NDArray 2 @cpu(0)>"),
        (lambda: mx.nd.array([0.5], dtype="float16"), "\n[0.5]\n<NDArray 1 @cpu(0)>"),
        (
            lambda: mx.nd.array([1, 2], dtype="float64") / 3,
            "\n[0.33333333 0.66666667]\n<NDArray 2 @cpu(0)>",
        ),
        (
            lambda: mx.nd.array([1.123456789, 100.5]),
            "\n[  1.1234568 100.5      ]\n<NDArray 2 @cpu(0)>",
        ),
        (
            lambda: mx.nd.ones((2, 2, 2)),
            "\n[[[1. 1.]\n  [1. 1.]]\n\n [[1. 1.]\n  [1. 1.]]]\n<NDArray 2x2x2 @cpu(0)>",
        ),
        (
            lambda: mx.nd.ones((3, 1, 2)),
            "\n[[[1. 1.]]\n\n [[1. 1.]]\n\n [[1. 1.]]]\n<NDArray 3x1x2 @cpu(0)>",
        ),
        (lambda: mx.nd.ones((2,), ctx=mx.cpu(1)), "\n[1. 1.]\n<NDArray 2 @cpu(1)>"),
    ],
)
def test_repr_exact(make, text):
    assert repr(make()) == text


def test_repr_large_array_is_full_numpy_str():
    x = mx.nd.arange(1000)
    r = repr(x)
    assert r.startswith("\n[  0.   1.   2.")
    assert r.endswith(" 998. 999.]\n<NDArray 1000 @cpu(0)>")
    assert r == "\n" + str(np.arange(1000, dtype=np.float32)) + "\n<NDArray 1000 @cpu(0)>"


def test_repr_0d_array():
    x = mx.nd.array(5.0)
    assert x.shape == ()
    assert x.ndim == 0
    assert x.size == 1
    assert x.asscalar() == 5.0
    assert repr(x) == "\n5.0\n<NDArray  @cpu(0)>"


# --------------------------------------------------------------------------- errors


def test_op_error_surfaces_as_mxneterror():
    # raised either at the call or at the first read; both are MXNet-compatible
    with pytest.raises(mx.base.MXNetError):
        a = mx.nd.random.normal(0, -1, shape=(2, 2))
        a.asnumpy()
    mx.nd.waitall()


def test_mxneterror_is_runtimeerror():
    assert issubclass(mx.base.MXNetError, RuntimeError)


# --------------------------------------------------------------------------- mxrs only


@MXRS_ONLY
def test_exception_hierarchy_mxrs():
    base = mx.base
    assert issubclass(base.MXNetError, Exception)
    assert issubclass(base.ShapeError, base.MXNetError)
    assert issubclass(base.ShapeError, ValueError)
    assert issubclass(base.DTypeError, base.MXNetError)
    assert issubclass(base.DTypeError, TypeError)
    assert issubclass(base.ContextError, base.MXNetError)
    assert issubclass(base.NotSupported, base.MXNetError)
    assert issubclass(base.NotSupported, NotImplementedError)


def _shape_in(shape, msg):
    forms = [
        str(tuple(shape)),
        "(" + ",".join(map(str, shape)) + ")",
        "[" + ",".join(map(str, shape)) + "]",
        "[" + ", ".join(map(str, shape)) + "]",
    ]
    return any(f in msg for f in forms)


@MXRS_ONLY
def test_dot_shape_mismatch_error_mxrs():
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 5))).wait_to_read()
    err = info.value
    assert isinstance(err, ValueError)
    msg = str(err)
    assert "dot" in msg
    assert _shape_in((2, 3), msg), msg
    assert _shape_in((2, 5), msg), msg


@MXRS_ONLY
def test_add_shape_mismatch_error_mxrs():
    with pytest.raises(mx.base.MXNetError) as info:
        (mx.nd.ones((2, 3)) + mx.nd.ones((3, 2))).wait_to_read()
    err = info.value
    assert isinstance(err, ValueError)
    msg = str(err)
    assert "add" in msg.lower() or "plus" in msg.lower(), msg
    assert _shape_in((2, 3), msg), msg
    assert _shape_in((3, 2), msg), msg


@MXRS_ONLY
def test_np_asarray_mxrs():
    x = mx.nd.array([[1, 2], [3, 4]], dtype="int32")
    a = np.asarray(x)
    assert a.dtype == np.int32
    assert a.shape == (2, 2)
    assert_array_equal(a, [[1, 2], [3, 4]])
    f = np.asarray(mx.nd.ones((2, 3)))
    assert f.dtype == np.float32 and f.shape == (2, 3)


@MXRS_ONLY
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
def test_zero_size_arrays_mxrs(shape):
    z = mx.nd.zeros(shape)
    assert z.shape == shape
    assert z.size == 0
    assert z.asnumpy().shape == shape
    assert mx.nd.ones(shape, dtype="int32").dtype == np.int32
    assert mx.nd.empty(shape).shape == shape
    assert (z + 1).shape == shape
    assert (z * z).shape == shape
    assert mx.nd.array(np.zeros(shape)).shape == shape


@MXRS_ONLY
def test_zero_d_arrays_mxrs():
    x = mx.nd.array(5.0)
    assert x.shape == ()
    y = x + 1
    assert y.shape == ()
    assert y.asscalar() == 6.0
    assert (x * 2).asnumpy() == 10.0
    z = mx.nd.zeros(())
    assert z.shape == () and z.size == 1 and z.asscalar() == 0.0


def _drain():
    with contextlib.suppress(mx.base.MXNetError):
        mx.nd.waitall()


@MXRS_ONLY
def test_failed_op_error_stays_on_array_mxrs():
    _drain()
    a = mx.nd.random.normal(0, -1, shape=(2, 2))
    b = a + 1
    for _ in range(2):
        with pytest.raises(mx.base.MXNetError):
            b.wait_to_read()
        with pytest.raises(mx.base.MXNetError):
            a.asnumpy()
    # unrelated arrays are fine
    assert mx.nd.ones((1,)).asscalar() == 1.0
    # writing the array clears its error
    a[:] = 3
    assert_array_equal(a.asnumpy(), np.full((2, 2), 3, np.float32))
    _drain()
    mx.nd.waitall()


@MXRS_ONLY
def test_failed_op_waitall_raises_once_mxrs():
    _drain()
    a = mx.nd.random.normal(0, -1, shape=(2, 2))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.waitall()
    mx.nd.waitall()  # engine stays usable, the error is reported once
    with pytest.raises(mx.base.MXNetError):
        a.asnumpy()  # ...but it stays on the array
    assert_array_equal((mx.nd.ones((2,)) * 2).asnumpy(), [2, 2])

"""NDArray __getitem__ / __setitem__ and view semantics (MXNet 1.9.1)."""

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal


def base():
    return mx.nd.arange(24).reshape((4, 6))


REF = np.arange(24, dtype=np.float32).reshape(4, 6)


# --------------------------------------------------------------------------- getitem


@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        slice(1, 3),
        slice(None, None, 2),
        slice(1, None, 2),
        slice(None, None, -1),
        slice(3, 0, -1),
        slice(-3, None),
        slice(2, 100),
        (1, slice(2, 5)),
        (slice(1, None, 2), slice(None, None, 3)),
        (slice(None), 1),
        (slice(None), slice(None, None, -2)),
        (slice(3, 0, -1), 1),
        (slice(1, 3), 2),
        (slice(None), slice(1, 4)),
    ],
    ids=repr,
)
def test_basic_getitem_matches_numpy(key):
    got = base()[key]
    assert isinstance(got, mx.nd.NDArray)
    exp = REF[key]
    assert got.shape == exp.shape
    assert got.dtype == np.float32
    assert_array_equal(got.asnumpy(), exp)


def _random_keys(seed, ndim, count):
    rng = np.random.default_rng(seed)
    # MXNet 1.9.1 fails ("could not construct a sub-memory") on a start below -dim when an int
    # indexes another axis; NumPy, and mxrs, clip it. Such starts stay out of the shared test.
    starts = [None, 0, 1, 2, -1, -2, 5, 100]
    stops = [*starts, -7, -100]

    def part(dim):
        if rng.random() < 0.35:
            return int(rng.integers(-dim, dim))
        step = [None, 1, 2, 3, -1, -2][rng.integers(6)]
        return slice(starts[rng.integers(len(starts))], stops[rng.integers(len(stops))], step)

    shape = (4, 5, 3)[:ndim]
    return [tuple(part(shape[ax]) for ax in range(rng.integers(2, ndim + 1))) for _ in range(count)]


@pytest.mark.parametrize("ndim", [2, 3])
def test_tuples_of_ints_and_slices_match_numpy(ndim):
    ref = np.arange(60, dtype=np.float32)[: {2: 20, 3: 60}[ndim]].reshape((4, 5, 3)[:ndim])
    x = mx.nd.array(ref)
    for key in _random_keys(ndim, ndim, 150):
        exp = ref[key]
        if exp.size == 0:
            continue
        got = x[key]
        # MXNet gives shape (1,) where NumPy gives a scalar.
        assert got.shape == (exp.shape or (1,)), key
        assert_array_equal(got.asnumpy(), exp.reshape(got.shape), err_msg=repr(key))


@pytest.mark.parametrize("ndim", [2, 3])
def test_assignments_through_tuples_of_ints_and_slices_match_numpy(ndim):
    shape = (4, 5, 3)[:ndim]
    ref = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = mx.nd.array(ref)
    for i, key in enumerate(_random_keys(10 + ndim, ndim, 120)):
        part = ref[key]
        if part.size == 0:
            continue
        if i % 2:
            value = np.float32(100 + i)
            x[key] = float(value) if i % 4 == 1 else int(value)
        else:
            value = np.arange(part.size, dtype=np.float32).reshape(part.shape) - i
            x[key] = mx.nd.array(value.reshape(part.shape or (1,)))
        ref[key] = value
        assert_array_equal(x.asnumpy(), ref, err_msg=repr(key))


def test_tuple_keys_record_their_gradient():
    x = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    x.attach_grad()
    with mx.autograd.record():
        y = (x[:, 1] * 2).sum() + (x[1:, ::-2] * 3).sum() + x[2, 3]
    y.backward()
    exp = np.zeros((3, 4), np.float32)
    exp[:, 1] += 2
    exp[1:, ::-2] += 3
    exp[2, 3] += 1
    assert_array_equal(x.grad.asnumpy(), exp)


def test_tuple_keys_of_other_kinds():
    a = base()
    # NumPy integers, bools and a huge slice bound take Python's path, with the same result.
    assert_array_equal(a[np.int64(1), 1:3].asnumpy(), REF[1, 1:3])
    assert_array_equal(a[1:3, np.int32(-1)].asnumpy(), REF[1:3, -1])
    if not IS_MXNET:
        # MXNet fails to parse the bound; mxrs clips it, as NumPy.
        assert_array_equal(a[:, 1 : 2**70].asnumpy(), REF[:, 1:])
        assert_array_equal(a[-100:2, 1].asnumpy(), REF[-100:2, 1])
    assert_array_equal(a[..., 2].asnumpy(), REF[..., 2])
    with pytest.raises(IndexError):
        a[1, 2, 3]
    with pytest.raises(IndexError):
        a[:, -7]
    with pytest.raises(ValueError, match="step cannot be zero"):
        a[:, ::0]


def test_full_integer_index_gives_shape_1_array():
    # legacy MXNet: indexing every axis with an int gives an NDArray of shape (1,)
    x = mx.nd.array([[1, 2], [3, 4]])
    v = x[1, 0]
    assert isinstance(v, mx.nd.NDArray)
    assert v.shape == (1,)
    assert v.asscalar() == 3.0
    assert base()[-1, -1].asscalar() == 23.0
    assert base()[1, 2].shape == (1,)


def test_getitem_3d():
    b = mx.nd.arange(24).reshape((2, 3, 4))
    ref = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert b[1, 2].shape == (4,)
    assert_array_equal(b[1, 2].asnumpy(), [20, 21, 22, 23])
    assert b[:, 1].shape == (2, 4)
    assert b[1, :, 2].shape == (3,)
    assert_array_equal(b[(slice(None), 1, slice(1, 3))].asnumpy(), [[5, 6], [17, 18]])
    assert_array_equal(b[(1, 2)].asnumpy(), b[1][2].asnumpy())
    assert_array_equal(b[:, ::2, 1:].asnumpy(), ref[:, ::2, 1:])


def test_getitem_int_dtype_preserved():
    x = mx.nd.arange(6, dtype="int32").reshape((2, 3))
    assert x[1].dtype == np.int32
    assert_array_equal(x[1].asnumpy(), np.array([3, 4, 5], np.int32))
    assert x[:, 1:].dtype == np.int32


def test_getitem_list_index_selects_rows():
    a = base()
    got = a[[0, 2]]
    assert got.shape == (2, 6)
    assert_array_equal(got.asnumpy(), REF[[0, 2]])


def test_getitem_ndarray_index_selects_rows():
    got = base()[mx.nd.array([0, 2])]
    assert_array_equal(got.asnumpy(), REF[[0, 2]])


def test_getitem_out_of_bounds_is_indexerror():
    a = base()
    with pytest.raises(IndexError):
        a[10]
    with pytest.raises(IndexError):
        a[1, 10]
    with pytest.raises(IndexError):
        a[-5]


# --------------------------------------------------------------------------- views


def test_axis0_slice_is_a_view_both_ways():
    a = base()
    v = a[1:3]
    v[:] = -1
    exp = REF.copy()
    exp[1:3] = -1
    assert_array_equal(a.asnumpy(), exp)
    a[2, 0] = 55
    assert v[1, 0].asscalar() == 55
    a[1] = 8
    assert_array_equal(v[0].asnumpy(), np.full(6, 8, np.float32))


def test_axis0_integer_index_is_a_view():
    a = base()
    r = a[1]
    r[:] = 7
    assert_array_equal(a[1].asnumpy(), np.full(6, 7, np.float32))
    a[1, 2] = -3
    assert r[2].asscalar() == -3


def test_view_of_view():
    a = base()
    v = a[1:4][1:2]
    v[:] = 0
    exp = REF.copy()
    exp[2] = 0
    assert_array_equal(a.asnumpy(), exp)


def test_inplace_op_on_view_writes_base():
    a = base()
    v = a[2:]
    v += 100
    exp = REF.copy()
    exp[2:] += 100
    assert_array_equal(a.asnumpy(), exp)


def test_stepped_and_column_slices_are_copies():
    a = base()
    col = a[:, 1]
    col[:] = 9
    assert_array_equal(a.asnumpy(), REF)
    stepped = a[::2]
    stepped[:] = 3
    assert_array_equal(a.asnumpy(), REF)


# --------------------------------------------------------------------------- setitem


def test_setitem_full_scalar():
    c = mx.nd.zeros((3, 4))
    c[:] = 2
    assert_array_equal(c.asnumpy(), np.full((3, 4), 2, np.float32))
    c[:] = 2.5
    assert_array_equal(c.asnumpy(), np.full((3, 4), 2.5, np.float32))
    c[:] = np.float64(1.5)
    assert_array_equal(c.asnumpy(), np.full((3, 4), 1.5, np.float32))


def test_setitem_full_ndarray():
    c = mx.nd.zeros((3, 4))
    src = mx.nd.ones((3, 4)) * 5
    c[:] = src
    assert_array_equal(c.asnumpy(), np.full((3, 4), 5, np.float32))
    src[:] = 0  # c holds a copy
    assert c.asnumpy().sum() == 60


def test_setitem_full_numpy_and_list():
    c = mx.nd.zeros((3, 4))
    c[:] = np.arange(12).reshape(3, 4)
    assert_array_equal(c.asnumpy(), np.arange(12, dtype=np.float32).reshape(3, 4))
    c[:] = [[1, 2, 3, 4]] * 3
    assert_array_equal(c.asnumpy(), np.tile(np.arange(1, 5, dtype=np.float32), (3, 1)))


def test_setitem_broadcasts():
    c = mx.nd.zeros((3, 4))
    c[:] = mx.nd.array([1, 2, 3, 4])
    assert_array_equal(c.asnumpy(), np.tile(np.arange(1, 5, dtype=np.float32), (3, 1)))
    c[:] = np.array([7])
    assert_array_equal(c.asnumpy(), np.full((3, 4), 7, np.float32))


def test_setitem_bad_shape_is_valueerror():
    c = mx.nd.zeros((3, 4))
    with pytest.raises(ValueError):
        c[:] = mx.nd.ones((2, 2))


def test_setitem_string_is_typeerror():
    c = mx.nd.zeros((2, 2))
    with pytest.raises(TypeError):
        c[:] = "a"


def test_setitem_row_ranges():
    c = mx.nd.zeros((3, 4))
    c[1:3] = 8
    assert_array_equal(c.asnumpy(), [[0] * 4, [8] * 4, [8] * 4])
    c[1:3] = mx.nd.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert_array_equal(c.asnumpy(), [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8]])
    c[0] = mx.nd.array([9, 9, 9, 9])
    assert_array_equal(c.asnumpy(), [[9, 9, 9, 9], [1, 2, 3, 4], [5, 6, 7, 8]])
    c[1:3] = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])
    assert_array_equal(c.asnumpy(), [[9, 9, 9, 9], [0, 1, 0, 1], [1, 0, 1, 0]])
    c[0:2] = [[-1, -2, -3, -4], [-5, -6, -7, -8]]
    assert_array_equal(c.asnumpy(), [[-1, -2, -3, -4], [-5, -6, -7, -8], [1, 0, 1, 0]])


def test_setitem_other_keys():
    c = mx.nd.array([[1, 2, 3, 4]] * 3)
    c[:, 1] = 0
    assert_array_equal(c.asnumpy(), [[1, 0, 3, 4]] * 3)
    c[1:, 1:3] = np.array([[-1, -2], [-3, -4]])
    assert_array_equal(c.asnumpy(), [[1, 0, 3, 4], [1, -1, -2, 4], [1, -3, -4, 4]])
    c[::2] = 100
    assert_array_equal(c.asnumpy(), [[100] * 4, [1, -1, -2, 4], [100] * 4])
    c[2, 3] = 42
    assert c[2, 3].asscalar() == 42
    assert c[2, 2].asscalar() == 100
    c[-1, -2] = 5
    assert c[2, 2].asscalar() == 5


def test_setitem_1d():
    f = mx.nd.arange(5)
    f[1:4] = [10, 20, 30]
    assert_array_equal(f.asnumpy(), [0, 10, 20, 30, 4])
    f[-1] = -1
    assert_array_equal(f.asnumpy(), [0, 10, 20, 30, -1])
    f[::2] = 7
    assert_array_equal(f.asnumpy(), [7, 10, 7, 30, 7])


def test_setitem_int_array_truncates_floats():
    d = mx.nd.zeros((3,), dtype="int32")
    d[:] = 2.7
    assert d.dtype == np.int32
    assert_array_equal(d.asnumpy(), [2, 2, 2])
    d[:] = np.array([1.9, 2.2, -3.5])
    assert_array_equal(d.asnumpy(), [1, 2, -3])


def test_setitem_converts_ndarray_dtype():
    e = mx.nd.zeros((2, 2))
    e[:] = mx.nd.array([[1, 2], [3, 4]], dtype="int64")
    assert e.dtype == np.float32
    assert_array_equal(e.asnumpy(), [[1, 2], [3, 4]])


def test_setitem_3d_view_chain():
    b = mx.nd.zeros((2, 3, 4))
    b[1][2] = 5  # b[1] is a view, so this writes into b
    ref = np.zeros((2, 3, 4), np.float32)
    ref[1, 2] = 5
    assert_array_equal(b.asnumpy(), ref)
    b[0, 1:3] = 1
    ref[0, 1:3] = 1
    assert_array_equal(b.asnumpy(), ref)


def test_indices_and_shapes_of_every_integer_type():
    # Plain ints and tuples take a short way; NumPy ints, bools and huge values the general
    # one, with the same results and errors.
    a = base()
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert_array_equal(a[np.int64(1), 2:].asnumpy(), x[1, 2:])
    assert_array_equal(a[1, np.int32(2) :].asnumpy(), x[1, 2:])
    assert_array_equal(a[:, -1].asnumpy(), x[:, -1])
    assert_array_equal(a[..., 1].asnumpy(), x[..., 1])
    assert a.reshape((np.int64(3), 8)).shape == (3, 8)
    assert a.reshape((True, 24)).shape == (1, 24)
    assert a.reshape([2, -1]).shape == (2, 12)
    if not IS_MXNET:  # (MXNet raises a ValueError of NumPy's words for the first)
        with pytest.raises(mx.base.MXNetError, match="too large"):
            a.reshape((1 << 70, 1))
        with pytest.raises(mx.base.MXNetError, match="non-integer"):
            a.reshape((2.0, 12))
    with pytest.raises(IndexError):
        a[:, 6]

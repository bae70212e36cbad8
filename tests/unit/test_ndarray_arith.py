"""Arithmetic operators, comparisons, in-place ops and broadcasting (MXNet 1.9.1)."""

import operator

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

A = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
B = np.array([[2, 2, 2], [3, 3, 3]], np.float32)


def nd(x, dtype="float32"):
    return mx.nd.array(x, dtype=dtype)


def check(got, expected, dtype=np.float32, rtol=1e-5):
    assert isinstance(got, mx.nd.NDArray)
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == np.dtype(dtype).type
    assert_allclose(got.asnumpy(), expected.astype(dtype), rtol=rtol)


# --------------------------------------------------------------------------- float binary


@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.mod,
        operator.pow,
    ],
    ids=["add", "sub", "mul", "div", "mod", "pow"],
)
def test_array_array_float(op):
    check(op(nd(A), nd(B)), op(A, B))


@pytest.mark.parametrize("scalar", [2, 0.5, -3])
@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.mod,
        operator.pow,
    ],
    ids=["add", "sub", "mul", "div", "mod", "pow"],
)
def test_scalar_either_side_float(op, scalar):
    check(op(nd(A), scalar), op(A, np.float32(scalar)))
    check(op(scalar, nd(A)), op(np.float32(scalar), A))


def test_reflected_values():
    check(1 + nd(A), [[2, 3, 4], [5, 6, 7]])
    check(10 - nd(A), [[9, 8, 7], [6, 5, 4]])
    check(2 * nd(A), [[2, 4, 6], [8, 10, 12]])
    check(6 / nd(A), [[6, 3, 2], [1.5, 1.2, 1]])
    check(7 % nd(A), [[0, 1, 1], [3, 2, 1]])
    check(2 ** nd(A), [[2, 4, 8], [16, 32, 64]])


def test_float_mod_follows_python_sign_rule():
    check(nd([-7.0, 7.0]) % 3, [2, 1])
    check(nd([5.5, -5.5]) % nd([-3, 3]), [-0.5, 0.5])


def test_float_division_by_zero():
    got = (nd([1, -1, 0]) / 0).asnumpy()
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])


def test_unary_minus_and_abs():
    check(-nd(A), -A)
    check(abs(nd([[-1, 2], [3, -4]])), [[1, 2], [3, 4]])
    check(-nd([1, 2, 3], "int32"), np.array([-1, -2, -3]), np.int32)


def test_unary_plus_is_not_supported():
    with pytest.raises(TypeError):
        operator.pos(nd(A))


def test_numpy_operand_is_typeerror():
    with pytest.raises(TypeError):
        nd([1, 2]) + np.array([1, 2])


def test_mixed_dtypes_raise():
    with pytest.raises(mx.base.MXNetError):
        (mx.nd.ones(2) + mx.nd.ones(2, dtype="int32")).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        (mx.nd.ones(2) * mx.nd.ones(2, dtype="float64")).wait_to_read()


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_float_dtypes(dtype):
    rtol = 1e-3 if dtype == "float16" else 1e-7
    a, b = nd(A, dtype), nd(B, dtype)
    check(a + b, A + B, dtype, rtol)
    check(a * b, A * B, dtype, rtol)
    check(a / b, A.astype(dtype) / B.astype(dtype), dtype, rtol)
    check(a - 1.5, A - 1.5, dtype, rtol)
    check(3 / a, 3 / A.astype(dtype), dtype, rtol)


# --------------------------------------------------------------------------- integer semantics


def test_int_division_truncates():
    i = nd([1, 2, 3], "int32")
    check(i / 2, [0, 1, 1], np.int32)
    check(nd([-7, 7], "int32") / 2, [-3, 3], np.int32)
    check(i / nd([2, 2, 2], "int32"), [0, 1, 1], np.int32)
    check(7 / i, [7, 3, 2], np.int32)


def test_int_op_float_scalar_is_cast_to_int_first():
    # the scalar is converted to the array's integer type before the op
    i = nd([1, 2, 3], "int32")
    check(i / 2.5, [0, 1, 1], np.int32)  # i / 2
    check(i * 0.5, [0, 0, 0], np.int32)  # i * 0
    check(2.5 * i, [2, 4, 6], np.int32)  # 2 * i
    check(i + 0.7, [1, 2, 3], np.int32)  # i + 0
    check(i - 0.5, [1, 2, 3], np.int32)
    check(0.5 - i, [-1, -2, -3], np.int32)
    check(i**0.5, [1, 1, 1], np.int32)  # i ** 0
    check(i**2.7, [1, 4, 9], np.int32)  # i ** 2
    check(i > 1.5, [0, 1, 1], np.int32)  # i > 1
    check(i == 2.0, [0, 1, 0], np.int32)


def test_one_scalar_in_a_loop_over_dtypes():
    # The operator keeps its op for the last number, and the op its operand for a dtype: the
    # same number over arrays of other dtypes, in turn, is cast for each (int32: 2), fresh and
    # in place, and float32 after float64 gets 2.5 again.
    arrays = [nd([1.0, -2.0], "float32"), nd([4, -6], "int32"), nd([0.5, 3.0], "float64")]
    for _ in range(2):
        for a, want in zip(arrays, ([2.5, -5.0], [8, -12], [1.25, 7.5])):
            check(a * 2.5, want, a.dtype)
            b = a.copy()
            b *= 2.5
            check(b, want, a.dtype)


def test_int_mod_follows_python_sign_rule():
    i = nd([1, 2, 3], "int32")
    check(i % 2, [1, 0, 1], np.int32)
    check(nd([-7, 7], "int32") % 3, [2, 1], np.int32)
    check(nd([-7, 7], "int32") % -3, [-1, -2], np.int32)
    check(nd([5, -5], "int32") % nd([-3, 3], "int32"), [-1, 1], np.int32)


def test_int_mod_by_zero_gives_zero():
    check(nd([1, 2, 3], "int32") % 0, [0, 0, 0], np.int32)


def test_int_other_ops():
    i = nd([1, 2, 3], "int32")
    check(i**2, [1, 4, 9], np.int32)
    check(2**i, [2, 4, 8], np.int32)
    check(i - 5, [-4, -3, -2], np.int32)
    check(i * i, [1, 4, 9], np.int32)
    check(i == i.copy(), [1, 1, 1], np.int32)


def test_int_wraparound():
    check(nd([1, 2], "uint8") - 5, [252, 253], np.uint8)
    check(nd([1, 2], "uint8") * 200, [200, 144], np.uint8)
    check(nd([100], "int8") + 100, [-56], np.int8)
    big = nd([2**40], "int64") + 1
    assert big.dtype == np.int64
    assert big.asnumpy().tolist() == [2**40 + 1]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"])
def test_int_dtypes_basic(dtype):
    a = nd([[1, 2, 3], [4, 5, 6]], dtype)
    b = nd([[2, 2, 2], [3, 3, 3]], dtype)
    check(a + b, A + B, dtype)
    check(a * b, A * B, dtype)
    check(b - a + 3, B - A + 3, dtype)
    check(a / b, np.trunc(A / B), dtype)
    check(a % b, A % B, dtype)
    check(a > b, A > B, dtype)


# --------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    "op",
    [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge],
    ids=["eq", "ne", "lt", "le", "gt", "ge"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "uint8", "int64"])
def test_comparisons_return_input_dtype(op, dtype):
    a = nd(A, dtype)
    b = nd(B, dtype)
    check(op(a, b), op(A, B), dtype)
    check(op(a, 3), op(A, 3), dtype)
    check(op(3, a), op(3, A), dtype)


def test_comparison_values():
    a = nd(A)
    check(a == nd(B), [[0, 1, 0], [0, 0, 0]])
    check(a != 2, [[1, 0, 1], [1, 1, 1]])
    check(a <= 3, [[1, 1, 1], [0, 0, 0]])
    check(operator.gt(3, a), [[1, 1, 0], [0, 0, 0]])  # reflected: a < 3
    check(a >= nd(B), [[0, 1, 1], [1, 1, 1]])


def test_comparison_broadcasts():
    check(nd([[1], [2]]) == nd([1, 2, 3]), [[1, 0, 0], [0, 1, 0]])
    check(nd(A) > nd([[2], [5]]), [[0, 0, 1], [0, 0, 1]])


# --------------------------------------------------------------------------- in place


def test_inplace_ops_alias():
    a = mx.nd.ones((2, 3))
    b = a
    b *= 3
    assert b is a
    check(a, np.full((2, 3), 3))
    a += 1
    check(b, np.full((2, 3), 4))
    a -= 2
    check(b, np.full((2, 3), 2))
    a /= 2
    check(b, np.full((2, 3), 1))
    a += mx.nd.ones((2, 3))
    check(b, np.full((2, 3), 2))
    c = a
    c %= 1
    check(a, np.zeros((2, 3)))


def test_inplace_keeps_identity_and_dtype():
    i = nd([5, 7, 9], "int32")
    j = i
    j /= 2
    assert j is i
    check(i, [2, 3, 4], np.int32)
    j *= 3
    check(i, [6, 9, 12], np.int32)


def test_inplace_broadcasting_rhs():
    q = mx.nd.ones((2, 3))
    q += mx.nd.array([1, 2, 3])
    check(q, [[2, 3, 4], [2, 3, 4]])
    q = mx.nd.ones((2, 3))
    q *= mx.nd.array([[2], [3]])
    check(q, [[2, 2, 2], [3, 3, 3]])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "uint8", "int8"])
@pytest.mark.parametrize("n", [7, 300_001])
def test_inplace_updates_match_numpy(dtype, n):
    # Whole arrays update in their own buffer (the large size splits across threads); the
    # results must equal NumPy's, as the out-of-place ops' do.
    rng = np.random.default_rng(n)
    x0 = rng.integers(1, 60, n).astype(dtype)
    y0 = rng.integers(1, 4, n).astype(dtype)
    x, y = mx.nd.array(x0, dtype=dtype), mx.nd.array(y0, dtype=dtype)
    want = x0.copy()
    for op, scalar in ((operator.iadd, 3), (operator.imul, 2), (operator.isub, 1)):
        x = op(x, scalar)
        want = op(want, np.array(scalar, dtype=dtype))
        x = op(x, y)
        want = op(want, y0)
    x /= 2
    y /= y
    if np.issubdtype(np.dtype(dtype), np.integer):
        # MXNet's integer division truncates (C semantics; int8 wrapped to negatives above).
        want = np.trunc(want.astype(np.float64) / 2).astype(dtype)
    else:
        want = want / np.array(2, dtype=dtype)
    check(x, want, np.dtype(dtype))
    check(y, np.ones(n), np.dtype(dtype))


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "sqrt", "square", "abs", "negative", "floor"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_unary_ops_written_over_their_input_match_fresh_outputs(name, dtype):
    # op(x, out=x) runs in x's own buffer (the size splits across threads); it must give what
    # op(x) gives, and a view written over itself must leave the rest of the array alone.
    n = 300_001
    x0 = (np.arange(n) % 97 - 48).astype(dtype) / (1 if dtype == "int32" else 16)
    x = mx.nd.array(x0, dtype=dtype)
    fresh = getattr(mx.nd, name)(x).asnumpy()
    out = getattr(mx.nd, name)(x, out=x)
    assert out is x
    np.testing.assert_array_equal(x.asnumpy(), fresh)
    m = mx.nd.array(x0[:12].reshape(4, 3), dtype=dtype)
    v = m[1:3]
    getattr(mx.nd, name)(v, out=v)
    want = x0[:12].reshape(4, 3).copy()
    want[1:3] = fresh[3:9].reshape(2, 3)
    np.testing.assert_array_equal(m.asnumpy(), want)


def test_inplace_with_numpy_and_bool_scalars():
    # Python ints and floats take the operators' fast path; other scalars the general one.
    a = mx.nd.ones((2,))
    a += np.float32(2.5)
    check(a, [3.5, 3.5])
    a *= True
    check(a, [3.5, 3.5])
    a -= np.int64(1)
    check(a, [2.5, 2.5])
    a /= 2
    check(a, [1.25, 1.25])


@pytest.mark.parametrize("n", [3_000_001, 262_145])
def test_large_float32_arithmetic_and_casts_match_numpy_bit_for_bit(n):
    # Outputs of 1 MB and more are written with streaming stores (split over the threads);
    # the values must be NumPy's to the bit, specials included, at any alignment.
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(np.float32)
    b = (rng.random(n) + 0.5).astype(np.float32)
    a[[1, 5, 9]] = [np.nan, np.inf, -0.0]
    b[3] = 0.0
    x, y = mx.nd.array(a), mx.nd.array(b)
    with np.errstate(all="ignore"):
        for got, want in ((x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b)):
            assert got.asnumpy().tobytes() == want.tobytes()
        out = mx.nd.empty((n,))
        mx.nd.elemwise_mul(x[1:], y[1:], out=out[1:])
        assert out.asnumpy()[1:].tobytes() == (a[1:] * b[1:]).tobytes()
        h = mx.nd.Cast(x, dtype="float16")
        assert h.asnumpy().tobytes() == a.astype(np.float16).tobytes()
        assert h.astype("float32").asnumpy().tobytes() == a.astype(np.float16).astype(np.float32).tobytes()
    c = mx.nd.zeros((n,))
    x.copyto(c)
    assert c.asnumpy().tobytes() == a.tobytes()


def test_inplace_on_a_view_and_with_itself():
    a = mx.nd.array(np.arange(6, dtype=np.float32).reshape(3, 2))
    v = a[1:3]
    v *= 10
    check(a, [[0, 1], [20, 30], [40, 50]])
    a += a
    check(a, [[0, 2], [40, 60], [80, 100]])
    r = a.reshape((6,))
    r -= 1
    check(a, [[-1, 1], [39, 59], [79, 99]])


def test_inplace_on_copy_does_not_touch_original():
    a = mx.nd.ones((2,))
    b = a.copy()
    b += 5
    check(a, [1, 1])
    check(b, [6, 6])


def test_binary_op_returns_new_array():
    a = mx.nd.ones((2,))
    b = a + 0
    b[:] = 5
    check(a, [1, 1])


# --------------------------------------------------------------------------- broadcasting


@pytest.mark.parametrize(
    "ls,rs",
    [
        ((2, 3), (2, 1)),
        ((2, 3), (3,)),
        ((2, 1), (3,)),
        ((2, 3), (1, 3)),
        ((1,), (2, 3)),
        ((2, 3), (4, 2, 3)),
        ((4, 1, 3), (1, 5, 1)),
        ((1, 1), (3, 4)),
    ],
)
@pytest.mark.parametrize(
    "op",
    [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow],
    ids=["add", "sub", "mul", "div", "pow"],
)
def test_operator_broadcasting(op, ls, rs):
    rng = np.random.RandomState(0)
    x = rng.uniform(0.5, 2, ls).astype(np.float32)
    y = rng.uniform(0.5, 2, rs).astype(np.float32)
    check(op(nd(x), nd(y)), op(x, y))


def test_operator_broadcast_values():
    check(nd(A) + nd([[1], [2]]), [[2, 3, 4], [6, 7, 8]])
    check(nd(A) + nd([10, 20, 30]), [[11, 22, 33], [14, 25, 36]])
    check(nd([[1], [2]]) + nd([10, 20, 30]), [[11, 21, 31], [12, 22, 32]])
    check(nd([5]) + nd(A), [[6, 7, 8], [9, 10, 11]])


@pytest.mark.parametrize("rs", [(3, 2), (2, 3, 1), (4,)])
def test_incompatible_broadcast_raises(rs):
    with pytest.raises(mx.base.MXNetError):
        (mx.nd.ones((2, 3)) + mx.nd.ones(rs)).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.broadcast_mul(mx.nd.ones((2, 3)), mx.nd.ones(rs)).wait_to_read()


X = np.arange(6, dtype=np.float32).reshape(2, 3)
Y = np.array([[1], [2]], np.float32)

BROADCAST_EXPECTED = {
    "add": [[1, 2, 3], [5, 6, 7]],
    "sub": [[-1, 0, 1], [1, 2, 3]],
    "mul": [[0, 1, 2], [6, 8, 10]],
    "div": [[0, 1, 2], [1.5, 2, 2.5]],
    "mod": [[0, 0, 0], [1, 0, 1]],
    "power": [[0, 1, 2], [9, 16, 25]],
    "maximum": [[1, 1, 2], [3, 4, 5]],
    "minimum": [[0, 1, 1], [2, 2, 2]],
    "equal": [[0, 1, 0], [0, 0, 0]],
    "not_equal": [[1, 0, 1], [1, 1, 1]],
    "greater": [[0, 0, 1], [1, 1, 1]],
    "greater_equal": [[0, 1, 1], [1, 1, 1]],
    "lesser": [[1, 0, 0], [0, 0, 0]],
    "lesser_equal": [[1, 1, 0], [0, 0, 0]],
}


@pytest.mark.parametrize("name", sorted(BROADCAST_EXPECTED))
def test_broadcast_ops_values(name):
    fn = getattr(mx.nd, "broadcast_" + name)
    check(fn(nd(X), nd(Y)), BROADCAST_EXPECTED[name])


@pytest.mark.parametrize("name", sorted(BROADCAST_EXPECTED))
def test_broadcast_ops_int32(name):
    fn = getattr(mx.nd, "broadcast_" + name)
    got = fn(nd(X, "int32"), nd(Y, "int32"))
    exp = np.array(BROADCAST_EXPECTED[name], np.float32)
    if name == "div":
        exp = np.trunc(X / Y)
    check(got, exp, np.int32)


@pytest.mark.parametrize("name", sorted(BROADCAST_EXPECTED))
def test_broadcast_ops_same_shape(name):
    fn = getattr(mx.nd, "broadcast_" + name)
    x = np.array([[1, 5], [3, 2]], np.float32)
    y = np.array([[2, 5], [1, 4]], np.float32)
    npfn = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
        "mod": np.mod,
        "power": np.power,
        "maximum": np.maximum,
        "minimum": np.minimum,
        "equal": np.equal,
        "not_equal": np.not_equal,
        "greater": np.greater,
        "greater_equal": np.greater_equal,
        "lesser": np.less,
        "lesser_equal": np.less_equal,
    }[name]
    check(fn(nd(x), nd(y)), npfn(x, y).astype(np.float32))


def test_broadcast_to():
    check(mx.nd.broadcast_to(nd([[1, 2, 3]]), shape=(2, 3)), [[1, 2, 3], [1, 2, 3]])
    check(mx.nd.broadcast_to(nd([[1], [2]]), shape=(2, 4)), [[1] * 4, [2] * 4])
    # 0 in the target shape keeps the input dimension
    check(mx.nd.broadcast_to(nd([[1], [2]]), shape=(0, 4)), [[1] * 4, [2] * 4])
    check(mx.nd.broadcast_to(mx.nd.ones((1, 2, 1)), shape=(3, 2, 2)), np.ones((3, 2, 2)))
    x = nd([[1], [2]], "int32")
    check(x.broadcast_to((2, 3)), [[1, 1, 1], [2, 2, 2]], np.int32)


def test_broadcast_to_needs_same_ndim():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.broadcast_to(nd([1, 2]), shape=(2, 3)).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.broadcast_to(nd([[1, 2]]), shape=(2, 3)).wait_to_read()


def test_broadcast_axis():
    check(mx.nd.broadcast_axis(nd([[1], [2]]), axis=1, size=3), [[1, 1, 1], [2, 2, 2]])
    got = mx.nd.broadcast_axis(mx.nd.ones((1, 2, 1)), axis=(0, 2), size=(2, 3))
    check(got, np.ones((2, 2, 3)))
    x = np.arange(3, dtype=np.float32).reshape(1, 3, 1)
    check(
        mx.nd.broadcast_axis(nd(x), axis=(0, 2), size=(2, 2)),
        np.broadcast_to(x, (2, 3, 2)),
    )
    check(nd(x).broadcast_axes(axis=2, size=4), np.broadcast_to(x, (1, 3, 4)))


def test_operators_with_many_scalars_and_operand_types():
    # The operators keep their op instances by name and scalar (at most 32): many distinct
    # scalars, ints and floats, and NaN must each give their own result.
    a = mx.nd.array([1.0, 2.0, 4.0])
    for s in list(range(40)) + [0.5, -0.0, 1e30]:
        check(a + s, np.array([1.0, 2.0, 4.0], np.float32) + np.float32(s))
        check(a * s, np.array([1.0, 2.0, 4.0], np.float32) * np.float32(s))
        check(a - s, np.array([1.0, 2.0, 4.0], np.float32) - np.float32(s))
    check(a / 4, [0.25, 0.5, 1.0])
    assert np.isnan((a + float("nan")).asnumpy()).all()
    check(a + True, [2.0, 3.0, 5.0])
    check(a * np.float32(2), [2.0, 4.0, 8.0])
    with pytest.raises(TypeError):
        a + "1"


def test_operators_on_readonly_arrays():
    # A read-only array refuses in-place operators (and keeps its value); the others still
    # make new, writable arrays. Valid on MXNet too, whose arrays carry the same flag.
    a = mx.nd.array([1.0, 2.0])
    a.writable = False
    for update in (operator.iadd, operator.isub, operator.imul, operator.itruediv):
        with pytest.raises(ValueError, match="readonly"):
            update(a, 1)
        with pytest.raises(ValueError, match="readonly"):
            update(a, mx.nd.ones((2,)))
    check(a, [1.0, 2.0])
    for b in (a + 1, 1 + a, a * a, 2 * a, a - 1, a / 2):
        assert b.writable
    check(a + a, [2.0, 4.0])


def _assert_native_slot(name):
    # The operator is the native base class's slot (a wrapper descriptor), not a method of
    # NDArray's own: CPython calls the C function straight from the expression.
    assert name not in mx.nd.NDArray.__dict__, name
    assert getattr(mx.nd.NDArray, name) is mx._native.NDArrayBase.__dict__[name], name
    assert type(getattr(mx.nd.NDArray, name)).__name__ == "wrapper_descriptor", name


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native operator methods")
def test_native_operator_methods():
    # a + b, a * 2, a += b... are C-level slots of the class: called directly they check
    # their arguments, and an op's error names the op and the shapes.
    a = mx.nd.array([1.0, 2.0])
    _assert_native_slot("__add__")
    check(mx.nd.NDArray.__add__(a, 2.0), [3.0, 4.0])
    with pytest.raises(TypeError):
        mx.nd.NDArray.__add__(a)
    with pytest.raises(TypeError):
        mx.nd.NDArray.__add__(1.0, a)
    with pytest.raises(mx.base.MXNetError, match=r"broadcast_add.*\(2\).*\(3\)"):
        (a + mx.nd.ones((3,))).wait_to_read()
    b = a
    b += mx.nd.ones((2,))
    assert b is a
    check(a, [2.0, 3.0])
    # Large ints overflow as float() does.
    with pytest.raises(OverflowError):
        a + (1 << 2000)


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native operator methods")
def test_every_native_operator_matches_numpy():
    # Each native method gives what its Python dunder gave: for two arrays, an array and a
    # number, a number and an array (the reflected ones), and -a. A reflected method called
    # with an array (Python does so for a subclass on the right) computes other OP self.
    x = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    y = np.array([[2.0, -2.0, 1.0], [0.25, 5.0, 3.0]], np.float32)
    a, b = mx.nd.array(x), mx.nd.array(y)
    binary = {
        "__sub__": operator.sub,
        "__truediv__": operator.truediv,
        "__pow__": operator.pow,
        "__gt__": operator.gt,
        "__ge__": operator.ge,
        "__lt__": operator.lt,
        "__le__": operator.le,
        "__eq__": operator.eq,
        "__ne__": operator.ne,
    }
    for name, f in binary.items():
        _assert_native_slot(name)
        want = f(np.abs(x), y) if name == "__pow__" else f(x, y)
        check(f(mx.nd.abs(a) if name == "__pow__" else a, b), want.astype(np.float32))
        check(f(a, 2.0), f(x, np.float32(2.0)).astype(np.float32))
        check(f(2, a), f(np.float32(2), x).astype(np.float32))
    check(a % 2, np.mod(x, np.float32(2)))
    check(3 % b, np.mod(np.float32(3), y))
    check(a % b, np.mod(x, y))
    check(mx.nd.NDArray.__rsub__(a, b), y - x)
    check(mx.nd.NDArray.__rtruediv__(a, b), y / x)
    check(mx.nd.NDArray.__rpow__(mx.nd.abs(a), b.abs()), np.abs(y) ** np.abs(x))
    check(-a, -x)
    _assert_native_slot("__neg__")
    with pytest.raises(TypeError):
        mx.nd.NDArray.__neg__(a, 1)
    assert (a == None) is False  # noqa: E711
    assert (a != None) is True  # noqa: E711
    c = mx.nd.array(x)
    c %= 2
    check(c, np.mod(x, np.float32(2)))
    c.writable = False
    with pytest.raises(ValueError, match="readonly"):
        c %= 2
    with pytest.raises(mx.base.MXNetError, match=r"broadcast_greater.*\(2,3\).*\(4\)"):
        (a > mx.nd.ones((4,))).wait_to_read()


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native operator methods and slots")
def test_operators_on_subclasses_and_bare_instances():
    # A subclass defined in Python keeps its operators and state; the result of an operator
    # is a writable NDArray whose handle is its own; an instance without a handle (made by
    # __new__ alone) raises AttributeError as attribute access would.
    class Tagged(mx.nd.NDArray):
        __slots__ = ("tag",)

    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    a = mx.nd.array(x)
    t = Tagged(a.handle)
    t.tag = "kept"
    check(t + a, x + x)
    check(a + t, x + x)
    check(t * 2, x * 2)
    t += 1
    check(t, x + 1)
    check(a, x + 1)  # t shares a's handle
    assert t.tag == "kept"
    c = a - 1
    assert type(c) is mx.nd.NDArray and c.writable and c.handle is not a.handle
    c += 1
    check(c, x + 1)
    check(a, x + 1)
    bare = mx.nd.NDArray.__new__(mx.nd.NDArray)
    with pytest.raises(AttributeError):
        bare + 1
    with pytest.raises(AttributeError):
        a + bare
    # wait_to_read, a native method too, reads the same slots.
    t.wait_to_read()
    c.wait_to_read()
    with pytest.raises(AttributeError):
        bare.wait_to_read()


def test_wait_to_read_raises_a_failed_write_and_the_engine_goes_on():
    # A failed op's error reaches the next wait_to_read of its output, and later ops run.
    a = mx.nd.array([[1.0, 2.0], [3.0, 4.0]])
    bad = mx.nd.linalg.potrf(-a)  # not positive definite: the kernel fails
    with pytest.raises(mx.base.MXNetError):
        bad.wait_to_read()
    a.wait_to_read()
    check(a + a, [[2.0, 4.0], [6.0, 8.0]])


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native base class")
def test_native_slots_keep_pythons_operator_rules():
    # NDArray's operators are its native base's number and comparison slots: each result
    # releases its class when freed, a subclass's own Python dunders still come first where
    # Python's rules say so, and the forms without a native meaning raise TypeError.
    import sys

    x = np.array([1.0, 2.0, 3.0], np.float32)
    a = mx.nd.array(x)

    def churn():
        for _ in range(1000):
            c = a + a
            c = -c
            c += 1

    churn()
    refs = sys.getrefcount(mx.nd.NDArray)
    churn()
    # Each of the 2000 results took a reference to the class; a lost release would show here
    # as thousands (a few may come and go with other objects in the test process).
    assert sys.getrefcount(mx.nd.NDArray) - refs < 10

    calls = []

    class Reflecting(mx.nd.NDArray):
        __slots__ = ()

        def __radd__(self, other):
            calls.append("radd")
            return mx.nd.NDArray.__add__(self, other)

        def __lt__(self, other):
            calls.append("lt")
            return mx.nd.NDArray.__lt__(self, other)

    r = Reflecting(mx.nd.array([1.0, 1.0, 1.0]).handle)
    # A subclass on the right that overrides the reflected operator runs first.
    check(a + r, x + 1)
    assert calls == ["radd"]
    check(1.5 + r, [2.5, 2.5, 2.5])
    assert calls == ["radd", "radd"]
    # a > r is r < a first for a subclass on the right.
    check(a > r, x > 1)
    assert calls[-1] == "lt"
    check(r * a, x)
    with pytest.raises(TypeError):
        pow(a, 2, 3)
    with pytest.raises(TypeError):
        mx._native.NDArrayBase.__add__(1.0, a)
    # Two classes without a shared operator: Python's usual error.
    with pytest.raises(TypeError):
        "s" + a
    with pytest.raises(TypeError, match="immutable"):
        mx._native.NDArrayBase.__add__ = None


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native base class")
def test_an_operators_result_holds_its_array_until_the_handle_is_read():
    # A result keeps its array in its own memory; `_handle` is made on first read and is then
    # the same object; setting it (any object, as a slot took) replaces the array, and
    # deleting it leaves the instance without one, as an empty slot did.
    import gc
    import weakref

    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    a = mx.nd.array(x)
    c = a + a
    h = c._handle
    assert type(h) is mx._native.NDArrayHandle and c._handle is h and c.handle is h
    check(c, x + x)
    c._handle = a._handle
    check(c, x)
    check(c * 3, x * 3)
    c.wait_to_read()
    del c._handle
    with pytest.raises(AttributeError):
        getattr(c, "_handle")  # noqa: B009 - the property's getter is the point
    with pytest.raises(AttributeError):
        c + 1
    with pytest.raises(AttributeError):
        c.wait_to_read()
    # A result's array shared with a view and a copy outlives the result.
    d = a - 1
    view = d[0]
    e = d.copy()
    del d
    check(view, x[0] - 1)
    check(e, x - 1)
    # A cycle through `_handle` is collected.

    class Box:
        pass

    f = a + 1
    box = Box()
    box.f = f
    f._handle = box
    gone = weakref.ref(f)
    del f, box
    gc.collect()
    assert gone() is None

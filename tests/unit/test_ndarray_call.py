"""The generated ``mx.nd.<op>(...)`` functions: every kind of attribute value, ``out=`` (one
array, a list), several outputs, inputs that are not arrays, errors and recording, as MXNet
1.9.1's. The common calls take mxrs's native path; the rest its general one: both must agree
with MXNet."""

import inspect
import pickle

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal

X = np.array([[-2.0, -0.5, 0.0], [0.5, 1.5, 3.0]], np.float32)


def test_plain_call_returns_a_new_writable_array():
    a = mx.nd.array(X)
    r = mx.nd.relu(a)
    assert type(r) is mx.nd.NDArray
    assert_array_equal(r.asnumpy(), np.maximum(X, 0))
    r[:] = 7  # writable
    assert_array_equal(a.asnumpy(), X)
    assert (r.asnumpy() == 7).all()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda a: mx.nd.sum(a, axis=1), X.sum(axis=1)),  # int
        (lambda a: mx.nd.sum(a, axis=(0, 1), keepdims=True), X.sum(keepdims=True)),  # tuple, bool
        (lambda a: mx.nd.sum(a, axis=None), X.sum(keepdims=False).reshape(1)),  # None
        (lambda a: mx.nd.clip(a, -1.0, 2.0), np.clip(X, -1, 2)),  # floats
        (lambda a: mx.nd.clip(a, np.float32(-1), np.float64(2)), np.clip(X, -1, 2)),  # numpy scalars
        (lambda a: mx.nd.clip(a, a_min=-1, a_max=2), np.clip(X, -1, 2)),  # ints for floats
        (lambda a: mx.nd.Activation(a, act_type="relu"), np.maximum(X, 0)),  # str
        (lambda a: mx.nd.cast(a, dtype="float16"), X.astype(np.float16)),  # dtype as str
        (lambda a: mx.nd.cast(a, dtype=np.float16), X.astype(np.float16)),  # dtype as a type
        (lambda a: mx.nd.cast(a, dtype=np.dtype("int32")), X.astype(np.int32)),  # dtype object
        (lambda a: mx.nd.dot(a, a, transpose_b=True), X @ X.T),  # bool
        (lambda a: mx.nd.dot(a, a, transpose_a=np.bool_(True)), X.T @ X),  # numpy bool
        (lambda a: mx.nd.reshape(a, shape=[3, -1]), X.reshape(3, 2)),  # list
    ],
)
def test_every_kind_of_attribute_value(call, expected):
    r = call(mx.nd.array(X))
    assert r.dtype == expected.dtype
    assert_allclose(r.asnumpy(), expected, rtol=1e-6)


def test_out_one_array_and_a_list():
    a = mx.nd.array(X)
    c = mx.nd.zeros((2, 3))
    r = mx.nd.relu(a, out=c)
    assert r is c
    assert_array_equal(c.asnumpy(), np.maximum(X, 0))
    lo, hi = mx.nd.zeros((1, 3)), mx.nd.zeros((1, 3))
    parts = mx.nd.split(a, num_outputs=2, axis=0, out=[lo, hi])
    assert isinstance(parts, list) and parts[0] is lo and parts[1] is hi
    assert_array_equal(lo.asnumpy(), X[:1])
    assert_array_equal(hi.asnumpy(), X[1:])
    pair = (mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3)))
    got = mx.nd.broadcast_add(a, a, out=pair[0])
    assert got is pair[0]


def test_several_outputs_come_back_as_a_list():
    parts = mx.nd.split(mx.nd.array(X), num_outputs=3, axis=1)
    assert isinstance(parts, list) and len(parts) == 3
    for i, p in enumerate(parts):
        assert type(p) is mx.nd.NDArray
        assert_array_equal(p.asnumpy(), X[:, i : i + 1])


def test_inputs_that_are_not_arrays_and_bad_shapes_raise():
    # MXNet 1.9.1 asserts; mxrs raises MXNetTypeError (a TypeError).
    with pytest.raises((TypeError, AssertionError)):
        mx.nd.relu(X)
    with pytest.raises(mx.base.MXNetError, match="dot"):
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3))).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.sum(mx.nd.array(X), axis=5).wait_to_read()
    # The engine and the fast path still work afterwards.
    assert_array_equal(mx.nd.relu(mx.nd.array(X)).asnumpy(), np.maximum(X, 0))


def test_recorded_calls_with_and_without_out_have_gradients():
    a = mx.nd.array(X)
    a.attach_grad()
    c = mx.nd.zeros((2, 3))
    with mx.autograd.record():
        y = mx.nd.relu(a)
        mx.nd.elemwise_mul(y, a, out=c)
        z = mx.nd.sum(c, axis=1)
    z.backward()
    # d/da sum(relu(a) * a) = 2a where a > 0, else 0.
    assert_allclose(a.grad.asnumpy(), np.where(X > 0, 2 * X, 0), rtol=1e-6)


def test_ops_without_inputs_use_the_current_context():
    z = mx.nd.zeros((2, 2))
    assert z.context == mx.current_context()
    with mx.Context(mx.cpu(1)):
        assert mx.nd.ones((1,)).context == mx.cpu(1)


def test_inputs_by_keyword_and_attributes_by_position():
    """Every way of passing arguments the generated signature allows gives the same result;
    passing one twice is Python's TypeError."""
    a, b = mx.nd.array(X), mx.nd.array(X.T.copy())
    want = X @ X.T
    for r in (
        mx.nd.dot(a, b),
        mx.nd.dot(lhs=a, rhs=b),
        mx.nd.dot(a, rhs=b),
        mx.nd.dot(b, a, True, True),  # attributes by position: b^T a^T
        mx.nd.dot(a, b, name="d"),
        mx.nd.dot(a, b, transpose_a=False),
    ):
        assert_allclose(r.asnumpy(), want, rtol=1e-6)
    assert_allclose(mx.nd.clip(a, -1, a_max=2).asnumpy(), np.clip(X, -1, 2))
    assert_allclose(mx.nd.LeakyReLU(a, act_type="leaky", slope=0.5).asnumpy(), np.where(X > 0, X, 0.5 * X))
    with pytest.raises(TypeError):
        mx.nd.dot(a, lhs=a)


def test_an_op_function_looks_like_the_generated_function():
    """Name, docs, signature, and binding as a method, as a Python function's (mxrs's op
    functions are native callables wrapping the generated ones), and pickling by name (which
    MXNet's functions, made at import, do not support)."""
    f = mx.nd.relu
    assert f.__name__ == "relu"
    assert f.__doc__
    params = list(inspect.signature(mx.nd.dot).parameters)
    assert params[:4] == ["lhs", "rhs", "transpose_a", "transpose_b"]
    if not IS_MXNET:
        assert pickle.loads(pickle.dumps(mx.nd.dot)) is mx.nd.dot

    class Holder:
        act = mx.nd.relu

    a = mx.nd.array(X)
    with pytest.raises((TypeError, AssertionError)):
        Holder().act(a)  # bound: the Holder comes first, as with a Python function
    assert_array_equal(Holder.act(a).asnumpy(), np.maximum(X, 0))


@pytest.mark.skipif(IS_MXNET, reason="mxrs's native op functions")
def test_native_and_generated_functions_agree():
    """The native call and the generated function it wraps (``__wrapped__``) give the same
    results for each way of calling, including ``out=``, several outputs and recording."""
    a, c1, c2 = mx.nd.array(X), mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))
    calls = [
        ("relu", (a,), {}),
        ("dot", (a, a), {"transpose_b": True}),
        ("sum", (a,), {"axis": 1, "keepdims": True}),
        ("split", (a,), {"num_outputs": 3, "axis": 1}),
        ("clip", (a,), {"a_min": -1, "a_max": 2.5}),
        ("topk", (a,), {"k": 2, "ret_typ": "both"}),
        ("sum", (a,), {"axis": (0, 1), "keepdims": True}),  # tuples and lists of numbers
        ("sum", (a,), {"axis": (1,)}),
        ("reshape", (a,), {"shape": [3, -1]}),
        ("transpose", (a,), {"axes": (1, 0)}),
        ("Pooling", (a.reshape((1, 1, 2, 3)),), {"kernel": (2, 2), "pool_type": "max", "stride": (1, 1)}),
    ]
    for name, args, kwargs in calls:
        native = getattr(mx.nd, name)
        assert type(native).__name__ == "OpFunction", name
        fast, slow = native(*args, **kwargs), native.__wrapped__(*args, **kwargs)
        fast = fast if isinstance(fast, list) else [fast]
        slow = slow if isinstance(slow, list) else [slow]
        assert len(fast) == len(slow), name
        for x, y in zip(fast, slow):
            assert type(x) is type(y) and x.dtype == y.dtype, name
            assert_array_equal(x.asnumpy(), y.asnumpy())
    assert mx.nd.relu(a, out=c1) is c1 and mx.nd.relu.__wrapped__(a, out=c2) is c2
    assert_array_equal(c1.asnumpy(), c2.asnumpy())
    a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.sum(mx.nd.square(a))
    y.backward()
    assert_allclose(a.grad.asnumpy(), 2 * X)


def test_variadic_ops_one_by_one_as_a_list_with_out_and_recorded():
    # concat/stack/add_n given arrays one by one take the native path; a list of arrays, an
    # explicit num_args, out= and recording must give what MXNet gives.
    a, b = mx.nd.array(X), mx.nd.array(X * 2 + 1)
    assert_array_equal(mx.nd.concat(a, b, dim=0).asnumpy(), np.concatenate([X, X * 2 + 1], 0))
    assert_array_equal(mx.nd.concat(a, b).asnumpy(), np.concatenate([X, X * 2 + 1], 1))
    assert_array_equal(mx.nd.concat(a, b, num_args=2, dim=1).asnumpy(), np.concatenate([X, X * 2 + 1], 1))
    assert_array_equal(mx.nd.stack(a, b, axis=2).asnumpy(), np.stack([X, X * 2 + 1], 2))
    assert_array_equal(mx.nd.stack(*[a, b, a]).asnumpy(), np.stack([X, X * 2 + 1, X]))
    assert_allclose(mx.nd.add_n(a, b, a).asnumpy(), X * 4 + 1)
    out = mx.nd.zeros((2, 2, 3))
    assert mx.nd.stack(a, b, out=out) is out
    assert_array_equal(out.asnumpy(), np.stack([X, X * 2 + 1]))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.concat(a, b, num_args=3)
    a.attach_grad()
    with mx.autograd.record():
        y = (mx.nd.concat(a, b, dim=0) * mx.nd.stack(a, a, axis=0).reshape((4, 3))).sum()
    y.backward()
    # d/da of sum(a*a) + sum(b*a) = 2a + b
    assert_allclose(a.grad.asnumpy(), 2 * X + (X * 2 + 1), rtol=1e-6)

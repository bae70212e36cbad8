"""Host <-> device copies, views, in-place writes, printing and serialisation on the device."""

import pickle

import numpy as np
import pytest
from _consistency import assert_close
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "int8"]
SHAPES = [(1,), (7,), (33, 65), (2, 3, 4, 5), (100_001,)]
if not IS_MXNET:  # MXNet 1.9 without numpy semantics has no 0-d or 0-size arrays
    SHAPES += [(), (0,), (3, 0, 2)]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 100, size=shape).astype(dtype)


def test_basic_ones_on_device(dev):
    x = mx.nd.ones((2, 3), ctx=dev)
    assert x.context == dev
    assert x.shape == (2, 3)
    assert x.dtype == np.float32
    assert_array_equal(x.asnumpy(), np.ones((2, 3), np.float32))
    assert_array_equal(mx.nd.zeros((4,), ctx=dev).asnumpy(), np.zeros(4, np.float32))
    assert_array_equal(mx.nd.full((2, 2), 7, ctx=dev).asnumpy(), np.full((2, 2), 7, np.float32))
    assert_array_equal(mx.nd.arange(5, ctx=dev).asnumpy(), np.arange(5, dtype=np.float32))
    with dev:
        y = mx.nd.ones((3,))
    assert y.context == dev


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_roundtrip(dev, dtype, shape):
    a = _data(shape, dtype)
    x = mx.nd.array(a, ctx=dev, dtype=dtype)
    assert x.context == dev and x.shape == a.shape and x.dtype == np.dtype(dtype)
    assert_array_equal(x.asnumpy(), a)
    back = x.as_in_context(mx.cpu())
    assert back.context == mx.cpu()
    assert_array_equal(back.asnumpy(), a)
    again = back.copyto(dev)
    assert again.context == dev
    assert_array_equal(again.asnumpy(), a)


def test_roundtrip_bigger_than_64mb(dev):
    n = 17 * (1 << 20) + 3  # 68 MB of float32, odd size
    a = np.arange(n, dtype=np.float32)
    x = mx.nd.array(a, ctx=dev)
    y = (x + 1).as_in_context(mx.cpu()).asnumpy()
    assert y[0] == 1 and y[-1] == np.float32(n) and y[n // 2] == np.float32(n // 2 + 1)
    assert_array_equal(x.asnumpy()[::4099], a[::4099])
    del x


def test_noncontiguous_numpy_source(dev):
    a = np.arange(24, dtype=np.float32).reshape(4, 6).T
    assert_array_equal(mx.nd.array(a, ctx=dev).asnumpy(), a)


def test_device_to_device_copies(dev):
    a = _data((5, 6), "float32")
    x = mx.nd.array(a, ctx=dev)
    assert x.as_in_context(dev) is x
    for y in (x.copy(), x.copyto(dev), mx.nd.identity(x) if hasattr(mx.nd, "identity") else x.copy()):
        assert y.context == dev
        assert_array_equal(y.asnumpy(), a)
    z = x.copy()
    z += 1
    assert_array_equal(x.asnumpy(), a)  # a copy, not a view


def test_copyto_existing_device_and_host_arrays(dev):
    a = _data((4, 5), "float32")
    target = mx.nd.zeros((4, 5), ctx=dev)
    out = mx.nd.array(a).copyto(target)
    assert out is target or out.context == dev
    assert_array_equal(target.asnumpy(), a)
    host = mx.nd.zeros((4, 5))
    (target * 2).copyto(host)
    assert_array_equal(host.asnumpy(), a * 2)
    other = mx.nd.zeros((4, 5), ctx=dev)
    target.copyto(other)
    assert_array_equal(other.asnumpy(), a)


def test_views_slicing_and_reshape(dev):
    a = _data((5, 6), "float32")
    x = mx.nd.array(a, ctx=dev)
    v = x[1:3]
    assert v.context == dev and v.shape == (2, 6)
    assert_array_equal(v.asnumpy(), a[1:3])
    assert_array_equal(x[2].asnumpy(), a[2])
    r = x.reshape((3, 10))
    assert r.context == dev
    assert_array_equal(r.asnumpy(), a.reshape(3, 10))
    assert_array_equal(x.reshape((-1,))[7:9].asnumpy(), a.reshape(-1)[7:9])
    # writes through a view reach the base
    v[:] = 7
    expect = a.copy()
    expect[1:3] = 7
    assert_array_equal(x.asnumpy(), expect)
    r[0] = -1
    expect.reshape(3, 10)[0] = -1
    assert_array_equal(x.asnumpy(), expect)
    # and ops on a view read the right window
    assert_close((v * 2).asnumpy(), expect[1:3] * 2, 0, 0, "view*2")


def test_setitem_on_device(dev):
    x = mx.nd.zeros((4, 3), ctx=dev)
    x[:] = 5
    assert_array_equal(x.asnumpy(), np.full((4, 3), 5, np.float32))
    x[1] = np.array([1, 2, 3], dtype=np.float32)
    x[2] = mx.nd.array([4, 5, 6])  # from the CPU
    x[3] = mx.nd.array([7, 8, 9], ctx=dev)
    x[0, 1] = -1
    assert_array_equal(x.asnumpy(), np.array([[5, -1, 5], [1, 2, 3], [4, 5, 6], [7, 8, 9]], np.float32))
    x[:] = mx.nd.ones((4, 3))  # whole array from the CPU
    assert_array_equal(x.asnumpy(), np.ones((4, 3), np.float32))
    x[1:3, 1:] = 0
    assert x.asnumpy().sum() == 8


def test_scalar_reads(dev):
    x = mx.nd.array([[1.5, 2.5]], ctx=dev)
    assert x.sum().asscalar() == 4.0
    assert float(x[0, 1].asscalar()) == 2.5
    assert x.size == 2 and x.ndim == 2


def test_repr_names_the_device(dev):
    x = mx.nd.array([[1, 2], [3, 4]], ctx=dev)
    text = repr(x)
    assert f"@{dev}" in text, text
    assert "2x2" in text and "4." in text, text
    if not IS_MXNET:
        assert str(mx.nd.zeros((0,), ctx=dev))  # printing an empty array works too


def test_pickle(dev):
    a = _data((3, 4), "float32")
    x = mx.nd.array(a, ctx=dev)
    y = pickle.loads(pickle.dumps(x))
    assert y.shape == (3, 4)
    assert_array_equal(y.asnumpy(), a)


def test_save_load(dev, tmp_path):
    a = _data((3, 4), "float32")
    b = _data((5,), "int32")
    path = str(tmp_path / "arrays.params")
    mx.nd.save(path, {"a": mx.nd.array(a, ctx=dev), "b": mx.nd.array(b, ctx=dev, dtype="int32")})
    loaded = mx.nd.load(path)
    assert sorted(loaded) == ["a", "b"]
    assert_array_equal(loaded["a"].asnumpy(), a)
    assert_array_equal(loaded["b"].asnumpy(), b)
    mx.nd.save(path, [mx.nd.array(a, ctx=dev)])
    (only,) = mx.nd.load(path)
    assert_array_equal(only.asnumpy(), a)
    # loaded arrays can go (back) to the device and compute there
    assert_array_equal((only.as_in_context(dev) * 2).asnumpy(), a * 2)


def test_mixed_context_inputs_are_rejected_cleanly(dev, needs_gpu):
    """As MXNet: an op on a gpu array and a cpu array is an error naming the contexts."""
    x = mx.nd.ones((2,), ctx=dev)
    y = mx.nd.ones((2,))
    with pytest.raises(mx.base.MXNetError) as info:
        (x + y).wait_to_read()
    assert str(dev) in str(info.value) or "context" in str(info.value).lower(), str(info.value)
    assert_array_equal((x + y.as_in_context(dev)).asnumpy(), [2, 2])

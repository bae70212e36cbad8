"""mx.Context / mx.cpu / mx.gpu and the default-context stack (MXNet 1.9.1 behaviour)."""

import re

import pytest
from _target import IS_MXNET, mx


def test_cpu_default_and_repr():
    ctx = mx.cpu()
    assert ctx.device_type == "cpu"
    assert ctx.device_id == 0
    assert ctx.device_typeid == 1
    assert repr(ctx) == "cpu(0)"
    assert str(ctx) == "cpu(0)"
    assert repr(mx.cpu(3)) == "cpu(3)"
    assert mx.cpu(3).device_id == 3


def test_gpu_object_can_be_made_without_a_gpu():
    ctx = mx.gpu()
    assert ctx.device_type == "gpu"
    assert ctx.device_id == 0
    assert ctx.device_typeid == 2
    assert str(mx.gpu(2)) == "gpu(2)"


def test_cpu_pinned():
    ctx = mx.cpu_pinned()
    assert str(ctx) == "cpu_pinned(0)"
    assert ctx.device_type == "cpu_pinned"
    assert mx.cpu_pinned(1).device_typeid == 3


def test_devtype_tables():
    assert mx.Context.devtype2str == {
        1: "cpu",
        2: "gpu",
        3: "cpu_pinned",
        5: "cpu_shared",
    }
    assert mx.Context.devstr2type == {
        "cpu": 1,
        "gpu": 2,
        "cpu_pinned": 3,
        "cpu_shared": 5,
    }


def test_context_class_and_constructors():
    assert mx.Context is mx.context.Context
    assert isinstance(mx.cpu(1), mx.Context)
    assert str(mx.Context("cpu")) == "cpu(0)"
    assert str(mx.Context("cpu", 1)) == "cpu(1)"
    assert str(mx.Context("gpu", 1)) == "gpu(1)"
    # copy constructor
    assert str(mx.Context(mx.cpu(3))) == "cpu(3)"
    assert mx.Context(mx.cpu(3)) == mx.cpu(3)


def test_unknown_device_type_is_keyerror():
    with pytest.raises(KeyError):
        mx.Context("tpu", 0)


def test_equality_and_hash():
    assert mx.cpu() == mx.cpu(0)
    assert mx.cpu(0) == mx.Context("cpu", 0)
    assert mx.cpu(1) != mx.cpu(0)
    assert mx.cpu() != mx.gpu()
    assert mx.cpu(0) != mx.cpu_pinned(0)
    # not equal to a string
    assert (mx.cpu() == "cpu(0)") is False
    assert hash(mx.cpu()) == hash(mx.cpu(0))
    d = {mx.cpu(0): "a", mx.cpu(1): "b"}
    assert d[mx.Context("cpu", 0)] == "a"
    assert d[mx.cpu(1)] == "b"


def test_current_context_default():
    assert mx.current_context() == mx.cpu(0)
    assert mx.context.current_context() == mx.cpu(0)


def test_with_statement_nests_and_restores():
    assert mx.current_context() == mx.cpu(0)
    with mx.cpu(1):
        assert mx.current_context() == mx.cpu(1)
        with mx.cpu(2):
            assert mx.current_context() == mx.cpu(2)
        assert mx.current_context() == mx.cpu(1)
    assert mx.current_context() == mx.cpu(0)


def test_with_statement_restores_after_exception():
    with pytest.raises(KeyError), mx.cpu(3):
        raise KeyError("x")
    assert mx.current_context() == mx.cpu(0)


def test_with_statement_sets_default_for_creation():
    with mx.cpu(2):
        a = mx.nd.ones((2,))
        b = mx.nd.zeros((1, 2))
        c = mx.nd.array([1, 2])
    assert a.context == mx.cpu(2)
    assert b.context == mx.cpu(2)
    assert c.context == mx.cpu(2)
    assert mx.nd.ones((1,)).context == mx.cpu(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: mx.nd.zeros((2,), ctx=c),
        lambda c: mx.nd.ones((2,), c),
        lambda c: mx.nd.empty((2,), c),
        lambda c: mx.nd.full((2,), 3, c),
        lambda c: mx.nd.array([1, 2], ctx=c),
        lambda c: mx.nd.arange(3, ctx=c),
    ],
    ids=["zeros", "ones", "empty", "full", "array", "arange"],
)
def test_creation_on_other_cpu(make):
    x = make(mx.cpu(1))
    assert x.context == mx.cpu(1)
    assert x.ctx == mx.cpu(1)


def test_results_stay_on_input_context():
    x = mx.nd.ones((2,), ctx=mx.cpu(1))
    assert (x * 3).context == mx.cpu(1)
    assert (x + x).context == mx.cpu(1)
    assert mx.nd.zeros_like(x).context == mx.cpu(1)
    assert x.copy().context == mx.cpu(1)
    assert mx.nd.exp(x).context == mx.cpu(1)


def test_num_gpus_is_int():
    n = mx.context.num_gpus()
    assert isinstance(n, int)
    assert n >= 0


@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="needs a machine without a GPU")
@pytest.mark.parametrize(
    "make",
    [
        lambda: mx.nd.empty((2, 3), mx.gpu()),
        lambda: mx.nd.zeros((2, 3), mx.gpu()),
        lambda: mx.nd.ones((2, 3), ctx=mx.gpu(0)),
        lambda: mx.nd.array([1, 2], ctx=mx.gpu()),
        lambda: mx.nd.ones((2,)).copyto(mx.gpu()),
        lambda: mx.nd.ones((2,)).as_in_context(mx.gpu(0)),
    ],
    ids=["empty", "zeros", "ones", "array", "copyto", "as_in_context"],
)
def test_gpu_array_without_gpu_raises(make):
    with pytest.raises(mx.base.MXNetError) as info:
        make().wait_to_read()
    assert "gpu" in str(info.value).lower()


@pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")
@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="needs a machine without a GPU")
def test_gpu_array_without_gpu_message_mxrs():
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.zeros((2, 3), ctx=mx.gpu(0))
    msg = str(info.value).lower()
    assert "gpu" in msg
    assert re.search(
        r"no gpu|no cuda|not available|unavailable|none|0 gpus?|without (a )?gpu|not found",
        msg,
    ), msg

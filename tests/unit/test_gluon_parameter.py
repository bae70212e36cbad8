"""gluon.Parameter, Constant and ParameterDict: MXNet 1.9.1's behaviour (runs on MXNet too)."""

import warnings

import numpy as np
import pytest
from _target import mx

gluon = mx.gluon


def test_parameter_initialize_data_grad():
    p = gluon.Parameter("w", shape=(2, 3), init=mx.init.Constant(0.5))
    p.initialize()
    assert p.data().shape == (2, 3)
    np.testing.assert_array_equal(p.data().asnumpy(), np.full((2, 3), 0.5, np.float32))
    assert p.grad().shape == (2, 3)
    assert p.list_data()[0] is p.data()
    assert p.list_ctx() == [mx.cpu()]
    assert repr(p) == "Parameter w (shape=(2, 3), dtype=<class 'numpy.float32'>)"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        p.initialize()
    assert "already initialized" in str(w[0].message)
    p.initialize(init=mx.init.One(), force_reinit=True)
    assert p.data().asnumpy().sum() == 6


def test_parameter_uninitialized_errors():
    p = gluon.Parameter("w", shape=(2, 3))
    with pytest.raises(RuntimeError, match="has not been initialized"):
        p.data()
    with pytest.raises(RuntimeError, match="has not been initialized"):
        p.list_ctx()
    bad = gluon.Parameter("v", shape=(2, 0))
    with pytest.raises(ValueError, match="invalid shape"):
        bad.initialize()


def test_parameter_deferred_init_and_set_data():
    p = gluon.Parameter("w", shape=(4, 0), allow_deferred_init=True)
    p.initialize(init=mx.init.Zero())
    with pytest.raises(gluon.parameter.DeferredInitializationError):
        p.data()
    assert p.list_ctx() == [mx.cpu()]
    p.set_data(mx.nd.ones((4, 3)))
    assert p.shape == (4, 3)
    p._finish_deferred_init()
    # set_data before the deferred init finished wins over the initializer.
    np.testing.assert_array_equal(p.data().asnumpy(), np.ones((4, 3), np.float32))
    with pytest.raises(AssertionError, match="incompatible"):
        p.shape = (5, 3)


def test_parameter_grad_req_null_and_set_data():
    p = gluon.Parameter("w", shape=(3,), grad_req="null")
    p.initialize()
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        p.grad()
    p.grad_req = "write"
    assert p.grad().shape == (3,)
    p.set_data(mx.nd.array([1, 2, 3]))
    np.testing.assert_array_equal(p.data().asnumpy(), [1, 2, 3])
    p.grad()[:] = 5
    p.zero_grad()
    assert p.grad().asnumpy().sum() == 0
    with pytest.raises(AssertionError):
        p.grad_req = "bad"


def test_parameter_multi_ctx_reset_ctx_cast():
    p = gluon.Parameter("w", shape=(2,), init=mx.init.One())
    p.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    assert len(p.list_data()) == 2
    assert p.data(mx.cpu(1)).context == mx.cpu(1)
    with pytest.raises(RuntimeError, match="was not initialized on context"):
        p.data(mx.cpu(2))
    p.reset_ctx(mx.cpu(3))
    assert p.list_ctx() == [mx.cpu(3)]
    assert p.data().context == mx.cpu(3)
    p.cast("float64")
    assert p.data().dtype == np.float64 and p.grad().dtype == np.float64
    assert p.dtype == "float64"


def test_parameter_var_attrs():
    p = gluon.Parameter("fc_weight", shape=(3, 4), lr_mult=2.0, wd_mult=0.5, init="zeros")
    v = p.var()
    assert v.name == "fc_weight"
    attrs = v.list_attr()
    assert attrs["__shape__"] == "(3, 4)"
    assert attrs["__lr_mult__"] == "2.0"
    assert attrs["__wd_mult__"] == "0.5"
    assert attrs["__init__"] == "zeros"
    assert p.var() is v


def test_constant():
    c = gluon.Constant("c", [[1, 2], [3, 4]])
    assert c.grad_req == "null"
    c.initialize()
    np.testing.assert_array_equal(c.data().asnumpy(), [[1, 2], [3, 4]])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c.grad_req = "write"
    assert c.grad_req == "null" and w


def test_parameter_dict_get_and_shape_merge():
    pd = gluon.ParameterDict("net_")
    w = pd.get("weight", shape=(3, 0), allow_deferred_init=True)
    assert w.name == "net_weight"
    same = pd.get("weight", shape=(0, 5))
    assert same is w and w.shape == (3, 5)
    with pytest.raises(AssertionError, match="desired attribute does not match"):
        pd.get("weight", shape=(4, 5))
    with pytest.raises(AssertionError):
        pd.get("weight", lr_mult=3.0)
    assert pd.prefix == "net_"
    assert list(pd.keys()) == ["net_weight"]
    assert "net_weight" in pd
    c = pd.get_constant("const", [1.0, 2.0])
    assert pd.get_constant("const") is c
    with pytest.raises(KeyError):
        pd.get_constant("missing")
    shared = gluon.ParameterDict("net_", shared=pd)
    assert shared.get("weight") is w


def test_parameter_dict_update_initialize_setattr_zero_grad():
    a = gluon.ParameterDict("a_")
    a.get("w", shape=(2, 2))
    b = gluon.ParameterDict("b_")
    b.get("w", shape=(2,))
    a.update(b)
    assert list(a.keys()) == ["a_w", "b_w"]
    other = gluon.ParameterDict("b_")
    other.get("w", shape=(2,))
    with pytest.raises(AssertionError, match="different Parameters with the same name"):
        a.update(other)
    a.initialize(mx.init.One())
    a.setattr("lr_mult", 0.1)
    assert all(p.lr_mult == 0.1 for p in a.values())
    for p in a.values():
        p.grad()[:] = 3
    a.zero_grad()
    assert all(p.grad().asnumpy().sum() == 0 for p in a.values())
    assert a.list_ctx() == [mx.cpu()]
    a.reset_ctx(mx.cpu(1))
    assert a.list_ctx() == [mx.cpu(1)]
    text = repr(a)
    assert text.startswith("a_ (\n  Parameter a_w (shape=(2, 2)")


def test_parameter_dict_save_load(tmp_path):
    pd = gluon.ParameterDict("net_")
    pd.get("w", shape=(2, 3), init=mx.init.Constant(2.0))
    pd.get("b", shape=(2,), init="zeros")
    pd.initialize()
    f = str(tmp_path / "p.params")
    pd.save(f, strip_prefix="net_")
    loaded = mx.nd.load(f)
    assert sorted(loaded) == ["b", "w"]
    with pytest.raises(ValueError, match="Prefix 'x_' is to be striped"):
        pd.save(f, strip_prefix="x_")

    other = gluon.ParameterDict("net_")
    other.get("w", shape=(2, 0), allow_deferred_init=True)
    other.get("b", shape=(2,))
    other.load(f, restore_prefix="net_")
    np.testing.assert_array_equal(other["net_w"].data().asnumpy(), np.full((2, 3), 2.0))
    assert other["net_w"].shape == (2, 3)

    missing = gluon.ParameterDict("net_")
    missing.get("w", shape=(2, 3))
    missing.get("extra", shape=(1,))
    with pytest.raises(AssertionError, match="Parameter 'extra' is missing in file"):
        missing.load(f, restore_prefix="net_")
    missing.load(f, restore_prefix="net_", allow_missing=True, ignore_extra=True)
    short = gluon.ParameterDict("net_")
    short.get("w", shape=(2, 3))
    with pytest.raises(AssertionError, match="is not present in ParameterDict"):
        short.load(f, restore_prefix="net_")


def test_load_dtype_mismatch_and_cast(tmp_path):
    f = str(tmp_path / "p.params")
    mx.nd.save(f, {"w": mx.nd.ones((2,), dtype="float64")})
    pd = gluon.ParameterDict("")
    pd.get("w", shape=(2,))
    with pytest.raises(AssertionError, match="dtype incompatible"):
        pd.load(f)
    pd.load(f, cast_dtype=True)
    assert pd["w"].data().dtype == np.float32
    pd2 = gluon.ParameterDict("")
    pd2.get("w", shape=(2,))
    pd2.load(f, cast_dtype=True, dtype_source="saved")
    assert pd2["w"].data().dtype == np.float64

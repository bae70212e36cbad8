"""``mx.init``: name dispatch, JSON round trips and the distributions of MXNet 1.9.1.

Exact strings and values were checked against real MXNet (``MXRS_TEST_TARGET=mxnet`` runs this
file there); random initializers are checked by their bounds and moments, since the two
libraries' generators differ.
"""

import json
import logging

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal


def desc(name, **attrs):
    return mx.init.InitDesc(name, attrs or None)


def run(init, name, shape, **attrs):
    arr = mx.nd.zeros(shape)
    init(desc(name, **attrs), arr)
    return arr.asnumpy()


@pytest.mark.parametrize(
    "init, text",
    [
        (lambda: mx.init.Normal(0.5), '["normal", {"sigma": 0.5}]'),
        (lambda: mx.init.Uniform(), '["uniform", {"scale": 0.07}]'),
        (
            lambda: mx.init.Xavier(factor_type="in", magnitude=2.34),
            '["xavier", {"rnd_type": "uniform", "factor_type": "in", "magnitude": 2.34}]',
        ),
        (lambda: mx.init.MSRAPrelu(), '["msraprelu", {"factor_type": "avg", "slope": 0.25}]'),
        (lambda: mx.init.Orthogonal(), '["orthogonal", {"scale": 1.414, "rand_type": "uniform"}]'),
        (lambda: mx.init.Constant(3.0), '["constant", {"value": 3.0}]'),
        (lambda: mx.init.Zero(), '["zero", {}]'),
        (lambda: mx.init.One(), '["one", {}]'),
        (lambda: mx.init.LSTMBias(2.0), '["lstmbias", {"forget_bias": 2.0}]'),
    ],
)
def test_dumps_and_create_round_trip(init, text):
    ini = init()
    assert ini.dumps() == text
    again = mx.init.create(text)
    assert type(again) is type(ini)
    assert again.dumps() == text
    assert again == ini


def test_create_by_name_alias_and_instance():
    assert isinstance(mx.init.create("xavier"), mx.init.Xavier)
    assert isinstance(mx.init.create("Uniform", 0.2), mx.init.Uniform)
    assert mx.init.create("uniform", scale=0.2).scale == 0.2
    assert isinstance(mx.init.create("zeros"), mx.init.Zero)
    assert isinstance(mx.init.create("ones"), mx.init.One)
    x = mx.init.Normal(2.0)
    assert mx.init.create(x) is x
    with pytest.raises(AssertionError):
        mx.init.create("no_such_init")


def test_name_dispatch():
    init = mx.init.Constant(7.0)
    assert_array_equal(run(init, "fc_weight", (2, 3)), np.full((2, 3), 7.0))
    assert_array_equal(run(init, "fc_bias", (3,)), np.zeros(3))
    assert_array_equal(run(init, "bn_gamma", (3,)), np.ones(3))
    assert_array_equal(run(init, "bn_beta", (3,)), np.zeros(3))
    assert_array_equal(run(init, "q_min", (2,)), np.zeros(2))
    assert_array_equal(run(init, "q_max", (2,)), np.ones(2))
    with pytest.raises(ValueError, match="Unknown initialization pattern for foo"):
        run(init, "foo", (2,))


def test_variable_init_attr_wins():
    init = mx.init.Uniform(0.1)
    got = run(init, "anything", (2, 2), __init__=mx.init.Constant(3.5).dumps())
    assert_array_equal(got, np.full((2, 2), 3.5))
    got = run(init, "bn_moving_var", (3,), __init__='["one", {}]')
    assert_array_equal(got, np.ones(3))
    d = desc("w_weight")
    init(d, mx.nd.zeros((2, 2)))
    assert d.global_init is init


def test_legacy_string_names():
    init = mx.init.Constant(2.0)
    cases = {
        "fc_weight": 2.0,
        "fc_bias": 0.0,
        "bn_gamma": 1.0,
        "bn_beta": 0.0,
        "bn_moving_mean": 0.0,
        "bn_moving_var": 1.0,
        "bn_moving_inv_var": 0.0,
        "x_moving_avg": 0.0,
        "q_min": 0.0,
        "q_max": 1.0,
    }
    for name, value in cases.items():
        arr = mx.nd.ones((3,)) * 5
        with pytest.warns(DeprecationWarning):
            init(name, arr)
        assert_array_equal(arr.asnumpy(), np.full(3, value), err_msg=name)
    arr = mx.nd.zeros((6,))
    with pytest.warns(DeprecationWarning):
        init("stn_loc_bias", arr)
    assert_array_equal(arr.asnumpy(), [1, 0, 0, 0, 1, 0])
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError):
        init("mystery", mx.nd.zeros((2,)))
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError):
        init("w_weight", np.zeros(3))


def test_bilinear_matches_mxnet():
    arr = mx.nd.zeros((1, 1, 4, 4))
    mx.init.Bilinear()._init_weight("up", arr)
    row = np.array([0.25, 0.75, 0.75, 0.25])
    assert_allclose(arr.asnumpy()[0, 0], np.outer(row, row))
    arr = mx.nd.zeros((2, 1, 3, 5))
    mx.init.Bilinear()._init_weight("up", arr)
    want = np.outer([1 / 3, 2 / 3, 1.0], [1 / 3, 2 / 3, 1.0, 2 / 3, 1 / 3])
    assert_allclose(arr.asnumpy()[1, 0], want, rtol=1e-6)
    with pytest.warns(DeprecationWarning):
        mx.init.Uniform()("upsampling0_weight", arr)
    assert_allclose(arr.asnumpy()[0, 0], want, rtol=1e-6)


def test_lstm_bias():
    got = run(mx.init.LSTMBias(forget_bias=1.5), "lstm_i2h_weight", (8,))
    assert_array_equal(got, [0, 0, 1.5, 1.5, 0, 0, 0, 0])


def test_uniform_and_normal_moments():
    mx.random.seed(3)
    u = run(mx.init.Uniform(0.5), "w_weight", (200, 500))
    assert u.min() >= -0.5 and u.max() <= 0.5
    assert abs(u.mean()) < 0.005
    assert_allclose(u.std(), 0.5 / np.sqrt(3), rtol=0.02)
    n = run(mx.init.Normal(0.2), "w_weight", (200, 500))
    assert abs(n.mean()) < 0.005
    assert_allclose(n.std(), 0.2, rtol=0.02)


@pytest.mark.parametrize(
    "shape, factor, fan",
    [
        ((300, 200), "avg", 250.0),
        ((300, 200), "in", 200.0),
        ((300, 200), "out", 300.0),
        ((64, 16, 3, 3), "avg", (16 * 9 + 64 * 9) / 2),
    ],
)
def test_xavier_scale(shape, factor, fan):
    mx.random.seed(5)
    bound = np.sqrt(3.0 / fan)
    u = run(mx.init.Xavier(factor_type=factor), "c_weight", shape)
    assert np.abs(u).max() <= bound * (1 + 1e-6)
    assert np.abs(u).max() > 0.98 * bound
    g = run(mx.init.Xavier(rnd_type="gaussian", factor_type=factor, magnitude=2), "c_weight", shape)
    assert_allclose(g.std(), np.sqrt(2.0 / fan), rtol=0.03)


def test_xavier_errors():
    with pytest.raises(ValueError, match="at least 2D"):
        run(mx.init.Xavier(), "v_weight", (5,))
    with pytest.raises(ValueError, match="Incorrect factor type"):
        run(mx.init.Xavier(factor_type="bad"), "v_weight", (5, 5))
    with pytest.raises(ValueError, match="Unknown random type"):
        run(mx.init.Xavier(rnd_type="bad"), "v_weight", (5, 5))


def test_msra_prelu():
    mx.random.seed(11)
    g = run(mx.init.MSRAPrelu(), "p_weight", (400, 300))
    assert_allclose(g.std(), np.sqrt(2.0 / (1 + 0.25**2) / 350.0), rtol=0.03)


@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
def test_orthogonal(rand_type):
    w = run(mx.init.Orthogonal(scale=2.0, rand_type=rand_type), "o_weight", (4, 3, 2, 2))
    flat = w.reshape(4, 12)
    assert_allclose(flat @ flat.T, 4.0 * np.eye(4), atol=1e-4)
    w = run(mx.init.Orthogonal(scale=1.0, rand_type=rand_type), "o_weight", (6, 3))
    assert_allclose(w.T @ w, np.eye(3), atol=1e-5)


def test_seed_makes_init_reproducible():
    mx.random.seed(123)
    a = run(mx.init.Xavier(), "w_weight", (20, 30))
    mx.random.seed(123)
    b = run(mx.init.Xavier(), "w_weight", (20, 30))
    assert_array_equal(a, b)


def test_constant_zero_one():
    assert_array_equal(run(mx.init.Zero(), "w_weight", (2,)), [0, 0])
    assert_array_equal(run(mx.init.One(), "w_weight", (2,)), [1, 1])
    assert_array_equal(run(mx.init.Constant(-1.5), "w_weight", (2, 2)), np.full((2, 2), -1.5))


def test_mixed():
    init = mx.init.Mixed([".*bias", ".*"], [mx.init.Constant(3.0), mx.init.Constant(4.0)])
    arr = mx.nd.ones((2,))
    with pytest.warns(DeprecationWarning):
        init("fc_bias", arr)
    assert_array_equal(arr.asnumpy(), [0, 0])  # Constant's own legacy rule: *bias -> 0
    init(desc("fc_weight"), arr)
    assert_array_equal(arr.asnumpy(), [4, 4])
    strict = mx.init.Mixed(["fc.*"], [mx.init.One()])
    with pytest.raises(ValueError, match="did not match any pattern"):
        strict("conv_weight", arr)


def test_load(tmp_path):
    params = {"arg:fc_weight": mx.nd.ones((2, 2)) * 3, "aux:bn_moving_mean": mx.nd.ones((2,)) * 2}
    fname = str(tmp_path / "p.params")
    mx.nd.save(fname, params)
    for source in (fname, params):
        init = mx.init.Load(source, default_init=mx.init.Constant(9.0))
        w = mx.nd.zeros((2, 2))
        init("fc_weight", w)
        assert_array_equal(w.asnumpy(), np.full((2, 2), 3))
        m = mx.nd.zeros((2,))
        init("bn_moving_mean", m)
        assert_array_equal(m.asnumpy(), [2, 2])
        other = mx.nd.zeros((3, 3))
        with pytest.warns(DeprecationWarning):
            init("other_weight", other)
        assert_array_equal(other.asnumpy(), np.full((3, 3), 9))
    with pytest.raises(AssertionError, match="Shape mismatch"):
        mx.init.Load(params)("fc_weight", mx.nd.zeros((3,)))
    with pytest.raises(AssertionError, match="no default Initializer"):
        mx.init.Load(params)("missing_weight", mx.nd.zeros((3,)))


def test_register_custom_initializer():
    @mx.init.register
    class MyFives(mx.init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 5

    got = run(mx.init.Uniform(), "x", (2,), __init__=MyFives().dumps())
    assert_array_equal(got, [5, 5])
    assert isinstance(mx.init.create("myfives"), MyFives)
    assert json.loads(MyFives().dumps()) == ["myfives", {}]


def test_verbose_logging(caplog):
    init = mx.init.One().set_verbosity(True)
    with caplog.at_level(logging.INFO):
        run(init, "fc_weight", (4,))
    assert any(r.getMessage().startswith("Initialized fc_weight as weight: 1.0") for r in caplog.records)


def test_equality():
    assert mx.init.Uniform(0.1) == mx.init.Uniform(0.1)
    assert mx.init.Uniform(0.1) != mx.init.Uniform(0.2)
    assert mx.init.Uniform(0.1) != mx.init.Normal(0.1)


def test_initdesc_is_a_str():
    d = mx.init.InitDesc("fc_weight", {"a": "1"})
    assert d == "fc_weight" and d.endswith("weight") and d.attrs == {"a": "1"} and d.global_init is None
    assert mx.init.InitDesc("x").attrs == {}
    if not IS_MXNET:
        assert mx.initializer is mx.init

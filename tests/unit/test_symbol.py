"""mx.sym: the seed's Symbol examples exactly, naming rules, inference, JSON, errors."""

import json
import pickle
import warnings

import numpy as np
import pytest
from _fixtures import FIXTURES as _FIXTURES
from _target import IS_MXNET, mx

MXNetError = mx.base.MXNetError

FIX = _FIXTURES


def mlp():
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    return mx.symbol.SoftmaxOutput(data=net, name="out")


def test_seed_1_mlp_arguments():
    net = mlp()
    assert isinstance(net, mx.symbol.Symbol)
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "out_label"]


def test_seed_2_explicit_weight():
    net2 = mx.symbol.Variable("data")
    w = mx.symbol.Variable("myweight")
    net2 = mx.symbol.FullyConnected(data=net2, weight=w, name="fc1", num_hidden=128)
    assert net2.list_arguments() == ["data", "myweight", "fc1_bias"]


def test_seed_3_sum_then_fc():
    lhs = mx.symbol.Variable("data1")
    rhs = mx.symbol.Variable("data2")
    net = mx.symbol.FullyConnected(data=lhs + rhs, name="fc1", num_hidden=128)
    assert net.list_arguments() == ["data1", "data2", "fc1_weight", "fc1_bias"]


@pytest.mark.skipif(IS_MXNET, reason="the seed's composition naming differs from MXNet 1.9.1 (seed wins)")
def test_seed_4_compose():
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net2 = mx.symbol.Variable("data2")
    net2 = mx.symbol.FullyConnected(data=net2, name="net2", num_hidden=128)
    composed_net = net(data=net2, name="compose")
    assert composed_net.list_arguments() == [
        "data2",
        "net2_weight",
        "net2_bias",
        "compose_fc1_weight",
        "compose_fc1_bias",
    ]
    assert composed_net.list_outputs() == ["compose_output"]
    # Without a name nothing is renamed; the original is unchanged.
    assert net(data=net2).list_arguments() == ["data2", "net2_weight", "net2_bias", "fc1_weight", "fc1_bias"]
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias"]


def test_seed_5_infer_shape():
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=10)
    arg_shape, out_shape, aux_shape = net.infer_shape(data=(100, 100))
    assert dict(zip(net.list_arguments(), arg_shape)) == {
        "data": (100, 100),
        "fc1_weight": (10, 100),
        "fc1_bias": (10,),
    }
    assert out_shape == [(100, 10)]
    assert aux_shape == []


def test_seed_6_bind_forward():
    A = mx.symbol.Variable("A")
    B = mx.symbol.Variable("B")
    C = A * B
    a = mx.nd.ones(3) * 4
    b = mx.nd.ones(3) * 2
    c_exec = C.bind(ctx=mx.cpu(), args={"A": a, "B": b})
    c_exec.forward()
    np.testing.assert_array_equal(c_exec.outputs[0].asnumpy(), [8.0, 8.0, 8.0])


def test_seed_6_simple_bind_forward_backward():
    net = mlp()
    texec = net.simple_bind(mx.cpu(), data=(4, 20))
    texec.forward()
    texec.backward()
    assert texec.outputs[0].shape == (4, 64)
    assert texec.grad_dict["fc1_weight"].shape == (128, 20)
    texec.grad_dict["fc1_weight"].wait_to_read()


def test_auto_names_and_hints():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    with mx.name.NameManager():
        assert mx.sym.FullyConnected(a, num_hidden=3).name == "fullyconnected0"
        assert mx.sym.FullyConnected(a, num_hidden=3).name == "fullyconnected1"
        assert (a + b).name == "_plus0"
        assert (a - b).name == "_minus0"
        assert (a * b).name == "_mul0"
        assert (a / b).name == "_div0"
        assert (a > b).name == "_greater0"
        assert (a + 1).name == "_plusscalar0"
        assert (1 - a).name == "_rminusscalar0"
        assert (a**2).name == "_powerscalar0"
        assert (-a).name == "_mulscalar0"
        assert mx.sym.exp(a).name == "exp0"
        s = mx.sym.Softmax(a)
        assert s.name == "softmax0"
        assert json.loads(s.tojson())["nodes"][-1]["op"] == "SoftmaxOutput"
    with mx.name.Prefix("p_"):
        assert mx.sym.FullyConnected(a, num_hidden=3, name="named").name == "p_named"
        assert mx.sym.Variable("v").name == "v"
    fc = mx.sym.FullyConnected(num_hidden=3, name="fc")
    assert fc.list_arguments() == ["fc_data", "fc_weight", "fc_bias"]
    nb = mx.sym.FullyConnected(a, num_hidden=3, no_bias=True, name="nb")
    assert nb.list_arguments() == ["a", "nb_weight"]


def test_listing_internals_group_getitem():
    x = mx.sym.Variable("x")
    bn = mx.sym.BatchNorm(x, name="bn")
    assert bn.list_arguments() == ["x", "bn_gamma", "bn_beta"]
    assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert bn.list_outputs() == ["bn_output"]
    assert bn.get_internals().list_outputs() == [
        "x",
        "bn_gamma",
        "bn_beta",
        "bn_moving_mean",
        "bn_moving_var",
        "bn_output",
    ]
    net = mlp()
    internals = net.get_internals()
    fc1 = internals["fc1_output"]
    assert fc1.list_outputs() == ["fc1_output"]
    assert fc1.list_arguments() == ["data", "fc1_weight", "fc1_bias"]
    g = mx.sym.Group([fc1, net])
    assert g.list_outputs() == ["fc1_output", "out_output"]
    assert len(g) == 2 and g[1].name == "out"
    sc = mx.sym.SliceChannel(x, num_outputs=3, name="split")
    assert sc.list_outputs() == ["split_output0", "split_output1", "split_output2"]
    with pytest.raises(ValueError):
        internals["nope"]


def test_attributes():
    x = mx.sym.Variable("x", shape=(2, 3), lr_mult=2.0, wd_mult=0.5, dtype="float16", attr={"foo": "bar"})
    assert x.attr("__shape__") == "(2, 3)"
    assert x.attr("lr_mult") == "2.0"
    assert x.attr("foo") == "bar"
    with mx.AttrScope(ctx_group="dev1"):
        y = mx.sym.exp(x, name="y")
    assert y.attr("__ctx_group__") == "dev1"
    d = y.attr_dict()
    assert d["y"]["ctx_group"] == "dev1"
    assert d["x"]["__lr_mult__"] == "2.0"
    fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
    assert fc.attr_dict()["fc_weight"] == {"num_hidden": "4"}


def test_arithmetic_and_eval():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    expr = (a * 2 + b) / (1 + a) - a**2 + 3 % (a + 2)
    av = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    bv = np.array([0.5, -1.0, 4.0], dtype=np.float32)
    out = expr.eval(ctx=mx.cpu(), a=mx.nd.array(av), b=mx.nd.array(bv))[0].asnumpy()
    want = (av * 2 + bv) / (1 + av) - av**2 + np.mod(3, av + 2)
    np.testing.assert_allclose(out, want, rtol=1e-6)


def test_infer_shape_partial_and_incomplete():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=5, name="fc1")
    act = mx.sym.Activation(fc, act_type="relu")
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name="fc2")
    out = mx.sym.SoftmaxOutput(fc2, name="sm")
    assert out.infer_shape(data=(4, 10)) == (
        [(4, 10), (5, 10), (5,), (3, 5), (3,), (4,)],
        [(4, 3)],
        [],
    )
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert out.infer_shape() == (None, None, None)
        assert any("data" in str(x.message) for x in w)
    arg, _, _ = out.infer_shape_partial(fc2_weight=(3, 5))
    # data, fc1_weight and the label stay unknown; (MXNet also leaves the biases unknown,
    # mxrs fills them from num_hidden).
    assert arg[0] == () and arg[1] == () and arg[5] == () and arg[3] == (3, 5)
    assert arg[2] in ((), (5,)) and arg[4] in ((), (3,))


def test_infer_shape_inconsistent_names_node_and_shapes():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=5, name="fc1")
    with pytest.raises(MXNetError) as e:
        fc.infer_shape(data=(4, 10), fc1_weight=(5, 11))
    msg = str(e.value)
    assert "fc1" in msg and "11" in msg and "10" in msg
    with pytest.raises(MXNetError) as e:
        fc.infer_shape(softmax_label=(4,))
    assert "softmax_label" in str(e.value) and "fc1_weight" in str(e.value)


def test_infer_type():
    a = mx.sym.Variable("a")
    y = mx.sym.FullyConnected(a, num_hidden=2, name="fc")
    arg, out, aux = y.infer_type(a="float64")
    assert arg == [np.float64] * 3 and out == [np.float64] and aux == []
    assert y.infer_type() == (None, None, None)


def test_json_fixture_round_trip_is_byte_exact():
    text = (FIX / "mlp-symbol.json").read_text()
    sym = mx.sym.load_json(text)
    assert sym.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "out_label"]
    assert sym.list_outputs() == ["out_output"]
    assert sym.tojson() == text
    assert mlp().tojson() == text


def test_bn_fixture(tmp_path):
    text = (FIX / "bn-symbol.json").read_text()
    sym = mx.sym.load(str(FIX / "bn-symbol.json"))
    assert sym.list_arguments() == ["x", "bn_gamma", "bn_beta"]
    assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert sym.tojson() == text
    f = tmp_path / "s.json"
    sym.save(str(f))
    assert f.read_text() == text
    # The hidden attributes drive inference.
    arg, out, aux = sym.infer_shape()
    assert arg == [(2, 3), (3,), (3,)] and aux == [(3,), (3,)]
    # As MXNet: BatchNorm keeps float32 parameters for float16 data.
    assert sym.infer_type()[0] == [np.float16, np.float32, np.float32]


def test_legacy_json_upgrade():
    legacy = {
        "nodes": [
            {"op": "null", "name": "data", "param": {}, "inputs": []},
            {
                "op": "FullyConnected",
                "name": "fc",
                "param": {"num_hidden": "4"},
                "attr": {"lr_mult": "2"},
                "inputs": [[0, 0]],
                "backward_source_id": -1,
            },
        ],
        "arg_nodes": [0],
        "heads": [[1, 0]],
    }
    sym = mx.sym.load_json(json.dumps(legacy))
    assert sym.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert sym.attr("__lr_mult__") == "2"


def test_pickle_round_trip():
    net = mlp()
    back = pickle.loads(pickle.dumps(net))
    assert back.tojson() == net.tojson()


def test_bad_json_and_unknown_op_errors():
    if not IS_MXNET:  # MXNet's own message is not UTF-8 here
        with pytest.raises(MXNetError, match="not valid JSON"):
            mx.sym.load_json("{")
    cyclic = {
        "nodes": [
            {"op": "null", "name": "a", "inputs": []},
            {"op": "exp", "name": "e", "inputs": [[2, 0, 0]]},
            {"op": "exp", "name": "f", "inputs": [[1, 0, 0]]},
        ],
        "arg_nodes": [0],
        "heads": [[2, 0, 0]],
    }
    if not IS_MXNET:  # MXNet loads this cyclic graph without a word
        with pytest.raises(MXNetError, match="cyclic"):
            mx.sym.load_json(json.dumps(cyclic))
    unknown = {
        "nodes": [{"op": "null", "name": "a", "inputs": []}, {"op": "Nope", "name": "n", "inputs": [[0, 0, 0]]}],
        "arg_nodes": [0],
        "heads": [[1, 0, 0]],
    }
    with pytest.raises(MXNetError, match="Nope"):
        mx.sym.load_json(json.dumps(unknown))
    with pytest.raises(MXNetError, match="act_type"):
        mx.sym.Activation(mx.sym.Variable("x"), act_type="swishy")
    with pytest.raises(MXNetError, match="(?i)candidate"):
        mlp()(nothing=mx.sym.Variable("z"))
    with pytest.raises(MXNetError, match="kwargs"):
        mlp()(mx.sym.Variable("z"))

"""gluon.Block/HybridBlock structure, naming, parameters files (MXNet's format both ways), hooks."""

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from _fixtures import FIXTURES
from _target import mx

gluon = mx.gluon
nn = gluon.nn
DATA = Path(__file__).resolve().parents[1] / "data" / "gluon"
GOLDEN = mx.nd.load(str(DATA / "golden.params"))


def nested_net():
    """The net of tools/golden/gluon.py: Dense(5, relu), BatchNorm, [Dense(4, tanh), Dense(3)]."""
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(5, activation="relu"))
        net.add(nn.BatchNorm())
        inner = nn.HybridSequential()
        with inner.name_scope():
            inner.add(nn.Dense(4, activation="tanh"), nn.Dense(3))
        net.add(inner)
    return net


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=rtol, atol=atol)


class Model(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = nn.Dense(8, activation="relu")
            self.out = nn.Dense(2)
            self.scale = self.params.get("scale", shape=(1,), init=mx.init.One())

    def forward(self, x):
        return self.out(self.hidden(x)) * self.scale.data()


def test_naming_and_children():
    m = Model(prefix="model_")
    assert m.prefix == "model_" and m.name == "model"
    assert list(m._children) == ["hidden", "out"]
    assert m.hidden.prefix == "model_dense0_" and m.out.prefix == "model_dense1_"
    assert m.hidden.act.prefix == "model_dense0_relu_"
    names = list(m.collect_params().keys())
    assert names == [
        "model_scale",
        "model_dense0_weight",
        "model_dense0_bias",
        "model_dense1_weight",
        "model_dense1_bias",
    ]
    assert list(m.params.keys()) == ["model_scale"]
    assert list(m.collect_params(".*weight").keys()) == ["model_dense0_weight", "model_dense1_weight"]
    assert list(m.collect_params("model_dense1_.*|.*scale").keys()) == [
        "model_scale",
        "model_dense1_weight",
        "model_dense1_bias",
    ]
    with pytest.raises(TypeError, match="Changing attribute type"):
        m.hidden = 3
    seq = nn.HybridSequential()
    with pytest.raises(ValueError, match="Children of HybridBlock must also be HybridBlock"):
        seq.add(Model())


def test_automatic_prefixes_count_per_class():
    a, b = nn.Dense(2), nn.Dense(2)
    na, nb = int(a.prefix[len("dense") : -1]), int(b.prefix[len("dense") : -1])
    assert nb == na + 1
    seq = nn.Sequential(prefix="s_")
    with seq.name_scope():
        seq.add(nn.Dense(3), nn.Dense(4), nn.Activation("relu"))
    assert [c.prefix for c in seq._children.values()] == ["s_dense0_", "s_dense1_", "s_relu0_"]
    assert len(seq) == 3 and isinstance(seq[1], nn.Dense)
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2
    assert repr(seq) == (
        "Sequential(\n  (0): Dense(None -> 3, linear)\n  (1): Dense(None -> 4, linear)\n  (2): Activation(relu)\n)"
    )


def test_imperative_block_forward_and_deferred_init():
    m = Model()
    m.initialize(mx.init.Xavier())
    x = mx.nd.ones((3, 5))
    y = m(x)
    assert y.shape == (3, 2)
    assert m.hidden.weight.shape == (8, 5)
    assert repr(m.hidden) == "Dense(5 -> 8, Activation(relu))"


def test_save_parameters_structural_keys(tmp_path):
    net = nested_net()
    net.initialize(mx.init.Constant(0.5))
    net(mx.nd.ones((2, 6)))
    f = str(tmp_path / "n.params")
    net.save_parameters(f)
    keys = sorted(mx.nd.load(f))
    assert keys == sorted(
        ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean", "1.running_var"]
        + ["2.0.weight", "2.0.bias", "2.1.weight", "2.1.bias"]
    )


def test_load_mxnet_save_parameters_and_match_outputs(tmp_path):
    net = nested_net()
    net.load_parameters(str(DATA / "net.params"))
    for k, p in net._collect_params_with_prefix().items():
        close(p.data(), GOLDEN[f"net_param:{k}"])
    close(net(GOLDEN["x"]), GOLDEN["net_infer"])
    # and mxrs's own file round-trips to the same values.
    f = str(tmp_path / "again.params")
    net.save_parameters(f)
    again = mx.nd.load(f)
    ref = mx.nd.load(str(DATA / "net.params"))
    assert sorted(again) == sorted(ref)
    for k in ref:
        close(again[k], ref[k])


def test_load_shared_fixture():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(2, in_units=3), nn.BatchNorm(in_channels=2))
    net.load_parameters(str(FIXTURES / "gluon_save_parameters.params"))
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(), np.full((2, 3), 0.5, np.float32))
    np.testing.assert_array_equal(net[1].running_var.data().asnumpy(), [1, 1])


def test_load_parameters_errors(tmp_path):
    net = nested_net()
    f = str(DATA / "net.params")
    smaller = nn.HybridSequential(prefix="net_")
    with smaller.name_scope():
        smaller.add(nn.Dense(5, activation="relu"))
    with pytest.raises(ValueError, match="Parameter '1.gamma' loaded from file .* is not present in ParameterDict"):
        smaller.load_parameters(f)
    smaller.load_parameters(f, ignore_extra=True)
    close(smaller[0].weight.data(), GOLDEN["net_param:0.weight"])
    bigger = nested_net()
    with bigger.name_scope():
        bigger.add(nn.Dense(7))
    with pytest.raises(AssertionError, match="Parameter '3.weight' is missing in file"):
        bigger.load_parameters(f)
    bigger.load_parameters(f, allow_missing=True)
    assert net is not None


def test_load_parameters_ctx_and_cast_dtype(tmp_path):
    net = nested_net()
    net.cast("float64")
    with pytest.raises(AssertionError, match="dtype incompatible"):
        net.load_parameters(str(DATA / "net.params"))
    net = nested_net()
    net.cast("float64")
    net.load_parameters(str(DATA / "net.params"), ctx=mx.cpu(1), cast_dtype=True)
    assert net[0].weight.data().dtype == np.float64
    assert net[0].weight.list_ctx() == [mx.cpu(1)]


def test_legacy_save_params_format(tmp_path):
    net = nested_net()
    net.initialize(mx.init.One())
    net(mx.nd.ones((1, 6)))
    f = str(tmp_path / "legacy.params")
    net.collect_params().save(f, strip_prefix="net_")
    assert "dense0_weight" in mx.nd.load(f)
    other = nested_net()
    other.load_parameters(f)
    close(other[0].weight.data(), net[0].weight.data())


def test_hooks_apply_cast_zero_grad():
    net = nested_net()
    net.initialize()
    seen = []
    pre = net.register_forward_pre_hook(lambda blk, inp: seen.append(("pre", inp[0].shape)))
    post = net.register_forward_hook(lambda blk, inp, out: seen.append(("post", out.shape)))
    net(mx.nd.ones((2, 6)))
    assert seen == [("pre", (2, 6)), ("post", (2, 3))]
    pre.detach()
    post.detach()
    net(mx.nd.ones((2, 6)))
    assert len(seen) == 2
    names = []
    net.apply(lambda b: names.append(type(b).__name__))
    assert names[-1] == "HybridSequential" and names.count("Dense") == 3
    net.cast("float64")
    assert net[0].weight.data().dtype == np.float64
    assert net(mx.nd.ones((2, 6), dtype="float64")).dtype == np.float64


def test_summary_prints_layers():
    net = nested_net()
    net.initialize()
    buf = io.StringIO()
    with redirect_stdout(buf):
        net.summary(mx.nd.ones((2, 6)))
    text = buf.getvalue()
    assert "Dense-" in text and "(2, 5)" in text and "BatchNorm-" in text
    assert "Total params: 94" in text and "Non-trainable params: 10" in text


def test_block_zero_grad_and_params_share():
    a = nn.Dense(3, in_units=2, prefix="a_")
    b = nn.Dense(3, in_units=2, prefix="a_", params=a.collect_params())
    assert b.weight is a.weight


class MyInit(mx.init.Initializer):
    """The book's custom initializer: only ``_init_weight`` is overridden."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _init_weight(self, name, data):
        self.seen.append((str(name), data.shape))
        data[:] = mx.nd.arange(data.size).reshape(data.shape)
        data *= data >= 3


def test_initializer_subclass_deferred_and_force_reinit():
    net = nn.Sequential()
    net.add(nn.Dense(4, activation="relu"), nn.Dense(2))
    my = MyInit()
    net.initialize(my)
    assert my.seen == []  # deferred: nothing is initialized before the first forward
    net(mx.nd.ones((1, 3)))
    assert sorted(my.seen) == sorted([(net[0].weight.name, (4, 3)), (net[1].weight.name, (2, 4))])
    w = net[0].weight.data().asnumpy()
    np.testing.assert_array_equal(w.ravel()[:4], [0, 0, 0, 3])
    np.testing.assert_array_equal(net[0].bias.data().asnumpy(), np.zeros(4))
    net.initialize(mx.init.Constant(1), force_reinit=True)
    np.testing.assert_array_equal(net[1].weight.data().asnumpy(), np.ones((2, 4)))
    net[0].weight.initialize(init=mx.init.Xavier(), force_reinit=True)
    assert net[0].weight.data().shape == (4, 3)
    net[0].weight.data()[:] += 1


def test_shared_parameters_between_layers():
    net = nn.Sequential()
    shared = nn.Dense(8, activation="relu")
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params), nn.Dense(2))
    net.initialize()
    net(mx.nd.random.uniform(shape=(2, 20)))
    assert net[1].weight is net[2].weight
    assert (net[1].weight.data() == net[2].weight.data()).asnumpy().all()
    assert len(net.collect_params().keys()) == 6
    assert net[0].params.get("weight") is net[0].weight


class MyDense(nn.Block):
    """The book's custom layer with its own Parameters."""

    def __init__(self, units, in_units, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get("weight", shape=(in_units, units))
        self.bias = self.params.get("bias", shape=(units,))

    def forward(self, x):
        return mx.nd.relu(mx.nd.dot(x, self.weight.data()) + self.bias.data())


def test_custom_layer_params_and_repr():
    dense = MyDense(units=3, in_units=5, prefix="mydense0_")
    assert repr(dense.params) == (
        "mydense0_ (\n  Parameter mydense0_weight (shape=(5, 3), dtype=<class 'numpy.float32'>)\n"
        "  Parameter mydense0_bias (shape=(3,), dtype=<class 'numpy.float32'>)\n)"
    )
    dense.initialize()
    assert dense(mx.nd.random.uniform(shape=(2, 5))).shape == (2, 3)
    params = gluon.ParameterDict()
    params.get("param2", shape=(2, 3))
    assert list(params.keys()) == ["param2"]

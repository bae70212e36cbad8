"""Chapter 4 (deep-learning computation): model-construction, parameters, deferred-init,
custom-layer, read-write, use-gpu."""

import mxnet as mx
import pytest
from mxnet import gluon, init, nd
from mxnet.gluon import nn

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)


class MLP(nn.Block):
    def __init__(self, **kwargs):
        super(MLP, self).__init__(**kwargs)
        self.hidden = nn.Dense(256, activation="relu")
        self.output = nn.Dense(10)

    def forward(self, x):
        return self.output(self.hidden(x))


class MySequential(nn.Block):
    def __init__(self, **kwargs):
        super(MySequential, self).__init__(**kwargs)

    def add(self, block):
        self._children[block.name] = block

    def forward(self, x):
        for block in self._children.values():
            x = block(x)
        return x


class FancyMLP(nn.Block):
    def __init__(self, **kwargs):
        super(FancyMLP, self).__init__(**kwargs)
        self.rand_weight = self.params.get_constant("rand_weight", nd.random.uniform(shape=(20, 20)))
        self.dense = nn.Dense(20, activation="relu")

    def forward(self, x):
        x = self.dense(x)
        x = nd.relu(nd.dot(x, self.rand_weight.data()) + 1)
        x = self.dense(x)
        while x.norm().asscalar() > 1:
            x /= 2
        if x.norm().asscalar() < 0.8:
            x *= 10
        return x.sum()


class NestMLP(nn.Block):
    def __init__(self, **kwargs):
        super(NestMLP, self).__init__(**kwargs)
        self.net = nn.Sequential()
        self.net.add(nn.Dense(64, activation="relu"), nn.Dense(32, activation="relu"))
        self.dense = nn.Dense(16, activation="relu")

    def forward(self, x):
        return self.dense(self.net(x))


def test_model_construction():
    X = nd.random.uniform(shape=(2, 20))
    net = MLP()
    net.initialize()
    assert net(X).shape == (2, 10)
    net = MySequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    net.initialize()
    assert net(X).shape == (2, 10)
    net = FancyMLP()
    net.initialize()
    assert net(X).shape == (1,)
    net = nn.Sequential()
    net.add(NestMLP(), nn.Dense(20), FancyMLP())
    net.initialize()
    assert net(X).shape == (1,)


class MyInit(init.Initializer):
    def _init_weight(self, name, data):
        print("Init", name, data.shape)
        data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
        data *= data.abs() >= 5


def test_parameters():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    net.initialize()
    X = nd.random.uniform(shape=(2, 20))
    net(X)
    print(net[0].params, type(net[0].params))
    name = net[0].prefix + "weight"
    assert net[0].params[name] is net[0].weight
    assert net[0].weight.data().shape == (256, 20)
    assert net[0].weight.grad().sum().asscalar() == 0
    assert net[1].bias.data().shape == (10,)
    assert len(net.collect_params().keys()) == 4
    assert len(net.collect_params(".*weight").keys()) == 2
    net.initialize(init=init.Normal(sigma=0.01), force_reinit=True)
    assert abs(net[0].weight.data().asnumpy()).max() < 0.1
    net.initialize(init=init.Constant(1), force_reinit=True)
    assert net[0].weight.data()[0].asnumpy().tolist() == [1.0] * 20
    net[0].weight.initialize(init=init.Xavier(), force_reinit=True)
    assert abs(net[0].weight.data().asnumpy()).max() < 0.2
    net.initialize(MyInit(), force_reinit=True)
    w = net[0].weight.data().asnumpy()
    assert ((w == 0) | (abs(w) >= 5)).all()
    net[0].weight.set_data(net[0].weight.data() + 1)
    assert abs(net[0].weight.data().asnumpy() - (w + 1)).max() < 1e-5
    net = nn.Sequential()
    shared = nn.Dense(8, activation="relu")
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params), nn.Dense(10))
    net.initialize()
    net(X)
    assert (net[1].weight.data()[0] == net[2].weight.data()[0]).sum().asscalar() == 8


def test_deferred_init(capsys):
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize(init=MyInit())
    assert "Init" not in capsys.readouterr().out
    X = nd.random.uniform(shape=(2, 20))
    net(X)
    assert capsys.readouterr().out.count("Init") == 2
    net(X)
    assert "Init" not in capsys.readouterr().out
    net.initialize(init=MyInit(), force_reinit=True)
    assert capsys.readouterr().out.count("Init") == 2
    net = nn.Sequential()
    net.add(nn.Dense(256, in_units=20, activation="relu"))
    net.add(nn.Dense(10, in_units=256))
    net.initialize(init=MyInit())
    assert capsys.readouterr().out.count("Init") == 2


class CenteredLayer(nn.Block):
    def __init__(self, **kwargs):
        super(CenteredLayer, self).__init__(**kwargs)

    def forward(self, x):
        return x - x.mean()


class MyDense(nn.Block):
    def __init__(self, units, in_units, **kwargs):
        super(MyDense, self).__init__(**kwargs)
        self.weight = self.params.get("weight", shape=(in_units, units))
        self.bias = self.params.get("bias", shape=(units,))

    def forward(self, x):
        linear = nd.dot(x, self.weight.data()) + self.bias.data()
        return nd.relu(linear)


def test_custom_layer():
    layer = CenteredLayer()
    assert layer(nd.array([1, 2, 3, 4, 5])).asnumpy().tolist() == [-2, -1, 0, 1, 2]
    net = nn.Sequential()
    net.add(nn.Dense(128), CenteredLayer())
    net.initialize()
    y = net(nd.random.uniform(shape=(4, 8)))
    assert abs(y.mean().asscalar()) < 1e-6
    params = gluon.ParameterDict()
    params.get("param2", shape=(2, 3))
    assert "param2" in params.keys()
    dense = MyDense(units=3, in_units=5)
    assert set(dense.params.keys()) == {dense.prefix + "weight", dense.prefix + "bias"}
    dense.initialize()
    assert dense(nd.random.uniform(shape=(2, 5))).shape == (2, 3)
    net = nn.Sequential()
    net.add(MyDense(8, in_units=64), MyDense(1, in_units=8))
    net.initialize()
    assert net(nd.random.uniform(shape=(2, 64))).shape == (2, 1)


def test_read_write():
    x = nd.ones(3)
    nd.save("x", x)
    x2 = nd.load("x")
    assert x2[0].asnumpy().tolist() == [1, 1, 1]
    y = nd.zeros(4)
    nd.save("xy", [x, y])
    x2, y2 = nd.load("xy")
    assert y2.shape == (4,)
    mydict = {"x": x, "y": y}
    nd.save("mydict", mydict)
    assert set(nd.load("mydict")) == {"x", "y"}
    net = MLP()
    net.initialize()
    X = nd.random.uniform(shape=(2, 20))
    Y = net(X)
    filename = "mlp.params"
    net.save_parameters(filename)
    net2 = MLP()
    net2.load_parameters(filename)
    Y2 = net2(X)
    assert (Y2 == Y).sum().asscalar() == Y.size


def test_use_gpu():
    print(mx.cpu(), mx.gpu(), mx.gpu(1))
    x = nd.array([1, 2, 3])
    assert x.context == mx.cpu()
    ctx = d2l.try_gpu()
    a = nd.array([1, 2, 3], ctx=ctx)
    b = nd.random.uniform(shape=(2, 3), ctx=ctx)
    y = x.copyto(ctx)
    z = x.as_in_context(ctx)
    assert z.as_in_context(ctx) is z and (y + 2 * z).context == ctx and a.context == ctx
    assert b.context == ctx
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(ctx=ctx)
    assert net(y.reshape((1, 3))).context == ctx
    assert net[0].weight.data().context == ctx
    if ctx == mx.cpu():
        with pytest.raises(mx.base.MXNetError):
            nd.array([1, 2, 3], ctx=mx.gpu()).asnumpy()

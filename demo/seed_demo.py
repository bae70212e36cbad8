"""The seed tutorial's examples, run on mxrs.

Runs every NDArray example of the tutorial (``../shared/seed``) in order and prints what the
tutorial prints. Where the tutorial uses ``mx.gpu()`` and this machine has no GPU, the CPU
contexts ``cpu(1)``/``cpu(2)`` stand in (as MXNet's own tests do). It ends by fitting the
tutorial's linear-regression data (y = 5x + noise) with NDArray ops and saving the scatter and
the fitted line as ``demo/out/linear_regression.png``. The Symbol examples run between the two.
"""

import os
import pickle as pkl
import tempfile
from pathlib import Path

import mxrs as mx
import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def gpu(i=0):
    """``mx.gpu(i)`` when a GPU exists, else a distinct CPU context standing in for it."""
    return mx.gpu(i) if mx.num_gpus() > i else mx.cpu(i + 1)


def section(title):
    print(f"\n=== {title} ===")


def ndarray_examples():
    section("NDArray: creation on devices")
    a = mx.nd.empty((2, 3))
    b = mx.nd.empty((2, 3), gpu())
    c = mx.nd.empty((2, 3), gpu(2))
    print("c.shape:", c.shape, " c.context:", c.context, " (a on", a.context, ", b on", b.context, ")")

    a = mx.nd.zeros((2, 3))
    b = mx.nd.ones((2, 3))
    b[:] = 2
    b = mx.nd.zeros((2, 3), gpu())
    a = mx.nd.ones((2, 3))
    a.copyto(b)
    print("after a.copyto(b), b =", b.asnumpy().tolist())

    section("NDArray -> numpy")
    a = mx.nd.ones((2, 3))
    b = a.asnumpy()
    print(type(b))
    print(b)

    section("numpy -> NDArray")
    a = mx.nd.empty((2, 3))
    a[:] = np.random.uniform(-0.1, 0.1, a.shape)
    print(a.asnumpy())

    section("arithmetic")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 4
    print(b.asnumpy())
    c = a + b
    print(c.asnumpy())
    d = a * b
    print(d.asnumpy())

    section("arrays on different devices are moved together first")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3), gpu()) * 3
    c = a.copyto(gpu()) * b
    print(c.asnumpy())

    section("pickle")
    a = mx.nd.ones((2, 3)) * 2
    data = pkl.dumps(a)
    b = pkl.loads(data)
    print(b.asnumpy())

    section("save / load (binary, MXNet's format)")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 3
    with tempfile.TemporaryDirectory() as tmp:
        fname = os.path.join(tmp, "mydata.bin")
        mx.nd.save(fname, [a, b])
        c = mx.nd.load(fname)
        print(c[0].asnumpy())
        print(c[1].asnumpy())
        mx.nd.save(fname, {"a": a, "b": b})
        c = mx.nd.load(fname)
        print(c["a"].asnumpy())
        print(c["b"].asnumpy())
    try:
        mx.nd.save("s3://mybucket/mydata.bin", [a, b])
    except mx.base.MXNetError as e:
        print("s3:// ->", type(e).__name__ + ":", e)

    section("automatic parallel computation")
    a = mx.nd.ones((2, 3))
    b = a
    c = a.copyto(gpu())
    a += 1
    b *= 3
    c *= 3
    print("a (= b) =", a.asnumpy().tolist(), " c =", c.asnumpy().tolist(), " engine:", mx._native.engine_name())


def symbol_examples():
    section("Symbol: a 2-layer perceptron")
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.SoftmaxOutput(data=net, name="out")
    print(type(net))
    print(net.list_arguments())

    section("Symbol: naming an argument")
    net2 = mx.symbol.Variable("data")
    w = mx.symbol.Variable("myweight")
    net2 = mx.symbol.FullyConnected(data=net2, weight=w, name="fc1", num_hidden=128)
    print(net2.list_arguments())

    section("Symbol: composing with +")
    lhs = mx.symbol.Variable("data1")
    rhs = mx.symbol.Variable("data2")
    net = mx.symbol.FullyConnected(data=lhs + rhs, name="fc1", num_hidden=128)
    print(net.list_arguments())

    section("Symbol: composing symbols")
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net2 = mx.symbol.Variable("data2")
    net2 = mx.symbol.FullyConnected(data=net2, name="net2", num_hidden=128)
    composed_net = net(data=net2, name="compose")
    print(composed_net.list_arguments())

    section("Symbol: shape inference")
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=10)
    arg_shape, out_shape, aux_shape = net.infer_shape(data=(100, 100))
    print(dict(zip(net.list_arguments(), arg_shape)))
    print(out_shape)

    section("Symbol: bind and run")
    A = mx.symbol.Variable("A")
    B = mx.symbol.Variable("B")
    C = A * B
    a = mx.nd.ones(3) * 4
    b = mx.nd.ones(3) * 2
    c_exec = C.bind(ctx=mx.cpu(), args={"A": a, "B": b})
    c_exec.forward()
    print(c_exec.outputs[0].asnumpy())

    section("Symbol: simple_bind, forward and backward")
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.SoftmaxOutput(data=net, name="out")
    texec = net.simple_bind(data=(32, 100))
    for name, arr in texec.arg_dict.items():
        if name.endswith("weight"):
            arr[:] = mx.nd.random.uniform(-0.1, 0.1, shape=arr.shape)
    texec.forward(is_train=True, data=mx.nd.random.uniform(shape=(32, 100)))
    texec.backward()
    print("output", texec.outputs[0].shape, " grad of fc1_weight", texec.grad_dict["fc1_weight"].shape)
    print("|grad fc2_weight| =", float(texec.grad_dict["fc2_weight"].norm().asscalar()))


def linear_regression_figure():
    section("linear regression data of the tutorial, fitted with NDArray ops")
    mx.random.seed(0)
    x_data = np.linspace(-1, 1, 100)
    noise = np.random.default_rng(0).normal(0, 0.5, 100)
    y_data = 5 * x_data + noise
    x = mx.nd.array(np.stack([x_data, np.ones_like(x_data)], axis=1))
    y = mx.nd.array(y_data).reshape((-1, 1))
    # Gradient descent on the mean squared error, all on mxrs arrays.
    w = mx.nd.zeros((2, 1))
    for _ in range(300):
        grad = mx.nd.dot(x, mx.nd.dot(x, w) - y, transpose_a=True) * (2.0 / len(x_data))
        w -= grad * 0.5
    slope, bias = w.asnumpy().ravel()
    print(f"fitted slope {slope:.3f} (true 5), bias {bias:.3f}")
    prediction = mx.nd.dot(x, w).asnumpy().ravel()
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure saved")
        return
    OUT.mkdir(exist_ok=True)
    fig = plt.figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(x_data, y_data)
    ax.plot(x_data, prediction, "r-", lw=5)
    ax.set_title(f"mxrs: y = {slope:.2f} x + {bias:.2f}")
    path = OUT / "linear_regression.png"
    fig.savefig(path)
    print("saved", path)


if __name__ == "__main__":
    ndarray_examples()
    symbol_examples()
    linear_regression_figure()

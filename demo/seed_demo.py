"""The seed tutorial's examples, run on mxrs.

Runs every NDArray example of the tutorial (``../shared/seed``) in order and prints what the
tutorial prints. Where the tutorial uses ``mx.gpu()`` and this machine has no GPU, the CPU
contexts ``cpu(1)``/``cpu(2)`` stand in (as MXNet's own tests do). Then come the Symbol and
KVStore examples, the tutorial's linear regression (y = 5x + noise) with ``mx.model.FeedForward``,
saving the scatter and the fitted line as ``demo/out/linear_regression.png``, and last an MLP
trained on scikit-learn's handwritten digits (``Module.fit``, then ``FeedForward.create`` over an
``ImageRecordIter`` with a KVStore), reporting test-set accuracy and saving its training curves
(``mx.callback.MetricHistory``) as ``demo/out/mlp_training_curves.png``.

Training logs only warnings here: each fit's progress is summed up in a few lines (the metric
at a few epochs) instead of MXNet's per-epoch log lines.
"""

import logging
import os
import pickle as pkl
import sys
import tempfile
import warnings
from pathlib import Path

import mxrs as mx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kvstore_examples  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def gpu(i=0):
    """``mx.gpu(i)`` when a GPU exists, else a distinct CPU context standing in for it."""
    return mx.gpu(i) if mx.num_gpus() > i else mx.cpu(i + 1)


def section(title):
    print(f"\n=== {title} ===")


class quiet_training:
    """Leave out the per-epoch INFO lines of ``fit`` (warnings still show)."""

    def __enter__(self):
        self.level = logging.getLogger().level
        logging.getLogger().setLevel(logging.WARNING)

    def __exit__(self, *exc):
        logging.getLogger().setLevel(self.level)


def summarize(history, epochs=(1, 5, 10, 20, 50, 100)):
    """One line per metric: its value at a few epochs (1-based)."""
    for name, values in sorted(history.items()):
        shown = [e for e in epochs if e <= len(values)]
        if len(values) not in shown:
            shown.append(len(values))
        print(f"  {name:<20}" + "  ".join(f"epoch {e}: {values[e - 1]:.4f}" for e in shown))


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
    section("the tutorial's linear regression with mx.model.FeedForward")
    np.random.seed(0)
    mx.random.seed(0)
    X_data = np.linspace(-1, 1, 100)
    noise = np.random.normal(0, 0.5, 100)
    y_data = 5 * X_data + noise

    X = mx.symbol.Variable("data")
    Y = mx.symbol.Variable("softmax_label")
    Y_ = mx.symbol.FullyConnected(data=X, num_hidden=1, name="pre")
    loss = mx.symbol.LinearRegressionOutput(data=Y_, label=Y, name="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = mx.model.FeedForward(ctx=mx.cpu(), symbol=loss, num_epoch=100, learning_rate=0.001, numpy_batch_size=1)
    hist = mx.callback.MetricHistory()
    with quiet_training():
        model.fit(X=X_data, y=y_data, eval_metric="mse", batch_end_callback=hist)
    print("training mean squared error by epoch:")
    summarize(hist.finish())
    prediction = model.predict(X_data)
    slope = float(model.arg_params["pre_weight"].asnumpy().ravel()[0])
    bias = float(model.arg_params["pre_bias"].asnumpy().ravel()[0])
    print(f"fitted slope {slope:.3f} (true 5), bias {bias:.3f}; prediction shape {prediction.shape}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure saved")
        return
    OUT.mkdir(exist_ok=True)
    fig = plt.figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(X_data, y_data, s=12, label="data: y = 5x + noise")
    ax.plot(X_data, prediction, "r-", lw=3, label=f"fitted: y = {slope:.2f}x + {bias:.2f}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("linear regression with mxrs FeedForward")
    ax.legend()
    path = OUT / "linear_regression.png"
    fig.savefig(path)
    plt.close(fig)
    print("saved", path)


def mlp_on_digits():
    section("an MLP on scikit-learn's handwritten digits (Module.fit), then FeedForward.create on a .rec")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("scikit-learn is not installed: skipped")
        return
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.float32)
    order = np.random.RandomState(42).permutation(len(x))
    x, y = x[order], y[order]
    n_train = 1400
    train = mx.io.NDArrayIter(x[:n_train], y[:n_train], batch_size=50, shuffle=True)
    test = mx.io.NDArrayIter(x[n_train:], y[n_train:], batch_size=50)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mx.random.seed(1)
    mod = mx.mod.Module(net, context=mx.cpu())
    hist = mx.callback.MetricHistory()
    with quiet_training():
        mod.fit(
            train,
            eval_data=test,
            num_epoch=20,
            optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(),
            eval_metric="acc",
            batch_end_callback=hist,
            eval_end_callback=hist.eval_end,
        )
    print("accuracy by epoch:")
    summarize(hist.finish())
    acc = dict(mod.score(test, "acc"))["accuracy"]
    print(f"test-set accuracy on {len(x) - n_train} held-out digits: {acc:.4f}")
    try:
        OUT.mkdir(exist_ok=True)
        print("saved", hist.plot(str(OUT / "mlp_training_curves.png"), title="MLP on digits (mxrs Module.fit)"))
    except ImportError:
        print("matplotlib is not installed: no training curves saved")

    # The tutorial's FeedForward.create(symbol, X=ImageRecordIter(...), kvstore=kv): pack the
    # digits as 8x8 PNG records, read them back with ImageRecordIter.
    with tempfile.TemporaryDirectory() as tmp:
        rec = os.path.join(tmp, "digits.rec")
        writer = mx.recordio.MXIndexedRecordIO(os.path.join(tmp, "digits.idx"), rec, "w")
        for i in range(n_train):
            img = (x[i].reshape(8, 8, 1) * 255).astype(np.uint8).repeat(3, axis=2)
            header = mx.recordio.IRHeader(0, float(y[i]), i, 0)
            writer.write_idx(i, mx.recordio.pack_img(header, img, img_fmt=".png"))
        writer.close()
        data_iter = mx.io.ImageRecordIter(
            path_imgrec=rec, data_shape=(3, 8, 8), batch_size=50, shuffle=True, scale=1.0 / 255
        )
        kv = mx.kvstore.create("local")
        with warnings.catch_warnings(), quiet_training():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = mx.model.FeedForward.create(
                symbol=net, X=data_iter, kvstore=kv, num_epoch=10, learning_rate=0.1, momentum=0.9,
                initializer=mx.init.Xavier(),
            )  # fmt: skip
        x3 = np.repeat(x[n_train:].reshape(-1, 1, 8, 8), 3, axis=1)
        pred = model.predict(x3).argmax(axis=1)
        print(f"FeedForward.create on ImageRecordIter: test accuracy {np.mean(pred == y[n_train:]):.4f}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ndarray_examples()
    symbol_examples()
    section("KVStore examples")
    kvstore_examples.run()
    linear_regression_figure()
    mlp_on_digits()

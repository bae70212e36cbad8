"""``mx.model.FeedForward`` (deprecated in MXNet, kept for old code and the seed tutorial).

Needs ``mx.sym`` and ``mx.io``; skipped until they exist. Behaviour and log lines are
MXNet 1.9.1's (``MXRS_TEST_TARGET=mxnet`` runs this file there).
"""

import logging
import os
import re
import warnings

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_allclose


def _training_ready():
    """True when Symbol, the NN layers with their gradients, the optimizers and NDArrayIter exist."""
    if not all(hasattr(mx, name) for name in ("sym", "io", "optimizer")):
        return False
    try:
        net = mx.sym.FullyConnected(data=mx.sym.Variable("data"), num_hidden=2, name="probe")
        net = mx.sym.SoftmaxOutput(data=net, name="softmax")
        net.simple_bind(mx.cpu(), data=(1, 2))
    except (AttributeError, NotImplementedError, mx.base.MXNetError):
        return False
    return hasattr(mx.io, "NDArrayIter") and hasattr(mx.optimizer, "get_updater")


pytestmark = [
    pytest.mark.skipif(not _training_ready(), reason="needs mx.sym with NN layers and gradients, mx.io, mx.optimizer"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def classifier(hidden=16, classes=2):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, num_hidden=hidden, name="fc1")
    act = mx.sym.Activation(data=fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(data=act, num_hidden=classes, name="fc2")
    return mx.sym.SoftmaxOutput(data=fc2, name="softmax")


def two_blobs(n=100, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    x = rng.randn(n, 3) + (y[:, None] * 2 - 1) * 2.0
    return x.astype(np.float32), y.astype(np.float32)


def test_seed_linear_regression():
    """The seed tutorial's example: y = 5x + noise, fitted with batch size 1 for 100 epochs."""
    np.random.seed(0)
    mx.random.seed(0)
    X_data = np.linspace(-1, 1, 100)
    noise = np.random.normal(0, 0.5, 100)
    y_data = 5 * X_data + noise
    X = mx.symbol.Variable("data")
    Y = mx.symbol.Variable("softmax_label")
    Y_ = mx.symbol.FullyConnected(data=X, num_hidden=1, name="pre")
    loss = mx.symbol.LinearRegressionOutput(data=Y_, label=Y, name="loss")
    with pytest.warns(DeprecationWarning, match="FeedForward has been deprecated"):
        model = mx.model.FeedForward(ctx=mx.cpu(), symbol=loss, num_epoch=100, learning_rate=0.001, numpy_batch_size=1)
    model.fit(X=X_data, y=y_data, eval_metric="mse")
    prediction = model.predict(X_data)
    assert prediction.shape == (100, 1)
    slope = float(model.arg_params["pre_weight"].asnumpy().ravel()[0])
    assert abs(slope - 5) < 0.5
    fitted = np.polyfit(X_data, prediction.ravel(), 1)[0]
    assert abs(fitted - 5) < 0.5


def test_fit_log_lines_match_mxnet(tmp_path, caplog):
    """The observed MXNet log of fact sheet 9.1: 100 samples, numpy_batch_size 25."""
    np.random.seed(0)
    x, y = two_blobs()
    prefix = str(tmp_path / "ffck")
    model = mx.model.FeedForward(classifier(), num_epoch=1, numpy_batch_size=25, learning_rate=0.1)
    with caplog.at_level(logging.INFO):
        model.fit(
            x,
            y,
            eval_data=(x, y),
            batch_end_callback=mx.callback.Speedometer(25, frequent=2),
            epoch_end_callback=mx.callback.do_checkpoint(prefix),
        )
    msgs = [r.getMessage() for r in caplog.records]
    speed = r"\d+\.\d{2}"
    patterns = [
        r"Start training with \[cpu\(0\)\]",
        rf"Epoch\[0\] Batch \[0-2\]\tSpeed: {speed} samples/sec\taccuracy=\d\.\d{{6}}",
        rf"Epoch\[0\] Batch \[2-4\]\tSpeed: {speed} samples/sec\taccuracy=\d\.\d{{6}}",
        r"Epoch\[0\] Resetting Data Iterator",
        r"Epoch\[0\] Time cost=\d+\.\d{3}",
        rf'Saved checkpoint to "{re.escape(prefix)}-0001\.params"',
        r"Epoch\[0\] Validation-accuracy=\d\.\d{6}",
    ]
    assert len(msgs) == len(patterns), msgs
    for msg, pattern in zip(msgs, patterns):
        assert re.fullmatch(pattern, msg), (msg, pattern)
    assert os.path.exists(prefix + "-symbol.json")


def test_batch_callback_is_one_based_and_epoch_size():
    x, y = two_blobs(n=40)
    seen = []
    model = mx.model.FeedForward(classifier(), num_epoch=2, epoch_size=3, numpy_batch_size=10, learning_rate=0.1)
    model.fit(x, y, batch_end_callback=lambda p: seen.append((p.epoch, p.nbatch)))
    assert seen == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]


def test_learns_predict_score_and_return_data():
    np.random.seed(2)
    mx.random.seed(2)
    x, y = two_blobs(n=200, seed=1)
    model = mx.model.FeedForward.create(
        classifier(),
        X=x,
        y=y,
        num_epoch=10,
        numpy_batch_size=20,
        learning_rate=0.1,
        momentum=0.9,
        initializer=mx.init.Xavier(),
    )
    probs = model.predict(x)
    assert probs.shape == (200, 2) and isinstance(probs, np.ndarray)
    assert (probs.argmax(axis=1) == y).mean() >= 0.95
    it = mx.io.NDArrayIter(x, y, batch_size=30)  # 200 = 6 * 30 + 20: the last batch is padded
    assert model.score(it) >= 0.95
    assert isinstance(model.score(it, "acc"), float)
    out, data, label = model.predict(it, return_data=True)
    assert out.shape == (200, 2) and data.shape == (200, 3) and label.shape == (200,)
    assert_allclose(data, x)
    assert_allclose(out, probs, rtol=1e-5, atol=1e-6)
    assert model.predict(it, num_batch=2).shape == (60, 2)


def test_save_load_and_continue(tmp_path):
    x, y = two_blobs(n=50)
    model = mx.model.FeedForward(classifier(), num_epoch=2, numpy_batch_size=10, learning_rate=0.1)
    model.fit(x, y)
    prefix = str(tmp_path / "ff")
    model.save(prefix)
    assert os.path.exists(prefix + "-0002.params")
    loaded = mx.model.FeedForward.load(prefix, 2, numpy_batch_size=10)
    assert loaded.begin_epoch == 2
    assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    loaded.num_epoch = 3
    loaded.fit(x, y)  # one more epoch from the checkpoint


def test_input_errors():
    x, y = two_blobs(n=20)
    model = mx.model.FeedForward(classifier(), num_epoch=1, numpy_batch_size=10)
    with pytest.raises(ValueError, match="y must be specified"):
        model.fit(x)
    with pytest.raises(ValueError, match="Label must be 1D"):
        model.fit(x, np.zeros((20, 2)))
    with pytest.raises(ValueError, match="not equal"):
        model.fit(x, y[:5])
    with pytest.raises(TypeError):
        model.fit([[1, 2, 3]], y)
    model.fit(x, y.reshape(20, 1))  # (N, 1) labels are flattened


def test_extra_params():
    x, y = two_blobs(n=20)
    base = mx.model.FeedForward(classifier(), num_epoch=1, numpy_batch_size=10)
    base.fit(x, y)
    arg = dict(base.arg_params)
    arg["extra"] = mx.nd.ones((1,))
    lenient = mx.model.FeedForward(classifier(), arg_params=arg, aux_params={}, allow_extra_params=True)
    assert "extra" not in lenient.arg_params
    assert lenient.predict(x).shape == (20, 2)
    strict = mx.model.FeedForward(classifier(), arg_params=arg, aux_params={})
    with pytest.raises(ValueError, match="Find name .extra. that is not in the arguments"):
        strict.predict(x)


def test_duplicate_argument_names():
    data = mx.sym.Variable("data")
    w = mx.sym.Variable("w")
    a = mx.sym.FullyConnected(data=data, weight=w, num_hidden=3, no_bias=True, name="a")
    b = mx.sym.FullyConnected(data=a, weight=mx.sym.Variable("w"), num_hidden=3, no_bias=True, name="b")
    sym = mx.sym.SoftmaxOutput(data=b, name="softmax")
    if len(set(sym.list_arguments())) == len(sym.list_arguments()):
        pytest.skip("the symbol merged the two variables")
    with pytest.raises(ValueError, match="duplicated argument name"):
        mx.model.FeedForward(sym)


@pytest.mark.skipif(not hasattr(mx, "kv"), reason="needs mx.kv")
def test_kvstore_object_and_two_devices():
    np.random.seed(3)
    mx.random.seed(3)
    x, y = two_blobs(n=200, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mx.model.FeedForward(
            classifier(),
            ctx=[mx.cpu(0), mx.cpu(1)],
            num_epoch=8,
            numpy_batch_size=20,
            learning_rate=0.1,
            momentum=0.9,
            initializer=mx.init.Xavier(),
        )
    model.fit(x, y, kvstore=mx.kv.create("local"))
    assert (model.predict(x).argmax(axis=1) == y).mean() >= 0.95

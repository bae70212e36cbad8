"""``mx.contrib.tensorboard.LogMetricsCallback``: the scalars it writes into TensorBoard event
files (read back with the writer package's own protobuf classes), and the ImportError that
names what to install when no writer package is there."""

import struct
import sys
from collections import namedtuple

import numpy as np
import pytest
from _target import IS_MXNET, mx

tbx = pytest.importorskip("tensorboardX")
from tensorboardX.proto import event_pb2  # noqa: E402

Param = namedtuple("Param", ["epoch", "nbatch", "eval_metric", "locals"])


def _scalars(logdir):
    """(step, tag, value) of every scalar in the event files of ``logdir`` (TFRecord framing:
    u64 length, u32 CRC, payload, u32 CRC)."""
    out = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        raw = path.read_bytes()
        pos = 0
        while pos < len(raw):
            (n,) = struct.unpack_from("<Q", raw, pos)
            payload = raw[pos + 12 : pos + 12 + n]
            pos += 12 + n + 4
            event = event_pb2.Event.FromString(payload)
            for v in event.summary.value:
                out.append((event.step, v.tag, v.simple_value))
    return out


def _metric(pred, label):
    metric = mx.metric.create(["acc", "mse"])
    metric.update([mx.nd.array(label)], [mx.nd.array(pred)])
    return metric


def test_writes_each_metric_at_the_epoch_step(tmp_path):
    cb = mx.contrib.tensorboard.LogMetricsCallback(str(tmp_path))
    pred = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    m0, m1 = _metric(pred, [0, 1, 1, 1]), _metric(pred, [0, 1, 0, 1])
    cb(Param(epoch=0, nbatch=1, eval_metric=m0, locals=None))
    cb(Param(epoch=3, nbatch=2, eval_metric=m1, locals=None))
    cb(Param(epoch=4, nbatch=3, eval_metric=None, locals=None))  # nothing to log
    cb.summary_writer.close()
    got = _scalars(tmp_path)
    want = [(0, n, v) for n, v in m0.get_name_value()] + [(3, n, v) for n, v in m1.get_name_value()]
    assert [(s, t) for s, t, _ in got] == [(0, "accuracy"), (0, "mse"), (3, "accuracy"), (3, "mse")]
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in want]
    np.testing.assert_allclose([v for *_, v in got], [v for *_, v in want], rtol=1e-6)
    np.testing.assert_allclose([got[0][2], got[2][2]], [0.75, 1.0])


def test_prefix(tmp_path):
    cb = mx.contrib.tensorboard.LogMetricsCallback(str(tmp_path), prefix="train")
    metric = mx.metric.Accuracy()
    metric.update([mx.nd.array([1, 0])], [mx.nd.array([[0.2, 0.8], [0.4, 0.6]])])
    cb(Param(epoch=2, nbatch=0, eval_metric=metric, locals=None))
    cb.summary_writer.close()
    assert _scalars(tmp_path) == [(2, "train-accuracy", 0.5)]


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 only logs an error (its writer is mxboard)")
def test_no_writer_names_what_to_install(tmp_path, monkeypatch):
    for name in ("mxboard", "tensorboardX", "torch", "torch.utils", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        mx.contrib.tensorboard.LogMetricsCallback(str(tmp_path))


def test_as_module_fit_callback(tmp_path):
    """As a batch-end callback of Module.fit: one accuracy scalar per batch, at its epoch."""
    rng = np.random.RandomState(0)
    x = rng.randn(8, 3).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2, name="fc"), name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    it = mx.io.NDArrayIter(x, y, batch_size=4)
    cb = mx.contrib.tensorboard.LogMetricsCallback(str(tmp_path), prefix="fit")
    mod.fit(it, num_epoch=2, batch_end_callback=cb, optimizer_params={"learning_rate": 0.1})
    cb.summary_writer.close()
    got = _scalars(tmp_path)
    assert [(s, t) for s, t, _ in got] == [(0, "fit-accuracy")] * 2 + [(1, "fit-accuracy")] * 2
    assert all(0.0 <= v <= 1.0 for *_, v in got)

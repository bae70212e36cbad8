"""mx.viz (summary table and graph as MXNet's), training curves, progress bars, notebook reprs."""

import contextlib
import io
import json
import logging
import os
import shutil

import mxrs as mx
import numpy as np
import pytest
from mxrs.callback import MetricHistory, ProgressLine, Speedometer
from mxrs.model import BatchEndParam

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "ecosystem_golden.json")))
HAS_DOT = shutil.which("dot") is not None

try:
    import graphviz
except ImportError:  # pragma: no cover - optional
    graphviz = None

needs_graphviz = pytest.mark.skipif(graphviz is None, reason="the graphviz package is not installed")


def _net():
    """The network of tools/golden/ecosystem.py."""
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    bn = mx.sym.BatchNorm(act, name="bn")
    fc2 = mx.sym.FullyConnected(bn, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def test_print_summary_matches_mxnet():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        mx.viz.print_summary(_net(), shape={"data": (1, 20)})
    assert buf.getvalue() == GOLDEN["summary"]


def test_print_summary_counts_conv_params_and_lists_every_input():
    img = mx.sym.Variable("img")
    c = mx.sym.Convolution(img, kernel=(3, 3), num_filter=4, name="conv")
    out = mx.sym.Concat(mx.sym.flatten(c, name="fl"), mx.sym.flatten(img, name="fl2"), dim=1, name="cat")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        mx.viz.print_summary(out, shape={"img": (1, 3, 8, 8)})
    rows = {line.split()[0]: line.split() for line in buf.getvalue().splitlines() if "(" in line.split(" ")[0]}
    assert rows["conv(Convolution)"][1:3] == ["4x6x6", "112"]  # 4*3*3*3 weights + 4 biases
    assert rows["cat(Concat)"][1] == str(4 * 36 + 3 * 64)
    text = buf.getvalue()
    assert "Total params: 112" in text and "fl2" in text.split("cat(Concat)")[1]


@needs_graphviz
def test_plot_network_edges_match_mxnet():
    dot = mx.viz.plot_network(_net(), shape={"data": (1, 20)})
    edges = sorted(line.strip() for line in dot.source.splitlines() if "->" in line)
    assert edges == GOLDEN["dot_edges"]
    assert "FullyConnected\n16" in dot.source and "fc1_weight" not in dot.source
    shown = mx.viz.plot_network(_net(), hide_weights=False)
    assert "fc1_weight" in shown.source


@needs_graphviz
@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_plot_network_renders(tmp_path):
    dot = mx.viz.plot_network(_net(), shape={"data": (1, 20)}, save_format="png")
    path = dot.render(str(tmp_path / "net"), cleanup=True)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    png = _net()._repr_png_()
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_symbol_png_repr_is_none_without_dot(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert _net()._repr_png_() is None


def test_progress_line_looks_like_tqdm():
    p = ProgressLine(width=10)
    assert p.render("Epoch 3", 9, 20, 1.0, "accuracy=0.912") == (
        "Epoch 3:  45%|████▌     | 9/20 [00:01<00:01, 9.00 batch/s, accuracy=0.912]"
    )
    assert p.render("Epoch 0", 5, None, 2.0) == "Epoch 0: 5 batch [00:02, 2.50 batch/s]"
    assert p.render("Epoch 1", 20, 20, 4.0).startswith("Epoch 1: 100%|██████████| 20/20")


def _params(epoch, nbatch, acc):
    m = mx.metric.Accuracy()
    m.update([mx.nd.array([1, 0])], [mx.nd.array([[0.0, 1.0], [1.0, 0.0]] if acc else [[1.0, 0.0], [0.0, 1.0]])])
    return BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=m, locals=None)


def test_speedometer_draws_a_bar_on_a_terminal(monkeypatch, caplog):
    monkeypatch.setenv("MXRS_PROGRESS", "1")
    out = io.StringIO()
    sp = Speedometer(batch_size=2, frequent=2)
    sp.bar.stream = out
    sp.bar.min_interval = 0.0
    with caplog.at_level(logging.INFO):
        for epoch in range(2):
            for n in range(1, 5):
                sp(_params(epoch, n, True))
    text = out.getvalue()
    assert "\rEpoch 0: 4 batch [" in text and "accuracy=1" in text
    assert "Epoch 1: 100%|" in text and "4/4" in text
    assert not [r for r in caplog.records if "Speed" in r.getMessage()]


def test_speedometer_logs_lines_otherwise(monkeypatch, caplog):
    monkeypatch.setenv("MXRS_PROGRESS", "0")
    sp = Speedometer(batch_size=2, frequent=2)
    assert sp.bar is None
    with caplog.at_level(logging.INFO):
        for n in range(0, 5):
            sp(_params(0, n, True))
    msgs = [r.getMessage() for r in caplog.records if "Speed" in r.getMessage()]
    assert len(msgs) == 2 and msgs[0].startswith("Epoch[0] Batch [0-2]\tSpeed:")


def test_metric_history_records_epochs_and_plots(tmp_path):
    x = np.random.RandomState(0).rand(40, 4).astype(np.float32)
    y = (x.sum(axis=1) > 2).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=10)
    val = mx.io.NDArrayIter(x, y, batch_size=10)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2), name="softmax")
    hist = MetricHistory()
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(
        train,
        eval_data=val,
        num_epoch=3,
        optimizer_params={"learning_rate": 0.1},
        batch_end_callback=hist,
        eval_end_callback=hist.eval_end,
    )
    h = hist.finish()
    assert sorted(h) == ["train-accuracy", "validation-accuracy"]
    assert len(h["train-accuracy"]) == 3 and len(h["validation-accuracy"]) == 3
    assert all(0.0 <= v <= 1.0 for v in h["train-accuracy"])
    pytest.importorskip("matplotlib")
    path = hist.plot(str(tmp_path / "curves.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_ndarray_html_repr_and_numpy_like_abbreviation():
    big = mx.nd.arange(5000).reshape((50, 100))
    text = repr(big)
    assert "..." in text and len(text.splitlines()) < 20
    assert text.strip().endswith("<NDArray 50x100 @cpu(0)>")
    small = mx.nd.array([[1, 2], [3, 4]])
    assert "..." not in repr(small)
    html = big._repr_html_()
    assert html.startswith("<") and "50x100" in html and "float32" in html and "..." in html


def test_feedforward_deprecation_names_mxrs():
    with pytest.warns(
        DeprecationWarning, match=r"mxrs\.model\.FeedForward has been deprecated\. Please use mxrs\.mod\.Module"
    ):
        mx.model.FeedForward(mx.sym.Variable("data"))

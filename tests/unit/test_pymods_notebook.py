"""mx.notebook.callback: PandasLogger with Module.fit, the bokeh charts (with a stand-in bokeh)."""

import datetime
import importlib.util
import sys
import types

import mxrs as mx
import numpy as np
import pytest
from mxrs.notebook import callback as nbc

pd = pytest.importorskip("pandas")


def _data():
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (50, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=10, shuffle=False, label_name="softmax_label")
    val = mx.io.NDArrayIter(x[:20], y[:20], batch_size=10, shuffle=False, label_name="softmax_label")
    return train, val


def _module():
    data = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    h = mx.sym.Activation(h, act_type="relu")
    out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=2, name="fc2"), name="softmax")
    return mx.mod.Module(out, context=mx.cpu())


def test_names():
    assert mx.notebook.callback is nbc
    for n in ("PandasLogger", "LiveBokehChart", "LiveLearningCurve", "LiveTimeSeries", "args_wrapper"):
        assert n in nbc.__all__ and hasattr(nbc, n)


def test_pandas_logger_with_module_fit():
    train, val = _data()
    logger = nbc.PandasLogger(batch_size=10, frequent=2)
    mod = _module()
    mx.random.seed(0)
    mod.fit(
        train,
        eval_data=val,
        num_epoch=2,
        optimizer_params={"learning_rate": 0.5},
        eval_metric="acc",
        **logger.callback_args(),
    )
    tdf, edf, pdf = logger.train_df, logger.eval_df, logger.epoch_df
    assert logger.all_dataframes == {"train": tdf, "eval": edf, "epoch": pdf}
    # 5 batches per epoch (nbatch 0..4): a row at 0, 2 and 4 of each epoch.
    assert len(tdf) == 6
    assert tdf["minibatch_count"].tolist() == [0, 2, 4] * 2
    assert tdf["epoch"].tolist() == [0, 0, 0, 1, 1, 1]
    assert set(tdf.columns) == {
        "accuracy",
        "batches_per_sec",
        "records_per_sec",
        "elapsed",
        "minibatch_count",
        "epoch",
    }
    assert all(0.0 <= a <= 1.0 for a in tdf["accuracy"])
    np.testing.assert_allclose(tdf["batches_per_sec"], tdf["records_per_sec"] * 10)
    assert all(isinstance(e, datetime.timedelta) for e in tdf["elapsed"])
    assert list(tdf["elapsed"]) == sorted(tdf["elapsed"])
    # One eval row per epoch; the last one is the final model's validation accuracy.
    assert len(edf) == 2 and edf["epoch"].tolist() == [0, 1]
    val.reset()
    assert edf["accuracy"].iloc[-1] == pytest.approx(dict(mod.score(val, "acc"))["accuracy"])
    assert len(pdf) == 2 and set(pdf.columns) == {"elapsed", "epoch_time"}
    assert all(t >= datetime.timedelta(0) for t in pdf["epoch_time"])


def test_pandas_logger_rows_and_columns():
    logger = nbc.PandasLogger(batch_size=4, frequent=1)
    metric = mx.metric.Accuracy()
    metric.update([mx.nd.array([1, 0])], [mx.nd.array([[0, 1], [0, 1]])])
    param = mx.model.BatchEndParam(epoch=3, nbatch=7, eval_metric=metric, locals=None)
    logger.eval_cb(param)
    assert logger.eval_df["accuracy"].tolist() == [0.5]
    assert metric.num_inst == 0  # reset after logging, as MXNet
    logger.append_metrics({"accuracy": 1.0, "extra": 2}, "eval")
    assert logger.eval_df["extra"].tolist() == [None, 2]
    logger.epoch_cb()  # MXNet's form (no arguments) still works
    assert len(logger.epoch_df) == 1


def test_args_wrapper():
    a, b = nbc.PandasLogger(10), nbc.PandasLogger(10)
    out = nbc.args_wrapper(a, b)
    assert out == {
        "batch_end_callback": [a.train_cb, b.train_cb],
        "eval_end_callback": [a.eval_cb, b.eval_cb],
        "epoch_end_callback": [a.epoch_cb, b.epoch_cb],
    }
    train, val = _data()
    _module().fit(train, eval_data=val, num_epoch=1, **out)
    assert len(a.train_df) == len(b.train_df) == 1 and len(a.eval_df) == len(b.eval_df) == 1


@pytest.mark.skipif(importlib.util.find_spec("bokeh") is not None, reason="bokeh is installed")
@pytest.mark.parametrize("make", [lambda: nbc.LiveLearningCurve("accuracy"), lambda: nbc.LiveTimeSeries()])
def test_charts_without_bokeh_say_so(make):
    with pytest.raises(ImportError, match="bokeh, which is not installed: pip install bokeh") as info:
        make()
    assert isinstance(info.value, mx.base.MXNetError)


class _Glyph:
    def __init__(self, xs, ys, kw):
        self.xs, self.ys, self.kw, self.visible = xs, ys, kw, True


class _Figure:
    def __init__(self, **kw):
        self.kw, self.glyphs = kw, []
        self.legend = types.SimpleNamespace(location=None)
        self.yaxis = types.SimpleNamespace(axis_label=None)

    def line(self, xs, ys, **kw):
        self.glyphs.append(_Glyph(xs, ys, kw))
        return self.glyphs[-1]

    scatter = line


@pytest.fixture
def fake_bokeh(monkeypatch):
    """A stand-in for bokeh recording what the charts draw and push."""
    pushes = []
    bokeh = types.ModuleType("bokeh")
    bokeh.__version__ = "3.4.0"
    io = types.ModuleType("bokeh.io")
    io.output_notebook = lambda: None
    io.push_notebook = lambda handle: pushes.append(handle)
    plotting = types.ModuleType("bokeh.plotting")
    plotting.figure = _Figure
    plotting.show = lambda fig, notebook_handle: ("handle", fig)
    bokeh.io, bokeh.plotting = io, plotting
    for name, mod in (("bokeh", bokeh), ("bokeh.io", io), ("bokeh.plotting", plotting)):
        monkeypatch.setitem(sys.modules, name, mod)
    return pushes


def test_live_learning_curve_with_fit(fake_bokeh):
    chart = nbc.LiveLearningCurve("accuracy", display_freq=0, frequent=2)
    assert chart.fig.kw == {"x_axis_type": "datetime", "x_axis_label": "Training time"}
    assert chart.fig.yaxis.axis_label == "accuracy" and chart.fig.legend.location == "bottom_right"
    assert chart.train1.kw["legend_label"] == "train" and chart.train2.visible is False
    assert isinstance(chart.pandas_logger, nbc.PandasLogger) and chart.pandas_logger.frequent == 2
    train, val = _data()
    _module().fit(train, eval_data=val, num_epoch=2, **chart.callback_args())
    assert len(chart.x_axis_val1) == len(chart.y_axis_val1) == 6  # nbatch 0, 2, 4 of 2 epochs
    assert len(chart.x_axis_val2) == len(chart.y_axis_val2) == 2  # one per evaluation
    assert chart.train1.ys is chart.y_axis_val1 and all(0 <= v <= 1 for v in chart.y_axis_val2)
    assert fake_bokeh and all(h == chart.handle for h in fake_bokeh)


def test_live_time_series(fake_bokeh):
    chart = nbc.LiveTimeSeries(title="loss")
    assert chart.fig.kw == {"x_axis_type": "datetime", "x_axis_label": "Elapsed time", "title": "loss"}
    chart.update_chart_data(0.5)
    chart.update_chart_data(0.25)
    assert chart.y_axis_val == [0.5, 0.25] and len(fake_bokeh) == 2
    assert chart.fig.glyphs[0].ys is chart.y_axis_val


def test_base_chart_is_abstract(fake_bokeh):
    with pytest.raises(NotImplementedError, match="must be sub-classed"):
        nbc.LiveBokehChart(None, "accuracy", batch_size=4)

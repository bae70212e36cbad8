"""Visualization callbacks for notebooks (MXNet 1.9.1's ``mx.notebook.callback``).

:class:`PandasLogger` records training metrics into three pandas DataFrames (``train_df`` every
``frequent`` batches, ``eval_df`` after each evaluation, ``epoch_df`` per epoch)::

    logger = mx.notebook.callback.PandasLogger(batch_size=32, frequent=10)
    mod.fit(train, eval_data=val, num_epoch=5, **logger.callback_args())
    logger.train_df                       # accuracy, batches_per_sec, elapsed, epoch...

:class:`LiveLearningCurve` and :class:`LiveTimeSeries` (on :class:`LiveBokehChart`) draw live
bokeh charts in Jupyter. pandas and bokeh are imported when an object is made; without them
the constructor raises :class:`MissingDependency` (an ``ImportError`` and an ``MXNetError``)
naming the package to install.

Differences from MXNet 1.9.1, whose versions fail there: ``epoch_cb`` accepts the arguments
``fit`` passes to an epoch-end callback; ``LiveLearningCurve`` passes ``frequent`` as
``frequent`` (MXNet passes it as the batch size); the charts use bokeh's current names
(``figure``, ``legend_label``) when the old ones (``Figure``, ``legend``) are gone.
"""

import datetime
import importlib
import time
import warnings
from collections import defaultdict
from typing import Any

from mxrs.base import MXNetError

__all__ = ["PandasLogger", "LiveBokehChart", "LiveTimeSeries", "LiveLearningCurve", "args_wrapper"]


class MissingDependency(MXNetError, ImportError):
    """A package a notebook callback needs (pandas, bokeh) is not installed."""


def _pandas():
    try:
        pandas = importlib.import_module("pandas")  # optional, imported when a logger is made
    except ImportError as e:
        raise MissingDependency(
            "mx.notebook.callback.PandasLogger needs pandas, which is not installed: pip install pandas"
        ) from e
    return pandas


def _bokeh(what):
    try:
        # Optional, imported when a chart is made.
        bokeh = importlib.import_module("bokeh")
        importlib.import_module("bokeh.io")
        importlib.import_module("bokeh.plotting")
    except ImportError as e:
        raise MissingDependency(
            f"mx.notebook.callback.{what} draws with bokeh, which is not installed: pip install bokeh"
        ) from e
    return bokeh


def _figure(bokeh, **kwargs):
    make = getattr(bokeh.plotting, "Figure", None) or bokeh.plotting.figure
    return make(**kwargs)


def _legend(bokeh, label):
    """The keyword giving a glyph's legend label (``legend`` before bokeh 1.4 / 3.0)."""
    parts = str(getattr(bokeh, "__version__", "3.0")).split(".")
    version = tuple(int(p) if p.isdigit() else 0 for p in (parts + ["0"])[:2])
    return {"legend": label} if version < (1, 4) else {"legend_label": label}


def _add_new_columns(dataframe, metrics):
    """Add a column (of None) to ``dataframe`` for each key of ``metrics`` it lacks."""
    new_columns = set(metrics.keys()) - set(dataframe.columns)
    for col in sorted(new_columns):
        dataframe[col] = None


def _extend(baseData, newData):
    """Append the items of ``newData`` past ``len(baseData)`` to ``baseData``."""
    baseData.extend(newData[len(baseData) :])


class PandasLogger:
    """Log training statistics into pandas DataFrames: ``train`` (every ``frequent`` batches),
    ``eval`` (after each evaluation) and ``epoch`` (timing per epoch).

    ``batch_size``: the batch size of the data; ``frequent``: batches between two train rows.
    """

    def __init__(self, batch_size, frequent=50):
        pd = _pandas()
        self.batch_size = batch_size
        self.frequent = frequent
        self._dataframes = {"train": pd.DataFrame(), "eval": pd.DataFrame(), "epoch": pd.DataFrame()}
        self.last_time = time.time()
        self.start_time = datetime.datetime.now()
        self.last_epoch_time = datetime.datetime.now()

    @property
    def train_df(self):
        """Training metrics, one row every ``frequent`` batches."""
        return self._dataframes["train"]

    @property
    def eval_df(self):
        """Validation metrics, one row per evaluation (end of each epoch)."""
        return self._dataframes["eval"]

    @property
    def epoch_df(self):
        """Timing per epoch (``elapsed``, ``epoch_time``)."""
        return self._dataframes["epoch"]

    @property
    def all_dataframes(self):
        """The dict of the three DataFrames."""
        return self._dataframes

    def elapsed(self):
        """Time since the logger was made (a ``datetime.timedelta``)."""
        return datetime.datetime.now() - self.start_time

    def append_metrics(self, metrics, df_name):
        """Append the dict ``metrics`` as a row of DataFrame ``df_name`` (new keys become
        columns)."""
        dataframe = self._dataframes[df_name]
        _add_new_columns(dataframe, metrics)
        with warnings.catch_warnings():
            # pandas 2 warns about rows whose values are all None in a column; the row is right.
            warnings.simplefilter("ignore", FutureWarning)
            dataframe.loc[len(dataframe)] = metrics

    def train_cb(self, param):
        """Batch-end callback: a train row every ``frequent`` batches."""
        if param.nbatch % self.frequent == 0:
            self._process_batch(param, "train")

    def eval_cb(self, param):
        """Eval-end callback: an eval row."""
        self._process_batch(param, "eval")

    def _process_batch(self, param, dataframe):
        """Append a row of ``param.eval_metric``'s values (then reset it) and the speed."""
        now = time.time()
        if param.eval_metric is not None:
            metrics = dict(param.eval_metric.get_name_value())
            param.eval_metric.reset()
        else:
            metrics = {}
        try:
            speed = self.frequent / (now - self.last_time)
        except ZeroDivisionError:
            speed = float("inf")
        # MXNet's names, kept as they are (the two speeds are swapped there too).
        metrics["batches_per_sec"] = speed * self.batch_size
        metrics["records_per_sec"] = speed
        metrics["elapsed"] = self.elapsed()
        metrics["minibatch_count"] = param.nbatch
        metrics["epoch"] = param.epoch
        self.append_metrics(metrics, dataframe)
        self.last_time = now

    def epoch_cb(self, *_args):
        """Epoch-end callback: an epoch row with the elapsed and epoch times (``fit``'s
        ``(epoch, symbol, arg_params, aux_params)`` are accepted and ignored)."""
        metrics = {"elapsed": self.elapsed()}
        now = datetime.datetime.now()
        metrics["epoch_time"] = now - self.last_epoch_time
        self.append_metrics(metrics, "epoch")
        self.last_epoch_time = now

    def callback_args(self):
        """The keyword arguments of ``fit`` that install every callback:
        ``mod.fit(train, eval_data=val, **logger.callback_args())``."""
        return {
            "batch_end_callback": self.train_cb,
            "eval_end_callback": self.eval_cb,
            "epoch_end_callback": self.epoch_cb,
        }


class LiveBokehChart:
    """A bokeh chart in a Jupyter notebook, updated as training proceeds (abstract: subclasses
    define :meth:`setup_chart` and :meth:`update_chart_data`). Needs bokeh."""

    def __init__(self, pandas_logger, metric_name, display_freq=10, batch_size=None, frequent=50):
        self._bokeh = _bokeh(type(self).__name__)
        if pandas_logger:
            self.pandas_logger = pandas_logger
        else:
            self.pandas_logger = PandasLogger(batch_size=batch_size, frequent=frequent)
        self.display_freq = display_freq
        self.last_update = time.time()
        self.metric_name = metric_name
        self._bokeh.io.output_notebook()
        self.handle = self.setup_chart()

    def setup_chart(self):
        """Render the bokeh object and return a handle to it."""
        raise NotImplementedError("Incomplete base class: LiveBokehChart must be sub-classed")

    def update_chart_data(self):
        """Update the bokeh object with new data."""
        raise NotImplementedError("Incomplete base class: LiveBokehChart must be sub-classed")

    def interval_elapsed(self):
        """Whether ``display_freq`` seconds passed since the last update."""
        return time.time() - self.last_update > self.display_freq

    def _push_render(self):
        self._bokeh.io.push_notebook(handle=self.handle)
        self.last_update = time.time()

    def _do_update(self):
        self.update_chart_data()
        self._push_render()

    def batch_cb(self, param):
        """Batch-end callback: redraw every ``display_freq`` seconds."""
        if self.interval_elapsed():
            self._do_update()

    def eval_cb(self, param):
        """Eval-end callback: redraw now."""
        self._do_update()

    def callback_args(self):
        """The keyword arguments of ``fit`` that install the callbacks."""
        return {"batch_end_callback": self.batch_cb, "eval_end_callback": self.eval_cb}


class LiveTimeSeries(LiveBokehChart):
    """A live line of values against the elapsed time."""

    def __init__(self, **fig_params):
        bokeh = _bokeh("LiveTimeSeries")
        self.fig = _figure(bokeh, x_axis_type="datetime", x_axis_label="Elapsed time", **fig_params)
        super().__init__(None, None)

    def setup_chart(self):
        """Draw the (empty) line and show the figure."""
        self.start_time = datetime.datetime.now()
        self.x_axis_val: list[Any] = []
        self.y_axis_val: list[Any] = []
        self.fig.line(self.x_axis_val, self.y_axis_val)
        return self._bokeh.plotting.show(self.fig, notebook_handle=True)

    def elapsed(self):
        """Time since the chart was made."""
        return datetime.datetime.now() - self.start_time

    def update_chart_data(self, value=None):
        """Add ``value`` at the elapsed time (none when None: the periodic redraw) and redraw."""
        if value is None:
            return
        self.x_axis_val.append(self.elapsed())
        self.y_axis_val.append(value)
        self._push_render()


class LiveLearningCurve(LiveBokehChart):
    """A live learning curve of metric ``metric_name``: training values (every ``frequent``
    batches) and validation values (each evaluation) against the training time."""

    def __init__(self, metric_name, display_freq=10, frequent=50):
        self.frequent = frequent
        self.start_time = datetime.datetime.now()
        self._data: dict[str, dict[str, list[Any]]] = {"train": {"elapsed": []}, "eval": {"elapsed": []}}
        super().__init__(None, metric_name, display_freq, frequent=frequent)

    def setup_chart(self):
        """Draw the train and validation lines and show the figure."""
        bokeh = self._bokeh
        self.fig = _figure(bokeh, x_axis_type="datetime", x_axis_label="Training time")
        self.x_axis_val1: list[Any] = []
        self.y_axis_val1: list[Any] = []
        self.train1 = self.fig.line(
            self.x_axis_val1, self.y_axis_val1, line_dash="dotted", alpha=0.3, **_legend(bokeh, "train")
        )
        self.train2 = self.fig.scatter(
            self.x_axis_val1, self.y_axis_val1, size=1.5, line_alpha=0.3, fill_alpha=0.3, **_legend(bokeh, "train")
        )
        self.train2.visible = False
        self.x_axis_val2: list[Any] = []
        self.y_axis_val2: list[Any] = []
        self.valid1 = self.fig.line(
            self.x_axis_val2, self.y_axis_val2, line_color="green", line_width=2, **_legend(bokeh, "validation")
        )
        self.valid2 = self.fig.scatter(self.x_axis_val2, self.y_axis_val2, line_color="green", line_width=2)
        self.fig.legend.location = "bottom_right"
        self.fig.yaxis.axis_label = self.metric_name
        return bokeh.plotting.show(self.fig, notebook_handle=True)

    def _do_update(self):
        self.update_chart_data()
        self._push_render()

    def batch_cb(self, param):
        """Batch-end callback: record every ``frequent`` batches, redraw every
        ``display_freq`` seconds."""
        if param.nbatch % self.frequent == 0:
            self._process_batch(param, "train")
        if self.interval_elapsed():
            self._do_update()

    def eval_cb(self, param):
        """Eval-end callback: record and redraw now."""
        self._process_batch(param, "eval")
        self._do_update()

    def _process_batch(self, param, df_name):
        if param.eval_metric is not None:
            metrics = dict(param.eval_metric.get_name_value())
            param.eval_metric.reset()
        else:
            metrics = {}
        metrics["elapsed"] = datetime.datetime.now() - self.start_time
        for key, value in metrics.items():
            self._data[df_name].setdefault(key, []).append(value)

    def update_chart_data(self):
        """Copy the recorded values not drawn yet into the lines."""
        dataframe = self._data["train"]
        if len(dataframe["elapsed"]):
            _extend(self.x_axis_val1, dataframe["elapsed"])
            _extend(self.y_axis_val1, dataframe[self.metric_name])
        dataframe = self._data["eval"]
        if len(dataframe["elapsed"]):
            _extend(self.x_axis_val2, dataframe["elapsed"])
            _extend(self.y_axis_val2, dataframe[self.metric_name])
        if len(dataframe) > 10:
            self.train1.visible = False
            self.train2.visible = True


def args_wrapper(*args):
    """The ``fit`` keyword arguments for several callback objects (PandasLogger,
    LiveLearningCurve...): each keyword gets the list of their callbacks."""
    out = defaultdict(list)
    for callback in args:
        for k, v in callback.callback_args().items():
            out[k].append(v)
    return dict(out)

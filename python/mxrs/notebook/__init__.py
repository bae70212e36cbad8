"""MXNet's notebook helpers (``mx.notebook``): training callbacks that log metrics into pandas
DataFrames (:class:`~mxrs.notebook.callback.PandasLogger`) and draw live bokeh charts in a
Jupyter notebook (:class:`~mxrs.notebook.callback.LiveLearningCurve`). pandas and bokeh are
imported only when such an object is made."""

from mxrs.notebook import callback

__all__ = ["callback"]

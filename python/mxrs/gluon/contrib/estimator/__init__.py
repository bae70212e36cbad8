"""``mx.gluon.contrib.estimator``: MXNet 1.9.1's Gluon Estimator (a ``fit``/``evaluate`` loop
driven by event handlers)."""

from mxrs.gluon.contrib.estimator import batch_processor, estimator, event_handler, utils
from mxrs.gluon.contrib.estimator.batch_processor import BatchProcessor
from mxrs.gluon.contrib.estimator.estimator import Estimator
from mxrs.gluon.contrib.estimator.event_handler import (
    BatchBegin,
    BatchEnd,
    CheckpointHandler,
    EarlyStoppingHandler,
    EpochBegin,
    EpochEnd,
    GradientUpdateHandler,
    LoggingHandler,
    MetricHandler,
    StoppingHandler,
    TrainBegin,
    TrainEnd,
    ValidationHandler,
)

__all__ = [
    "Estimator",
    "BatchProcessor",
    "TrainBegin",
    "TrainEnd",
    "EpochBegin",
    "EpochEnd",
    "BatchBegin",
    "BatchEnd",
    "StoppingHandler",
    "MetricHandler",
    "ValidationHandler",
    "LoggingHandler",
    "CheckpointHandler",
    "EarlyStoppingHandler",
    "GradientUpdateHandler",
    "batch_processor",
    "estimator",
    "event_handler",
    "utils",
]

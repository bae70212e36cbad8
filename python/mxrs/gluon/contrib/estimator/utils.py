"""Metric checks of the Gluon Estimator (MXNet 1.9.1's ``estimator.utils``)."""

from mxrs.gluon.loss import SoftmaxCrossEntropyLoss
from mxrs.metric import Accuracy, CompositeEvalMetric, EvalMetric


def _check_metrics(metrics):
    """A list of metrics (a CompositeEvalMetric is flattened); ValueError for anything else."""
    if isinstance(metrics, CompositeEvalMetric):
        metrics = [m for metric in metrics.metrics for m in _check_metrics(metric)]
    elif isinstance(metrics, EvalMetric):
        metrics = [metrics]
    else:
        metrics = metrics or []
        if not all(isinstance(metric, EvalMetric) for metric in metrics):
            raise ValueError(
                f"metrics must be a Metric or a list of Metric, refer to mxnet.metric.EvalMetric: {metrics}"
            )
    return metrics


def _check_handler_metric_ref(handler, known_metrics):
    """ValueError when ``handler`` refers (by an attribute named like ``*metric*``) to a metric
    that is neither a training nor a validation metric of the estimator."""
    for attribute in dir(handler):
        if "metric" in attribute:
            reference = getattr(handler, attribute)
            if not reference:
                continue
            for metric in reference if isinstance(reference, list) else [reference]:
                _check_metric_known(handler, metric, known_metrics)


def _check_metric_known(handler, metric, known_metrics):
    if metric not in known_metrics:
        raise ValueError(
            f"Event handler {type(handler).__name__} refers to a metric instance {metric} outside of the known "
            "training and validation metrics. Please use the metrics from estimator.train_metrics and "
            "estimator.val_metrics instead."
        )


def _suggest_metric_for_loss(loss):
    """Accuracy for a softmax cross-entropy loss, else None."""
    if isinstance(loss, SoftmaxCrossEntropyLoss):
        return Accuracy()
    return None

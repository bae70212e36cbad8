"""The base of ``mx.metric``: ``EvalMetric``, label checks and the metric registry."""

import numpy

from mxrs import _registry
from mxrs.ndarray.ndarray import NDArray

__all__ = ["EvalMetric", "check_label_shapes", "register", "alias"]


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Raise ValueError when labels and preds differ in length (or in shape with ``shape``).

    With ``wrap``, a single NDArray is wrapped in a list. Returns ``(labels, preds)``.
    """
    if shape:
        lhs, rhs = labels.shape, preds.shape
    else:
        lhs, rhs = len(labels), len(preds)
    if lhs != rhs:
        raise ValueError(f"Shape of labels {lhs} does not match shape of predictions {rhs}")
    if wrap:
        if isinstance(labels, NDArray):
            labels = [labels]
        if isinstance(preds, NDArray):
            preds = [preds]
    return labels, preds


def _to_numpy(x):
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


class EvalMetric:
    """Base class of metrics.

    Parameters
    ----------
    name : str
        Name shown in logs.
    output_names, label_names : list of str or None
        Which outputs/labels ``update_dict`` passes on (all when None).
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self):
        """A dict from which ``mx.metric.create(**config)`` rebuilds the metric."""
        config = self._kwargs.copy()
        config.update(
            {
                "metric": self.__class__.__name__,
                "name": self.name,
                "output_names": self.output_names,
                "label_names": self.label_names,
            }
        )
        return config

    def update_dict(self, label, pred):
        """Update from name → NDArray dicts, picking ``label_names``/``output_names``."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Accumulate one batch of labels and predictions (lists of NDArray)."""
        raise NotImplementedError()

    def reset(self):
        """Clear local and global statistics."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        """Clear the local statistics only."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self):
        """``(name, value)`` of the local statistics."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self):
        """``(name, value)`` of the global statistics."""
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    def get_name_value(self):
        """A list of ``(name, value)`` pairs."""
        return _zip_pairs(*self.get())

    def get_global_name_value(self):
        """A list of ``(name, value)`` pairs of the global statistics."""
        if not self._has_global_stats:
            return self.get_name_value()
        return _zip_pairs(*self.get_global())

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count


def _zip_pairs(name, value):
    if not isinstance(name, list):
        name = [name]
    if not isinstance(value, list):
        value = [value]
    return list(zip(name, value))


register = _registry.get_register_func(EvalMetric, "metric")
alias = _registry.get_alias_func(EvalMetric, "metric")
_create = _registry.get_create_func(EvalMetric, "metric")

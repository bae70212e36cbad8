"""``mx.metric``: evaluation metrics, computed as MXNet 1.9.1 computes them.

Each metric keeps ``sum_metric`` and ``num_inst`` (and global counterparts that survive
``reset_local``); ``get()`` returns ``(name, sum_metric / num_inst)``, NaN before any update.
Predictions and labels are copied to numpy once per batch (small arrays, so this is cheaper
than a chain of engine ops).
"""

import math
from collections import OrderedDict
from numbers import Number

import numpy

from mxrs import ndarray as nd
from mxrs._metric_base import EvalMetric, _create, _to_numpy, alias, check_label_shapes, register
from mxrs._metric_pcc import PCC
from mxrs.ndarray.ndarray import NDArray

__all__ = [
    "EvalMetric",
    "CompositeEvalMetric",
    "Accuracy",
    "TopKAccuracy",
    "F1",
    "MCC",
    "Perplexity",
    "MAE",
    "MSE",
    "RMSE",
    "CrossEntropy",
    "NegativeLogLikelihood",
    "PearsonCorrelation",
    "PCC",
    "Loss",
    "Torch",
    "Caffe",
    "CustomMetric",
    "check_label_shapes",
    "create",
    "np",
    "register",
    "alias",
]


def create(metric, *args, **kwargs):
    """A metric from a name ('acc', 'ce', ...), an instance, a list of those, or a function.

    A function ``f(label, pred)`` of numpy arrays becomes a :class:`CustomMetric`; a list becomes
    a :class:`CompositeEvalMetric`.
    """
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create(metric, *args, **kwargs)


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; ``get()`` returns lists of names and values."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names, has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric):
        """Add a child metric (anything ``create`` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """The child metric at ``index``."""
        try:
            return self.metrics[index]
        except IndexError:
            return ValueError(f"Metric index {index} is out of range 0 and {len(self.metrics)}")

    def update_dict(self, labels, preds):
        """Pass the (filtered) dicts to each child."""
        if self.label_names is not None:
            labels = OrderedDict([i for i in labels.items() if i[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([i for i in preds.items() if i[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        """Update every child."""
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        """Reset every child."""
        for metric in getattr(self, "metrics", ()):
            metric.reset()

    def reset_local(self):
        """Reset the local statistics of every child."""
        for metric in getattr(self, "metrics", ()):
            metric.reset_local()

    def _collect(self, getter):
        names: list[str] = []
        values: list = []
        for metric in self.metrics:
            name, value = getter(metric)
            names.extend([name] if isinstance(name, str) else name)
            values.extend([value] if isinstance(value, Number) else value)
        return (names, values)

    def get(self):
        """``([names], [values])`` of all children."""
        return self._collect(lambda m: m.get())

    def get_global(self):
        """``([names], [values])`` of all children's global statistics."""
        return self._collect(lambda m: m.get_global())

    def get_config(self):
        """The config, with the children's configs under 'metrics'."""
        config = super().get_config()
        config.update({"metrics": [i.get_config() for i in self.metrics]})
        return config


@register
@alias("acc")
class Accuracy(EvalMetric):
    """Fraction of samples whose predicted class (argmax over ``axis``) equals the label.

    With NDArray inputs the count is computed by engine ops and read back only when
    ``sum_metric`` is read (``get()``, a log line), so training never waits on the metric.
    Labels and predictions are compared as int32, as MXNet does.
    """

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        self._pending = []
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names, has_global_stats=True)
        self.axis = axis

    def _flush(self, keep=0):
        """Read back the counts of all but the ``keep`` newest batches."""
        pending = self.__dict__.get("_pending")
        if pending and len(pending) > keep:
            done = pending[: len(pending) - keep]
            del pending[: len(done)]
            correct = sum(int(c.asscalar()) for c in done)
            self.__dict__["_sum_metric"] += correct
            self.__dict__["_global_sum_metric"] += correct

    @property
    def sum_metric(self):
        """Number of correct predictions since the last (local) reset."""
        self._flush()
        return self.__dict__["_sum_metric"]

    @sum_metric.setter
    def sum_metric(self, value):
        self._flush()
        self.__dict__["_sum_metric"] = value

    @property
    def global_sum_metric(self):
        """Number of correct predictions since the last reset."""
        self._flush()
        return self.__dict__["_global_sum_metric"]

    @global_sum_metric.setter
    def global_sum_metric(self, value):
        self._flush()
        self.__dict__["_global_sum_metric"] = value

    def _update_lazy(self, label, pred):
        # trunc() on floats equals MXNet's cast to int32; argmax gives whole numbers already.
        if pred.shape != label.shape:
            pred = nd.argmax(pred, axis=self.axis)
        else:
            pred = nd.trunc(pred)
        size = pred.size
        if size != label.size:
            raise ValueError(f"Shape of labels {label.size} does not match shape of predictions {size}")
        if label.context != pred.context:
            label = label.as_in_context(pred.context)
        label = nd.trunc(label)
        if label.shape != pred.shape:
            label = label.reshape((size,))
            pred = pred.reshape((size,))
        pending = self._pending
        pending.append(nd.sum(nd.equal(pred, label)))
        if len(pending) > 64:
            self._flush(keep=16)  # batches that old are computed: no wait
        self.num_inst += size
        self.global_num_inst += size

    def update(self, labels, preds):
        """Count correct predictions of one batch."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            if isinstance(pred, NDArray) and isinstance(label, NDArray):
                self._update_lazy(label, pred)
                continue
            pred_np = _to_numpy(pred)
            label_np = _to_numpy(label)
            if pred_np.shape != label_np.shape:
                pred_np = numpy.argmax(pred_np, axis=self.axis)
            pred_np = pred_np.astype("int32").ravel()
            label_np = label_np.astype("int32").ravel()
            check_label_shapes(label_np, pred_np)
            self._add(int((pred_np == label_np).sum()), len(pred_np))


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the ``top_k`` highest predictions."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names, has_global_stats=True)
        self.top_k = top_k
        if self.top_k <= 1:
            raise AssertionError("Please use Accuracy if top_k is no more than 1")
        self.name += f"_{self.top_k}"

    def update(self, labels, preds):
        """Count the samples whose label is in the top k of one batch."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            if len(pred.shape) > 2:
                raise AssertionError("Predictions should be no more than 2 dims")
            order = numpy.argpartition(_to_numpy(pred).astype("float32"), -self.top_k)
            label_np = _to_numpy(label).astype("int32")
            check_label_shapes(label_np, order)
            n = order.shape[0]
            if order.ndim == 1:
                correct = int((order.ravel() == label_np.ravel()).sum())
                self.sum_metric += correct
            else:
                classes = order.shape[1]
                correct = 0
                for j in range(min(classes, self.top_k)):
                    correct += int((order[:, classes - 1 - j].ravel() == label_np.ravel()).sum())
                self.sum_metric += correct
                self.global_sum_metric += correct
            self.num_inst += n
            self.global_num_inst += n


class _BinaryStats:
    """True/false positive/negative counts for binary classification, local and global."""

    _FIELDS = ("true_positives", "false_positives", "false_negatives", "true_negatives")

    def __init__(self):
        self.reset_stats()

    def update_binary_stats(self, label, pred, owner="F1"):
        pred = _to_numpy(pred)
        label = _to_numpy(label).astype("int32")
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError(f"{owner} currently only supports binary classification.")
        pred_true = pred_label == 1
        label_true = label == 1
        counts = (
            int((pred_true & label_true).sum()),
            int((pred_true & ~label_true).sum()),
            int((~pred_true & label_true).sum()),
            int((~pred_true & ~label_true).sum()),
        )
        for field, count in zip(self._FIELDS, counts):
            setattr(self, field, getattr(self, field) + count)
            setattr(self, "global_" + field, getattr(self, "global_" + field) + count)

    def _counts(self, use_global):
        pre = "global_" if use_global else ""
        return [getattr(self, pre + f) for f in self._FIELDS]

    def _fscore(self, use_global):
        tp, fp, fn, _tn = self._counts(use_global)
        precision = tp / (tp + fp) if tp + fp > 0 else 0.0
        recall = tp / (tp + fn) if tp + fn > 0 else 0.0
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.0

    @property
    def fscore(self):
        return self._fscore(False)

    @property
    def global_fscore(self):
        return self._fscore(True)

    def matthewscc(self, use_global=False):
        tp, fp, fn, tn = (float(c) for c in self._counts(use_global))
        if tp + fp + fn + tn == 0:
            return 0.0
        denom = 1.0
        for t in (tp + fp, tp + fn, tn + fp, tn + fn):
            if t != 0.0:
                denom *= t
        return (tp * tn - fp * fn) / math.sqrt(denom)

    @property
    def total_examples(self):
        return sum(self._counts(False))

    @property
    def global_total_examples(self):
        return sum(self._counts(True))

    def local_reset_stats(self):
        for f in self._FIELDS:
            setattr(self, f, 0)

    def reset_stats(self):
        for f in self._FIELDS:
            setattr(self, f, 0)
            setattr(self, "global_" + f, 0)


class _BinaryMetric(EvalMetric):
    """F1 and MCC: a score of the binary counts, per batch ('macro') or overall ('micro')."""

    def __init__(self, name, output_names, label_names, average):
        self.average = average
        self.metrics = _BinaryStats()
        super().__init__(name, output_names=output_names, label_names=label_names, has_global_stats=True)

    def _score(self, use_global):
        raise NotImplementedError()

    def update(self, labels, preds):
        """Accumulate the counts of one batch."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred, type(self).__name__)
        if self.average == "macro":
            self.sum_metric += self._score(False)
            self.global_sum_metric += self._score(True)
            self.num_inst += 1
            self.global_num_inst += 1
            self.metrics.reset_stats()
        else:
            self.sum_metric = self._score(False) * self.metrics.total_examples
            self.global_sum_metric = self._score(True) * self.metrics.global_total_examples
            self.num_inst = self.metrics.total_examples
            self.global_num_inst = self.metrics.global_total_examples

    def reset(self):
        """Clear all statistics."""
        self.sum_metric = 0.0
        self.num_inst = 0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0
        self.metrics.reset_stats()

    def reset_local(self):
        """Clear the local statistics."""
        self.sum_metric = 0.0
        self.num_inst = 0
        self.metrics.local_reset_stats()


@register
class F1(_BinaryMetric):
    """F1 score of binary classification (class 1 positive); ``average`` 'macro' or 'micro'."""

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics._fscore(use_global)


@register
class MCC(_BinaryMetric):
    """Matthews correlation coefficient of binary classification."""

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.matthewscc(use_global)


@register
class Perplexity(EvalMetric):
    """exp(mean negative log-probability of the labels), skipping ``ignore_label``."""

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None, label_names=None):
        super().__init__(
            name, ignore_label=ignore_label, output_names=output_names, label_names=label_names, has_global_stats=True
        )
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        """Accumulate the log-probabilities of one batch."""
        if len(labels) != len(preds):
            raise AssertionError("labels and preds differ in length")
        loss = 0.0
        num = 0
        for label, pred in zip(labels, preds):
            pred_np = _to_numpy(pred)
            label_np = _to_numpy(label).reshape(-1)
            if label_np.size != pred_np.size / pred_np.shape[-1]:
                raise AssertionError(f"shape mismatch: {label.shape} vs. {pred.shape}")
            moved = numpy.moveaxis(pred_np, self.axis, -1).reshape(-1, pred_np.shape[self.axis])
            idx = numpy.clip(label_np.astype("int64"), 0, moved.shape[1] - 1)
            prob = moved[numpy.arange(moved.shape[0]), idx]
            if self.ignore_label is not None:
                ignore = (label_np == self.ignore_label).astype(prob.dtype)
                num -= int(ignore.sum())
                prob = prob * (1 - ignore) + ignore
            loss -= float(numpy.log(numpy.maximum(1e-10, prob)).astype(prob.dtype).sum())
            num += prob.size
        self._add(loss, num)

    def get(self):
        """``(name, exp(sum / num))``."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self):
        """``(name, exp(global sum / global num))``."""
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


def _as_columns(label, pred):
    label = _to_numpy(label)
    pred = _to_numpy(pred)
    if label.ndim == 1:
        label = label.reshape(label.shape[0], 1)
    if pred.ndim == 1:
        pred = pred.reshape(pred.shape[0], 1)
    return label, pred


class _Regression(EvalMetric):
    def __init__(self, name, output_names, label_names):
        super().__init__(name, output_names=output_names, label_names=label_names, has_global_stats=True)

    def _batch(self, diff):
        raise NotImplementedError()

    def update(self, labels, preds):
        """Add the batch's error (one instance per batch, as MXNet counts)."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_columns(label, pred)
            self._add(float(self._batch(label - pred)), 1)


@register
class MAE(_Regression):
    """Mean absolute error, averaged over batches."""

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def _batch(self, diff):
        return numpy.abs(diff).mean()


@register
class MSE(_Regression):
    """Mean squared error, averaged over batches."""

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def _batch(self, diff):
        return (diff**2.0).mean()


@register
class RMSE(_Regression):
    """Root mean squared error of each batch, averaged over batches."""

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    def _batch(self, diff):
        return numpy.sqrt((diff**2.0).mean())


class _LogLoss(EvalMetric):
    def __init__(self, eps, name, output_names, label_names):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names, has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        """Add -log(p[label] + eps) over the batch."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _to_numpy(label).ravel()
            pred = _to_numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise AssertionError("label and pred differ in batch size")
            prob = pred[numpy.arange(label.shape[0]), numpy.int64(label)]
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@register
@alias("ce")
class CrossEntropy(_LogLoss):
    """Mean cross-entropy -log(p[label] + eps) per sample."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("nll_loss")
class NegativeLogLikelihood(_LogLoss):
    """Mean negative log-likelihood per sample."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of labels and predictions, averaged over batches ('macro' only)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        if average != "macro":
            raise NotImplementedError("mxrs supports PearsonCorrelation(average='macro') only")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names, has_global_stats=True)

    def update(self, labels, preds):
        """Add the batch's correlation coefficient."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            check_label_shapes(label, pred, False, True)
            pred_np = _to_numpy(pred).ravel().astype(numpy.float64)
            corr = numpy.corrcoef(pred_np, _to_numpy(label).ravel().astype(numpy.float64))[0, 1]
            self._add(corr, 1)


@register
class Loss(EvalMetric):
    """Mean of the outputs themselves (for nets whose outputs are losses)."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names, has_global_stats=True)

    def update(self, _, preds):
        """Add the sum of every output."""
        if isinstance(preds, NDArray):
            preds = [preds]
        for pred in preds:
            self._add(float(nd.sum(pred).asscalar()), pred.size)


@register
class Torch(Loss):
    """Dummy metric for torch criterions."""

    def __init__(self, name="torch", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """Dummy metric for caffe criterions."""

    def __init__(self, name="caffe", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred)`` on numpy arrays.

    ``feval`` returns a number (one instance) or a ``(sum_metric, num_inst)`` tuple. The name
    defaults to the function's name, ``custom(<lambda>)`` for lambdas.
    """

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None, label_names=None):
        if name is None:
            name = feval.__name__
            if "<" in name:
                name = f"custom({name})"
        super().__init__(
            name,
            feval=feval,
            allow_extra_outputs=allow_extra_outputs,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        """Call ``feval`` on each (label, pred) pair."""
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        for pred, label in zip(preds, labels):
            reval = self._feval(_to_numpy(label), _to_numpy(pred))
            if isinstance(reval, tuple):
                self._add(reval[0], reval[1])
            else:
                self._add(reval, 1)

    def get_config(self):
        """Not serializable."""
        raise NotImplementedError("CustomMetric cannot be serialized")


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """A :class:`CustomMetric` from a function of numpy ``(label, pred)``."""

    def feval(label, pred):
        return numpy_feval(label, pred)

    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)

"""``mx.metric.PCC``: the multiclass Matthews correlation coefficient (MXNet 1.9.1)."""

import numpy

from mxrs._metric_base import EvalMetric, check_label_shapes, register

__all__ = ["PCC"]


@register
class PCC(EvalMetric):
    """The Pearson correlation of a K x K confusion matrix: the multiclass generalisation of
    the Matthews correlation coefficient (equal to ``MCC`` for two classes).

    The confusion matrix grows with the largest class seen (from 2). Predictions are class
    scores (their argmax is taken) or, when shaped as the labels, class indices. ``get()`` is
    NaN while a row or column total of the matrix is constant (one class only).
    """

    def __init__(self, name="pcc", output_names=None, label_names=None, has_global_stats=True):
        self.k = 2
        super().__init__(
            name=name, output_names=output_names, label_names=label_names, has_global_stats=has_global_stats
        )

    lcm: numpy.ndarray
    gcm: numpy.ndarray

    def _grow(self, inc):
        inc = int(inc)
        self.lcm = numpy.pad(self.lcm, ((0, inc), (0, inc)), "constant", constant_values=0)
        self.gcm = numpy.pad(self.gcm, ((0, inc), (0, inc)), "constant", constant_values=0)
        self.k += inc

    @staticmethod
    def _calc_mcc(cmat):
        n = cmat.sum()
        x = cmat.sum(axis=1)
        y = cmat.sum(axis=0)
        cov_xx = numpy.sum(x * (n - x))
        cov_yy = numpy.sum(y * (n - y))
        if cov_xx == 0 or cov_yy == 0:
            return float("nan")
        cov_xy = numpy.sum(cmat.diagonal() * n - x * y)
        return cov_xy / (cov_xx * cov_yy) ** 0.5

    def update(self, labels, preds):
        """Add a batch to the confusion matrix."""
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=False):
            label = label.astype("int32", copy=False).asnumpy()
            pred = pred.asnumpy()
            pred = pred.argmax(axis=1) if pred.shape != label.shape else pred.astype("int32", copy=False)
            n = max(pred.max(), label.max())
            if n >= self.k:
                self._grow(n + 1 - self.k)
            bcm = numpy.zeros((self.k, self.k))
            for i, j in zip(pred, label, strict=False):
                bcm[i, j] += 1
            self.lcm += bcm
            self.gcm += bcm
        self.num_inst += 1
        self.global_num_inst += 1

    @property
    def sum_metric(self):
        """The coefficient of the local matrix, times the number of updates."""
        return self._calc_mcc(self.lcm) * self.num_inst

    @sum_metric.setter
    def sum_metric(self, _value):
        pass  # computed from the confusion matrix; EvalMetric's resets assign it

    @property
    def global_sum_metric(self):
        """The coefficient of the global matrix, times the number of updates."""
        return self._calc_mcc(self.gcm) * self.global_num_inst

    @global_sum_metric.setter
    def global_sum_metric(self, _value):
        pass

    def reset(self):
        """Clear both confusion matrices."""
        self.global_num_inst = 0
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        """Clear the local confusion matrix."""
        self.num_inst = 0
        self.lcm = numpy.zeros((self.k, self.k))

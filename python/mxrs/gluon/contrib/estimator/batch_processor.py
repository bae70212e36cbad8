"""How the Gluon Estimator runs one batch (MXNet 1.9.1's ``estimator.batch_processor``)."""

from mxrs import autograd
from mxrs.gluon.utils import split_and_load

__all__ = ["BatchProcessor"]


class BatchProcessor:
    """Runs one training batch (``fit_batch``: forward and backward under ``autograd.record``)
    or one validation batch (``evaluate_batch``); subclass it to customise either."""

    def _get_data_and_label(self, batch, ctx, batch_axis=0):
        data = split_and_load(batch[0], ctx_list=ctx, batch_axis=batch_axis)
        label = split_and_load(batch[1], ctx_list=ctx, batch_axis=batch_axis)
        return data, label

    def evaluate_batch(self, estimator, val_batch, batch_axis=0):
        """(data, label, pred, loss) of ``estimator.val_net`` on one batch, per device."""
        data, label = self._get_data_and_label(val_batch, estimator.context, batch_axis)
        pred = [estimator.val_net(x) for x in data]
        loss = [estimator.val_loss(y_hat, y) for y_hat, y in zip(pred, label)]
        return data, label, pred, loss

    def fit_batch(self, estimator, train_batch, batch_axis=0):
        """(data, label, pred, loss) of ``estimator.net`` on one batch, gradients computed."""
        data, label = self._get_data_and_label(train_batch, estimator.context, batch_axis)
        with autograd.record():
            pred = [estimator.net(x) for x in data]
            loss = [estimator.loss(y_hat, y) for y_hat, y in zip(pred, label)]
        for lo in loss:
            lo.backward()
        return data, label, pred, loss

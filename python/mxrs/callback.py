"""``mx.callback``: batch-end and epoch-end callbacks for ``fit`` (log lines as MXNet's).

Batch-end callbacks receive a ``mx.model.BatchEndParam(epoch, nbatch, eval_metric, locals)``;
epoch-end callbacks are called as ``cb(epoch, symbol, arg_params, aux_params)``.
"""

import logging
import math
import time

from mxrs._training import save_checkpoint

__all__ = [
    "module_checkpoint",
    "do_checkpoint",
    "log_train_metric",
    "Speedometer",
    "ProgressBar",
    "LogValidationMetricsCallback",
]


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """An epoch-end callback calling ``mod.save_checkpoint(prefix, epoch + 1, ...)`` every ``period``."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)

    return _callback


def do_checkpoint(prefix, period=1):
    """An epoch-end callback saving ``prefix-symbol.json`` and ``prefix-%04d.params`` (1-based)."""
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)

    return _callback


def log_train_metric(period, auto_reset=False):
    """A batch-end callback logging ``Iter[e] Batch[n] Train-<name>=<value>`` every ``period``."""

    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name, value)
            if auto_reset:
                param.eval_metric.reset_local()

    return _callback


class Speedometer:
    """Logs samples/s and the training metric every ``frequent`` batches.

    The first call starts the timer; a later call with ``nbatch % frequent == 0`` logs
    ``Epoch[E] Batch [S-N]\\tSpeed: X samples/sec\\t<name>=<value>`` and, with ``auto_reset``,
    resets the metric's local statistics. A smaller ``nbatch`` (a new epoch) restarts the timer.
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = frequent
        self.init = False
        self.tic = 0.0
        self.last_count = 0
        self.auto_reset = auto_reset

    def __call__(self, param):
        """Log speed when ``param.nbatch`` is a multiple of ``frequent``."""
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent != 0:
            return
        try:
            speed = self.frequent * self.batch_size / (time.time() - self.tic)
        except ZeroDivisionError:
            speed = float("inf")
        metric = param.eval_metric
        if metric is not None:
            name_value = metric.get_name_value()
            flat = [x for pair in name_value for x in pair]
            fields = "\t%s=%f" * len(name_value)
            if self.auto_reset:
                metric.reset_local()
                msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec" + fields
                logging.info(msg, param.epoch, count - self.frequent, count, speed, *flat)
            else:
                msg = "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec" + fields
                logging.info(msg, param.epoch, count, speed, *flat)
        else:
            logging.info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch, count, speed)
        self.tic = time.time()


class ProgressBar:
    """Logs ``[====----] P%`` for the share of ``total`` batches done in the epoch."""

    def __init__(self, total, length=80):
        self.bar_len = length
        self.total = total

    def __call__(self, param):
        """Log the bar for ``param.nbatch``."""
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        bar = "=" * filled + "-" * (self.bar_len - filled)
        logging.info("[%s] %s%s\r", bar, percents, "%")


class LogValidationMetricsCallback:
    """Logs ``Epoch[e] Validation-<name>=<value>`` at the end of evaluation."""

    def __call__(self, param):
        """Log each metric value."""
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            logging.info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)

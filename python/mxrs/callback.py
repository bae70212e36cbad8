"""``mx.callback``: batch-end and epoch-end callbacks for ``fit`` (log lines as MXNet's).

Batch-end callbacks receive a ``mx.model.BatchEndParam(epoch, nbatch, eval_metric, locals)``;
epoch-end callbacks are called as ``cb(epoch, symbol, arg_params, aux_params)``.
"""

import logging
import math
import os
import sys
import time

from mxrs._training import save_checkpoint

__all__ = [
    "module_checkpoint",
    "do_checkpoint",
    "log_train_metric",
    "Speedometer",
    "ProgressBar",
    "LogValidationMetricsCallback",
    "MetricHistory",
]


def is_terminal(stream=None):
    """Whether progress goes to a terminal (then bars are drawn; otherwise plain log lines).

    ``MXRS_PROGRESS=0`` or ``1`` forces either.
    """
    forced = os.environ.get("MXRS_PROGRESS", "")
    if forced in ("0", "1"):
        return forced == "1"
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM", "") != "dumb"


class ProgressLine:
    """A progress bar redrawn in place on a terminal, in tqdm's look:
    ``Epoch 3:  45%|████▌     | 9/20 [00:01<00:01, 8.50 batch/s, accuracy=0.912]``.
    Without a known total it shows the count and the rate only.
    """

    def __init__(self, stream=None, width=20, min_interval=0.1):
        self.stream = stream
        self.width = width
        self.min_interval = min_interval
        self.last_draw = 0.0
        self.drawn = False

    @staticmethod
    def _clock(sec):
        m, s = divmod(int(sec), 60)
        return f"{m:02d}:{s:02d}"

    def render(self, desc, n, total, elapsed, postfix=""):
        """The bar's text."""
        rate = n / elapsed if elapsed > 0 else 0.0
        tail = f"{rate:.2f} batch/s" + (f", {postfix}" if postfix else "")
        if not total:
            return f"{desc}: {n} batch [{self._clock(elapsed)}, {tail}]"
        frac = min(1.0, n / total)
        eighths = int(frac * self.width * 8)
        bar = "█" * (eighths // 8) + ("" if eighths // 8 == self.width else " ▏▎▍▌▋▊▉"[eighths % 8])
        left = (total - n) / rate if rate > 0 else 0.0
        return (
            f"{desc}: {frac * 100:3.0f}%|{bar.ljust(self.width)}| {n}/{total} "
            f"[{self._clock(elapsed)}<{self._clock(left)}, {tail}]"
        )

    def update(self, desc, n, total, elapsed, postfix="", force=False):
        """Redraw (at most every ``min_interval`` seconds unless ``force``)."""
        now = time.time()
        if not force and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        stream = sys.stderr if self.stream is None else self.stream
        stream.write("\r" + self.render(desc, n, total, elapsed, postfix) + "\x1b[K")
        stream.flush()
        self.drawn = True

    def close(self):
        """End the line (the bar stays on screen)."""
        if self.drawn:
            stream = sys.stderr if self.stream is None else self.stream
            stream.write("\n")
            stream.flush()
            self.drawn = False


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
        self.bar = ProgressLine() if is_terminal() else None
        self.epoch_start = 0.0
        self.epoch_batches = None

    def _draw(self, bar, param):
        """Terminal mode: one bar per epoch, its total the previous epoch's batch count."""
        count = param.nbatch
        if self.last_count > count or not self.init:
            if self.init:
                self.epoch_batches = self.last_count
                bar.close()
            self.init = True
            self.epoch_start = time.time()
        self.last_count = count
        metric = param.eval_metric
        post = ", ".join(f"{n}={v:.4g}" for n, v in metric.get_name_value()) if metric is not None else ""
        done = self.epoch_batches is not None and count >= self.epoch_batches
        bar.update(f"Epoch {param.epoch}", count, self.epoch_batches, time.time() - self.epoch_start, post, done)

    def __call__(self, param):
        """Log speed when ``param.nbatch`` is a multiple of ``frequent`` (a bar on a terminal)."""
        if self.bar is not None:
            self._draw(self.bar, param)
            return
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


class MetricHistory:
    """Records the metrics of each epoch, and draws them as training curves.

    Pass it as a batch-end callback (it keeps the training metric's value at the last batch of
    each epoch) and its :meth:`eval_end` as the eval-end callback (validation values)::

        hist = mx.callback.MetricHistory()
        mod.fit(train, eval_data=val, batch_end_callback=hist, eval_end_callback=hist.eval_end, ...)
        hist.history   # {"train-accuracy": [...], "validation-accuracy": [...]}, one value per epoch
        hist.plot("curves.png")
    """

    def __init__(self):
        self.history = {}
        self._epoch_values = {}
        self._epoch = None

    def _flush(self):
        for name, value in self._epoch_values.items():
            self.history.setdefault(name, []).append(value)
        self._epoch_values = {}

    def __call__(self, param):
        """Batch-end: remember the training metric of ``param.epoch``."""
        if self._epoch is not None and param.epoch != self._epoch:
            self._flush()
        self._epoch = param.epoch
        if param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                self._epoch_values[f"train-{name}"] = float(value)

    def eval_end(self, param):
        """Eval-end: record the validation metric of the epoch just trained."""
        self._flush()
        if param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                self.history.setdefault(f"validation-{name}", []).append(float(value))

    def finish(self):
        """Record the last epoch's training values (done by :meth:`plot` and :meth:`eval_end`)."""
        self._flush()
        return self.history

    def plot(self, fname, title="training curves"):
        """Save the curves as an image (matplotlib): one line per metric, by epoch."""
        from matplotlib.figure import Figure  # optional dependency
        from matplotlib.ticker import MaxNLocator

        self.finish()
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for name, values in sorted(self.history.items()):
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("metric value")
        ax.set_title(title)
        ax.legend()
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(fname)
        return fname

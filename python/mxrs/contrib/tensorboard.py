"""``mx.contrib.tensorboard``: ``LogMetricsCallback``, which logs a training's metrics as
TensorBoard scalars (MXNet 1.x's callback).

MXNet 1.9.1 writes with ``mxboard``'s ``SummaryWriter``; mxrs takes the first writer that can be
imported among ``mxboard``, ``tensorboardX`` and ``torch.utils.tensorboard`` (all three have
``add_scalar(tag, value, global_step)`` and write TensorBoard event files), and raises an
ImportError naming them when none is installed.
"""

import importlib

__all__ = ["LogMetricsCallback"]

_INSTALL_HINT = (
    "LogMetricsCallback needs a TensorBoard event writer: install one of `tensorboardX` (pip install tensorboardX), "
    "`mxboard` (pip install mxboard) or PyTorch with `tensorboard` (pip install torch tensorboard)"
)


def _summary_writer_class():
    """The first SummaryWriter class that imports: mxboard's (MXNet's own), tensorboardX's,
    then PyTorch's."""
    errors = []
    for name in ("mxboard", "tensorboardX", "torch.utils.tensorboard"):
        try:
            return importlib.import_module(name).SummaryWriter
        except ImportError as e:
            errors.append(f"{name}: {e}")
        except TypeError as e:  # mxboard's old generated protobuf modules on a new protobuf
            errors.append(f"{name}: {e}")
    raise ImportError(f"{_INSTALL_HINT} ({'; '.join(errors)})")


class LogMetricsCallback:
    """Logs the metrics of a training in TensorBoard event files (a batch-end or eval-end
    callback, as ``callback.Speedometer`` is).

    Each call writes every ``(name, value)`` of ``param.eval_metric.get_name_value()`` as the
    scalar ``name`` (``prefix-name`` with a ``prefix``) at step ``param.epoch``; a call whose
    ``eval_metric`` is None writes nothing. View them with ``tensorboard --logdir=...``.

    Parameters
    ----------
    logging_dir : str
        The directory of the event files.
    prefix : str, optional
        Prefix of the scalar names, e.g. to tell training and evaluation metrics apart when
        they are logged into one directory.

    Examples
    --------
    >>> batch_end_callbacks = [mx.contrib.tensorboard.LogMetricsCallback('logs/train')]
    >>> eval_end_callbacks = [mx.contrib.tensorboard.LogMetricsCallback('logs/eval')]
    >>> model.fit(train, batch_end_callback=batch_end_callbacks, eval_end_callback=eval_end_callbacks)
    """

    def __init__(self, logging_dir, prefix=None):
        self.prefix = prefix
        self.summary_writer = _summary_writer_class()(logging_dir)

    def __call__(self, param):
        """Writes the metrics of ``param`` (a ``BatchEndParam``)."""
        if param.eval_metric is None:
            return
        for name, value in param.eval_metric.get_name_value():
            if self.prefix is not None:
                name = f"{self.prefix}-{name}"
            self.summary_writer.add_scalar(name, value, global_step=param.epoch)

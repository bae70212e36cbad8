"""Engine knobs, as MXNet 1.9.1's ``mx.engine``.

mxrs's engine has no operator bulking (MXNet's ``MXNET_EXEC_BULK_EXEC_*`` knobs): every
operator is pushed and scheduled on its own. :func:`set_bulk_size` and :func:`bulk` are
accepted for compatibility, remember the value (so that they return and restore it as MXNet
does) and are otherwise ignored by the scheduler: results and ordering are the same at any
bulk size.
"""

import contextlib

__all__ = ["bulk", "set_bulk_size"]

_BULK_SIZE = [0]


def set_bulk_size(size):
    """Set the size limit of bulked execution and return the previous one. Accepted and
    ignored by mxrs's scheduler (which has no bulking); the value is only remembered."""
    size = int(size)
    prev = _BULK_SIZE[0]
    _BULK_SIZE[0] = size
    return prev


@contextlib.contextmanager
def bulk(size):
    """Context manager: ``set_bulk_size(size)`` inside the block, restoring the previous value
    on exit. Accepted and ignored by the scheduler (see :func:`set_bulk_size`)."""
    prev = set_bulk_size(size)
    try:
        yield
    finally:
        set_bulk_size(prev)

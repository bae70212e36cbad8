"""MXNet 1.9.1's ``gluon.contrib.data.sampler``."""

from mxrs.base import MXNetError
from mxrs.gluon.data import sampler

__all__ = ["IntervalSampler"]


class IntervalSampler(sampler.Sampler):
    """Indices of ``[0, length)`` every ``interval`` steps; with ``rollover`` it starts again
    from each skipped offset until all are visited (``(13, 3)`` gives 0, 3, .., 12, 1, 4, ..).

    As MXNet, ``len()`` is ``length`` even when ``rollover=False`` yields fewer indices."""

    def __init__(self, length, interval, rollover=True):
        if interval <= 0 or interval > length:
            raise MXNetError(f"IntervalSampler: interval {interval} must be in [1, length {length}]")
        self._length = length
        self._interval = interval
        self._rollover = rollover

    def __iter__(self):
        for i in range(self._interval if self._rollover else 1):
            yield from range(i, self._length, self._interval)

    def __len__(self):
        return self._length

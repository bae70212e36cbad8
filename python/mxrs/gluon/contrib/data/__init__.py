"""Contrib data utilities of ``mx.gluon.contrib.data``."""

from mxrs.gluon.contrib.data.sampler import IntervalSampler

__all__ = ["IntervalSampler"]

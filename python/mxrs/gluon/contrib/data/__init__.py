"""Contrib data utilities of ``mx.gluon.contrib.data``: ``IntervalSampler`` and the ``text``
datasets (WikiText2, WikiText103)."""

from mxrs.gluon.contrib.data import text
from mxrs.gluon.contrib.data.sampler import IntervalSampler

__all__ = ["IntervalSampler", "text"]

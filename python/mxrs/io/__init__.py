"""Data iterators (``mx.io``): the DataIter protocol, NDArrayIter, CSVIter, ImageRecordIter,
PrefetchingIter and ResizeIter."""

from mxrs.io.io import DataBatch, DataDesc, DataIter, NDArrayIter, PrefetchingIter, ResizeIter
from mxrs.io.mnist import MNISTIter
from mxrs.io.native import CSVIter, ImageRecordIter, MXDataIter

__all__ = [
    "DataBatch",
    "DataDesc",
    "DataIter",
    "NDArrayIter",
    "PrefetchingIter",
    "ResizeIter",
    "MXDataIter",
    "CSVIter",
    "ImageRecordIter",
    "MNISTIter",
]

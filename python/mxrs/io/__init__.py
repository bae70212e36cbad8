"""Data iterators (``mx.io``): the DataIter protocol, NDArrayIter, CSVIter, ImageRecordIter,
ImageDetRecordIter, PrefetchingIter and ResizeIter."""

from mxrs.io.detrec import ImageDetRecordIter
from mxrs.io.io import DataBatch, DataDesc, DataIter, NDArrayIter, PrefetchingIter, ResizeIter
from mxrs.io.libsvm import LibSVMIter
from mxrs.io.mnist import MNISTIter
from mxrs.io.native import (
    CSVIter,
    ImageRecordInt8Iter,
    ImageRecordIter,
    ImageRecordIter_v1,
    ImageRecordUInt8Iter,
    ImageRecordUInt8Iter_v1,
    MXDataIter,
)

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
    "ImageDetRecordIter",
    "ImageRecordUInt8Iter",
    "ImageRecordInt8Iter",
    "ImageRecordIter_v1",
    "ImageRecordUInt8Iter_v1",
    "MNISTIter",
    "LibSVMIter",
]

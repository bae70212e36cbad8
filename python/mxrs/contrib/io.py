"""``mx.contrib.io``: a Gluon DataLoader as a DataIter, so Module can train from it."""

from mxrs import ndarray as nd
from mxrs.io import DataBatch, DataDesc, DataIter

__all__ = ["DataLoaderIter"]


class DataLoaderIter(DataIter):
    """The batches of a ``gluon.data.DataLoader`` of ``(data, label)`` pairs as a DataIter.

    ``batch_size`` is the first batch's; a shorter last batch is zero-filled to that size and
    ``pad`` counts the filled rows (MXNet leaves them uninitialised). Data and label are cast to
    ``dtype``.
    """

    def __init__(self, loader, data_name="data", label_name="softmax_label", dtype="float32"):
        super().__init__()
        self._loader = loader
        self._iter = iter(self._loader)
        data, label = next(self._iter)
        self.batch_size = data.shape[0]
        self.dtype = dtype
        self.provide_data = [DataDesc(data_name, data.shape, dtype)]
        self.provide_label = [DataDesc(label_name, label.shape, dtype)]
        self._current_batch: tuple = (data, label)
        self.reset()

    def reset(self):
        self._iter = iter(self._loader)

    def iter_next(self):
        try:
            self._current_batch = next(self._iter)
        except StopIteration:
            return False
        return True

    def next(self):
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(), index=self.getindex())
        raise StopIteration

    def _padded(self, x):
        x = x.astype(self.dtype)
        if self.getpad():
            ret = nd.zeros((self.batch_size, *x.shape[1:]), ctx=x.context, dtype=self.dtype)
            ret[: x.shape[0]] = x
            return ret
        return x

    def getdata(self):
        return [self._padded(self._current_batch[0])]

    def getlabel(self):
        return [self._padded(self._current_batch[1])]

    def getpad(self):
        return self.batch_size - self._current_batch[0].shape[0]

    def getindex(self):
        return None

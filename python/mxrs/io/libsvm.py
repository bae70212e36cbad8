"""``mx.io.LibSVMIter``: batches of sparse rows (``csr``) from zero-based LibSVM files."""

import os

import numpy as np

from mxrs.base import MXNetIOError, MXNetValueError
from mxrs.io.io import DataBatch, DataDesc, DataIter
from mxrs.ndarray import array
from mxrs.ndarray.sparse import csr_matrix

__all__ = ["LibSVMIter"]


def _files(path):
    """The file, or every file of the directory in name order."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))
        return [os.path.join(path, n) for n in names]
    if not os.path.isfile(path):
        raise MXNetIOError(f"LibSVMIter: no such file or directory: {path!r}")
    return [path]


def _part_lines(path, num_parts, part_index):
    """The lines of one byte part of the files, as dmlc's line splitter cuts them: parts of
    ``ceil(total / num_parts)`` bytes, each line belonging to the part its first byte follows
    the previous part's cut in (a line that starts exactly on a cut stays with the part before)."""
    raw = b"".join(_read(f) for f in _files(path))
    step = -(-len(raw) // num_parts)

    def record_begin(x):
        if x <= 0 or x >= len(raw):
            return min(max(x, 0), len(raw))
        nl = raw.find(b"\n", x)
        return len(raw) if nl < 0 else nl + 1

    lo = record_begin(min(step * part_index, len(raw)))
    hi = record_begin(min(step * (part_index + 1), len(raw)))
    return [ln for ln in raw[lo:hi].decode("utf-8", "replace").splitlines() if ln.strip()]


def _read(f):
    try:
        with open(f, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise MXNetIOError(f"LibSVMIter: cannot read {f!r}: {e.strerror}") from None
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _parse(lines, width, what):
    """(labels, indptr, indices, values) of LibSVM lines ``label idx:val ...``."""
    labels, indptr, indices, values = [], [0], [], []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        try:
            labels.append(float(fields[0]))
            for f in fields[1:]:
                i, v = f.split(":")
                indices.append(int(i))
                values.append(float(v))
        except ValueError:
            raise MXNetIOError(f"LibSVMIter: {what} line {n} is not 'label index:value ...': {line!r}") from None
        indptr.append(len(indices))
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= width):
        bad = int(idx.max() if idx.max() >= width else idx.min())
        raise MXNetIOError(
            f"LibSVMIter: {what} has feature index {bad}, outside a shape of ({width},) (indices are zero-based)"
        )
    return (
        np.asarray(labels, dtype=np.float32),
        np.asarray(indptr, dtype=np.int64),
        idx,
        np.asarray(values, dtype=np.float32),
    )


def _shape1(v, name):
    shape = (int(v),) if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)
    if len(shape) != 1:
        raise MXNetValueError(f"LibSVMIter: dimension of {name} is expected to be 1, got {shape}")
    return shape


class LibSVMIter(DataIter):
    """Batches of ``csr`` rows from a LibSVM file (or every file of a directory), as MXNet's.

    Each line is ``label index:value ...`` with zero-based, ascending indices. ``data`` is a
    ``CSRNDArray`` of ``(batch_size,) + data_shape``; ``softmax_label`` is the lines' labels
    (float32), or, with ``label_libsvm``, a ``CSRNDArray`` of that file's rows (its label column
    ignored). As MXNet, batches always wrap around (``round_batch``): the last batch of an epoch
    is completed with rows from the start (``pad`` counts them) and the next epoch starts after
    the rows so taken. ``num_parts``/``part_index`` read one byte part of the files.
    """

    def __init__(
        self,
        data_libsvm,
        data_shape,
        batch_size,
        label_libsvm="NULL",
        label_shape=(1,),
        num_parts=1,
        part_index=0,
        round_batch=True,
        data_name="data",
        label_name="softmax_label",
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - {"prefetch_buffer", "ctx", "dtype"})
        if unknown:
            raise MXNetValueError(f"LibSVMIter: unknown parameters {unknown}")
        if int(batch_size) < 1:
            raise MXNetValueError(f"LibSVMIter: batch_size must be at least 1, got {batch_size}")
        if int(num_parts) < 1 or not 0 <= int(part_index) < int(num_parts):
            raise MXNetValueError(f"LibSVMIter: part_index {part_index} is not in [0, num_parts={num_parts})")
        if not round_batch:
            raise MXNetValueError("LibSVMIter: only round_batch=True is supported (as in MXNet)")
        super().__init__(int(batch_size))
        self.data_shape = _shape1(data_shape, "data_shape")
        self.label_shape = _shape1(label_shape, "label_shape")
        lines = _part_lines(str(data_libsvm), int(num_parts), int(part_index))
        if not lines:
            raise MXNetIOError(f"LibSVMIter: {data_libsvm!r} (part {part_index} of {num_parts}) has no rows")
        self._labels, self._indptr, self._indices, self._values = _parse(lines, self.data_shape[0], "data")
        self._label_csr = None
        if label_libsvm not in (None, "", "NULL"):
            llines = _part_lines(str(label_libsvm), int(num_parts), int(part_index))
            if len(llines) != len(lines):
                raise MXNetIOError(f"LibSVMIter: {label_libsvm!r} has {len(llines)} rows, the data {len(lines)}")
            self._label_csr = _parse(llines, self.label_shape[0], "label")[1:]
        bs = self.batch_size
        self.provide_data = [DataDesc(data_name, (bs, *self.data_shape), np.float32)]
        lshape = (bs,) if self._label_csr is None else (bs, *self.label_shape)
        self.provide_label = [DataDesc(label_name, lshape, np.float32)]
        self._start = 0
        self._pos = 0
        self._batch = None

    def reset(self):
        self._pos = self._start

    @staticmethod
    def _rows_csr(parts, rows, width):
        indptr, indices, values = parts
        lo, hi = indptr[rows], indptr[rows + 1]
        counts = hi - lo
        take = (
            np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
            if counts.sum()
            else np.zeros(0, np.int64)
        )
        new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return csr_matrix((values[take], indices[take], new_ptr), shape=(len(rows), width), dtype=np.float32)

    def iter_next(self):
        n = len(self._labels)
        if self._pos >= n:
            self._batch = None
            return False
        rows = np.arange(self._pos, self._pos + self.batch_size) % n
        real = min(self.batch_size, n - self._pos)
        pad = self.batch_size - real
        self._pos += self.batch_size
        if pad:
            self._start = pad % n
        data = self._rows_csr((self._indptr, self._indices, self._values), rows, self.data_shape[0])
        if self._label_csr is None:
            label = array(self._labels[rows], dtype=np.float32)
        else:
            label = self._rows_csr(self._label_csr, rows, self.label_shape[0])
        self._batch = DataBatch(
            data=[data],
            label=[label],
            pad=pad,
            index=np.asarray(rows, dtype=np.uint64),
            provide_data=self.provide_data,
            provide_label=self.provide_label,
        )
        return True

    def next(self):
        if self.iter_next():
            return self._batch
        raise StopIteration

    def getdata(self):
        return self._batch.data

    def getlabel(self):
        return self._batch.label

    def getindex(self):
        return self._batch.index

    def getpad(self):
        return self._batch.pad

"""``mx.io.MNISTIter``: batches of the MNIST IDX files, as MXNet 1.9.1's ``src/io/iter_mnist.cc``."""

import logging
import os
import struct

import numpy as np

from mxrs.base import MXNetIOError, MXNetValueError
from mxrs.io.io import DataBatch, DataDesc, DataIter
from mxrs.ndarray import array

__all__ = ["MNISTIter"]

# Parameters of MXNet's iterator (and its prefetcher) that change nothing in the batches.
_IGNORED = ("silent", "prefetch_buffer", "ctx")


def _read(path):
    try:
        with open(os.fspath(path), "rb") as fin:
            return fin.read()
    except OSError as e:
        raise MXNetIOError(f"MNISTIter: cannot read {path}: {e.strerror or e}") from e


def _read_header(buf, path, count):
    if len(buf) < 4 * count:
        raise MXNetIOError(f"MNISTIter: {path}: invalid mnist format (file too short)")
    return struct.unpack(f">{count}i", buf[: 4 * count])


def _part(count, num_parts, part_index):
    """The ``[start, end)`` of part ``part_index`` of ``count`` items (MXNet's GetPart)."""
    if not 0 <= part_index < num_parts:
        raise MXNetValueError(f"MNISTIter: need 0 <= part_index < num_parts, got {part_index} and {num_parts}")
    return int(count / num_parts * part_index), int(count / num_parts * (part_index + 1))


def _uniform_int(bits, high):
    """An int in ``[0, high]`` from 32-bit draws, as libstdc++'s ``uniform_int_distribution``
    (the two-division rejection method)."""
    erange = high + 1
    scaling = 0xFFFFFFFF // erange
    past = erange * scaling
    while True:
        r = int(bits.random_raw())
        if r < past:
            return r // scaling


def _shuffled_order(n, seed):
    """The permutation MXNet's ``std::shuffle`` with ``std::mt19937(seed)`` gives ``range(n)``."""
    bits = np.random.MT19937()
    bits._legacy_seeding(seed)  # std::mt19937's init_genrand
    order = list(range(n))
    for i in range(1, n):
        j = _uniform_int(bits, i)
        order[i], order[j] = order[j], order[i]
    return np.asarray(order, dtype=np.int64)


class MNISTIter(DataIter):
    """Iterate over MNIST images and labels in the uncompressed IDX files ``image`` and
    ``label``: ``data`` of ``(batch_size, 1, rows, cols)`` (``(batch_size, rows*cols)`` when
    ``flat``) float32 pixels divided by 256, ``softmax_label`` of ``(batch_size,)`` float32.

    As MXNet: a last incomplete batch is dropped; ``shuffle`` (default True) permutes the
    samples once, with the same order as MXNet for the same ``seed``; ``num_parts`` /
    ``part_index`` read one contiguous part of the files; ``dtype`` casts the data.
    """

    def __init__(
        self,
        image="./train-images-idx3-ubyte",
        label="./train-labels-idx1-ubyte",
        batch_size=128,
        shuffle=True,
        flat=False,
        seed=0,
        num_parts=1,
        part_index=0,
        dtype=None,
        data_name="data",
        label_name="softmax_label",
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - set(_IGNORED))
        if unknown:
            raise MXNetValueError(f"MNISTIter: unknown parameters {unknown}")
        if int(batch_size) < 1:
            raise MXNetValueError(f"MNISTIter: batch_size must be at least 1, got {batch_size}")
        super().__init__(int(batch_size))
        images = self._load_images(image, num_parts, part_index)
        labels = self._load_labels(label, num_parts, part_index)
        if shuffle:
            order = _shuffled_order(len(labels), int(seed))
            images, labels = images[order], labels[order]
        if flat:
            images = images.reshape(images.shape[0], -1)
        else:
            images = images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
        if dtype is not None and dtype != "None":
            images = images.astype(dtype)
        self._images = images
        self._labels = labels
        self._loc = 0
        self._batch = None
        self.provide_data = [DataDesc(data_name, (self.batch_size,) + images.shape[1:], images.dtype.type)]
        self.provide_label = [DataDesc(label_name, (self.batch_size,), np.float32)]
        if not kwargs.get("silent", False):
            logging.info("MNISTIter: load %d images, shuffle=%d, shape=%s", len(labels), bool(shuffle), images.shape)

    @staticmethod
    def _load_images(path, num_parts, part_index):
        raw = _read(path)
        _, count, rows, cols = _read_header(raw, path, 4)
        start, end = _part(count, num_parts, part_index)
        size = rows * cols
        body = np.frombuffer(raw, dtype=np.uint8, offset=16)
        if body.size < end * size:
            raise MXNetIOError(f"MNISTIter: {path}: header says {count} images of {rows}x{cols}, file is shorter")
        return body[start * size : end * size].reshape(end - start, rows, cols).astype(np.float32) / 256.0

    @staticmethod
    def _load_labels(path, num_parts, part_index):
        raw = _read(path)
        _, count = _read_header(raw, path, 2)
        start, end = _part(count, num_parts, part_index)
        body = np.frombuffer(raw, dtype=np.uint8, offset=8)
        if body.size < end:
            raise MXNetIOError(f"MNISTIter: {path}: header says {count} labels, file is shorter")
        return body[start:end].astype(np.float32)

    def reset(self):
        self._loc = 0

    def iter_next(self):
        if self._loc + self.batch_size > min(len(self._labels), len(self._images)):
            self._batch = None
            return False
        lo, hi = self._loc, self._loc + self.batch_size
        self._batch = DataBatch(
            data=[array(self._images[lo:hi], dtype=self._images.dtype)],
            label=[array(self._labels[lo:hi], dtype=np.float32)],
            pad=0,
            index=np.zeros(self.batch_size, dtype=np.uint64),
            provide_data=self.provide_data,
            provide_label=self.provide_label,
        )
        self._loc = hi
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

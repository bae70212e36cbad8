"""``ImageIter``: MXNet 1.9.1's Python image iterator (``mxnet.image.ImageIter``) over a
RecordIO file (``.rec``, with an optional ``.idx``), an image list file (``.lst``) and a root
folder, or a Python list of ``[label(s), path]``; it decodes, runs the augmenter list and
batches into NCHW float32 NDArrays."""

import logging
import os
import random
from typing import Any

from mxrs import io, recordio
from mxrs import ndarray as nd
from mxrs.base import MXNetError
from mxrs.image.image import CreateAugmenter, imdecode, numeric_types

__all__ = ["ImageIter"]


class ImageIter(io.DataIter):
    """Image data iterator with MXNet's augmentation choices (see :func:`CreateAugmenter`
    for ``kwargs``). ``data_shape`` is (3, H, W); ``last_batch_handle`` is 'pad' (fill the
    last batch from the start), 'discard' or 'roll_over' (carry it into the next epoch)."""

    def __init__(
        self,
        batch_size,
        data_shape,
        label_width=1,
        path_imgrec=None,
        path_imglist=None,
        path_root=None,
        path_imgidx=None,
        shuffle=False,
        part_index=0,
        num_parts=1,
        aug_list=None,
        imglist=None,
        data_name="data",
        label_name="softmax_label",
        dtype="float32",
        last_batch_handle="pad",
        **kwargs,
    ):
        super().__init__(batch_size)
        assert path_imgrec or path_imglist or (isinstance(imglist, list))
        assert dtype in ["int32", "float32", "int64", "float64"], dtype + " label not supported"
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise MXNetError(
                f"ImageIter: last_batch_handle must be 'pad', 'discard' or 'roll_over', not {last_batch_handle!r}"
            )
        self.imgrec: Any = None
        self.imgidx: Any = None
        self.seq: Any = None
        self.imglist: Any = None
        self.provide_data: list[tuple[str, tuple[int, ...]]] = []
        self.provide_label: list[tuple[str, tuple[int, ...]]] = []
        if path_imgrec:
            if path_imgidx:
                self.imgrec = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(path_imgrec, "r")
                self.imgidx = None
        else:
            self.imgrec = None
        imgkeys = self._load_list(path_imglist, imglist, dtype)
        self.path_root = path_root
        self.check_data_shape(data_shape)
        self.provide_data = [(data_name, (batch_size,) + tuple(data_shape))]
        if label_width > 1:
            self.provide_label = [(label_name, (batch_size, label_width))]
        else:
            self.provide_label = [(label_name, (batch_size,))]
        self.batch_size = batch_size
        self.data_shape = tuple(data_shape)
        self.label_width = label_width
        self.shuffle = shuffle
        if self.imgrec is None:
            self.seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            assert self.imgidx is not None
            self.seq = self.imgidx
        else:
            self.seq = None
        if num_parts > 1:
            assert part_index < num_parts
            n = len(self.seq) // num_parts
            self.seq = self.seq[part_index * n : (part_index + 1) * n]
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else aug_list
        self.cur = 0
        self._allow_read = True
        self.last_batch_handle = last_batch_handle
        self.num_image: Any = len(self.seq) if self.seq is not None else None
        self._cache_data: Any = None
        self._cache_label: Any = None
        self._cache_idx: Any = None
        self.reset()

    def _load_list(self, path_imglist, imglist, dtype):
        """Fill ``self.imglist`` ({key: (label NDArray, path)}) and return the keys in order."""
        imgkeys: list[Any] = []
        key: Any
        if path_imglist:
            self.imglist = {}
            try:
                with open(path_imglist) as fin:
                    lines = fin.read().splitlines()
            except OSError as e:
                raise MXNetError(f"ImageIter: cannot read image list {path_imglist!r}: {e.strerror}") from None
            for num, raw in enumerate(lines, 1):
                line = raw.strip().split("\t")
                if len(line) < 3:
                    raise MXNetError(f"ImageIter: line {num} of {path_imglist!r} is not 'index<TAB>label(s)<TAB>path'")
                try:
                    key = int(line[0])
                    values = [float(v) for v in line[1:-1]]
                except ValueError:
                    raise MXNetError(f"ImageIter: line {num} of {path_imglist!r}: non-numeric index or label") from None
                self.imglist[key] = (nd.array(values, dtype=dtype), line[-1])
                imgkeys.append(key)
        elif isinstance(imglist, list):
            self.imglist = {}
            for index, img in enumerate(imglist, 1):
                key = str(index)
                if len(img) > 2:
                    label = nd.array(img[:-1], dtype=dtype)
                elif isinstance(img[0], numeric_types):
                    label = nd.array([img[0]], dtype=dtype)
                else:
                    label = nd.array(img[0], dtype=dtype)
                self.imglist[key] = (label, img[-1])
                imgkeys.append(key)
        else:
            self.imglist = None
        return imgkeys

    def reset(self):
        """Go back to the start (keeping a rolled-over partial batch)."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache_data is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur = 0
            self._allow_read = True

    def hard_reset(self):
        """Go back to the start, dropping rolled-over data."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur = 0
        self._allow_read = True
        self._cache_data = None
        self._cache_label = None
        self._cache_idx = None

    def next_sample(self):
        """The next ``(label, encoded image bytes)``."""
        if self._allow_read is False:
            raise StopIteration
        if self.seq is not None:
            if self.cur < self.num_image:
                idx = self.seq[self.cur]
            else:
                if self.last_batch_handle != "discard":
                    self.cur = 0
                raise StopIteration
            self.cur += 1
            if self.imgrec is not None:
                header, img = recordio.unpack(self.imgrec.read_idx(idx))
                if self.imglist is None:
                    return header.label, img
                return self.imglist[idx][0], img
            label, fname = self.imglist[idx]
            return label, self.read_image(fname)
        s = self.imgrec.read()
        if s is None:
            if self.last_batch_handle != "discard":
                self.imgrec.reset()
            raise StopIteration
        header, img = recordio.unpack(s)
        return header.label, img

    def _batchify(self, batch_data, batch_label, start=0):
        i = start
        try:
            while i < self.batch_size:
                label, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image(data)
                except RuntimeError as e:
                    logging.debug("Invalid image, skipping:  %s", str(e))
                    continue
                data = self.augmentation_transform(data)
                assert i < self.batch_size, "Batch size must be multiples of augmenter output length"
                batch_data[i] = self.postprocess_data(data)
                batch_label[i] = label
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        """The next DataBatch (``pad`` counts the filler images of a last 'pad' batch)."""
        if self._cache_data is not None:
            batch_data, batch_label, i = self._cache_data, self._cache_label, self._cache_idx
        else:
            batch_data, batch_label = self._new_batch()
            i = self._batchify(batch_data, batch_label)
        pad = self.batch_size - i
        if pad != 0:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache_data is None:
                self._cache_data, self._cache_label, self._cache_idx = batch_data, batch_label, i
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache_data = self._cache_label = self._cache_idx = None
        return io.DataBatch([batch_data], [batch_label], pad=pad)

    def _new_batch(self):
        """Empty data (zeros) and label arrays of one batch."""
        c, h, w = self.data_shape
        return nd.zeros((self.batch_size, c, h, w)), nd.empty(self.provide_label[0][1])

    def check_data_shape(self, data_shape):
        """``data_shape`` must be (3, H, W)."""
        if not len(data_shape) == 3:
            raise ValueError("data_shape should have length 3, with dimensions CxHxW")
        if not data_shape[0] == 3:
            raise ValueError("This iterator expects inputs to have 3 channels.")

    def check_valid_image(self, data):
        """Raise RuntimeError for an empty image."""
        if len(data[0].shape) == 0:
            raise RuntimeError("Data shape is wrong")

    def imdecode(self, s):
        """Decode ``s``; a broken image raises naming its file or record index."""

        def locate():
            if self.seq is not None:
                idx = self.seq[(self.cur % self.num_image) - 1]
            else:
                idx = self.cur - 1
            if self.imglist is not None:
                return "Broken image filename: {}".format(self.imglist[idx][1])
            return "Broken image index: {}".format(idx)

        try:
            return imdecode(s)
        except Exception as e:
            raise MXNetError("{}, {}".format(locate(), e)) from None

    def read_image(self, fname):
        """The bytes of ``path_root/fname``."""
        path = os.path.join(self.path_root, fname) if self.path_root is not None else fname
        try:
            with open(path, "rb") as fin:
                return fin.read()
        except OSError as e:
            raise MXNetError(f"ImageIter: cannot read image file {path!r}: {e.strerror}") from None

    def augmentation_transform(self, data):
        """Run the augmenter list."""
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum):
        """HWC -> CHW."""
        return nd.transpose(datum, axes=(2, 0, 1))

"""Iterators backed by the Rust core (``ImageRecordIter``) and ``CSVIter``."""

import numpy as np

from mxrs import _native
from mxrs.base import MXNetError, NotSupported
from mxrs.io.io import DataBatch, DataDesc, DataIter
from mxrs.ndarray import array
from mxrs.ndarray.ndarray import _wrap

__all__ = [
    "MXDataIter",
    "ImageRecordIter",
    "ImageRecordUInt8Iter",
    "ImageRecordInt8Iter",
    "ImageRecordIter_v1",
    "ImageRecordUInt8Iter_v1",
    "CSVIter",
]


class MXDataIter(DataIter):
    """An iterator whose batches come from a native handle.

    Subclasses set ``self.handle`` (with ``next() -> (data, label, pad, index) | None`` and
    ``reset()``) and ``provide_data`` / ``provide_label``.
    """

    def __init__(self, handle, provide_data, provide_label, batch_size):
        super().__init__(batch_size)
        self.handle = handle
        self.provide_data = provide_data
        self.provide_label = provide_label
        self._batch = None

    def reset(self):
        self._batch = None
        self.handle.reset()

    def iter_next(self):
        out = self.handle.next()
        if out is None:
            self._batch = None
            return False
        data, label, pad, index = out
        self._batch = DataBatch(
            data=[_wrap(data)],
            label=[_wrap(label)],
            pad=pad,
            index=np.asarray(index, dtype=np.uint64),
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


# Parameters of MXNet's ImageRecordIter that mxrs accepts but that only change logging or the
# implementation, not the batches.
_IGNORED = {"verbose", "ctx", "shuffle_chunk_size", "shuffle_chunk_seed", "seed_aug", "device_id"}
# Augmentations mxrs does not implement: accepted only at their neutral value.
_NEUTRAL = {
    "max_random_contrast": 0,
    "max_random_illumination": 0,
    "max_rotate_angle": 0,
    "max_aspect_ratio": 0,
    "max_shear_ratio": 0,
    "max_random_scale": 1,
    "min_random_scale": 1,
    "max_img_size": 1e10,
    "min_img_size": 0,
    "random_h": 0,
    "random_s": 0,
    "random_l": 0,
    "rotate": -1,
    "fill_value": 255,
    "pad": 0,
    "inter_method": 1,
    "mean_img": "",
    "brightness": 0,
    "contrast": 0,
    "saturation": 0,
    "pca_noise": 0,
}


def _shape(v):
    if isinstance(v, str):
        v = tuple(int(x) for x in v.strip("()[] ").split(",") if x.strip())
    return tuple(int(x) for x in v)


class ImageRecordIter(MXDataIter):
    """Batches of images from a RecordIO file, decoded and augmented on Rust worker threads.

    Output: ``data`` float32 ``(batch, C, H, W)`` in RGB order, ``softmax_label`` float32
    ``(batch,)`` (or ``(batch, label_width)``). Each image is decoded, its shorter edge resized
    to ``resize`` (bilinear), cropped to ``data_shape`` (centre, or random with
    ``rand_crop``), mirrored (``mirror``, or with probability 0.5 with ``rand_mirror``), and
    normalised as ``(pixel - mean_c) * scale / std_c``.

    Parameters
    ----------
    path_imgrec : str
        The ``.rec`` file.
    data_shape : tuple
        ``(C, H, W)``, C in 1, 3, 4.
    batch_size : int
        Images per batch.
    path_imgidx : str, optional
        The ``.idx`` file (record-exact partitioning).
    path_imglist : str, optional
        A ``.lst`` file whose labels replace the records' labels (matched by image id).
    label_width : int
        Labels per image.
    shuffle, seed : bool, int
        Shuffle every epoch, reproducibly for a given seed (also seeds the augmentations).
    resize : int
        Shorter-edge size before cropping (-1: keep).
    rand_crop, rand_mirror, mirror : bool
        Augmentations.
    mean_r, mean_g, mean_b, mean_a, std_r, std_g, std_b, std_a, scale : float
        Normalisation.
    preprocess_threads : int
        Decoding threads (the GIL is not held while they work).
    prefetch_buffer : int
        Batches prepared ahead.
    num_parts, part_index : int
        Read one part of the file (for data-parallel training).
    round_batch : bool
        Fill the last batch by wrapping around (``pad`` counts the wrapped images); otherwise
        the last batch is zero-filled and ``pad`` counts the missing images.
    dtype : str
        ``float32``, ``uint8`` (raw pixels) or ``int8``.
    data_name, label_name : str
        Names in provide_data / provide_label.
    """

    def __init__(
        self,
        path_imgrec,
        data_shape,
        batch_size,
        path_imgidx="",
        path_imglist="",
        label_width=1,
        shuffle=False,
        seed=0,
        resize=-1,
        rand_crop=False,
        rand_mirror=False,
        mirror=False,
        mean_r=0.0,
        mean_g=0.0,
        mean_b=0.0,
        mean_a=0.0,
        std_r=1.0,
        std_g=1.0,
        std_b=1.0,
        std_a=1.0,
        scale=1.0,
        preprocess_threads=4,
        prefetch_buffer=4,
        num_parts=1,
        part_index=0,
        round_batch=True,
        dtype="float32",
        data_name="data",
        label_name="softmax_label",
        **kwargs,
    ):
        for k, v in kwargs.items():
            if k in _IGNORED:
                continue
            if k in _NEUTRAL:
                if v != _NEUTRAL[k] and not (isinstance(v, str) and v in ("", "0")):
                    raise NotSupported(f"ImageRecordIter: {k}={v!r} is not implemented in mxrs")
                continue
            raise MXNetError(f"ImageRecordIter: Cannot find argument '{k}'")
        data_shape = _shape(data_shape)
        if len(data_shape) != 3:
            raise MXNetError(f"ImageRecordIter: data_shape must be (C, H, W), got {data_shape}")
        batch_size = int(batch_size)
        label_width = int(label_width)
        handle = _native.ImageRecordIter(
            str(path_imgrec),
            data_shape,
            batch_size,
            path_imgidx=str(path_imgidx) or None,
            path_imglist=str(path_imglist) or None,
            label_width=label_width,
            shuffle=bool(shuffle),
            seed=int(seed),
            resize=int(resize),
            rand_crop=bool(rand_crop),
            rand_mirror=bool(rand_mirror),
            mirror=bool(mirror),
            mean=(float(mean_r), float(mean_g), float(mean_b), float(mean_a)),
            std=(float(std_r), float(std_g), float(std_b), float(std_a)),
            scale=float(scale),
            preprocess_threads=int(preprocess_threads),
            prefetch_buffer=int(prefetch_buffer),
            num_parts=int(num_parts),
            part_index=int(part_index),
            round_batch=bool(round_batch),
            dtype=str(np.dtype(dtype)),
        )
        label_shape = (batch_size,) if label_width == 1 else (batch_size, label_width)
        super().__init__(
            handle,
            [DataDesc(data_name, (batch_size, *data_shape), np.dtype(dtype).type, "NCHW")],
            [DataDesc(label_name, label_shape, np.float32, "NCHW")],
            batch_size,
        )


class _FixedDtypeRecordIter(ImageRecordIter):
    """An ImageRecordIter whose batches have one fixed dtype (MXNet's typed variants)."""

    _dtype = "float32"

    def __init__(self, path_imgrec, data_shape, batch_size, **kwargs):
        if "dtype" in kwargs:
            raise MXNetError(f"{type(self).__name__}: Cannot find argument 'dtype' (its batches are {self._dtype})")
        super().__init__(path_imgrec, data_shape, batch_size, dtype=self._dtype, **kwargs)


class ImageRecordUInt8Iter(_FixedDtypeRecordIter):
    """ImageRecordIter whose batches are the raw ``uint8`` pixels (no normalisation), as
    MXNet's ``ImageRecordUInt8Iter``; the other parameters are ImageRecordIter's."""

    _dtype = "uint8"


class ImageRecordInt8Iter(_FixedDtypeRecordIter):
    """ImageRecordIter with ``int8`` batches, as MXNet's ``ImageRecordInt8Iter`` (for int8
    quantized models); the other parameters are ImageRecordIter's."""

    _dtype = "int8"


class ImageRecordIter_v1(ImageRecordIter):  # noqa: N801 (MXNet's name)
    """MXNet's first ImageRecordIter, kept under this name for old scripts: the same batches
    as :class:`ImageRecordIter`."""


class ImageRecordUInt8Iter_v1(ImageRecordUInt8Iter):  # noqa: N801 (MXNet's name)
    """MXNet's first ImageRecordUInt8Iter: the same batches as :class:`ImageRecordUInt8Iter`."""


class CSVIter(DataIter):
    """Batches from CSV files: each row of ``data_csv`` is one sample reshaped to
    ``data_shape``; labels come from ``label_csv`` (zeros if not given).

    The end of an epoch behaves like ImageRecordIter: with ``round_batch`` the last batch
    wraps around to the first rows (``pad`` counts them) and the next epoch starts after them;
    without it the last batch is zero-filled and ``pad`` counts the missing rows.
    """

    def __init__(
        self,
        data_csv,
        data_shape,
        batch_size,
        label_csv=None,
        label_shape=(1,),
        round_batch=True,
        prefetch_buffer=4,
        dtype="float32",
        data_name="data",
        label_name="softmax_label",
        **kwargs,
    ):
        super().__init__(int(batch_size))
        for k in kwargs:
            if k not in ("ctx", "verbose", "prefetch_buffer"):
                raise MXNetError(f"CSVIter: Cannot find argument '{k}'")
        self.data_shape = _shape(data_shape)
        self.label_shape = _shape(label_shape)
        self.dtype = np.dtype(dtype)
        self._data = self._load(data_csv, self.data_shape)
        n = self._data.shape[0]
        if label_csv is None or label_csv in ("", "NULL"):
            self._label = np.zeros((n, *self.label_shape), dtype=np.float32)
        else:
            self._label = self._load(label_csv, self.label_shape).astype(np.float32)
            if self._label.shape[0] != n:
                raise MXNetError(f"CSVIter: {label_csv} has {self._label.shape[0]} rows but {data_csv} has {n}")
        if n == 0:
            raise MXNetError(f"CSVIter: {data_csv} has no rows")
        self.round_batch = bool(round_batch)
        lab = (self.batch_size,) if self.label_shape == (1,) else (self.batch_size, *self.label_shape)
        self.provide_data = [DataDesc(data_name, (self.batch_size, *self.data_shape), self.dtype.type, "NCHW")]
        self.provide_label = [DataDesc(label_name, lab, np.float32, "NCHW")]
        self._start = 0
        self._cursor = 0
        self._batch = None
        self._consumed = False

    def _load(self, path, shape):
        rows = []
        with open(path) as f:
            for num, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                vals = [float(x) for x in line.split(",")]
                if len(vals) != int(np.prod(shape)):
                    raise MXNetError(f"CSVIter: {path} line {num} has {len(vals)} values, expected shape {shape}")
                rows.append(vals)
        return np.asarray(rows, dtype=self.dtype).reshape((len(rows), *shape))

    def reset(self):
        if not self._consumed:
            return
        n = self._data.shape[0]
        rem = (n - self._start) % self.batch_size
        self._start = (self.batch_size - rem) % n if self.round_batch and rem else 0
        self._cursor = self._start
        self._consumed = False

    def iter_next(self):
        self._consumed = True
        n, bs = self._data.shape[0], self.batch_size
        if self._cursor >= n:
            return False
        idx = np.arange(self._cursor, min(self._cursor + bs, n))
        self._cursor += bs
        pad = bs - idx.size
        data, label = self._data[idx], self._label[idx]
        if pad:
            if self.round_batch:
                wrap = np.arange(pad) % n
                data = np.concatenate([data, self._data[wrap]])
                label = np.concatenate([label, self._label[wrap]])
            else:
                data = np.concatenate([data, np.zeros((pad, *data.shape[1:]), data.dtype)])
                label = np.concatenate([label, np.zeros((pad, *label.shape[1:]), label.dtype)])
        if self.label_shape == (1,):
            label = label.reshape(bs)
        self._batch = DataBatch(
            [array(data, dtype=self.dtype)], [array(label)], pad, None, None, self.provide_data, self.provide_label
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
        return None

    def getpad(self):
        return self._batch.pad

"""``mx.io.ImageDetRecordIter``: batches of images and detection labels from a RecordIO file,
as MXNet's C++ iterator (src/io/iter_image_det_recordio.cc: parser, ``det_aug_default``
augmenter, ImageDetNormalizeIter, BatchLoader)."""

import os

import numpy as np

from mxrs.base import MXNetError, NotSupported
from mxrs.io import _detaug
from mxrs.io.io import DataBatch, DataDesc, DataIter
from mxrs.ndarray import array, load, save
from mxrs.recordio import MXRecordIO, unpack

__all__ = ["ImageDetRecordIter"]

_OP = "ImageDetRecordIter"
_RAND_MAGIC = 233
# Accepted, and only change logging, threading or prefetching (not the batches).
_IGNORED = {"verbose", "prefetch_buffer", "ctx", "shuffle_chunk_size", "shuffle_chunk_seed"}
_CROP_TUPLES = {
    "min_crop_scales": (0.0,),
    "max_crop_scales": (1.0,),
    "min_crop_aspect_ratios": (1.0,),
    "max_crop_aspect_ratios": (1.0,),
    "min_crop_overlaps": (0.0,),
    "max_crop_overlaps": (1.0,),
    "min_crop_sample_coverages": (0.0,),
    "max_crop_sample_coverages": (1.0,),
    "min_crop_object_coverages": (0.0,),
    "max_crop_object_coverages": (1.0,),
    "max_crop_trials": (25,),
}
_AUG_DEFAULTS = {
    "resize": -1,
    "rand_crop_prob": 0.0,
    "num_crop_sampler": 1,
    "crop_emit_mode": "center",
    "emit_overlap_thresh": 0.3,
    "rand_pad_prob": 0.0,
    "max_pad_scale": 1.0,
    "max_random_hue": 0,
    "random_hue_prob": 0.0,
    "max_random_saturation": 0,
    "random_saturation_prob": 0.0,
    "max_random_illumination": 0,
    "random_illumination_prob": 0.0,
    "max_random_contrast": 0.0,
    "random_contrast_prob": 0.0,
    "rand_mirror_prob": 0.0,
    "fill_value": 127,
    "inter_method": 1,
    "resize_mode": "force",
}
_NORM_DEFAULTS = {
    "mean_r": 0.0,
    "mean_g": 0.0,
    "mean_b": 0.0,
    "mean_a": 0.0,
    "std_r": 0.0,
    "std_g": 0.0,
    "std_b": 0.0,
    "std_a": 0.0,
    "scale": 1.0,
}


def _tuple(v, cast):
    if isinstance(v, str):
        v = [x for x in v.strip("()[] ").split(",") if x.strip()]
    elif np.isscalar(v):
        v = [v]
    return tuple(cast(x) for x in v)


def _aug_params(data_shape, kwargs):
    p = {k: kwargs.pop(k, d) for k, d in _AUG_DEFAULTS.items()}
    for k, d in _CROP_TUPLES.items():
        p[k] = _tuple(kwargs.pop(k, d), int if k == "max_crop_trials" else np.float32)
    p["data_shape"] = data_shape
    for k, d in _AUG_DEFAULTS.items():  # MXNet's float parameters are C++ floats
        if isinstance(d, float):
            p[k] = np.float32(p[k])
    emit = {0: "center", 1: "overlap"}.get(p["crop_emit_mode"], p["crop_emit_mode"])
    mode = {0: "force", 1: "shrink", 2: "fit"}.get(p["resize_mode"], p["resize_mode"])
    if emit not in ("center", "overlap"):
        raise MXNetError(f"{_OP}: crop_emit_mode must be 'center' or 'overlap', got {p['crop_emit_mode']!r}")
    if mode not in ("force", "shrink", "fit"):
        raise MXNetError(f"{_OP}: resize_mode must be 'force', 'shrink' or 'fit', got {p['resize_mode']!r}")
    p["crop_emit_mode"], p["resize_mode"] = emit, mode
    p["inter_method"] = int(p["inter_method"])
    if p["inter_method"] not in (0, 1, 2, 3, 4, 9, 10):
        raise MXNetError(f"{_OP}: invalid inter_method {p['inter_method']}: valid values are 0-4, 9 and 10")
    n = int(p["num_crop_sampler"])
    p["num_crop_sampler"] = n
    for k in _CROP_TUPLES:
        if n == 1 and len(p[k]) != 1:
            raise MXNetError(f"{_OP}: {k} must have 1 value with num_crop_sampler=1, got {p[k]}")
        if n > 1:
            if len(p[k]) == 1:
                p[k] = p[k] * n
            elif len(p[k]) != n:
                raise MXNetError(f"{_OP}: {k} has {len(p[k])} values for {n} crop samplers")
    for i in range(n):
        lo, hi = p["min_crop_scales"][i], p["max_crop_scales"][i]
        if not (lo >= 0 and hi <= 1 and hi > lo):
            raise MXNetError(f"{_OP}: crop scales must satisfy 0 <= min < max <= 1, got min {lo}, max {hi}")
        for what in ("crop_aspect_ratios", "crop_overlaps", "crop_sample_coverages", "crop_object_coverages"):
            if p[f"max_{what}"][i] < p[f"min_{what}"][i]:
                raise MXNetError(f"{_OP}: max_{what} must be >= min_{what} (sampler {i})")
    if p["emit_overlap_thresh"] < 0:
        raise MXNetError(f"{_OP}: emit_overlap_thresh must be >= 0")
    return p


def _read_imglist(path, label_width):
    """MXNet's ``ImageDetLabelMap``: ``index label... path`` lines (exactly ``label_width``
    labels when it is > 0)."""
    labels = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            values = fields[1 : 1 + label_width] if label_width > 0 else fields[1:-1]
            if (label_width > 0 and len(values) != label_width) or not values:
                raise MXNetError(f"{_OP}: bad image list format at line {line_no} of {path}")
            labels[int(float(fields[0]))] = np.array([float(v) for v in values], dtype=np.float32)
    return labels


def _part_range(total, num_parts, part_index):
    """The byte range of part ``part_index`` (dmlc's InputSplit: equal parts rounded up to 4
    bytes; a record belongs to the part its start falls in)."""
    step = (total + num_parts - 1) // num_parts
    step = (step + 3) // 4 * 4
    return min(step * part_index, total), min(step * (part_index + 1), total)


_CHUNK_BYTES = 8 << 20  # MXNet's HintChunkSize for this iterator


def _chunks(spans):
    """Consecutive records (their ``(start, stop)`` byte spans) grouped as dmlc's InputSplit
    hands them out: chunks of at most 8 MB, at least one record. MXNet shuffles within a
    chunk and splits a chunk among its decoding threads."""
    chunks: list = []
    start = None
    for pos, stop in spans:
        if start is None or stop - start > _CHUNK_BYTES:
            chunks.append([])
            start = pos
        chunks[-1].append((pos, stop))
    return chunks


def _num_procs():
    """OpenMP's ``omp_get_num_procs``: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _thread_of(chunks, num_threads):
    """Which of MXNet's decoding threads takes each record: a chunk's bytes are cut in equal
    parts (rounded up to 4 bytes), one per thread, as dmlc's RecordIOChunkReader does."""
    owner = {}
    for chunk in chunks:
        base = chunk[0][0]
        size = chunk[-1][1] - base
        for pos, _ in chunk:
            owner[pos] = min(t for t in range(num_threads) if pos - base < _part_range(size, num_threads, t)[1])
    return owner


class ImageDetRecordIter(DataIter):
    """Batches of images and padded detection labels from a RecordIO file (MXNet's
    ``ImageDetRecordIter``).

    Each record's label (``flag > 0`` floats, or the line of ``path_imglist`` with the record's
    image id) is ``[header_width, object_width, (extra header...), objects...]`` with objects
    ``[id, xmin, ymin, xmax, ymax, (extra...)]`` in fractions of the image; empty boxes are
    dropped. The image is decoded (``data_shape[0]`` 1 gray, 3 RGB, 4 RGBA), augmented by
    MXNet's ``det_aug_default`` (``resize`` of the shorter edge, colour jitter, ``rand_mirror_prob``,
    ``rand_pad_prob``/``max_pad_scale``, ``rand_crop_prob`` with the crop samplers, boxes moved
    with the image), then fitted to ``data_shape`` (``resize_mode`` force, shrink or fit; the
    rest of the data is 0) and normalised ``((x - mean) / std) * scale`` (a mean or std of 0 is
    skipped; ``mean_img`` subtracts a mean image, computed and saved when the file is absent).

    The label of each image is ``label_pad_width + 4`` floats: channels, height and width of
    the image before padding, the label's length, the label, then ``label_pad_value``.
    ``label_pad_width`` 0 (or -1) takes the longest label of the file (or of the image list).

    Records are read in file order (``shuffle`` permutes each pass); ``num_parts`` /
    ``part_index`` read one byte range of the file, as MXNet splits it. With ``round_batch``
    the last batch is completed from the start of the next pass (``pad`` counts those, and the
    next epoch goes on after them, as MXNet's BatchLoader does); without, ``pad`` counts the
    missing images (their rows keep the previous batch's values).

    Random draws are MXNet's: MXNet decodes on ``min(cpus - 1, preprocess_threads)`` threads
    (at least one), each taking an equal byte range of each chunk of the file and drawing from
    its own ``std::mt19937`` seeded ``(t + 1) * 233``; mxrs assigns the records and draws the
    same way (decoding on the calling thread), so the same file, parameters and CPU count give
    MXNet's batches. ``shuffle`` permutes the records of each chunk of up to 8 MB (as MXNet
    reads the file) with ``std::shuffle`` and a ``std::mt19937`` seeded ``233 + seed``, after
    decoding and augmenting the chunk in file order, as MXNet does.

    Outputs ``provide_data`` ``[(data_name, (batch_size,) + data_shape)]`` and
    ``provide_label`` ``[(label_name, (batch_size, label_pad_width + 4))]``.
    """

    def __init__(
        self,
        path_imgrec,
        data_shape,
        batch_size,
        path_imglist="",
        label_width=-1,
        label_pad_width=0,
        label_pad_value=-1.0,
        shuffle=False,
        seed=0,
        num_parts=1,
        part_index=0,
        round_batch=True,
        mean_img="",
        dtype=None,
        data_name="data",
        label_name="softmax_label",
        aug_seq="det_aug_default",
        preprocess_threads=4,
        **kwargs,
    ):
        super().__init__(int(batch_size))
        self.data_shape = tuple(int(x) for x in _tuple(data_shape, int))
        if len(self.data_shape) != 3 or min(self.data_shape) <= 0:
            raise MXNetError(f"{_OP}: data_shape must be (C, H, W) with positive sizes, got {data_shape}")
        if self.data_shape[0] not in (1, 3, 4):
            raise MXNetError(f"{_OP}: invalid output shape {self.data_shape}: data_shape[0] must be 1, 3 or 4")
        if aug_seq != "det_aug_default":
            raise NotSupported(f"{_OP}: aug_seq={aug_seq!r}: mxrs has only the default detection augmenter")
        if not 0 <= int(part_index) < int(num_parts):
            raise MXNetError(f"{_OP}: part_index {part_index} must be in [0, num_parts={num_parts})")
        self._aug = _aug_params(self.data_shape, kwargs)
        self._norm = {k: float(kwargs.pop(k, d)) for k, d in _NORM_DEFAULTS.items()}
        for k in list(kwargs):
            if k in _IGNORED:
                kwargs.pop(k)
        if kwargs:
            raise MXNetError(f"{_OP}: Cannot find argument '{sorted(kwargs)[0]}'")
        self._uri = os.fspath(path_imgrec)
        self._label_width = int(label_width)
        self._pad_value = np.float32(label_pad_value)
        self._shuffle = bool(shuffle)
        self._round_batch = bool(round_batch)
        self._dtype = np.dtype(dtype or "float32")
        if self._dtype not in (np.float32, np.float64, np.float16):
            raise MXNetError(f"{_OP}: dtype must be float32, float64 or float16, got {dtype}")
        self._imglist = _read_imglist(os.fspath(path_imglist), self._label_width) if path_imglist else None
        # MXNet's decoding threads (as many as it would start here) and their random engines,
        # seeded (t + 1) * 233 whatever the seed.
        threads = min(max(_num_procs() - 1, 1), max(int(preprocess_threads), 1))
        self._aug_rngs = [_detaug.StdRng((t + 1) * _RAND_MAGIC) for t in range(threads)]
        self._reader = MXRecordIO(self._uri, "r")
        self._offsets, max_width = self._scan(int(num_parts), int(part_index))
        label_pad_width = int(label_pad_width)
        if max_width > label_pad_width:
            if label_pad_width > 0:
                raise MXNetError(
                    f"{_OP}: label_pad_width {label_pad_width} is smaller than the longest label ({max_width} values)"
                )
            label_pad_width = max_width
        self.label_pad_width = label_pad_width
        self._shuffle_rng = _detaug.StdRng(_RAND_MAGIC + int(seed))
        self._mean = None
        self.provide_data = [DataDesc(data_name, (self.batch_size, *self.data_shape), self._dtype.type, "NCHW")]
        self.provide_label = [DataDesc(label_name, (self.batch_size, label_pad_width + 4), np.float32, "NCHW")]
        self._data_buf = np.zeros((self.batch_size, *self.data_shape), dtype=np.float32)
        self._label_buf = np.zeros((self.batch_size, label_pad_width + 4), dtype=np.float32)
        self._overflow = 0
        self._batch = None
        self._start_pass()
        if mean_img:
            self._mean = self._mean_image(os.fspath(mean_img))

    # ---- records --------------------------------------------------------------------------
    def _scan(self, num_parts, part_index):
        """The offsets of this part's records and the longest label (of the part, or of the
        image list). Records are read one at a time; only their offsets and headers are kept."""
        records = []
        while True:
            pos = self._reader.tell()
            rec = self._reader.read()
            if rec is None:
                break
            header = None
            if self._imglist is None:
                header = unpack(rec)[0]
                if header.flag > 0:  # a copy: the unpacked label is a view of the whole record
                    header = header._replace(label=np.array(header.label, dtype=np.float32))
            records.append((pos, self._reader.tell(), header))
        begin, end = _part_range(self._reader.tell(), num_parts, part_index)
        part = [(pos, stop, header) for pos, stop, header in records if begin <= pos < end]
        chunks = _chunks([(pos, stop) for pos, stop, _ in part])
        self._chunks = [[pos for pos, _ in chunk] for chunk in chunks]
        self._thread = _thread_of(chunks, len(self._aug_rngs))
        if self._imglist is not None:
            return [pos for pos, *_ in part], max((v.size for v in self._imglist.values()), default=0)
        return [pos for pos, *_ in part], max((self._record_label(h).size for *_, h in part), default=0)

    def _record_label(self, header):
        if self._imglist is not None:
            if header.id not in self._imglist:
                raise MXNetError(f"{_OP}: fail to find imagelabel for id {header.id} in the image list")
            return self._imglist[header.id]
        if header.flag <= 0:
            raise MXNetError(f"{_OP}: not enough label packed in img_list or rec file (record id {header.id})")
        label = np.asarray(header.label, dtype=np.float32)
        if self._label_width > 0 and label.size != self._label_width:
            raise MXNetError(
                f"{_OP}: rec file provide {label.size}-dimensional label but label_width is set to {self._label_width}"
            )
        return label

    def _start_pass(self):
        self._chunk = 0
        self._pending = []  # the rest of the current shuffled chunk, next first
        self._pos = 0

    def _next_instance(self):
        """(image id, CHW float32 data, padded label) of the next record, None at the end.

        In file order; with ``shuffle`` MXNet decodes and augments a whole chunk in file order
        and then permutes it, and so does this."""
        if not self._shuffle:
            if self._pos >= len(self._offsets):
                return None
            self._pos += 1
            return self._process(self._offsets[self._pos - 1])
        if not self._pending:
            if self._chunk >= len(self._chunks):
                return None
            self._pending = [self._process(pos) for pos in self._chunks[self._chunk]]
            self._chunk += 1
            self._shuffle_rng.shuffle(self._pending)
            self._pending.reverse()
        return self._pending.pop()

    def _process(self, pos):
        """Decode, augment and normalise the record at byte offset ``pos``."""
        self._reader.handle.seek(pos)
        header, buf = unpack(self._reader.read())
        c, h, w = self.data_shape
        # mxrs.image's package imports mxrs.io: its decoder is imported when first needed.
        from mxrs.image.image import _decode

        img = _decode(buf, {1: 0, 3: 1, 4: -1}[c], True, _OP, f"record {header.id}")
        if img.shape[2] != c:
            raise MXNetError(f"{_OP}: Invalid image with index {header.id}. Expected {c} channels, got {img.shape[2]}")
        rng = self._aug_rngs[self._thread[pos]]
        img, label = _detaug.augment(img, self._record_label(header), self._aug, rng)
        rows, cols = img.shape[:2]
        data = np.zeros(self.data_shape, dtype=np.float32)
        data[:, : min(rows, h), : min(cols, w)] = img[:h, :w].transpose(2, 0, 1)
        padded = np.full(self.label_pad_width + 4, self._pad_value, dtype=np.float32)
        padded[:4] = (c, rows, cols, label.size)
        padded[4 : 4 + label.size] = label
        return header.id, self._normalize(data), padded

    def _normalize(self, data):
        n = self._norm
        c = data.shape[0]
        if n["mean_r"] > 0 or n["mean_g"] > 0 or n["mean_b"] > 0 or n["mean_a"] > 0:
            data[0] -= np.float32(n["mean_r"])
            if c >= 3:
                data[1] -= np.float32(n["mean_g"])
                data[2] -= np.float32(n["mean_b"])
            if c == 4:
                data[3] -= np.float32(n["mean_a"])
        elif self._mean is not None:
            data -= self._mean
        for ch, key in enumerate(("std_r", "std_g", "std_b", "std_a")):
            if ch < c and (ch == 0 or c >= 3) and (ch < 3 or c == 4) and n[key] > 0:
                data[ch] /= np.float32(n[key])
        return data * np.float32(n["scale"])

    def _mean_image(self, path):
        """The mean image of ``path`` (an ``nd.save`` file of one (C, H, W) array); when the
        file does not exist, the mean of this iterator's (scaled) images, saved there."""
        if os.path.exists(path):
            arrays = load(path)
            arrays = list(arrays.values()) if isinstance(arrays, dict) else arrays
            if len(arrays) != 1:
                raise MXNetError(f"{_OP}: invalid mean image file {path}: it must hold one array")
            return arrays[0].asnumpy().astype(np.float32)
        total, count = None, 0
        while (inst := self._next_instance()) is not None:
            total = inst[1].copy() if total is None else total + inst[1]  # float32 sums, as MXNet
            count += 1
        if not count:
            raise MXNetError(f"{_OP}: cannot compute a mean image of an empty record file")
        mean = total * np.float32(1.0 / count)
        save(path, {"mean_img": array(mean)})
        self._start_pass()
        return mean

    # ---- batches --------------------------------------------------------------------------
    def reset(self):
        if not self._round_batch or self._overflow == 0:
            self._start_pass()
        else:
            self._overflow = 0
        self._batch = None

    def _put(self, top, inst, index):
        index.append(inst[0])
        self._data_buf[top] = inst[1]
        self._label_buf[top] = inst[2]

    def iter_next(self):
        self._batch = None
        if self._overflow:
            return False
        index = []
        while len(index) < self.batch_size and (inst := self._next_instance()) is not None:
            self._put(len(index), inst, index)
        if not index:
            return False
        pad = 0
        if len(index) < self.batch_size:
            if self._round_batch:
                self._start_pass()
                while len(index) < self.batch_size:
                    inst = self._next_instance()
                    if inst is None:
                        raise MXNetError(f"{_OP}: number of input must be bigger than batch size ({self.batch_size})")
                    self._put(len(index), inst, index)
                    self._overflow += 1
                pad = self._overflow
            else:
                pad = self.batch_size - len(index)
        self._batch = DataBatch(
            data=[array(self._data_buf, dtype=self._dtype)],
            label=[array(self._label_buf, dtype=np.float32)],
            pad=pad,
            index=np.asarray(index + [0] * (self.batch_size - len(index)), dtype=np.uint64),
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

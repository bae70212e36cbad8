"""RecordIO files (``.rec`` / ``.idx``) and image records, compatible with ``mxnet.recordio``.

The framing (dmlc RecordIO) is read and written by the Rust core (``mxrs._native``); images
are encoded and decoded there too (JPEG and PNG), so OpenCV is not needed. Arrays handed to
:func:`pack_img` and returned by :func:`unpack_img` are HWC ``uint8`` in **BGR** order, as
OpenCV gives them.
"""

import numbers
import os
import struct
from collections import namedtuple

import numpy as np

from mxrs import _native

__all__ = ["MXRecordIO", "MXIndexedRecordIO", "IRHeader", "pack", "unpack", "pack_img", "unpack_img"]


class MXRecordIO:
    """Read or write a RecordIO file record by record.

    Parameters
    ----------
    uri : str
        Path or URI (``s3://bucket/key``, ``hdfs://``, ``webhdfs://``) of the record file. A
        remote file is read in ranges as records are needed, and written as a (multipart)
        upload that appears whole when the writer is closed.
    flag : str
        ``'w'`` to write (truncates) or ``'r'`` to read.
    """

    def __init__(self, uri, flag):
        self.uri = os.fspath(uri)
        self.flag = flag
        self.handle = None
        self.pid = None
        self.is_open = False
        self.writable = False
        self.open()

    def open(self):
        """Open the file."""
        if self.flag == "w":
            self.handle = _native.RecordWriter(self.uri)
            self.writable = True
        elif self.flag == "r":
            self.handle = _native.RecordReader(self.uri)
            self.writable = False
        else:
            raise ValueError(f"Invalid flag {self.flag}")
        self.pid = os.getpid()
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - never raise from a finaliser
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        is_open = self.is_open
        self.close()
        d = dict(self.__dict__)
        d["is_open"] = is_open
        d["handle"] = None
        return d

    def __setstate__(self, d):
        self.__dict__ = d
        is_open = d["is_open"]
        self.is_open = False
        self.handle = None
        if is_open:
            self.open()

    def _check_pid(self, allow_reset=False):
        if self.pid != os.getpid():
            if allow_reset:
                self.reset()
            else:
                raise RuntimeError("Forbidden operation in multiple processes")

    def close(self):
        """Close the file (flushes a writer)."""
        if not self.is_open:
            return
        self.handle.close()
        self.handle = None
        self.is_open = False
        self.pid = None

    def reset(self):
        """Go back to the first record (a writer truncates the file)."""
        self.close()
        self.open()

    def write(self, buf):
        """Append ``buf`` (bytes) as one record."""
        assert self.writable
        self._check_pid(allow_reset=False)
        self.handle.write(bytes(buf))

    def read(self):
        """The next record as bytes, or None at the end of the file."""
        assert not self.writable
        self._check_pid(allow_reset=False)
        return self.handle.read()

    def tell(self):
        """Byte offset of the next record."""
        return self.handle.tell()


class MXIndexedRecordIO(MXRecordIO):
    """A RecordIO file with an index (``key\\toffset`` lines) for random access.

    Parameters
    ----------
    idx_path : str
        Path or URI of the index file (a writer writes it when closed).
    uri : str
        Path of the record file.
    flag : str
        ``'w'`` or ``'r'``.
    key_type : type
        Type of the keys read from the index.
    """

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path = os.fspath(idx_path)
        self.idx = {}
        self.keys = []
        self.key_type = key_type
        self.fidx = None
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx = {}
        self.keys = []
        # The index lines written so far; the index file is written (atomically) by ``close``.
        self.fidx = [] if self.writable else None
        if not self.writable:
            for line in _native.read_file(self.idx_path).decode("utf-8").splitlines():
                fields = line.strip().split("\t")
                key = self.key_type(fields[0])
                self.idx[key] = int(fields[1])
                self.keys.append(key)

    def close(self):
        if not self.is_open:
            return
        super().close()
        if self.fidx is not None:
            lines, self.fidx = self.fidx, None
            _native.write_file(self.idx_path, "".join(lines).encode("utf-8"))

    def __getstate__(self):
        d = super().__getstate__()
        d["fidx"] = None
        return d

    def seek(self, idx):
        """Move the reader to the record with key ``idx``."""
        assert not self.writable
        self._check_pid(allow_reset=True)
        self.handle.seek(self.idx[idx])

    def tell(self):
        """Byte offset where the next record will be written."""
        assert self.writable
        return self.handle.tell()

    def read_idx(self, idx):
        """The record with key ``idx``."""
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        """Append a record under key ``idx``."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.append(f"{key}\t{pos}\n")
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])  # type: ignore[name-match]  # MXNet's type name
IRHeader.__doc__ = """Header of an image record.

flag : int
    0 when ``label`` is one number; otherwise the number of float32 labels stored after the
    header (``pack`` sets it).
label : float or array
    The label, or a vector of labels.
id : int
    Image id.
id2 : int
    Second id, normally 0.
"""

_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s):
    """Pack a header and a payload (bytes) into an image record.

    A numeric label is stored in the header with ``flag=0``; an array label is stored after
    the header as float32 and ``flag`` becomes its size.
    """
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    return struct.pack(_IR_FORMAT, *header) + bytes(s)


def unpack(s):
    """Split an image record into ``(IRHeader, payload bytes)``.

    With ``flag > 0`` the header's label is a float32 array of ``flag`` values.
    """
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4 :]
    return header, s


def _imdecode(buf, flag=1):
    data, h, w, c = _native.imdecode(bytes(buf), int(flag), True)
    img = np.frombuffer(data, dtype=np.uint8)
    return img.reshape((h, w)) if c == 1 else img.reshape((h, w, c))


def unpack_img(s, iscolor=-1):
    """Unpack an image record into ``(IRHeader, image)``.

    The image is a HWC (HW for gray) ``uint8`` numpy array in BGR order. ``iscolor`` is
    OpenCV's flag: -1 unchanged, 0 gray, 1 colour.
    """
    header, s = unpack(s)
    return header, _imdecode(s, iscolor)


def pack_img(header, img, quality=95, img_fmt=".jpg"):
    """Encode a BGR HWC (or HW gray) ``uint8`` image and pack it with ``header``.

    For ``.jpg`` ``quality`` is the JPEG quality; for ``.png`` it is the compression level
    (0-9), as with OpenCV.
    """
    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim == 2:
        h, w, c = img.shape[0], img.shape[1], 1
    elif img.ndim == 3:
        h, w, c = img.shape
    else:
        raise ValueError(f"pack_img expects an HxW or HxWxC image, got shape {img.shape}")
    buf = _native.imencode(img.tobytes(), h, w, c, img_fmt, int(quality), True)
    return pack(header, buf)

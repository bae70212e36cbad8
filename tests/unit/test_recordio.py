"""mx.recordio against the RecordIO fixtures written by real MXNet 1.9.1."""

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from _fixtures import FIXTURES as _FIXTURES
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

FIXTURES = _FIXTURES
MXRS_ONLY = pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")


def _needs_cv2_under_mxnet():
    """MXNet's image record helpers need OpenCV; mxrs decodes in Rust."""
    if IS_MXNET:
        pytest.importorskip("cv2")


RAW = [b"hello", b"abcd", b"XXXX\x0a\x23\xd7\xceYY", b""]


def fixture(name):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} not available")
    return str(path)


def source_pixels():
    arrays = mx.nd.load(fixture("img3_source_pixels.params"))
    return arrays["bgr_hwc"].asnumpy(), arrays["rgb_chw"].asnumpy()


def test_read_raw_records_including_split_and_empty():
    r = mx.recordio.MXRecordIO(fixture("recordio_raw.rec"), "r")
    assert [r.read() for _ in range(4)] == RAW
    assert r.read() is None
    r.reset()
    assert r.read() == b"hello"
    r.close()


def test_indexed_read_by_key():
    r = mx.recordio.MXIndexedRecordIO(fixture("recordio_raw.idx"), fixture("recordio_raw.rec"), "r")
    assert r.keys == [0, 1, 2, 3]
    assert r.idx == {0: 0, 1: 16, 2: 28, 3: 52}
    assert r.read_idx(2) == RAW[2]
    assert r.read_idx(0) == RAW[0]
    assert r.read_idx(3) == b""
    r.close()


def test_writing_is_byte_identical(tmp_path):
    rec, idx = tmp_path / "raw.rec", tmp_path / "raw.idx"
    w = mx.recordio.MXIndexedRecordIO(str(idx), str(rec), "w")
    assert w.tell() == 0
    for i, buf in enumerate(RAW):
        w.write_idx(i, buf)
    w.close()
    assert rec.read_bytes() == Path(fixture("recordio_raw.rec")).read_bytes()
    assert idx.read_bytes() == Path(fixture("recordio_raw.idx")).read_bytes()
    seq = tmp_path / "seq.rec"
    w = mx.recordio.MXRecordIO(str(seq), "w")
    for buf in RAW:
        w.write(buf)
    w.close()
    assert seq.read_bytes() == rec.read_bytes()


def test_png_image_records_are_exact():
    _needs_cv2_under_mxnet()
    bgr, _ = source_pixels()
    r = mx.recordio.MXIndexedRecordIO(fixture("img3_png.idx"), fixture("img3_png.rec"), "r")
    assert r.idx == {0: 0, 1: 116, 2: 232}
    for i in range(3):
        header, img = mx.recordio.unpack_img(r.read_idx(i))
        assert (header.flag, header.label, header.id, header.id2) == (0, float(i), i, 0)
        assert img.dtype == np.uint8 and img.shape == (6, 8, 3)
        assert_array_equal(img, bgr[i])
    r.close()


def test_jpeg_image_records_are_close():
    _needs_cv2_under_mxnet()
    bgr, _ = source_pixels()
    r = mx.recordio.MXIndexedRecordIO(fixture("img3_jpg.idx"), fixture("img3_jpg.rec"), "r")
    for i in range(3):
        header, img = mx.recordio.unpack_img(r.read_idx(i))
        assert (header.flag, header.label, header.id) == (0, i + 0.5, 100 + i)
        # OpenCV's decoder is 24-26 away from the source at worst; another decoder is close.
        assert np.abs(img.astype(int) - bgr[i]).max() <= 32
    r.close()


def test_multilabel_records():
    _needs_cv2_under_mxnet()
    r = mx.recordio.MXIndexedRecordIO(fixture("img2_multilabel.idx"), fixture("img2_multilabel.rec"), "r")
    bgr, _ = source_pixels()
    for i, want in enumerate([[0.5, 1.5, -1.0], [1.5, 2.5, -1.0]]):
        s = r.read_idx(i)
        assert struct.unpack("<IfQQ", s[:24]) == (3, 0.0, i, 0)
        header, img = mx.recordio.unpack_img(s)
        assert header.flag == 3
        assert header.label.dtype == np.float32
        assert_array_equal(header.label, want)
        assert_array_equal(img, bgr[i])
    r.close()


def test_pack_unpack():
    s = mx.recordio.pack(mx.recordio.IRHeader(0, 3.0, 7, 0), b"xyz")
    assert s == struct.pack("<IfQQ", 0, 3.0, 7, 0) + b"xyz"
    h, rest = mx.recordio.unpack(s)
    assert h == mx.recordio.IRHeader(0, 3.0, 7, 0) and rest == b"xyz"
    # flag is forced to 0 for a number, and set to the size of an array label.
    s = mx.recordio.pack(mx.recordio.IRHeader(5, [1, 2], 1, 0), b"z")
    assert s[:8] == struct.pack("<If", 2, 0.0)
    h, rest = mx.recordio.unpack(s)
    assert_array_equal(h.label, [1, 2]) and rest == b"z"
    assert mx.recordio.unpack(mx.recordio.pack(mx.recordio.IRHeader(9, 1, 0, 0), b""))[0].flag == 0


@MXRS_ONLY
def test_pack_img_round_trips(tmp_path):
    bgr, _ = source_pixels()
    s = mx.recordio.pack_img(mx.recordio.IRHeader(0, 1.0, 4, 0), bgr[1], quality=3, img_fmt=".png")
    h, img = mx.recordio.unpack_img(s)
    assert h.id == 4
    assert_array_equal(img, bgr[1])
    gray = mx.recordio.unpack_img(s, 0)[1]
    assert gray.shape == (6, 8)
    s = mx.recordio.pack_img(mx.recordio.IRHeader(0, 1.0, 4, 0), bgr[1], quality=95)
    assert s[24:26] == b"\xff\xd8"  # a JPEG
    assert np.abs(mx.recordio.unpack_img(s, 1)[1].astype(int) - bgr[1]).max() <= 32
    # The iterator reads what pack_img writes.
    rec = tmp_path / "one.rec"
    w = mx.recordio.MXRecordIO(str(rec), "w")
    w.write(mx.recordio.pack_img(mx.recordio.IRHeader(0, 2.0, 0, 0), bgr[2], quality=1, img_fmt=".png"))
    w.close()
    it = mx.io.ImageRecordIter(path_imgrec=str(rec), data_shape=(3, 6, 8), batch_size=1)
    assert_array_equal(it.next().data[0].asnumpy()[0], source_pixels()[1][2])


def test_pickle_reopens(tmp_path):
    r = mx.recordio.MXRecordIO(fixture("recordio_raw.rec"), "r")
    assert r.read() == b"hello"
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.read() == b"hello"
    r2.close()
    r.close()


@MXRS_ONLY
def test_forbidden_in_another_process():
    r = mx.recordio.MXRecordIO(fixture("recordio_raw.rec"), "r")
    r.pid = os.getpid() + 1
    with pytest.raises(RuntimeError, match="multiple processes"):
        r.read()


def _corrupt_copy(tmp_path, offset, value):
    data = bytearray(Path(fixture("recordio_raw.rec")).read_bytes())
    data[offset] = value
    path = tmp_path / "bad.rec"
    path.write_bytes(bytes(data))
    return str(path)


@MXRS_ONLY
def test_corrupted_file_names_file_and_offset(tmp_path):
    path = _corrupt_copy(tmp_path, 17, 0x99)  # magic of record 1
    r = mx.recordio.MXRecordIO(path, "r")
    assert r.read() == b"hello"
    with pytest.raises(mx.base.MXNetError, match=r"bad\.rec.*offset 16"):
        r.read()
    r.close()
    path = _corrupt_copy(tmp_path, 0x2F, 0x00)  # cflag 3 chunk becomes cflag 0
    r = mx.recordio.MXRecordIO(path, "r")
    r.read(), r.read()
    with pytest.raises(mx.base.MXNetError, match=r"offset 40.*chunk flag 0"):
        r.read()
    r.close()
    trunc = tmp_path / "trunc.rec"
    trunc.write_bytes(Path(fixture("recordio_raw.rec")).read_bytes()[:40])
    r = mx.recordio.MXRecordIO(str(trunc), "r")
    r.read(), r.read()
    with pytest.raises(mx.base.MXNetError, match=r"trunc\.rec.*offset 28"):
        r.read()
    r.close()


@MXRS_ONLY
def test_missing_file_is_an_io_error(tmp_path):
    with pytest.raises(OSError, match="nope.rec"):
        mx.recordio.MXRecordIO(str(tmp_path / "nope.rec"), "r")
    with pytest.raises(ValueError, match="Invalid flag"):
        mx.recordio.MXRecordIO(str(tmp_path / "x.rec"), "a")

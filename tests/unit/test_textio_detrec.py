"""``mx.io.ImageDetRecordIter`` against real MXNet 1.9.1: the batches (data, padded labels,
pad, index, provide_data/label) of every deterministic case of tools/golden/textio_detrec.py
on tests/data/textio/det.rec, saved in tests/data/textio_detrec_golden.npz (random mirror,
pad, crop and colour jitter included: MXNet with preprocess_threads=1 draws as mxrs does); then
the random augmentations' invariants and the errors."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

ROOT = Path(__file__).resolve().parents[2]
GOLD = np.load(ROOT / "tests" / "data" / "textio_detrec_golden.npz")
REC = str(ROOT / "tests" / "data" / "textio" / "det.rec")


def _tool():
    spec = importlib.util.spec_from_file_location("_textio_detrec", ROOT / "tools" / "golden" / "textio_detrec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


def _check_case(case, got):
    assert repr(got["provide_data"]) == str(GOLD[f"{case}/provide_data"])
    assert repr(got["provide_label"]) == str(GOLD[f"{case}/provide_label"])
    assert len(got["batches"]) == int(GOLD[f"{case}/num_batches"])
    for k, batch in enumerate(got["batches"]):
        assert batch["pad"] == int(GOLD[f"{case}/{k}/pad"]), (case, k)
        np.testing.assert_array_equal(batch["index"], GOLD[f"{case}/{k}/index"])
        np.testing.assert_array_equal(batch["label"], GOLD[f"{case}/{k}/label"])
        np.testing.assert_allclose(batch["data"], GOLD[f"{case}/{k}/data"], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("case", sorted(TOOL.CASES))
def test_batches_match_mxnet(case):
    _check_case(case, TOOL.run_case(mx, case, TOOL.CASES[case]))


@pytest.mark.skipif(IS_MXNET, reason="mxrs's count of MXNet's decoding threads is patched")
@pytest.mark.parametrize("case", sorted(TOOL.CASES_8CPU))
def test_batches_match_mxnet_on_8_cpus(case, monkeypatch):
    """With several decoding threads MXNet splits the records among engines seeded
    (t + 1) * 233: the same draws as MXNet on an 8-CPU machine."""
    from mxrs.io import detrec

    monkeypatch.setattr(detrec, "_num_procs", lambda: 8)
    _check_case(case, TOOL.run_case(mx, case, TOOL.CASES_8CPU[case]))


def _labels(batch):
    """The objects of each image of a batch: (N, object_width) arrays."""
    out = []
    for row in batch.label[0].asnumpy():
        n = int(row[3])
        lab = row[4 : 4 + n]
        hw, ow = int(lab[0]), int(lab[1])
        out.append(lab[hw:].reshape(-1, ow))
    return out


def test_fixture_is_the_tools():
    """det.rec holds the tool's records (ids, labels, image sizes)."""
    rec = mx.recordio.MXRecordIO(REC, "r")
    for i, (h, w, c, label) in enumerate(TOOL.RECORDS):
        header, buf = mx.recordio.unpack(rec.read())
        img = mx.image.imdecode(buf, flag=0 if c == 1 else 1)
        assert header.id == 100 + i
        np.testing.assert_allclose(header.label, label, rtol=1e-6)
        assert img.shape[:2] == (h, w)
    assert rec.read() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(
            rand_crop_prob=1.0,
            min_crop_scales=0.3,
            max_crop_scales=0.9,
            min_crop_aspect_ratios=0.5,
            max_crop_aspect_ratios=2.0,
            min_crop_overlaps=0.1,
            max_crop_trials=50,
        ),
        dict(
            rand_crop_prob=1.0,
            num_crop_sampler=2,
            min_crop_scales=(0.3, 0.5),
            max_crop_scales=(0.6, 1.0),
            min_crop_object_coverages=(0.5, 0.0),
            crop_emit_mode="overlap",
            emit_overlap_thresh=0.5,
        ),
        dict(rand_pad_prob=1.0, max_pad_scale=3.0, fill_value=50),
        dict(rand_mirror_prob=0.5, rand_pad_prob=0.5, max_pad_scale=2.0, rand_crop_prob=0.5, min_crop_scales=0.5),
        dict(
            random_hue_prob=1.0,
            max_random_hue=20,
            random_saturation_prob=1.0,
            max_random_saturation=40,
            random_illumination_prob=1.0,
            max_random_illumination=30,
            random_contrast_prob=1.0,
            max_random_contrast=0.5,
        ),
        dict(shuffle=True, seed=3, inter_method=10),
    ],
)
def test_random_augmentations_keep_labels_valid(kwargs):
    """Random crops, pads and mirrors move the boxes with the image: every box stays inside
    [0, 1] and non-empty, the class ids are the records', and the data keeps its shape."""
    it = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 12, 12), batch_size=7, **kwargs)
    ids = {float(v) for *_, label in TOOL.RECORDS for v in np.array(label)[int(label[0]) :: int(label[1])]}
    for _ in range(3):
        it.reset()
        batch = it.next()
        assert batch.data[0].shape == (7, 3, 12, 12)
        data = batch.data[0].asnumpy()
        assert data.min() >= 0 and data.max() <= 255
        for objs in _labels(batch):
            assert objs.shape[0] >= 1
            assert set(objs[:, 0].tolist()) <= ids
            boxes = objs[:, 1:5]
            assert (boxes >= 0).all() and (boxes <= 1).all()
            assert (boxes[:, 2] > boxes[:, 0] - 1e-6).all() and (boxes[:, 3] > boxes[:, 1] - 1e-6).all()


def test_pad_fill_value_and_box_shift():
    """A pad of scale s puts the image inside a fill_value border: every box shrinks by s."""
    plain = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 16, 16), batch_size=7).next()
    padded = mx.io.ImageDetRecordIter(
        path_imgrec=REC, data_shape=(3, 16, 16), batch_size=7, rand_pad_prob=1.0, max_pad_scale=4.0, fill_value=7
    ).next()
    for a, b in zip(_labels(plain), _labels(padded)):
        wa = a[:, 3] - a[:, 1]
        wb = b[:, 3] - b[:, 1]
        ratio = wb / wa
        assert np.allclose(ratio, ratio[0], rtol=1e-4) and ratio[0] <= 1.0
    assert (padded.data[0].asnumpy() == 7).any()


def test_mean_img_is_computed_then_loaded(tmp_path):
    path = str(tmp_path / "mean.nd")
    it = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=7, mean_img=path, scale=0.5)
    raw = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=7).next().data[0].asnumpy()
    saved = mx.nd.load(path)
    mean = saved["mean_img"].asnumpy()
    np.testing.assert_allclose(mean, (raw * 0.5).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(it.next().data[0].asnumpy(), (raw - mean) * 0.5, rtol=1e-5, atol=1e-4)
    again = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=7, mean_img=path)
    np.testing.assert_allclose(again.next().data[0].asnumpy(), raw - mean, rtol=1e-5, atol=1e-4)


def test_shuffle_is_a_permutation_per_epoch():
    it = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=7, shuffle=True, seed=1)
    orders = []
    for _ in range(3):
        it.reset()
        orders.append(tuple(int(i) for i in it.next().index))
    assert all(sorted(o) == list(range(100, 107)) for o in orders)
    assert len(set(orders)) > 1


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's prefetcher fails on it (TBlob type check)")
def test_dtype_float16():
    it = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, dtype="float16")
    assert it.next().data[0].dtype == np.float16


@pytest.mark.skipif(IS_MXNET, reason="MXNet reports these from its C++ threads with other messages")
def test_errors(tmp_path):
    with pytest.raises(mx.base.MXNetError, match="label_pad_width 5 is smaller"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, label_pad_width=5)
    with pytest.raises(mx.base.MXNetError, match="label_width is set to 7"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, label_width=7)
    with pytest.raises(mx.base.MXNetError, match="data_shape"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(2, 8, 8), batch_size=2)
    with pytest.raises(mx.base.MXNetError, match="Cannot find argument 'rand_crop'"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, rand_crop=True)
    with pytest.raises(mx.base.MXNetError, match="crop scales"):
        mx.io.ImageDetRecordIter(
            path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, min_crop_scales=0.9, max_crop_scales=0.5
        )
    with pytest.raises(mx.base.MXNetError, match="Expected 4 channels"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(4, 8, 8), batch_size=2).next()
    with pytest.raises(mx.base.MXNetError, match="bigger than batch size"):
        mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=20).next()
    lst = tmp_path / "l.lst"
    lst.write_text("100\t2\t5\t1\t0.1\t0.1\t0.5\t0.5\ta.png\n")
    it = mx.io.ImageDetRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2, path_imglist=str(lst))
    with pytest.raises(mx.base.MXNetError, match="fail to find imagelabel for id 101"):
        it.next()
    bad = tmp_path / "bad.rec"
    w = mx.recordio.MXRecordIO(str(bad), "w")
    png = TOOL.png(np.zeros((4, 4, 3), np.uint8))
    w.write(mx.recordio.pack(mx.recordio.IRHeader(0, [2, 5, 1, 0.1, 0.1, 0.5], 1, 0), png))
    w.close()
    with pytest.raises(mx.base.MXNetError, match="at least 7 values"):
        mx.io.ImageDetRecordIter(path_imgrec=str(bad), data_shape=(3, 8, 8), batch_size=1).next()


@pytest.mark.skipif(IS_MXNET, reason="mxrs's HLS helpers (MXNet calls OpenCV's cvtColor)")
def test_hls_conversions_match_opencv():
    """The colour jitter's RGB <-> HLS follows OpenCV's 8-bit cvtColor (values from OpenCV)."""
    from mxrs.io import _detaug

    rgb = np.array(
        [
            [
                [0, 0, 0],
                [255, 255, 255],
                [128, 128, 128],
                [255, 0, 0],
                [0, 255, 0],
                [0, 0, 255],
                [10, 10, 11],
                [200, 100, 100],
            ]
        ],
        dtype=np.uint8,
    )
    hls = [
        [0, 0, 0],
        [0, 255, 0],
        [0, 128, 0],
        [0, 128, 255],
        [60, 128, 255],
        [120, 128, 255],
        [120, 10, 12],
        [0, 150, 121],
    ]
    np.testing.assert_array_equal(_detaug._rgb_to_hls_u8(rgb)[0], hls)
    shifted = np.array([[[22, 0, 0], [11, 255, 0], [3, 111, 21], [0, 143, 233]]], dtype=np.int32)
    np.testing.assert_array_equal(
        _detaug._hls_to_rgb_u8(shifted)[0], [[0, 0, 0], [255, 255, 255], [120, 104, 102], [245, 41, 41]]
    )


@pytest.mark.skipif(IS_MXNET, reason="mxrs's chunking helper")
def test_shuffle_chunks_are_8mb_runs_of_records():
    from mxrs.io.detrec import _chunks

    mb = 1 << 20
    spans = [(0, 3 * mb), (3 * mb, 7 * mb), (7 * mb, 9 * mb), (9 * mb, 20 * mb), (20 * mb, 21 * mb)]
    assert [[pos for pos, _ in chunk] for chunk in _chunks(spans)] == [[0, 3 * mb], [7 * mb], [9 * mb], [20 * mb]]
    assert _chunks([]) == []

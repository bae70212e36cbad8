"""mx.io iterators: NDArrayIter and CSVIter against golden values from real MXNet 1.9.1
(tools/golden/io_golden.py), ImageRecordIter against imagerecorditer_expected.params."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from _fixtures import FIXTURES as _FIXTURES
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal

FIXTURES = _FIXTURES
GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data/io_golden.json").read_text())
MXRS_ONLY = pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")


def fixture(name):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} not available")
    return str(path)


def batches(it, epochs, labels_only=False):
    out = []
    for _ in range(epochs):
        ep = []
        for b in it:
            rec = {"label": [lab.asnumpy().tolist() for lab in (b.label or [])], "pad": b.pad}
            if not labels_only:
                rec["data"] = [d.asnumpy().tolist() for d in b.data]
            ep.append(rec)
        out.append(ep)
        it.reset()
    return out


def descs(it):
    return {
        "provide_data": [[d.name, list(d.shape), np.dtype(d.dtype).name] for d in it.provide_data],
        "provide_label": [[d.name, list(d.shape), np.dtype(d.dtype).name] for d in it.provide_label],
    }


def check_golden(key, it, epochs):
    want = GOLDEN[key]
    assert batches(it, epochs) == want["epochs"]
    if "provide_data" in want:
        assert descs(it) == {k: want[k] for k in ("provide_data", "provide_label")}


DATA = np.arange(20).reshape(10, 2)
LABEL = np.arange(10)


@pytest.mark.parametrize("mode", ["pad", "discard", "roll_over"])
def test_ndarrayiter_last_batch_modes(mode):
    check_golden(f"ndarray_{mode}", mx.io.NDArrayIter(DATA, LABEL, 4, last_batch_handle=mode), 3)
    check_golden(f"ndarray_{mode}_b3", mx.io.NDArrayIter(DATA, LABEL, 3, last_batch_handle=mode), 4)


def test_ndarrayiter_pad_larger_than_data():
    check_golden("ndarray_pad_tile", mx.io.NDArrayIter(np.arange(3), None, 7), 1)


def test_ndarrayiter_list_and_dict_inputs():
    it = mx.io.NDArrayIter([np.zeros((4, 2)), np.ones((4, 3), dtype=np.int32)], [np.arange(4)], 2)
    check_golden("ndarray_list", it, 1)
    it = mx.io.NDArrayIter({"b": np.ones((4, 1)), "a": np.zeros((4, 2))}, {"lab": np.arange(4.0)}, 3)
    check_golden("ndarray_dict", it, 1)


def test_ndarrayiter_shuffle_uses_numpy_global_rng():
    np.random.seed(7)
    it = mx.io.NDArrayIter(DATA, LABEL, 4, shuffle=True)
    check_golden("ndarray_shuffle_seed7", it, 2)


def test_ndarrayiter_protocol():
    it = mx.io.NDArrayIter(DATA, LABEL, 4)
    assert it.provide_data == [("data", (4, 2))]
    assert it.provide_label[0].layout == "NCHW"
    assert it.iter_next()
    assert it.getpad() == 0 and it.getindex() is None
    assert_array_equal(it.getdata()[0].asnumpy(), DATA[:4])
    batch = it.next()
    assert batch.index is None
    assert_array_equal(batch.label[0].asnumpy(), LABEL[4:8])
    it = mx.io.NDArrayIter(DATA, batch_size=5)
    assert it.provide_label == [] and it.next().label == []
    if not IS_MXNET:  # MXNet 1.9.1 accepts any value here and fails later
        with pytest.raises(ValueError):
            mx.io.NDArrayIter(DATA, batch_size=2, last_batch_handle="bogus")


def test_databatch_and_datadesc():
    d = mx.io.DataDesc("x", (2, 3))
    assert d == ("x", (2, 3)) and d.dtype == np.float32 and d.layout == "NCHW"
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1
    assert mx.io.DataDesc.get_list([("a", (1,))], [("a", np.int32)])[0].dtype == np.int32
    b = mx.io.DataBatch([mx.nd.ones((2, 3))], [mx.nd.zeros((2,))], pad=1)
    assert "(2, 3)" in str(b) and b.pad == 1 and b.bucket_key is None


def _csv(tmp_path):
    d, lab = tmp_path / "d.csv", tmp_path / "l.csv"
    np.savetxt(d, np.arange(15).reshape(5, 3), delimiter=",", fmt="%g")
    np.savetxt(lab, np.arange(5) * 10, delimiter=",", fmt="%g")
    return str(d), str(lab)


def test_csviter(tmp_path):
    d, lab = _csv(tmp_path)
    check_golden("csv_round", mx.io.CSVIter(data_csv=d, data_shape=(3,), label_csv=lab, batch_size=2), 3)
    check_golden("csv_nolabel", mx.io.CSVIter(data_csv=d, data_shape=(3,), batch_size=2), 1)


@MXRS_ONLY
def test_csviter_without_round_batch_reports_true_pad(tmp_path):
    d, lab = _csv(tmp_path)
    it = mx.io.CSVIter(data_csv=d, data_shape=(3,), label_csv=lab, batch_size=2, round_batch=False)
    eps = batches(it, 2)
    assert eps[0] == eps[1]
    assert [b["pad"] for b in eps[0]] == [0, 0, 1]
    assert eps[0][2]["data"] == [[[12.0, 13.0, 14.0], [0.0, 0.0, 0.0]]]


def test_resize_and_prefetching_iters():
    base = mx.io.NDArrayIter(DATA, LABEL, 4)
    it = mx.io.ResizeIter(base, 5)
    labels = [b.label[0].asnumpy()[0] for b in it]
    assert labels == [0, 4, 8, 0, 4]
    it.reset()
    assert len(list(it)) == 5
    it = mx.io.PrefetchingIter(
        [mx.io.NDArrayIter(DATA, LABEL, 4), mx.io.NDArrayIter(DATA * 2, LABEL, 4, data_name="d2")],
        rename_data=[{"data": "a"}, {"d2": "b"}],
    )
    assert [d.name for d in it.provide_data] == ["a", "b"]
    for _ in range(2):
        got = [(b.data[0].asnumpy()[0, 0], b.data[1].asnumpy()[0, 0], b.pad) for b in it]
        assert got == [(0, 0, 0), (8, 16, 0), (16, 32, 2)]
        it.reset()


# ----------------------------------------------------------------------------- ImageRecordIter

EXPECTED_ARGS = {
    "A": dict(rec="img3_png", data_shape=(3, 4, 6), batch_size=3, mean_r=10, mean_g=20, mean_b=30, std_r=2,
              std_g=4, std_b=8, scale=0.5),
    "C": dict(rec="img3_png", data_shape=(3, 3, 4), batch_size=3, resize=3),
    "D": dict(rec="img2_multilabel", data_shape=(3, 6, 8), batch_size=2, label_width=3),
    "F": dict(rec="img3_jpg", data_shape=(3, 6, 8), batch_size=3),
}  # fmt: skip


def image_iter(rec, threads=1, **kw):
    return mx.io.ImageRecordIter(
        path_imgrec=fixture(rec + ".rec"), path_imgidx=fixture(rec + ".idx"), preprocess_threads=threads, **kw
    )


@pytest.fixture(scope="module")
def expected():
    return {k: v.asnumpy() for k, v in mx.nd.load(fixture("imagerecorditer_expected.params")).items()}


@pytest.fixture(scope="module")
def rgb_chw():
    return mx.nd.load(fixture("img3_source_pixels.params"))["rgb_chw"].asnumpy().astype(np.float32)


def first_batch(key, **extra):
    args = dict(EXPECTED_ARGS[key])
    it = image_iter(args.pop("rec"), **args, **extra)
    b = it.next()
    return b.data[0].asnumpy(), b.label[0].asnumpy(), b


def test_imagerecorditer_normalised_centre_crop(expected):
    data, label, b = first_batch("A")
    assert data.dtype == np.float32 and data.shape == (3, 3, 4, 6)
    assert_array_equal(data, expected["A_data"])
    assert_array_equal(label, expected["A_label"])
    assert b.pad == 0


def test_imagerecorditer_resize(expected):
    data, _, _ = first_batch("C")
    assert np.abs(data - expected["C_data"]).max() <= 1
    assert_array_equal(data[0, 0], [[4, 10, 16, 22], [14, 20, 26, 32], [24, 30, 36, 42]])


def test_imagerecorditer_multilabel(expected):
    _, label, _ = first_batch("D")
    assert label.shape == (2, 3)
    assert_array_equal(label, expected["D_label"])


def test_imagerecorditer_jpeg(expected):
    data, label, _ = first_batch("F")
    assert_array_equal(label, [0.5, 1.5, 2.5])
    # Another JPEG decoder than OpenCV's libjpeg-turbo: a few units apart at most.
    assert np.abs(data - expected["F_data"]).max() <= 8


def test_imagerecorditer_mirror_dtype_and_layout(rgb_chw):
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, mirror=True)
    assert it.provide_data == [("data", (3, 3, 6, 8))]
    assert it.provide_label == [("softmax_label", (3,))]
    assert_array_equal(it.next().data[0].asnumpy(), rgb_chw[..., ::-1])
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, dtype="uint8")
    d = it.next().data[0].asnumpy()
    assert d.dtype == np.uint8
    assert_array_equal(d, rgb_chw)


@pytest.mark.parametrize("bs", [2, 4])
def test_imagerecorditer_round_batch_epochs(bs):
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=bs)
    want = GOLDEN[f"imagerec_round_b{bs}"]
    assert batches(it, 3, labels_only=True) == want["epochs"]
    assert descs(it) == {k: want[k] for k in ("provide_data", "provide_label")}


@MXRS_ONLY
def test_imagerecorditer_no_round_batch_reports_true_pad():
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=2, round_batch=False)
    for _ in range(2):
        eps = batches(it, 1, labels_only=True)[0]
        assert eps == [{"label": [[0.0, 1.0]], "pad": 0}, {"label": [[2.0, 0.0]], "pad": 1}]


def test_imagerecorditer_parts():
    for part, want in [(0, [0.0, 1.0]), (1, [2.0])]:
        it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=1, num_parts=2, part_index=part)
        assert [b.label[0].asnumpy()[0] for b in it] == want


def test_imagerecorditer_shuffle_is_a_permutation_each_epoch():
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=1, shuffle=True, seed=1)
    for _ in range(4):
        assert sorted(b.label[0].asnumpy()[0] for b in it) == [0.0, 1.0, 2.0]
        it.reset()


@MXRS_ONLY
def test_imagerecorditer_random_augmentation_reproducible(rgb_chw):
    def run(threads):
        it = image_iter("img3_png", threads, data_shape=(3, 4, 5), batch_size=3, rand_crop=True,
                        rand_mirror=True, seed=5)  # fmt: skip
        return np.concatenate([b.data[0].asnumpy() for b in it])

    a = run(1)
    assert_array_equal(a, run(3))
    # Each output is some crop of the source, mirrored or not.
    for i in range(3):
        crops = [rgb_chw[i][:, y : y + 4, x : x + 5] for y in range(3) for x in range(4)]
        assert any(np.array_equal(a[i], c) or np.array_equal(a[i], c[..., ::-1]) for c in crops)


@MXRS_ONLY
def test_imagerecorditer_without_idx_and_with_imglist(tmp_path):
    it = mx.io.ImageRecordIter(path_imgrec=fixture("img3_png.rec"), data_shape=(3, 6, 8), batch_size=3)
    assert_array_equal(it.next().label[0].asnumpy(), [0, 1, 2])
    lst = tmp_path / "x.lst"
    lst.write_text("0\t5\ta.png\n1\t6\tb.png\n2\t7\tc.png\n")
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, path_imglist=str(lst))
    assert_array_equal(it.next().label[0].asnumpy(), [5, 6, 7])
    # Gray output.
    it = image_iter("img3_png", data_shape=(1, 6, 8), batch_size=3)
    assert it.next().data[0].shape == (3, 1, 6, 8)


@MXRS_ONLY
def test_imagerecorditer_errors(tmp_path):
    with pytest.raises(mx.base.MXNetError, match="label_width"):
        image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, label_width=2).next()
    with pytest.raises(mx.base.MXNetError, match="Cannot find argument"):
        image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, bogus=1)
    with pytest.raises(mx.base.NotSupported):
        image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3, max_rotate_angle=10)
    bad = bytearray(Path(fixture("img3_png.rec")).read_bytes())
    bad[116 + 40 : 116 + 60] = b"\x00" * 20  # inside record 1's PNG data
    path = tmp_path / "bad.rec"
    path.write_bytes(bytes(bad))
    it = mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 6, 8), batch_size=3)
    with pytest.raises(mx.base.MXNetError, match=r"bad\.rec.*offset 116"):
        it.next()


@MXRS_ONLY
def test_imagerecorditer_releases_the_gil():
    it = image_iter("img3_jpg", data_shape=(3, 6, 8), batch_size=3, resize=64, prefetch_buffer=1)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=tick)
    t.start()
    for _ in range(20):
        for _ in it:
            pass
        it.reset()
    stop.set()
    t.join()
    assert len(ticks) > 0


def test_imagerecorditer_matches_source_pixels(rgb_chw):
    it = image_iter("img3_png", data_shape=(3, 6, 8), batch_size=3)
    assert_allclose(it.next().data[0].asnumpy(), rgb_chw)


def test_imagerecord_typed_variants(rgb_chw):
    """ImageRecordUInt8Iter/Int8Iter and the _v1 names are ImageRecordIter with a fixed dtype."""
    kw = dict(
        path_imgrec=fixture("img3_png.rec"),
        path_imgidx=fixture("img3_png.idx"),
        data_shape=(3, 6, 8),
        batch_size=3,
        preprocess_threads=1,
    )
    for cls in (mx.io.ImageRecordUInt8Iter, mx.io.ImageRecordUInt8Iter_v1):
        it = cls(**kw)
        assert it.provide_data[0].dtype == np.uint8
        d = it.next().data[0].asnumpy()
        assert d.dtype == np.uint8
        assert_array_equal(d, rgb_chw)
    i8 = mx.io.ImageRecordInt8Iter(**kw).next().data[0].asnumpy()
    assert i8.dtype == np.int8
    ref = mx.io.ImageRecordIter(dtype="int8", **kw).next().data[0].asnumpy()
    assert_array_equal(i8, ref)
    v1 = mx.io.ImageRecordIter_v1(mirror=True, **kw).next().data[0].asnumpy()
    assert_array_equal(v1, rgb_chw[..., ::-1].astype(np.float32))
    with pytest.raises(mx.base.MXNetError, match="ImageRecordUInt8Iter.*dtype"):
        mx.io.ImageRecordUInt8Iter(dtype="float32", **kw)

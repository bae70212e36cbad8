"""Pickling and mx.nd.save / mx.nd.load, checked against real MXNet 1.9.1 files."""

import pickle
import struct
import time

import numpy as np
import pytest
from _fixtures import FIXTURES as _FIXTURES
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

MXRS_ONLY = pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")
FIXTURES = _FIXTURES


def fixture(name):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} not available")
    return path


def check(x, expected, dtype):
    assert isinstance(x, mx.nd.NDArray)
    expected = np.asarray(expected)
    assert x.shape == expected.shape
    assert x.dtype == np.dtype(dtype).type
    assert x.context == mx.cpu(0)
    assert_array_equal(x.asnumpy(), expected.astype(dtype))


def sample():
    return {"a": mx.nd.ones((2, 3)) * 2, "b": mx.nd.arange(3, dtype="int64")}


# --------------------------------------------------------------------------- pickle


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"])
def test_pickle_round_trip(dtype):
    x = mx.nd.array([[1, 2, 3], [4, 5, 6]], dtype=dtype)
    y = pickle.loads(pickle.dumps(x))
    assert isinstance(y, mx.nd.NDArray)
    assert y is not x
    check(y, [[1, 2, 3], [4, 5, 6]], dtype)


def test_pickle_round_trip_3d_and_protocols():
    x = mx.nd.arange(24).reshape((2, 3, 4)) / 7
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        y = pickle.loads(pickle.dumps(x, protocol=proto))
        assert_array_equal(y.asnumpy(), x.asnumpy())


def test_pickle_comes_back_on_cpu0():
    x = mx.nd.ones((2,), ctx=mx.cpu(1))
    assert pickle.loads(pickle.dumps(x)).context == mx.cpu(0)


def test_pickle_copy_is_independent():
    x = mx.nd.ones((2, 2))
    y = pickle.loads(pickle.dumps(x))
    y[:] = 5
    assert_array_equal(x.asnumpy(), np.ones((2, 2)))


def test_pickle_state_is_raw_record():
    raw = fixture("nd_rawbytes.bin").read_bytes()
    assert len(raw) == 56
    state = mx.nd.array([[1, 2], [3, 4]]).__getstate__()
    assert list(state) == ["handle"]
    assert isinstance(state["handle"], bytearray)
    assert bytes(state["handle"]) == raw
    assert len(mx.nd.ones((2, 3)).__getstate__()["handle"]) == 64


def test_pickle_setstate_from_raw_record():
    raw = fixture("nd_rawbytes.bin").read_bytes()
    z = mx.nd.NDArray(None)
    z.__setstate__({"handle": bytearray(raw)})
    check(z, [[1, 2], [3, 4]], "float32")


def test_pickle_inside_containers():
    data = {"w": mx.nd.ones((2,)), "l": [mx.nd.zeros((1,), dtype="int32")]}
    back = pickle.loads(pickle.dumps(data))
    check(back["w"], [1, 1], "float32")
    check(back["l"][0], [0], "int32")


# --------------------------------------------------------------------------- save / load


def test_save_load_single_ndarray_gives_list(tmp_path):
    f = str(tmp_path / "s.params")
    mx.nd.save(f, mx.nd.array([[1.5, -2.0], [0.25, 3.0]]))
    r = mx.nd.load(f)
    assert isinstance(r, list) and len(r) == 1
    check(r[0], [[1.5, -2.0], [0.25, 3.0]], "float32")


def test_save_load_list(tmp_path):
    f = str(tmp_path / "l.params")
    s = sample()
    mx.nd.save(f, [s["a"], s["b"]])
    r = mx.nd.load(f)
    assert isinstance(r, list) and len(r) == 2
    check(r[0], np.full((2, 3), 2), "float32")
    check(r[1], [0, 1, 2], "int64")


def test_save_load_dict_keeps_order(tmp_path):
    f = str(tmp_path / "d.params")
    s = sample()
    mx.nd.save(f, {"b": s["b"], "a": s["a"], "z": mx.nd.zeros((1,)), "c": mx.nd.ones((1,))})
    r = mx.nd.load(f)
    assert isinstance(r, dict)
    assert list(r) == ["b", "a", "z", "c"]
    check(r["a"], np.full((2, 3), 2), "float32")
    check(r["b"], [0, 1, 2], "int64")


def test_save_load_unicode_keys(tmp_path):
    f = str(tmp_path / "u.params")
    mx.nd.save(f, {"ключ": mx.nd.ones((1,)), "arg:fc1_weight": mx.nd.zeros((2,))})
    assert list(mx.nd.load(f)) == ["ключ", "arg:fc1_weight"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"])
def test_save_load_dtypes(tmp_path, dtype):
    f = str(tmp_path / "t.params")
    x = mx.nd.array([[0, 1, 2], [3, 4, 5]], dtype=dtype)
    mx.nd.save(f, {"x": x})
    check(mx.nd.load(f)["x"], [[0, 1, 2], [3, 4, 5]], dtype)


def test_save_load_ignores_context(tmp_path):
    f = str(tmp_path / "c.params")
    mx.nd.save(f, {"x": mx.nd.ones((2,), ctx=mx.cpu(3))})
    assert mx.nd.load(f)["x"].context == mx.cpu(0)


def test_save_empty_dict_loads_as_list(tmp_path):
    f = tmp_path / "e.params"
    mx.nd.save(str(f), {})
    assert mx.nd.load(str(f)) == []
    assert f.stat().st_size == 32
    g = tmp_path / "e2.params"
    mx.nd.save(str(g), [])
    assert mx.nd.load(str(g)) == []
    assert f.read_bytes() == g.read_bytes()


def test_saved_bytes_match_mxnet(tmp_path):
    s = sample()
    f = tmp_path / "d.params"
    mx.nd.save(str(f), {"a": s["a"], "b": s["b"]})
    assert f.read_bytes() == fixture("nd_dict.params").read_bytes()
    g = tmp_path / "l.params"
    mx.nd.save(str(g), [s["a"], s["b"]])
    assert g.read_bytes() == fixture("nd_list.params").read_bytes()
    h = tmp_path / "s.params"
    mx.nd.save(str(h), mx.nd.array([[1.5, -2.0], [0.25, 3.0]]))
    assert h.read_bytes() == fixture("nd_single.params").read_bytes()
    e = tmp_path / "e.params"
    mx.nd.save(str(e), [])
    assert e.read_bytes() == fixture("nd_empty.params").read_bytes()


def test_load_frombuffer():
    r = mx.nd.load_frombuffer(fixture("nd_dict.params").read_bytes())
    assert list(r) == ["a", "b"]
    check(r["b"], [0, 1, 2], "int64")
    r = mx.nd.load_frombuffer(fixture("nd_list.params").read_bytes())
    assert isinstance(r, list) and len(r) == 2


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda: {"a": 1},
        lambda: {1: mx.nd.ones((2,))},
        lambda: [mx.nd.ones((2,)), 1],
        lambda: {"a": np.ones(2)},
        lambda: [np.ones(2)],
    ],
    ids=[
        "dict-int-value",
        "dict-int-key",
        "list-with-int",
        "dict-numpy-value",
        "list-of-numpy",
    ],
)
def test_save_bad_contents_typeerror(tmp_path, make_bad):
    with pytest.raises(TypeError):
        mx.nd.save(str(tmp_path / "bad.params"), make_bad())


@pytest.mark.parametrize(
    "bad",
    [5, "x", None, np.ones(2), (1, 2)],
    ids=["int", "str", "None", "numpy", "tuple"],
)
def test_save_bad_container_valueerror(tmp_path, bad):
    with pytest.raises(ValueError):
        mx.nd.save(str(tmp_path / "bad.params"), bad)


def test_save_tuple_of_ndarrays_valueerror(tmp_path):
    with pytest.raises(ValueError):
        mx.nd.save(str(tmp_path / "bad.params"), (mx.nd.ones(1), mx.nd.ones(1)))


def test_load_missing_file(tmp_path):
    path = tmp_path / "does_not_exist.params"
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.load(str(path))
    assert "does_not_exist.params" in str(info.value)


@pytest.mark.parametrize("cut", [0, 4, 8, 16, 24, 30, 50, 64, 100, 140, 151, 152, 160, 169])
def test_load_truncated_file_raises(tmp_path, cut):
    path = tmp_path / "trunc.params"
    path.write_bytes(fixture("nd_dict.params").read_bytes()[:cut])
    with pytest.raises(mx.base.MXNetError):
        mx.nd.load(str(path))


def test_load_garbage_file_raises(tmp_path):
    path = tmp_path / "garbage.params"
    path.write_bytes(b"hello world this is not a params file at all" * 3)
    with pytest.raises(mx.base.MXNetError):
        mx.nd.load(str(path))


@MXRS_ONLY
def test_load_errors_name_the_file_mxrs(tmp_path):
    trunc = tmp_path / "trunc_file.params"
    trunc.write_bytes(fixture("nd_dict.params").read_bytes()[:50])
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.load(str(trunc))
    assert "trunc_file.params" in str(info.value)
    garbage = tmp_path / "garbage_file.params"
    garbage.write_bytes(b"\x00garbage" * 20)
    with pytest.raises(mx.base.MXNetError) as info:
        mx.nd.load(str(garbage))
    assert "garbage_file.params" in str(info.value)


def _header_claiming(dims):
    rec = struct.pack("<Iii", 0xF993FAC9, 0, len(dims))
    rec += b"".join(struct.pack("<q", d) for d in dims)
    rec += struct.pack("<iii", 1, 0, 0)  # cpu(0), float32
    rec += b"\x00" * 16  # a few bytes of "data"
    return struct.pack("<QQQ", 0x112, 0, 1) + rec + struct.pack("<Q", 0)


@MXRS_ONLY
@pytest.mark.parametrize("dims", [[2**60], [2**30, 2**30], [2**62, 4]])
def test_load_huge_claimed_size_fails_fast_mxrs(tmp_path, dims):
    path = tmp_path / "huge.params"
    path.write_bytes(_header_claiming(dims))
    t0 = time.monotonic()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.load(str(path))
    assert time.monotonic() - t0 < 5
    with pytest.raises(mx.base.MXNetError):
        mx.nd.load_frombuffer(path.read_bytes())


@pytest.mark.parametrize(
    "target",
    ["s3://mybucket/mydata.bin", "hdfs///users/myname/mydata.bin"],
)
def test_save_to_remote_fs_from_tutorial_raises(tmp_path, monkeypatch, target):
    # no S3/HDFS support; "hdfs///..." is a relative local path whose folder is missing
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mx.base.MXNetError):
        mx.nd.save(target, [mx.nd.ones((2, 3))])


# --------------------------------------------------------------------------- fixtures


def test_fixture_nd_dict():
    r = mx.nd.load(str(fixture("nd_dict.params")))
    assert isinstance(r, dict)
    assert list(r) == ["a", "b"]
    check(r["a"], np.full((2, 3), 2), "float32")
    check(r["b"], [0, 1, 2], "int64")


def test_fixture_nd_list():
    r = mx.nd.load(str(fixture("nd_list.params")))
    assert isinstance(r, list) and len(r) == 2
    check(r[0], np.full((2, 3), 2), "float32")
    check(r[1], [0, 1, 2], "int64")


def test_fixture_nd_single():
    r = mx.nd.load(str(fixture("nd_single.params")))
    assert isinstance(r, list) and len(r) == 1
    check(r[0], [[1.5, -2.0], [0.25, 3.0]], "float32")


def test_fixture_nd_empty():
    assert mx.nd.load(str(fixture("nd_empty.params"))) == []


def test_fixture_nd_dtypes():
    r = mx.nd.load(str(fixture("nd_dtypes.params")))
    assert list(r) == [
        "f32",
        "f64",
        "f16",
        "u8",
        "i32",
        "i8",
        "i64",
        "bool",
        "bf16",
        "f32_2x2x2",
    ]
    check(r["f32"], [1.0, -2.5, 3.140625], "float32")
    check(r["f64"], [1.0, -2.5, 1e-300], "float64")
    check(r["f16"], [1.0, -2.5, 65504.0], "float16")
    check(r["u8"], [0, 1, 255], "uint8")
    check(r["i32"], [-1, 0, 2147483647], "int32")
    check(r["i8"], [-128, 0, 127], "int8")
    check(r["i64"], [-1, 0, 1099511627776], "int64")
    check(r["bool"], [True, False, True], "bool")
    check(r["f32_2x2x2"], np.arange(8).reshape(2, 2, 2), "float32")


def test_fixture_nd_dtypes_bfloat16_raw_bits():
    bf = mx.nd.load(str(fixture("nd_dtypes.params")))["bf16"]
    assert bf.shape == (3,)
    raw = np.ascontiguousarray(bf.asnumpy()).view(np.uint16).ravel()
    assert raw.tolist() == [16256, 49184, 16457]


def test_fixture_nd_sparse():
    r = mx.nd.load(str(fixture("nd_sparse.params")))
    assert list(r) == ["rsp", "csr"]
    rsp, csr = r["rsp"], r["csr"]
    assert rsp.shape == (4, 2) and csr.shape == (3, 3)
    assert_array_equal(rsp.asnumpy(), [[0, 0], [1, 2], [0, 0], [3, 4]])
    assert_array_equal(csr.asnumpy(), [[5, 0, 6], [0, 0, 0], [0, 7, 0]])
    assert rsp.stype == "row_sparse"
    assert csr.stype == "csr"
    assert rsp.indices.dtype == np.int64
    assert_array_equal(rsp.indices.asnumpy(), [1, 3])
    assert_array_equal(csr.indptr.asnumpy(), [0, 2, 2, 3])
    assert_array_equal(csr.indices.asnumpy(), [0, 2, 1])
    assert_array_equal(csr.data.asnumpy(), [5, 6, 7])


@pytest.mark.skipif(not IS_MXNET, reason="MXNet 1.9.1 refuses V3 files outside np-shape mode; mxrs loads them")
def test_fixture_v3_rejected_outside_np_shape():
    with pytest.raises(mx.base.MXNetError):
        mx.nd.load(str(fixture("nd_npshape_v3.params")))


@pytest.mark.skipif(IS_MXNET, reason="mxrs behaviour beyond MXNet 1.9.1")
def test_fixture_v3_loads_mxrs():
    r = mx.nd.load(str(fixture("nd_npshape_v3.params")))
    assert isinstance(r, list) and len(r) == 2
    assert r[0].shape == () and r[0].asscalar() == 5.0
    assert r[1].shape == (2, 0) and r[1].size == 0


def test_fixture_v3_loads_in_np_shape_mode():
    path = fixture("nd_npshape_v3.params")
    if not hasattr(mx, "util") or not hasattr(mx.util, "np_shape"):
        pytest.skip("mx.util.np_shape not available")
    with mx.util.np_shape(True):
        r = mx.nd.load(str(path))
        assert isinstance(r, list) and len(r) == 2
        assert r[0].shape == ()
        assert r[0].dtype == np.float32
        assert float(r[0].asnumpy()) == 5.0
        assert r[1].shape == (2, 0)
        assert r[1].asnumpy().shape == (2, 0)


def test_fixture_imagerecorditer_cpu_pinned_records_load_on_cpu0():
    r = mx.nd.load(str(fixture("imagerecorditer_expected.params")))
    assert r["A_label"].context == mx.cpu(0)
    check(r["A_label"], [0, 1, 2], "float32")
    assert r["A_data"].shape == (3, 3, 4, 6)
    assert_array_equal(r["A_data"][0, 0, 0].asnumpy(), [-0.5, 0.25, 1.0, 1.75, 2.5, 3.25])

"""mx.io.LibSVMIter against the batches real MXNet 1.9.1 reads from the same files
(tests/data/libsvm_golden.json and tests/data/libsvm/, written by tools/golden/libsvm.py)."""

import json
import pathlib

import mxrs as mx
import numpy as np
import pytest

DATA = pathlib.Path(__file__).parents[1] / "data"
GOLD = json.loads((DATA / "libsvm_golden.json").read_text())["cases"]


def make(case):
    kw = {"data_libsvm": str(DATA / "libsvm" / case["data"]), "data_shape": tuple(case["data_shape"])}
    kw["batch_size"] = case["batch_size"]
    if "label" in case:
        kw.update(label_libsvm=str(DATA / "libsvm" / case["label"]), label_shape=tuple(case["label_shape"]))
    for k in ("num_parts", "part_index"):
        if k in case:
            kw[k] = case[k]
    return mx.io.LibSVMIter(**kw)


@pytest.mark.parametrize("gold", GOLD, ids=lambda g: "-".join(f"{k}{v}" for k, v in g["case"].items()))
def test_libsvm_iter_matches_mxnet(gold):
    it = make(gold["case"])
    assert list(it.provide_label[0].shape) == gold["provide_label"]
    for want_epoch in gold["epochs"]:
        got = list(it)
        assert len(got) == len(want_epoch)
        for b, want in zip(got, want_epoch, strict=True):
            assert b.data[0].stype == want["data_stype"] == "csr"
            assert b.label[0].stype == want["label_stype"]
            assert b.pad == want["pad"]
            np.testing.assert_allclose(b.data[0].asnumpy(), want["data"], rtol=1e-6)
            np.testing.assert_allclose(b.label[0].asnumpy(), want["label"], rtol=1e-6)
        it.reset()


def test_libsvm_iter_trains_a_sparse_linear_model():
    it = make({"data": "big.t", "data_shape": [6], "batch_size": 4})
    w = mx.nd.zeros((6, 1))
    for _ in range(3):
        for b in it:
            pred = mx.nd.sparse.dot(b.data[0], w)
            assert pred.shape == (4, 1)
            grad = mx.nd.sparse.dot(b.data[0], pred - b.label[0].reshape((4, 1)), transpose_a=True)
            w -= 0.05 * grad.tostype("default")
        it.reset()
    assert np.isfinite(w.asnumpy()).all() and np.abs(w.asnumpy()).sum() > 0


def test_libsvm_iter_bad_input(tmp_path):
    bad = tmp_path / "bad.t"
    bad.write_text("1 0:0.5\n2 7:1.0\n")
    with pytest.raises(mx.base.MXNetError, match="feature index 7.*zero-based"):
        mx.io.LibSVMIter(data_libsvm=str(bad), data_shape=(3,), batch_size=1)
    bad.write_text("1 0=0.5\n")
    with pytest.raises(mx.base.MXNetError, match="line 1"):
        mx.io.LibSVMIter(data_libsvm=str(bad), data_shape=(3,), batch_size=1)
    with pytest.raises(mx.base.MXNetError, match="no such file"):
        mx.io.LibSVMIter(data_libsvm=str(tmp_path / "missing.t"), data_shape=(3,), batch_size=1)
    with pytest.raises(mx.base.MXNetError, match="dimension of data_shape"):
        mx.io.LibSVMIter(data_libsvm=str(DATA / "libsvm" / "small.t"), data_shape=(3, 1), batch_size=1)
    with pytest.raises(mx.base.MXNetError, match="round_batch"):
        mx.io.LibSVMIter(data_libsvm=str(DATA / "libsvm" / "small.t"), data_shape=(3,), batch_size=1, round_batch=False)

"""``mx.test_utils`` data helpers and ``mx.io.MNISTIter``, on small files made here (no network).

The batch orders expected from ``MNISTIter`` are MXNet 1.9.1's; ``MXRS_TEST_TARGET=mxnet``
runs the file against MXNet (downloads through ``file://`` URLs are mxrs-only: MXNet uses
``requests``).
"""

import bz2
import gzip
import struct
import zipfile

import numpy as np
import pytest
from _target import IS_MXNET, mx

tu = mx.test_utils


def _write_idx(tmp_path, n, rows=28, cols=28, seed=0, prefix="", gz=False):
    rng = np.random.RandomState(seed)
    img = rng.randint(0, 256, size=(n, rows, cols)).astype(np.uint8)
    lab = (np.arange(n) % 10).astype(np.uint8)
    opener = gzip.open if gz else open
    ext = ".gz" if gz else ""
    img_path = tmp_path / f"{prefix}images-idx3-ubyte{ext}"
    lab_path = tmp_path / f"{prefix}labels-idx1-ubyte{ext}"
    with opener(img_path, "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, rows, cols) + img.tobytes())
    with opener(lab_path, "wb") as f:
        f.write(struct.pack(">II", 2049, n) + lab.tobytes())
    return str(img_path), str(lab_path), img, lab


def _labels(it):
    return [b.label[0].asnumpy().tolist() for b in it]


def test_mnist_iter_batches(tmp_path):
    img_path, lab_path, img, _ = _write_idx(tmp_path, 10)
    it = mx.io.MNISTIter(image=img_path, label=lab_path, batch_size=3, shuffle=False, silent=True)
    assert it.provide_data[0].name == "data" and it.provide_data[0].shape == (3, 1, 28, 28)
    assert it.provide_label[0].name == "softmax_label" and it.provide_label[0].shape == (3,)
    batches = list(it)
    assert len(batches) == 3  # the last incomplete batch is dropped
    first = batches[0]
    assert first.data[0].shape == (3, 1, 28, 28) and first.data[0].dtype == np.float32
    np.testing.assert_allclose(first.data[0].asnumpy()[:, 0], img[:3] / 256.0, rtol=1e-6)
    assert first.label[0].asnumpy().tolist() == [0.0, 1.0, 2.0] and first.pad == 0
    it.reset()
    assert len(list(it)) == 3


@pytest.mark.skipif(IS_MXNET, reason="mxrs's error types")
def test_mnist_iter_bad_input(tmp_path):
    from mxrs.base import MXNetError, MXNetIOError

    img_path, lab_path, _, _ = _write_idx(tmp_path, 4)
    with pytest.raises(MXNetIOError, match="cannot read"):
        mx.io.MNISTIter(image=str(tmp_path / "missing"), label=lab_path)
    (tmp_path / "short").write_bytes(b"\0\0\x08")
    with pytest.raises(MXNetIOError, match="invalid mnist format"):
        mx.io.MNISTIter(image=str(tmp_path / "short"), label=lab_path)
    (tmp_path / "cut").write_bytes(struct.pack(">IIII", 2051, 100, 28, 28) + bytes(10))
    with pytest.raises(MXNetIOError, match="file is shorter"):
        mx.io.MNISTIter(image=str(tmp_path / "cut"), label=lab_path)
    with pytest.raises(MXNetError, match="unknown parameters"):
        mx.io.MNISTIter(image=img_path, label=lab_path, bogus=1)
    with pytest.raises(MXNetError, match="part_index"):
        mx.io.MNISTIter(image=img_path, label=lab_path, num_parts=2, part_index=2)
    with pytest.raises(MXNetError, match="batch_size"):
        mx.io.MNISTIter(image=img_path, label=lab_path, batch_size=0)


def test_mnist_iter_shuffle_flat_and_parts_as_mxnet(tmp_path):
    img_path, lab_path, _, _ = _write_idx(tmp_path, 10)
    it = mx.io.MNISTIter(image=img_path, label=lab_path, batch_size=3, shuffle=True, flat=True, silent=True)
    assert it.provide_data[0].shape == (3, 784)
    assert _labels(it) == [[0.0, 2.0, 3.0], [5.0, 9.0, 1.0], [6.0, 8.0, 4.0]]
    it = mx.io.MNISTIter(image=img_path, label=lab_path, batch_size=2, seed=5, silent=True)
    assert _labels(it) == [[2.0, 5.0], [6.0, 3.0], [9.0, 0.0], [1.0, 7.0], [8.0, 4.0]]
    it = mx.io.MNISTIter(image=img_path, label=lab_path, batch_size=2, shuffle=False, num_parts=3, part_index=1)
    assert _labels(it) == [[3.0, 4.0]]


def test_mnist_iter_shuffle_order_of_many_samples(tmp_path):
    # 3000 samples whose first pixels hold their index: MXNet 1.9.1 with seed 3 starts so.
    n = 3000
    img = np.zeros((n, 2, 2), np.uint8)
    img[:, 0, 0] = np.arange(n) % 256
    img[:, 0, 1] = np.arange(n) // 256
    (tmp_path / "img").write_bytes(struct.pack(">IIII", 2051, n, 2, 2) + img.tobytes())
    (tmp_path / "lab").write_bytes(struct.pack(">II", 2049, n) + bytes(n))
    it = mx.io.MNISTIter(image=str(tmp_path / "img"), label=str(tmp_path / "lab"), batch_size=n, seed=3, silent=True)
    data = next(iter(it)).data[0].asnumpy() * 256
    order = (data[:, 0, 0, 0] + 256 * data[:, 0, 0, 1]).round().astype(int)
    assert sorted(order.tolist()) == list(range(n))
    assert order[:8].tolist() == _MNIST_SEED3_HEAD


# The first indices of MXNet 1.9.1's MNISTIter order for 3000 samples and seed=3.
_MNIST_SEED3_HEAD = [1890, 1165, 489, 144, 1130, 2624, 1327, 100]


def test_get_mnist_reads_files_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, img, _ = _write_idx(tmp_path, 12, prefix="train-", gz=True, seed=12)
    _write_idx(tmp_path, 5, prefix="t10k-", gz=True, seed=5)
    d = tu.get_mnist()
    assert d["train_data"].shape == (12, 1, 28, 28) and d["train_data"].dtype == np.float32
    assert d["test_data"].shape == (5, 1, 28, 28)
    assert d["train_label"].dtype == np.int8 and d["test_label"].tolist() == [0, 1, 2, 3, 4]
    assert 0.0 <= d["train_data"].min() and d["train_data"].max() <= 1.0
    np.testing.assert_allclose(d["train_data"][:, 0], img / 255.0, rtol=1e-6)


def test_get_mnist_iterator_reads_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for split, n in (("train-", 20), ("t10k-", 8)):
        _write_idx(data, n, prefix=split)
    train, val = tu.get_mnist_iterator(4, (784,))
    assert train.provide_data[0].shape == (4, 784)
    assert len(list(train)) == 5 and len(list(val)) == 2
    train, val = tu.get_mnist_iterator(4, (1, 28, 28), num_parts=2, part_index=1)
    assert val.provide_data[0].shape == (4, 1, 28, 28)
    assert _labels(val) == [[4.0, 6.0, 7.0, 5.0]]  # shuffled: MNISTIter shuffles by default


def test_get_cifar10_keeps_existing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "cifar").mkdir(parents=True)
    for name in ("train.rec", "test.rec", "train.lst", "test.lst"):
        (tmp_path / "data" / "cifar" / name).write_bytes(b"x")
    tu.get_cifar10()  # everything is there: nothing to download
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cifar"]


def test_dummy_iter():
    real = mx.io.NDArrayIter(np.arange(12.0).reshape(6, 2), np.arange(6.0), batch_size=2)
    it = tu.DummyIter(real)
    assert it.batch_size == 2 and it.provide_data == real.provide_data
    batches = [next(it) for _ in range(5)]
    assert all(b is batches[0] for b in batches)
    assert batches[0].data[0].asnumpy().tolist() == [[0.0, 1.0], [2.0, 3.0]]


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads with requests, which has no file:// URLs")
def test_download_file_urls(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    url = src.as_uri()
    out = tu.download(url, dirname=str(tmp_path / "out"))
    assert out == str(tmp_path / "out" / "src.bin") and open(out, "rb").read() == b"payload"
    src.write_bytes(b"changed")
    assert open(tu.download(url, dirname=str(tmp_path / "out")), "rb").read() == b"payload"  # kept
    out = tu.download(url, fname="copy.bin", dirname=str(tmp_path / "out"), overwrite=True)
    assert open(out, "rb").read() == b"changed"
    with pytest.raises(OSError):
        tu.download((tmp_path / "missing").as_uri(), dirname=str(tmp_path / "out"), retries=1)


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads with requests, which has no file:// URLs")
def test_get_zip_and_bz2_data(tmp_path):
    z = tmp_path / "src" / "arch.zip"
    z.parent.mkdir()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inner.txt", "hello")
    tu.get_zip_data(str(tmp_path / "d"), z.as_uri(), "arch.zip")
    assert (tmp_path / "d" / "inner.txt").read_text() == "hello"
    b = tmp_path / "src" / "f.txt.bz2"
    b.write_bytes(bz2.compress(b"line1\nline2\n"))
    tu.get_bz2_data(str(tmp_path / "d"), "f.txt", b.as_uri(), "f.txt.bz2")
    assert (tmp_path / "d" / "f.txt").read_bytes() == b"line1\nline2\n"
    assert not (tmp_path / "d" / "f.txt.bz2").exists()


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads with requests, which has no file:// URLs")
def test_download_model(tmp_path):
    sym = tmp_path / "m-symbol.json"
    sym.write_text("{}")
    params = tmp_path / "m-0000.params"
    params.write_bytes(b"p")
    meta = {"m": {"symbol": sym.as_uri(), "params": params.as_uri()}}
    prefix, epoch = tu.download_model("m", dst_dir=str(tmp_path / "models"), meta_info=meta)
    assert epoch == 0 and open(prefix + "-symbol.json").read() == "{}"
    assert tu.download_model("unknown", dst_dir=str(tmp_path / "models"), meta_info=meta) == (None, 0)


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads from data.mxnet.io instead")
def test_mnist_helpers_use_gluons_mnist_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    root = home / "datasets" / "mnist"
    root.mkdir(parents=True)
    _, _, img, _ = _write_idx(root, 6, prefix="train-", gz=True, seed=1)
    _write_idx(root, 3, prefix="t10k-", gz=True, seed=2)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MXNET_HOME", str(home))
    d = tu.get_mnist()
    np.testing.assert_allclose(d["train_data"][:, 0], img / 255.0, rtol=1e-6)
    assert d["test_label"].tolist() == [0, 1, 2]
    train, val = tu.get_mnist_iterator(2, (784,))  # unpacks the .gz files into ./data
    assert sorted(p.name for p in (work / "data").iterdir()) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    )
    assert len(list(train)) == 3 and len(list(val)) == 1

"""gluon.data against MXNet 1.9.1: datasets, samplers, DataLoader, vision datasets and transforms.

Golden values: ``tools/golden/gluon_data.py`` (``tests/data/gluon_data_golden.npz``).
"""

import gzip
import hashlib
import inspect
import json
import pickle
import random
import subprocess
import sys
import threading
from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from mxrs.gluon import data as gdata
from mxrs.gluon.data import _procpool
from mxrs.gluon.data.vision import _image
from mxrs.gluon.data.vision import transforms as T

G = np.load(Path(__file__).resolve().parents[1] / "data" / "gluon_data_golden.npz")
INFO = json.loads(str(G["batching_json"]))


def nd(a):
    return mx.nd.array(a, dtype=a.dtype)


# ---------------------------------------------------------------- datasets and samplers


def test_dataset_methods_match_mxnet():
    ds = gdata.SimpleDataset(list(range(10)))
    assert [list(ds.shard(4, i)) for i in range(4)] == INFO["shard"]
    assert list(ds.take(3)) + [len(ds.take(None)), len(ds.take(20))] == INFO["take"]
    assert list(ds.filter(lambda x: x % 3 == 0)) == INFO["filter"]
    assert list(ds.transform(lambda x: x * 2)) == INFO["transform"]
    assert list(ds.transform(lambda x: x * 2, lazy=False)) == INFO["transform"]
    pairs = gdata.ArrayDataset(list(range(4)), list("abcd"))
    assert [list(s) for s in pairs.transform_first(lambda x: x + 10)] == INFO["transform_first"]
    assert list(ds.sample(gdata.SequentialSampler(3, 5))) == [5, 6, 7]
    with pytest.raises(TypeError):
        ds.sample([1, 2])


def test_array_dataset():
    x = mx.nd.arange(12).reshape((6, 2))
    y = mx.nd.arange(6)
    ds = gdata.ArrayDataset(x, y)
    a, b = ds[2]
    assert isinstance(a, mx.nd.NDArray) and a.asnumpy().tolist() == [4.0, 5.0]
    assert isinstance(b, np.float32) and b == 2  # a 1-D NDArray is kept as numpy, as MXNet
    assert gdata.ArrayDataset(x)[1].shape == (2,)
    with pytest.raises(AssertionError):
        gdata.ArrayDataset(x, mx.nd.arange(5))


def test_batch_sampler_matches_mxnet():
    sampler = gdata.BatchSampler(gdata.SequentialSampler(10), 3, "rollover")
    assert [list(sampler) for _ in range(3)] + [len(sampler)] == INFO["rollover"]
    assert list(gdata.BatchSampler(gdata.SequentialSampler(10), 3, "keep")) == INFO["keep"]
    assert list(gdata.BatchSampler(gdata.SequentialSampler(10), 3, "discard")) == INFO["discard"]
    with pytest.raises(ValueError, match="last_batch"):
        list(gdata.BatchSampler(gdata.SequentialSampler(10), 3, "bad"))
    r = list(gdata.RandomSampler(20))
    assert sorted(r) == list(range(20)) and len(gdata.RandomSampler(20)) == 20
    f = gdata.FilterSampler(lambda s: s > 2, [1, 5, 2, 7])
    assert list(f) == [1, 3] and len(f) == 2


def test_default_batchify_matches_mxnet():
    cases = {
        "nd_int": [(mx.nd.ones((2,)) * i, i) for i in range(3)],
        "np_float": [(np.ones(2) * i, np.float32(i)) for i in range(3)],
        "float_list": [0.5, 1.5],
        "int8_nd": [mx.nd.array([i], dtype=np.int8) for i in range(2)],
    }
    for key, samples in cases.items():
        batch = gdata.dataloader.default_batchify_fn(samples)
        parts = batch if isinstance(batch, list) else [batch]
        got = [[type(p).__name__, np.dtype(p.dtype).name, list(p.shape), p.asnumpy().ravel().tolist()] for p in parts]
        assert got == INFO[key], key


# ---------------------------------------------------------------- DataLoader


def _pairs(n=23):
    return gdata.ArrayDataset(mx.nd.arange(2 * n).reshape((n, 2)), np.arange(n))


@pytest.mark.parametrize("workers,threads", [(0, False), (2, True), (2, False)])
def test_dataloader_order_and_last_batch(workers, threads):
    ds = _pairs()
    loader = gdata.DataLoader(ds, 5, num_workers=workers, thread_pool=threads, last_batch="keep")
    assert loader._process_pool == (workers > 0 and not threads)
    for _ in range(2):
        batches = list(loader)
        assert [b[1].shape[0] for b in batches] == [5, 5, 5, 5, 3]
        assert np.concatenate([b[1].asnumpy() for b in batches]).tolist() == list(range(23))
        assert batches[0][0].dtype == np.float32 and batches[0][0].shape == (5, 2)
    assert len(loader) == 5
    # An epoch abandoned half-way does not leak its batches into the next.
    next(iter(loader))
    assert [b[1].asnumpy()[0] for b in loader] == [0, 5, 10, 15, 20]
    discard = gdata.DataLoader(ds, 5, shuffle=True, last_batch="discard", num_workers=workers, thread_pool=threads)
    got = np.concatenate([b[1].asnumpy() for b in discard])
    assert len(got) == 20 and len(set(got.tolist())) == 20


def test_dataloader_argument_checks():
    ds = _pairs()
    with pytest.raises(ValueError, match="batch_size must be specified"):
        gdata.DataLoader(ds)
    with pytest.raises(ValueError, match="shuffle must not be specified"):
        gdata.DataLoader(ds, 2, shuffle=True, sampler=gdata.SequentialSampler(3))
    bs = gdata.BatchSampler(gdata.SequentialSampler(4), 2)
    with pytest.raises(ValueError, match="must not be specified if batch_sampler"):
        gdata.DataLoader(ds, 2, batch_sampler=bs)
    loader = gdata.DataLoader(ds, batch_sampler=bs, batchify_fn=lambda s: [len(s)], pin_memory=True)
    assert list(loader) == [[2], [2]]
    pinned = gdata.DataLoader(ds, 4, pin_memory=True)
    assert next(iter(pinned))[0].context == mx.cpu_pinned(0)


class _Failing(gdata.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, idx):
        if idx == 2:
            raise KeyError(f"no sample {idx}")
        return np.float32(idx)


@pytest.mark.parametrize("threads", [True, False])
def test_worker_errors_reach_the_caller(threads):
    loader = gdata.DataLoader(_Failing(), 1, num_workers=2, thread_pool=threads)
    with pytest.raises(KeyError, match="no sample 2"):
        list(loader)


def test_unpicklable_dataset_falls_back_to_threads():
    ds = _pairs().transform_first(lambda x: x * 2)
    with pytest.warns(UserWarning, match="worker threads instead"):
        loader = gdata.DataLoader(ds, 10, num_workers=2)
    assert not loader._process_pool
    assert next(iter(loader))[0].asnumpy()[1].tolist() == [4.0, 6.0]
    with pytest.raises(_procpool.NotPortable):
        _procpool.portable_payload(lambda: 1)


class _Blocking(gdata.Dataset):
    def __init__(self):
        self.release = threading.Event()

    def __len__(self):
        return 2

    def __getitem__(self, idx):
        self.release.wait()
        return np.float32(idx)


def test_thread_worker_timeout():
    ds = _Blocking()
    loader = gdata.DataLoader(ds, 1, num_workers=1, thread_pool=True, timeout=0.2)
    with pytest.raises(_procpool.WorkerTimeout) as err:
        list(loader)
    ds.release.set()
    assert isinstance(err.value, mx.MXNetError)


def test_processes_are_not_forked_and_are_shared():
    # The workers are new interpreters whose command line is the worker entry point (a fork
    # would show pytest's), shared by every loader; interleaved epochs do not mix.
    a = gdata.DataLoader(_pairs(), 5, num_workers=2)
    b = gdata.DataLoader(gdata.SimpleDataset(list(range(100, 110))), 3, num_workers=1)
    assert a._worker_pool is b._worker_pool
    assert "mxrs.gluon.data._worker" in " ".join(a._worker_pool._procs[0].args)
    pairs = list(zip(a, b))
    assert [(x[1].asnumpy()[0], y.asnumpy()[0]) for x, y in pairs] == [(0, 100), (5, 103), (10, 106), (15, 109)]
    # A loader abandoned half-way leaves nothing kept for it.
    next(iter(b))
    assert [y.asnumpy()[0] for y in b] == [100, 103, 106, 109]
    assert not any(b._worker_pool._buffers)


# ---------------------------------------------------------------- vision datasets


def _write(root, name, key):
    Path(root, name).write_bytes(G[key].tobytes())


def test_mnist_reads_idx_like_mxnet(tmp_path):
    _write(tmp_path, "train-images-idx3-ubyte.gz", "mnist_images_idx_gz")
    _write(tmp_path, "train-labels-idx1-ubyte.gz", "mnist_labels_idx_gz")
    for cls in (gdata.vision.MNIST, gdata.vision.FashionMNIST):
        ds = cls(root=str(tmp_path), train=True)
        assert len(ds) == 6
        x, y = ds[4]
        assert x.shape == (28, 28, 1) and x.dtype == np.uint8 and type(y).__name__ == str(G["mnist_label_dtype"])
        np.testing.assert_array_equal(np.stack([ds[i][0].asnumpy() for i in range(6)]), G["mnist_x"])
        np.testing.assert_array_equal([ds[i][1] for i in range(6)], G["mnist_y"])
    # Uncompressed files are read too.
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, key in (
        ("t10k-images-idx3-ubyte", "mnist_images_idx_gz"),
        ("t10k-labels-idx1-ubyte", "mnist_labels_idx_gz"),
    ):
        (raw / name).write_bytes(gzip.decompress(G[key].tobytes()))
    ds = gdata.vision.MNIST(root=str(raw), train=False, transform=lambda x, y: (x.astype("float32") / 255, y))
    np.testing.assert_allclose(ds[1][0].asnumpy(), G["mnist_x"][1] / 255, rtol=1e-6)


def test_mnist_downloads_with_sha1_check(tmp_path, monkeypatch):
    repo = tmp_path / "repo" / "gluon" / "dataset" / "mnist"
    repo.mkdir(parents=True)
    _write(repo, "train-images-idx3-ubyte.gz", "mnist_images_idx_gz")
    _write(repo, "train-labels-idx1-ubyte.gz", "mnist_labels_idx_gz")
    monkeypatch.setenv("MXNET_GLUON_REPO", (tmp_path / "repo").as_uri() + "/")
    # The real SHA-1s do not match the small files: the download is refused.
    with pytest.raises(UserWarning, match="hash does not match"):
        gdata.vision.MNIST(root=str(tmp_path / "bad"), train=True)

    class Small(gdata.vision.MNIST):
        _train_data = ("train-images-idx3-ubyte.gz", hashlib.sha1(G["mnist_images_idx_gz"].tobytes()).hexdigest())
        _train_label = ("train-labels-idx1-ubyte.gz", hashlib.sha1(G["mnist_labels_idx_gz"].tobytes()).hexdigest())

    ds = Small(root=str(tmp_path / "good"), train=True)
    np.testing.assert_array_equal(ds[5][0].asnumpy(), G["mnist_x"][5])
    assert (tmp_path / "good" / "train-images-idx3-ubyte.gz").exists()


def test_default_roots(monkeypatch, tmp_path):
    default = inspect.signature(gdata.vision.FashionMNIST.__init__).parameters["root"].default
    assert default.endswith(str(Path(".mxnet") / "datasets" / "fashion-mnist")) or "MXNET_HOME" in default
    assert inspect.signature(gdata.vision.CIFAR10.__init__).parameters["root"].default.endswith("cifar10")


def test_cifar_reads_binary_like_mxnet(tmp_path):
    _write(tmp_path, "test_batch.bin", "cifar10_bin")
    ds = gdata.vision.CIFAR10(root=str(tmp_path), train=False)
    np.testing.assert_array_equal(np.stack([ds[i][0].asnumpy() for i in range(len(ds))]), G["cifar10_x"])
    np.testing.assert_array_equal([ds[i][1] for i in range(len(ds))], G["cifar10_y"])
    _write(tmp_path, "test.bin", "cifar100_bin")
    for fine in (False, True):
        ds = gdata.vision.CIFAR100(root=str(tmp_path), train=False, fine_label=fine)
        np.testing.assert_array_equal(ds[3][0].asnumpy(), G[f"cifar100_x_{fine}"][3])
        np.testing.assert_array_equal([ds[i][1] for i in range(len(ds))], G[f"cifar100_y_{fine}"])


def test_cifar_reads_python_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    x = G["cifar10_x"]
    batch = {b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), b"labels": G["cifar10_y"].tolist()}
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    ds = gdata.vision.CIFAR10(root=str(tmp_path), train=False)
    np.testing.assert_array_equal(ds[2][0].asnumpy(), x[2])
    assert ds[2][1] == G["cifar10_y"][2]


def test_image_record_and_folder_datasets(tmp_path):
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 256, (5 + i, 7, 3)).astype(np.uint8) for i in range(3)]
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "a.idx"), str(tmp_path / "a.rec"), "w")
    for i, img in enumerate(imgs):
        header = mx.recordio.IRHeader(0, float(i), i, 0)
        rec.write_idx(i, mx.recordio.pack_img(header, img[:, :, ::-1], img_fmt=".png"))
    rec.close()
    raw = gdata.RecordFileDataset(str(tmp_path / "a.rec"))
    assert len(raw) == 3 and isinstance(raw[0], bytes)
    ds = gdata.vision.ImageRecordDataset(str(tmp_path / "a.rec"))
    x, y = ds[2]
    np.testing.assert_array_equal(x.asnumpy(), imgs[2])  # RGB, as MXNet's imdecode
    assert y == 2.0
    gray = gdata.vision.ImageRecordDataset(str(tmp_path / "a.rec"), flag=0)[0][0]
    assert gray.shape == (5, 7, 1)
    for label, name in enumerate(["bus", "car"]):
        (tmp_path / "f" / name).mkdir(parents=True)
        png = mx.recordio.unpack(
            mx.recordio.pack_img(mx.recordio.IRHeader(0, 0, 0, 0), imgs[label][:, :, ::-1], img_fmt=".png")
        )[1]
        (tmp_path / "f" / name / "0.png").write_bytes(png)
    (tmp_path / "f" / "car" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="Ignoring"):
        folder = gdata.vision.ImageFolderDataset(str(tmp_path / "f"))
    assert folder.synsets == ["bus", "car"] and len(folder) == 2
    np.testing.assert_array_equal(folder[1][0].asnumpy(), imgs[1])
    assert folder[1][1] == 1


# ---------------------------------------------------------------- transforms


def test_to_tensor_and_normalize_match_mxnet():
    np.testing.assert_allclose(T.ToTensor()(nd(G["img_u8"])).asnumpy(), G["to_tensor_u8"], rtol=1e-6)
    np.testing.assert_allclose(T.ToTensor()(nd(G["img_nhwc"])).asnumpy(), G["to_tensor_nhwc"], rtol=1e-6)
    chw = mx.nd.array(G["to_tensor_u8"])
    norm = T.Normalize(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))(chw).asnumpy()
    np.testing.assert_allclose(norm, G["normalize_chw"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.4, 0.2)(chw).asnumpy(), G["normalize_scalar"], rtol=1e-6, atol=1e-6)
    assert T.Cast()(nd(G["img_u8"])).dtype == np.float32
    assert T.Cast("float16")(nd(G["img_u8"])).dtype == np.float16


@pytest.mark.parametrize(
    "key,src,size,keep,interp",
    [
        ("resize_u8_5", "img_u8", 5, False, 1),
        ("resize_u8_wh", "img_u8", (12, 4), False, 1),
        ("resize_u8_keep", "img_u8", 4, True, 1),
        ("resize_f32_wh", "img_f32", (5, 11), False, 1),
        ("resize_u8_nearest", "img_u8", (13, 5), False, 0),
        ("resize_nhwc", "img_nhwc", (4, 3), False, 1),
        ("resize_gray", "img_gray", 9, False, 1),
    ],
)
def test_resize_matches_mxnet(key, src, size, keep, interp):
    got = T.Resize(size, keep_ratio=keep, interpolation=interp)(nd(G[src])).asnumpy()
    assert got.shape == G[key].shape and got.dtype == G[key].dtype
    tol = 1e-3 if got.dtype == np.float32 else 1  # OpenCV's fixed-point rounding of uint8
    np.testing.assert_allclose(got.astype(np.float64), G[key], atol=tol)


@pytest.mark.parametrize("kind", ["brightness", "contrast", "saturation", "hue"])
@pytest.mark.parametrize("tag", ["u8", "f32"])
@pytest.mark.parametrize("factor", [0.6, 1.3])
def test_colour_kernels_match_mxnet(kind, tag, factor):
    x = G[f"img_{tag}"]
    got = getattr(_image, f"adjust_{kind}")(x, factor)
    want = G[f"{kind}_{tag}_{factor}"]
    assert got.dtype == want.dtype
    atol = 1 if tag == "u8" else 2e-3 * 255
    np.testing.assert_allclose(got.astype(np.float64), want, atol=atol, rtol=1e-5)


def test_lighting_and_crops_match_mxnet():
    for tag in ("u8", "f32"):
        got = _image.adjust_lighting(G[f"img_{tag}"], (0.3, -0.2, 0.1))
        np.testing.assert_allclose(got.astype(np.float64), G[f"lighting_{tag}"], atol=1 if tag == "u8" else 1e-3)
    big = nd(G["img_big"])
    np.testing.assert_array_equal(T.CenterCrop((10, 8))(big).asnumpy(), G["center_crop_10x8"])
    np.testing.assert_allclose(T.CenterCrop((40, 36))(big).asnumpy(), G["center_crop_up"], atol=1)
    crop = T.RandomResizedCrop((12, 10))
    for seed in range(5):
        random.seed(seed)
        np.testing.assert_allclose(crop(big).asnumpy(), G["random_size_crop"][seed], atol=1)


def test_random_transforms_keep_shape_and_range():
    x = nd(G["img_u8"])
    np.random.seed(0)
    for t in (
        T.RandomFlipLeftRight(),
        T.RandomFlipTopBottom(),
        T.RandomBrightness(0.3),
        T.RandomContrast(0.3),
        T.RandomSaturation(0.3),
        T.RandomHue(0.1),
        T.RandomColorJitter(0.2, 0.2, 0.2, 0.1),
        T.RandomLighting(0.1),
    ):
        out = t(x)
        assert out.shape == x.shape and out.dtype == np.uint8, t
    flips = {T.RandomFlipLeftRight()(x).asnumpy().tobytes() for _ in range(16)}
    assert flips == {G["img_u8"].tobytes(), G["img_u8"][:, ::-1].tobytes()}
    composed = T.Compose([T.Resize(4), T.ToTensor(), T.Normalize(0.5, 0.5)])
    assert composed(x).shape == (3, 4, 4)
    assert isinstance(composed, mx.gluon.nn.Sequential)
    assert all(isinstance(t, mx.gluon.HybridBlock) for t in composed)
    composed.hybridize()
    np.testing.assert_allclose(composed(x).asnumpy(), (T.ToTensor()(T.Resize(4)(x)).asnumpy() - 0.5) / 0.5, rtol=1e-6)


# ---------------------------------------------------------------- install_as_mxnet


def test_install_as_mxnet():
    code = (
        "import mxrs, sys\n"
        "mxrs.install_as_mxnet()\n"
        "import mxnet as mx\n"
        "from mxnet import gluon, init, nd\n"
        "from mxnet.gluon import data as gdata\n"
        "import mxnet.gluon.data.vision.transforms as T\n"
        "assert mx is mxrs and nd is mxrs.nd and init is mxrs.init\n"
        "assert gdata is mxrs.gluon.data and T is mxrs.gluon.data.vision.transforms\n"
        "assert sys.modules['mxnet.gluon.data'] is gdata\n"
        "assert mxrs.gluon.data.__spec__.name == 'mxrs.gluon.data'\n"
        "assert isinstance(mx.nd.ones(2), mxrs.nd.NDArray)\n"
        "try:\n"
        "    import mxnet.no_such_module\n"
        "except ModuleNotFoundError:\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

"""Downloads and test data sets of ``mx.test_utils`` (MNIST, CIFAR-10, zip/bz2 archives)."""

import bz2
import gzip
import logging
import os
import shutil
import zipfile

import numpy as np

from mxrs import io as _io
from mxrs.gluon.utils import _fetch

__all__ = [
    "download",
    "download_model",
    "get_mnist",
    "get_mnist_pkl",
    "get_mnist_ubyte",
    "get_mnist_iterator",
    "get_cifar10",
    "get_zip_data",
    "get_bz2_data",
    "get_im2rec_path",
    "DummyIter",
]

_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """Download ``url`` to ``fname`` (the URL's last part by default), in ``dirname`` if given
    (created if missing). An existing file is kept unless ``overwrite``. A failed attempt is
    retried ``retries`` times. Returns the file name."""
    assert retries >= 0, "Number of retries should be at least 0"
    if fname is None:
        fname = url.split("/")[-1]
    if dirname is None:
        dirname = os.path.dirname(fname)
    else:
        fname = os.path.join(dirname, fname)
    if dirname != "":
        os.makedirs(dirname, exist_ok=True)
    if not overwrite and os.path.exists(fname):
        logging.info("%s exists, skipping download", fname)
        return fname
    while retries + 1 > 0:
        try:
            tmp = fname + ".part"
            _fetch(url, tmp, True)
            os.replace(tmp, fname)
            break
        except Exception as e:
            retries -= 1
            if retries <= 0:
                raise e
            print(f"download failed, retrying, {retries} attempt{'s' if retries > 1 else ''} left")
    logging.info("downloaded %s into %s successfully", url, fname)
    return fname


_MODEL_URL = "http://data.mxnet.io/models/"
_MODELS = {
    "imagenet1k-inception-bn": "imagenet/inception-bn/Inception-BN",
    "imagenet1k-resnet-18": "imagenet/resnet/18-layers/resnet-18",
    "imagenet1k-resnet-34": "imagenet/resnet/34-layers/resnet-34",
    "imagenet1k-resnet-50": "imagenet/resnet/50-layers/resnet-50",
    "imagenet1k-resnet-101": "imagenet/resnet/101-layers/resnet-101",
    "imagenet1k-resnet-152": "imagenet/resnet/152-layers/resnet-152",
    "imagenet1k-resnext-50": "imagenet/resnext/50-layers/resnext-50",
    "imagenet1k-resnext-101": "imagenet/resnext/101-layers/resnext-101",
    "imagenet1k-resnext-101-64x4d": "imagenet/resnext/101-layers/resnext-101-64x4d",
    "imagenet11k-resnet-152": "imagenet-11k/resnet-152/resnet-152",
    "imagenet11k-place365ch-resnet-152": "imagenet-11k-place365-ch/resnet-152",
    "imagenet11k-place365ch-resnet-50": "imagenet-11k-place365-ch/resnet-50",
}


def _default_model_info():
    info = {}
    for name, stem in _MODELS.items():
        epoch = "0126" if name == "imagenet1k-inception-bn" else "0000"
        info[name] = {"symbol": f"{_MODEL_URL}{stem}-symbol.json", "params": f"{_MODEL_URL}{stem}-{epoch}.params"}
    return info


def download_model(model_name, dst_dir="./", meta_info=None):
    """Download a model's ``-symbol.json`` and ``-0000.params`` into ``dst_dir``; returns
    ``(path prefix, 0)``, or ``(None, 0)`` for an unknown ``model_name``. ``meta_info`` maps
    names to ``{'symbol': url, 'params': url}`` (MXNet's model list by default)."""
    meta_info = dict(_default_model_info() if meta_info is None else meta_info)
    if model_name not in meta_info:
        return (None, 0)
    if not os.path.isdir(dst_dir):
        os.mkdir(dst_dir)
    meta = dict(meta_info[model_name])
    assert "symbol" in meta, "missing symbol url"
    model_name = os.path.join(dst_dir, model_name)
    download(meta["symbol"], model_name + "-symbol.json")
    assert "params" in meta, "mssing parameter file url"
    download(meta["params"], model_name + "-0000.params")
    return (model_name, 0)


def _mnist_file(name):
    """``name`` (a gzip file) from the current directory, else from Gluon's MNIST folder,
    else downloaded from the Gluon repository and checked."""
    if os.path.exists(name):
        return name
    from mxrs.gluon.data.vision.datasets import MNIST, _default_root

    for candidate in (name, name[: -len(".gz")]):
        path = os.path.join(_default_root("mnist"), candidate)
        if os.path.exists(path):
            return path
    sha1 = {f[0]: f[1] for f in (MNIST._train_data, MNIST._train_label, MNIST._test_data, MNIST._test_label)}
    from mxrs.gluon.utils import _get_repo_file_url
    from mxrs.gluon.utils import download as gluon_download

    return gluon_download(_get_repo_file_url("gluon/dataset/mnist", name), path=name, sha1_hash=sha1[name])


def _read_mnist(label_name, image_name):
    from mxrs.gluon.data.vision.datasets import _read_idx

    label = _read_idx(_mnist_file(label_name)).astype(np.int8)
    image = _read_idx(_mnist_file(image_name))
    image = image.reshape(image.shape[0], 1, 28, 28).astype(np.float32) / 255
    return label, image


def get_mnist():
    """MNIST as a dict of NumPy arrays: ``train_data``/``test_data`` ``(N, 1, 28, 28)`` float32
    in [0, 1] and ``train_label``/``test_label`` int8.

    The four ``*-ubyte.gz`` files are read from the current directory, else from Gluon's
    MNIST folder (``$MXNET_HOME/datasets/mnist``), else downloaded from the Gluon repository
    (MXNet 1.9.1 downloaded them from data.mxnet.io into the current directory).
    """
    train_lbl, train_img = _read_mnist("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz")
    test_lbl, test_img = _read_mnist("t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    return {"train_data": train_img, "train_label": train_lbl, "test_data": test_img, "test_label": test_lbl}


def get_mnist_pkl():
    """Download ``mnist.pkl.gz`` into ``./data`` unless it is there."""
    os.makedirs("data", exist_ok=True)
    if not os.path.exists("data/mnist.pkl.gz"):
        download("http://deeplearning.net/data/mnist/mnist.pkl.gz", dirname="data")


def get_mnist_ubyte():
    """Make sure ``./data`` holds the four uncompressed MNIST IDX files: unpacked from
    Gluon's MNIST files where those are at hand, else from MXNet's ``mnist.zip``."""
    os.makedirs("data", exist_ok=True)
    missing = [f for f in _MNIST_FILES if not os.path.exists(os.path.join("data", f))]
    if not missing:
        return
    from mxrs.gluon.data.vision.datasets import _default_root

    root = _default_root("mnist")
    local = {f: os.path.join(root, f + ".gz") for f in missing}
    if all(os.path.exists(p) for p in local.values()):
        for f, path in local.items():
            with gzip.open(path, "rb") as src, open(os.path.join("data", f), "wb") as dst:
                shutil.copyfileobj(src, dst)
        return
    zip_file_path = download("http://data.mxnet.io/mxnet/data/mnist.zip", dirname="data")
    with zipfile.ZipFile(zip_file_path) as zf:
        zf.extractall("data")


def get_cifar10():
    """Make sure ``./data/cifar`` holds CIFAR-10's ``train.rec``/``test.rec``/``.lst`` files
    (downloading and unpacking MXNet's ``cifar10.zip`` when one is missing)."""
    os.makedirs("data", exist_ok=True)
    names = ("train.rec", "test.rec", "train.lst", "test.lst")
    if any(not os.path.exists(os.path.join("data", "cifar", n)) for n in names):
        zip_file_path = download("http://data.mxnet.io/mxnet/data/cifar10.zip", dirname="data")
        with zipfile.ZipFile(zip_file_path) as zf:
            zf.extractall("data")


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """``(train, val)`` :class:`mx.io.MNISTIter` over ``./data`` (see :func:`get_mnist_ubyte`);
    the data is flat unless ``input_shape`` has 3 dimensions."""
    get_mnist_ubyte()
    flat = len(input_shape) != 3
    common = {"batch_size": batch_size, "flat": flat, "num_parts": num_parts, "part_index": part_index}
    train = _io.MNISTIter(
        image="data/train-images-idx3-ubyte", label="data/train-labels-idx1-ubyte", shuffle=True, **common
    )
    val = _io.MNISTIter(image="data/t10k-images-idx3-ubyte", label="data/t10k-labels-idx1-ubyte", **common)
    return train, val


def get_zip_data(data_dir, url, data_origin_name):
    """Download the zip file ``url`` into ``data_dir`` as ``data_origin_name`` and unpack it
    there, unless that file exists."""
    data_origin_name = os.path.join(data_dir, data_origin_name)
    if not os.path.exists(data_origin_name):
        download(url, dirname=data_dir, overwrite=False)
        with zipfile.ZipFile(data_origin_name) as zip_file:
            zip_file.extractall(path=data_dir)


def get_bz2_data(data_dir, data_name, url, data_origin_name):
    """Download the bz2 file ``url`` into ``data_dir`` and decompress it to ``data_name``
    (removing the archive), unless ``data_name`` exists."""
    data_name = os.path.join(data_dir, data_name)
    data_origin_name = os.path.join(data_dir, data_origin_name)
    if not os.path.exists(data_name):
        download(url, fname=data_origin_name, dirname=data_dir, overwrite=False)
        with bz2.BZ2File(data_origin_name, "rb") as bz_file, open(data_name, "wb") as fout:
            shutil.copyfileobj(bz_file, fout)
        os.remove(data_origin_name)


def get_im2rec_path(home_env="MXNET_HOME"):
    """The path of the ``im2rec.py`` tool (``mxrs/tools/im2rec.py``; ``$MXNET_HOME`` first)."""
    roots = []
    if home_env in os.environ:
        roots.append(os.environ[home_env])
    roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package
    for root in roots:
        for parts in (("tools",), ("..", "..", "tools")):
            candidate = os.path.join(root, *parts, "im2rec.py")
            if os.path.isfile(candidate):
                return candidate
    raise OSError("Could not find path to tools/im2rec.py")


class DummyIter(_io.DataIter):
    """An iterator that returns the first batch of ``real_iter`` forever (for speed tests)."""

    def __init__(self, real_iter):
        super().__init__()
        self.real_iter = real_iter
        self.provide_data = real_iter.provide_data
        self.provide_label = real_iter.provide_label
        self.batch_size = real_iter.batch_size
        self.the_batch = next(real_iter)

    def __iter__(self):
        return self

    def next(self):
        """The first batch of the real iterator, every time (never ``StopIteration``)."""
        return self.the_batch

"""Vision datasets, as ``mxnet.gluon.data.vision.datasets``.

MNIST, Fashion-MNIST and CIFAR-10/100 read the official files from ``root``
(``$MXNET_HOME/datasets/<name>``, ``~/.mxnet/datasets/<name>`` by default). A file already
there is used as it is, compressed (``.gz``) or not; a missing one is downloaded from MXNet's
dataset repository (``$MXNET_GLUON_REPO``) and checked against its SHA-1, as MXNet does.
"""

import gzip
import os
import pickle
import struct
import tarfile
import warnings
from typing import Any

import numpy as np

from mxrs import _native, recordio
from mxrs import ndarray as nd
from mxrs.base import MXNetIOError
from mxrs.gluon.data import dataset
from mxrs.gluon.utils import _get_repo_file_url, check_sha1, download

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "ImageRecordDataset", "ImageFolderDataset"]


def data_dir():
    """MXNet's data directory: ``$MXNET_HOME``, else ``~/.mxnet``."""
    return os.getenv("MXNET_HOME", os.path.join(os.path.expanduser("~"), ".mxnet"))


def _default_root(name):
    return os.path.join(data_dir(), "datasets", name)


_MNIST_ROOT = _default_root("mnist")
_FASHION_MNIST_ROOT = _default_root("fashion-mnist")
_CIFAR10_ROOT = _default_root("cifar10")
_CIFAR100_ROOT = _default_root("cifar100")


def imdecode(buf, flag=1):
    """Decode JPEG/PNG bytes to an HWC ``uint8`` NDArray in RGB order (``flag=0``: HxWx1 gray)."""
    data, h, w, c = _native.imdecode(bytes(buf), int(flag), False)
    return nd.array(np.frombuffer(data, dtype=np.uint8).reshape((h, w, c)), dtype=np.uint8)


class _DownloadedDataset(dataset.Dataset):
    """Base of MNIST, CIFAR...: ``(data[i], label[i])``, through ``transform`` if given."""

    def __init__(self, root, transform):
        self._transform = transform
        self._data: Any = None
        self._label: Any = None
        root = os.path.expanduser(root)
        self._root = root
        if not os.path.isdir(root):
            os.makedirs(root)
        self._get_data()

    def __getitem__(self, idx):
        if self._transform is not None:
            return self._transform(self._data[idx], self._label[idx])
        return self._data[idx], self._label[idx]

    def __len__(self):
        return len(self._label)

    def _get_data(self):
        raise NotImplementedError


def _read_idx(path):
    """The array in an IDX file (``gzip``-compressed or not): magic ``0 0 type ndim``, then
    ``ndim`` big-endian uint32 sizes, then the data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fin:
        raw = fin.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise MXNetIOError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise MXNetIOError(f"{path}: header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


class MNIST(_DownloadedDataset):
    """MNIST handwritten digits: samples ``(image, label)``, the image a ``(28, 28, 1)``
    uint8 NDArray, the label a numpy int32.

    ``root`` holds ``train-images-idx3-ubyte.gz`` etc. (or the same names without ``.gz``);
    ``train`` picks the training or test set; ``transform(data, label)`` maps each sample.
    """

    _train_data = ("train-images-idx3-ubyte.gz", "6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d")
    _train_label = ("train-labels-idx1-ubyte.gz", "2a80914081dc54586dbdf242f9805a6b8d2a15fc")
    _test_data = ("t10k-images-idx3-ubyte.gz", "c3a25af1f52dad7f726cce8cacb138654b760d48")
    _test_label = ("t10k-labels-idx1-ubyte.gz", "763e7fa3757d93b0cdec073cef058b2004252c17")
    _namespace = "mnist"

    def __init__(self, root=_MNIST_ROOT, train=True, transform=None):
        self._train = train
        super().__init__(root, transform)

    def _local_or_download(self, name, sha1):
        for candidate in (name, name[: -len(".gz")]):
            path = os.path.join(self._root, candidate)
            if os.path.exists(path):
                return path
        url = _get_repo_file_url("gluon/dataset/" + self._namespace, name)
        return download(url, path=self._root, sha1_hash=sha1)

    def _get_data(self):
        data, label = (self._train_data, self._train_label) if self._train else (self._test_data, self._test_label)
        label_arr = _read_idx(self._local_or_download(*label)).astype(np.int32)
        data_arr = _read_idx(self._local_or_download(*data))
        if data_arr.shape[0] != label_arr.shape[0]:
            raise MXNetIOError(f"{self._root}: {data_arr.shape[0]} images but {label_arr.shape[0]} labels")
        data_arr = data_arr.reshape(data_arr.shape + (1,))
        self._data = nd.array(data_arr, dtype=data_arr.dtype)
        self._label = label_arr


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST, MNIST's drop-in replacement (same files, same samples)."""

    _train_data = ("train-images-idx3-ubyte.gz", "0cf37b0d40ed5169c6b3aba31069a9770ac9043d")
    _train_label = ("train-labels-idx1-ubyte.gz", "236021d52f1e40852b06a4c3008d8de8aef1e40b")
    _test_data = ("t10k-images-idx3-ubyte.gz", "626ed6a7c06dd17c0eec72fa3be1740f146a2863")
    _test_label = ("t10k-labels-idx1-ubyte.gz", "17f9ab60e7257a1620f4ad76bbbaf857c3920701")
    _namespace = "fashion-mnist"

    def __init__(self, root=_FASHION_MNIST_ROOT, train=True, transform=None):
        super().__init__(root, train, transform)


class CIFAR10(_DownloadedDataset):
    """CIFAR-10: samples ``(image, label)``, the image a ``(32, 32, 3)`` uint8 NDArray (HWC,
    RGB), the label a numpy int32.

    Reads the official binary batches (``data_batch_1.bin`` ... ``test_batch.bin``) from
    ``root`` or ``root/cifar-10-batches-bin``, else the official Python (pickle) batches from
    ``root/cifar-10-batches-py``; when none are there, downloads MXNet's copy of the binary
    archive and extracts it into ``root``.
    """

    _archive_file = ("cifar-10-binary.tar.gz", "fab780a1e191a7eda0f345501ccd62d20f7ed891")
    _train_data = [
        ("data_batch_1.bin", "aadd24acce27caa71bf4b10992e9e7b2d74c2540"),
        ("data_batch_2.bin", "c0ba65cce70568cd57b4e03e9ac8d2a5367c1795"),
        ("data_batch_3.bin", "1dd00a74ab1d17a6e7d73e185b69dbf31242f295"),
        ("data_batch_4.bin", "aab85764eb3584312d3c7f65fd2fd016e36a258e"),
        ("data_batch_5.bin", "26e2849e66a845b7f1e4614ae70f4889ae604628"),
    ]
    _test_data = [("test_batch.bin", "67eb016db431130d61cd03c7ad570b013799c88c")]
    _namespace = "cifar10"
    _bin_dir = "cifar-10-batches-bin"
    _py_dir = "cifar-10-batches-py"
    _label_bytes = 1

    def __init__(self, root=_CIFAR10_ROOT, train=True, transform=None):
        self._train = train
        self._fine_label = False
        super().__init__(root, transform)

    def _read_batch(self, filename):
        record = 3072 + self._label_bytes
        with open(filename, "rb") as fin:
            raw = np.frombuffer(fin.read(), dtype=np.uint8)
        if raw.size % record:
            raise MXNetIOError(f"{filename}: {raw.size} bytes is not a whole number of {record}-byte records")
        data = raw.reshape(-1, record)
        images = data[:, self._label_bytes :].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, data[:, int(self._fine_label)].astype(np.int32)

    def _read_py_batch(self, filename):
        with open(filename, "rb") as fin:
            batch = pickle.load(fin, encoding="bytes")
        key = b"fine_labels" if self._fine_label else (b"coarse_labels" if b"coarse_labels" in batch else b"labels")
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, np.asarray(batch[key], dtype=np.int32)

    def _find(self, names):
        """How to read ``names``: ``(reader, paths)``, or None when they are not all here."""
        for folder in ("", self._bin_dir):
            paths = [os.path.join(self._root, folder, name) for name, _ in names]
            if all(os.path.exists(p) for p in paths):
                return self._read_batch, paths
        paths = [os.path.join(self._root, self._py_dir, name[: -len(".bin")]) for name, _ in names]
        if all(os.path.exists(p) for p in paths):
            return self._read_py_batch, paths
        return None

    def _get_data(self):
        names = self._train_data if self._train else self._test_data
        found = self._find(names)
        if found is None:
            url = _get_repo_file_url("gluon/dataset/" + self._namespace, self._archive_file[0])
            archive = download(url, path=self._root, sha1_hash=self._archive_file[1])
            with tarfile.open(archive) as tar:
                tar.extractall(self._root, filter="data")
            for name, sha1 in names:
                path = os.path.join(self._root, name)
                if os.path.exists(path) and not check_sha1(path, sha1):
                    warnings.warn(f"{path} does not have the SHA-1 of the official file", stacklevel=2)
            found = self._find(names)
            if found is None:
                raise MXNetIOError(f"{archive} did not hold {[n for n, _ in names]}")
        reader, paths = found
        data, label = zip(*(reader(p) for p in paths))
        images = np.concatenate(data)
        self._data = nd.array(images, dtype=images.dtype)
        self._label = np.concatenate(label)


class CIFAR100(CIFAR10):
    """CIFAR-100: as :class:`CIFAR10`, with ``fine_label`` choosing the 100 fine classes
    (True) or the 20 coarse super-classes (False, the default)."""

    _archive_file = ("cifar-100-binary.tar.gz", "a0bb982c76b83111308126cc779a992fa506b90b")
    _train_data = [("train.bin", "e207cd2e05b73b1393c74c7f5e7bea451d63e08e")]
    _test_data = [("test.bin", "8fb6623e830365ff53cf14adec797474f5478006")]
    _namespace = "cifar100"
    _bin_dir = "cifar-100-binary"
    _py_dir = "cifar-100-python"
    _label_bytes = 2

    def __init__(self, root=_CIFAR100_ROOT, fine_label=False, train=True, transform=None):
        self._train = train
        self._fine_label = fine_label
        _DownloadedDataset.__init__(self, root, transform)


class ImageRecordDataset(dataset.RecordFileDataset):
    """Images in a RecordIO file: samples ``(image, label)``, the image decoded to an HWC
    uint8 NDArray (RGB for ``flag=1``, HxWx1 gray for ``flag=0``), the label the record
    header's (a float, or a numpy array for multi-label records)."""

    def __init__(self, filename, flag=1, transform=None):
        super().__init__(filename)
        self._flag = flag
        self._transform = transform

    def __getitem__(self, idx):
        record = super().__getitem__(idx)
        header, img = recordio.unpack(record)
        image = imdecode(img, self._flag)
        if self._transform is not None:
            return self._transform(image, header.label)
        return image, header.label


class ImageFolderDataset(dataset.Dataset):
    """Images in one folder per class (``root/car/0001.jpg``, ``root/bus/023.png``...).

    ``synsets[i]`` is the folder name of label ``i`` (folders sorted by name); ``items`` is
    the list of ``(filename, label)``. Files that are not ``.jpg``/``.jpeg``/``.png`` and
    entries that are not folders are skipped with a warning. Samples are ``(image, label)``
    as in :class:`ImageRecordDataset`.
    """

    def __init__(self, root, flag=1, transform=None):
        self._root = os.path.expanduser(root)
        self._flag = flag
        self._transform = transform
        self._exts = [".jpg", ".jpeg", ".png"]
        self._list_images(self._root)

    def _list_images(self, root):
        self.synsets: list[str] = []
        self.items: list[tuple[str, int]] = []
        for folder in sorted(os.listdir(root)):
            path = os.path.join(root, folder)
            if not os.path.isdir(path):
                warnings.warn(f"Ignoring {path}, which is not a directory.", stacklevel=3)
                continue
            label = len(self.synsets)
            self.synsets.append(folder)
            for filename in sorted(os.listdir(path)):
                filename = os.path.join(path, filename)
                ext = os.path.splitext(filename)[1]
                if ext.lower() not in self._exts:
                    warnings.warn(
                        f"Ignoring {filename} of type {ext}. Only support {', '.join(self._exts)}", stacklevel=3
                    )
                    continue
                self.items.append((filename, label))

    def __getitem__(self, idx):
        filename, label = self.items[idx]
        with open(filename, "rb") as fin:
            img = imdecode(fin.read(), self._flag)
        if self._transform is not None:
            return self._transform(img, label)
        return img, label

    def __len__(self):
        return len(self.items)

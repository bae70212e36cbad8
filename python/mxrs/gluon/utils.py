"""``mx.gluon.utils``: data splitting, gradient clipping, downloads with checksums, hook handles."""

import hashlib
import os
import shutil
import ssl
import urllib.request
import uuid
import warnings

import numpy as np

from mxrs import ndarray
from mxrs.ndarray.ndarray import NDArray

__all__ = [
    "split_data",
    "split_and_load",
    "clip_global_norm",
    "check_sha1",
    "download",
    "replace_file",
    "HookHandle",
    "shape_is_known",
]


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """``data`` cut into ``num_slice`` pieces along ``batch_axis`` (the first ones larger by one
    when it does not divide and ``even_split`` is False)."""
    size = data.shape[batch_axis]
    if even_split and size % num_slice != 0:
        raise ValueError(
            f"data with shape {data.shape} cannot be evenly split into {num_slice} slices along axis "
            f"{batch_axis}. Use a batch size that's multiple of {num_slice} or set even_split=False to "
            "allow uneven partitioning of data."
        )
    n_each, extras = divmod(size, num_slice)
    sizes = [0] + extras * [n_each + 1] + (num_slice - extras) * [n_each]
    points = np.cumsum(sizes)
    if batch_axis != 0:
        return [
            ndarray.slice_axis(data, axis=batch_axis, begin=int(points[i]), end=int(points[i + 1]))
            for i in range(num_slice)
        ]
    return [data[int(points[i]) : int(points[i + 1])] for i in range(num_slice)]


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """Split ``data`` (an NDArray or array-like) and copy each piece to one context of ``ctx_list``."""
    if not isinstance(data, NDArray):
        data = ndarray.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [i.as_in_context(ctx) for i, ctx in zip(slices, ctx_list)]


def clip_global_norm(arrays, max_norm, check_isfinite=True):
    """Scale ``arrays`` in place so that their joint 2-norm is at most ``max_norm``; returns the
    norm before scaling (a float, or an NDArray when ``check_isfinite`` is False)."""

    def _norm(array):
        x = array.reshape((-1,))
        return ndarray.dot(x, x)

    if len(arrays) == 0:
        raise AssertionError("clip_global_norm needs at least one array")
    ctx = arrays[0].context
    total_norm = ndarray.add_n(*[_norm(arr).as_in_context(ctx) for arr in arrays])
    total_norm = ndarray.sqrt(total_norm)
    if check_isfinite and not np.isfinite(total_norm.asscalar()):
        warnings.warn(UserWarning("nan or inf is detected. Clipping results will be undefined."), stacklevel=2)
    scale = max_norm / (total_norm + 1e-8)
    scale = ndarray.min(ndarray.concat(scale, ndarray.ones(1, ctx=ctx), dim=0))
    for arr in arrays:
        arr *= scale.as_in_context(arr.context)
    if check_isfinite:
        return total_norm.asscalar()
    return total_norm


def check_sha1(filename, sha1_hash):
    """Whether the SHA-1 of the file ``filename`` is ``sha1_hash`` (hex)."""
    sha1 = hashlib.sha1()
    with open(filename, "rb") as f:
        while True:
            data = f.read(1048576)
            if not data:
                break
            sha1.update(data)
    return sha1.hexdigest() == sha1_hash


def _fetch(url, dest, verify_ssl):
    context = None
    if not verify_ssl and url.startswith("https"):
        context = ssl._create_unverified_context()
    with urllib.request.urlopen(url, context=context) as r, open(dest, "wb") as f:  # noqa: S310
        status = getattr(r, "status", 200)
        if status is not None and status != 200:
            raise RuntimeError(f"Failed downloading url {url}")
        shutil.copyfileobj(r, f, 1 << 20)


def _target(url, path):
    if path is None:
        fname = url.split("/")[-1]
        if not fname:
            raise AssertionError("Can't construct file-name from this URL. Please set the `path` option manually.")
        return fname
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        return os.path.join(path, url.split("/")[-1])
    return path


def download(url, path=None, overwrite=False, sha1_hash=None, retries=5, verify_ssl=True):
    """Download ``url`` to ``path`` (a file or a folder; the URL's file name by default).

    An existing file is kept unless ``overwrite`` or its SHA-1 differs from ``sha1_hash``. The
    file is written under a temporary name and renamed, and a failed attempt is retried
    ``retries`` times. A download whose SHA-1 does not match raises UserWarning.
    """
    fname = _target(url, path)
    if retries < 0:
        raise AssertionError(f"Number of retries should be at least 0, currently it's {retries}")
    if not verify_ssl:
        warnings.warn(
            "Unverified HTTPS request is being made (verify_ssl=False). Adding certificate verification is "
            "strongly advised.",
            stacklevel=2,
        )
    if not (overwrite or not os.path.exists(fname) or (sha1_hash and not check_sha1(fname, sha1_hash))):
        return fname
    dirname = os.path.dirname(os.path.abspath(os.path.expanduser(fname)))
    os.makedirs(dirname, exist_ok=True)
    while retries + 1 > 0:
        tmp = f"{fname}.{uuid.uuid4()}"
        try:
            print(f"Downloading {fname} from {url}...")
            _fetch(url, tmp, verify_ssl)
            os.replace(tmp, fname)
            if sha1_hash and not check_sha1(fname, sha1_hash):
                raise UserWarning(
                    f"File {fname} is downloaded but the content hash does not match. The repo may be outdated "
                    'or download may be incomplete. If the "repo_url" is overridden, consider switching to the '
                    "default repo."
                )
            break
        except Exception as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            retries -= 1
            if retries <= 0:
                raise e
            print(f"download failed due to {e!r}, retrying, {retries} attempt{'s' if retries > 1 else ''} left")
    return fname


def replace_file(src, dst):
    """Move ``src`` over ``dst`` atomically."""
    os.replace(src, dst)


def _get_repo_url():
    """The URL of the Gluon file repository (``MXNET_GLUON_REPO`` overrides it)."""
    repo_url = os.environ.get("MXNET_GLUON_REPO", "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/")
    if repo_url[-1] != "/":
        repo_url = repo_url + "/"
    return repo_url


def _get_repo_file_url(namespace, filename):
    """The URL of ``filename`` in ``namespace`` of the Gluon repository."""
    return f"{_get_repo_url()}{namespace}/{filename}"


def shape_is_known(shape):
    """Whether every dimension of ``shape`` is known (> 0)."""
    if shape is None:
        return False
    return all(d > 0 for d in shape)


class HookHandle:
    """Removes a forward hook (``handle.detach()`` or ``with handle:``)."""

    _next_id = 0

    def __init__(self):
        self._hooks_dict_ref = None
        self._id = HookHandle._next_id
        HookHandle._next_id += 1

    def attach(self, hooks_dict, hook):
        """Add ``hook`` to ``hooks_dict``."""
        if self._hooks_dict_ref is not None:
            raise AssertionError("The same handle cannot be attached twice.")
        hooks_dict[self._id] = hook
        self._hooks_dict_ref = hooks_dict

    def detach(self):
        """Remove the hook."""
        if self._hooks_dict_ref is not None:
            self._hooks_dict_ref.pop(self._id, None)
            self._hooks_dict_ref = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()

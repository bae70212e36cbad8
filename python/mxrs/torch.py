"""PyTorch functions on NDArrays (MXNet's Torch plugin, ``mx.th`` / ``mx.torch``).

MXNet 1.x could be built with Torch7 (``USE_TORCH=1``) to call its tensor functions on NDArrays
as ``mx.th.<name>(...)``. Here ``mx.th.<name>(*args, **kwargs)`` calls ``torch.<name>`` of
PyTorch, when it is installed::

    x = mx.nd.array([[1, -2], [3, -4]])
    mx.th.abs(x)                      # an NDArray: [[1, 2], [3, 4]]
    mx.th.matmul(x, x.T)
    mx.th.max(x, 1)                   # (values, indices): a tuple of NDArrays
    mx.th.mul(x, 2, out=y)            # writes into y (its shape and dtype must fit), returns y

NDArray arguments (also inside lists and tuples, and as keyword values) reach torch as tensors
that view their memory (DLPack, no copy on the CPU; pending engine writes are waited for), so a
torch function that writes its input in place (``mx.th.abs_(x)``) changes the NDArray. Tensors in
the result come back as NDArrays through DLPack (no copy for C-contiguous CPU tensors; a
transposed view is copied), tuples of them as tuples, other values (numbers, shapes) as they
are. A torch error becomes the registered mxrs error of its kind (``MXNetTypeError`` for a
``TypeError``..., ``MXNetError`` otherwise) naming the function and the arguments' shapes.

Without PyTorch, or for a name torch does not have, the attribute lookup raises an error that
is both an :class:`~mxrs.base.MXNetError` and an ``AttributeError`` (so ``hasattr`` is False)
saying so. torch is imported on the first call, not with mxrs. Differences from MXNet's plugin:
its Torch7 functions took an output buffer as the first positional argument; here ``out=`` (torch's
keyword) does that.
"""

import importlib
import sys
from typing import Any

from mxrs.base import NotSupported, error_from_message
from mxrs.error import MXNetAttributeError
from mxrs.ndarray.dlpack import from_dlpack, to_dlpack_for_write
from mxrs.ndarray.ndarray import NDArray

__all__ = ["TorchNotFound", "torch_module"]


class TorchNotFound(NotSupported, AttributeError):
    """PyTorch is not installed (or fails to import)."""


def torch_module(what="mx.th"):
    """The ``torch`` module, imported on first use; :class:`TorchNotFound` without it."""
    mod = sys.modules.get("torch")
    if mod is not None and hasattr(mod, "from_dlpack"):
        return mod
    try:
        return importlib.import_module("torch")
    except Exception as e:  # noqa: BLE001 - any failure to import torch means no torch here
        raise TorchNotFound(
            f"{what} runs PyTorch functions, but PyTorch cannot be imported ({type(e).__name__}: {e}); "
            "install it (pip install torch)"
        ) from e


def _shape_of(a):
    if isinstance(a, NDArray):
        return f"NDArray{tuple(a.shape)}"
    if isinstance(a, (list, tuple)):
        return "[" + ", ".join(_shape_of(x) for x in a) + "]"
    return repr(a) if isinstance(a, (int, float, bool, str)) or a is None else type(a).__name__


def _to_torch(torch, a):
    if isinstance(a, NDArray):
        if getattr(a, "stype", "default") != "default":
            raise NotSupported(f"mx.th: {a.stype} arrays are not supported; convert with tostype('default')")
        return torch.from_dlpack(to_dlpack_for_write(a))
    if isinstance(a, list):
        return [_to_torch(torch, x) for x in a]
    if isinstance(a, tuple):
        return tuple(_to_torch(torch, x) for x in a)
    return a


def _from_torch(torch, r):
    if isinstance(r, torch.Tensor):
        return from_dlpack(r.detach())
    if isinstance(r, torch.Size):
        return tuple(r)
    if isinstance(r, list):
        return [_from_torch(torch, x) for x in r]
    if isinstance(r, tuple):
        return tuple(_from_torch(torch, x) for x in r)
    return r


def _out_views(torch, out):
    """``out`` (an NDArray or a tuple/list of them) as tensors, with what must not change."""
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    if not all(isinstance(o, NDArray) for o in outs):
        raise error_from_message(f"TypeError: mx.th: out must be an NDArray or a tuple of NDArrays, got {out!r}")
    views = [_to_torch(torch, o) for o in outs]
    return views, [(v.data_ptr(), tuple(v.shape)) for v in views]


def _make(name, fn):
    def torch_function(*args, **kwargs):
        torch = torch_module(f"mx.th.{name}")
        out = kwargs.pop("out", None)
        targs = [_to_torch(torch, a) for a in args]
        tkwargs = {k: _to_torch(torch, v) for k, v in kwargs.items()}
        views: list[Any] = []
        if out is not None:
            views, before = _out_views(torch, out)
            tkwargs["out"] = views[0] if isinstance(out, NDArray) else tuple(views)
        try:
            res = fn(*targs, **tkwargs)
        except Exception as e:  # noqa: BLE001 - torch's errors become mxrs's, naming the call
            shapes = ", ".join([_shape_of(a) for a in args] + [f"{k}={_shape_of(v)}" for k, v in kwargs.items()])
            raise error_from_message(f"{type(e).__name__}: mx.th.{name}({shapes}): {e}") from e
        if out is None:
            return _from_torch(torch, res)
        after = [(v.data_ptr(), tuple(v.shape)) for v in views]
        if after != before:
            raise error_from_message(
                f"ValueError: mx.th.{name}: the result does not fit out (shape(s) {[b[1] for b in before]}, "
                f"result {[a[1] for a in after]}); pass out arrays of the result's shape"
            )
        return out

    torch_function.__name__ = torch_function.__qualname__ = name
    torch_function.__doc__ = f"``torch.{name}`` on NDArrays (see the module's notes).\n\n{fn.__doc__ or ''}"
    return torch_function


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(f"module 'mxrs.torch' has no attribute {name!r}")  # private: no torch import
    torch = torch_module(f"mx.th.{name}")
    fn = getattr(torch, name, None)
    if fn is None or not callable(fn) or isinstance(fn, type):
        raise MXNetAttributeError(f"mx.th.{name}: PyTorch {torch.__version__} has no function torch.{name}")
    wrapped = _make(name, fn)
    globals()[name] = wrapped
    return wrapped


def __dir__():
    names = set(globals())
    try:
        torch = torch_module()
    except TorchNotFound:
        return sorted(names)
    return sorted(names | {n for n in dir(torch) if not n.startswith("_") and callable(getattr(torch, n, None))})

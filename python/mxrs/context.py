"""Devices: ``mx.cpu(i)``, ``mx.gpu(i)`` and the default context."""

import threading

from mxrs import _cuda_libs, _native

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus", "gpu_memory_info"]


class Context:
    """A device: a type ('cpu', 'gpu', 'cpu_pinned', 'cpu_shared') and an ordinal.

    ``with mx.cpu(1):`` makes it the default context of the block (per thread).
    """

    device_typeid: int
    device_id: int
    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
    _default_ctx = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if device_type not in Context.devstr2type:
                raise KeyError(f"unknown device type '{device_type}'")
            self.device_typeid = Context.devstr2type[device_type]
            self.device_id = int(device_id)
        if self.device_typeid == 2:
            # The CUDA backend opens NVRTC and cuBLAS by soname; PyPI's copies must be loaded
            # first. Cheap after the first call.
            _cuda_libs.preload()
        self._old_ctx = None

    @property
    def device_type(self):
        """The device type as a string."""
        return Context.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (
            isinstance(other, Context)
            and self.device_typeid == other.device_typeid
            and self.device_id == other.device_id
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self):
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __enter__(self):
        self._old_ctx = current_context()
        Context._default_ctx.value = self
        return self

    def __exit__(self, *exc):
        Context._default_ctx.value = self._old_ctx

    def _pair(self):
        return (self.device_typeid, self.device_id)

    def empty_cache(self):
        """Empty the memory pool of this context's device (as MXNet 1.x).

        mxrs keeps freed GPU memory in a per-device pool for reuse; this hands the unused part
        back to the driver, so that :func:`gpu_memory_info` reports it free again. Memory held by
        live arrays stays allocated. A no-op for CPU contexts.
        """
        if self.device_typeid == 2:
            _native.gpu_empty_cache(self.device_id)


def cpu(device_id=0):
    """The CPU context ``cpu(device_id)``; distinct ids are distinct contexts over host memory."""
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    """Page-locked host memory (behaves as CPU memory)."""
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    """The GPU context ``gpu(device_id)``. Creating arrays there fails without that GPU."""
    return Context("gpu", device_id)


def current_context():
    """The default context of this thread (``cpu(0)`` unless a ``with`` block set one)."""
    if not hasattr(Context._default_ctx, "value") or Context._default_ctx.value is None:
        Context._default_ctx.value = Context("cpu", 0)
    return Context._default_ctx.value


def num_gpus():
    """Number of usable GPUs (0 without a CUDA driver or device)."""
    _cuda_libs.preload()
    return _native.num_gpus()


def gpu_memory_info(device_id=0):
    """Free and total global memory of GPU ``device_id`` in bytes, as ``(free, total)``.

    As MXNet 1.9's ``mx.context.gpu_memory_info``. Memory in mxrs's pool of freed blocks counts
    as used until :meth:`Context.empty_cache` releases it. Raises ``MXNetError`` when there is no
    such GPU.
    """
    _cuda_libs.preload()
    free, total = _native.gpu_memory_info(int(device_id))
    return (int(free), int(total))


def _from_pair(pair):
    """The context of a native ``(dev_type code, dev_id)`` pair, made without ``__init__``'s
    checks (a native pair is always valid, and a GPU's libraries are loaded once it has an
    array): ``NDArray.context`` makes one on every read."""
    ctx = object.__new__(Context)
    ctx.device_typeid, ctx.device_id = pair
    ctx._old_ctx = None
    return ctx

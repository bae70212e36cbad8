"""``mx.rtc``: compile CUDA C at run time and launch its kernels on NDArrays, as MXNet 1.9.1.

``CudaModule(source, options, exports)`` compiles ``source`` to PTX with NVRTC at once (a
compile error raises :class:`~mxrs.base.MXNetError` with NVRTC's log); ``get_kernel(name,
signature)`` declares a kernel's C signature (``"const float *x, float *y, int n"``: ``*``
marks an array argument, ``const`` one the kernel only reads); ``launch(args, ctx, grid_dims,
block_dims, shared_mem)`` pushes the kernel onto the engine for ``ctx``'s GPU. The launch
reads the ``const`` arrays and writes the others, so it is ordered with every other op on them,
and it runs on the device's stream; an error inside the kernel surfaces at the next sync point
(``wait_to_read``, ``asnumpy``, ``waitall``).

NVRTC comes from PyPI's ``nvidia-cuda-nvrtc`` (or a CUDA toolkit on the library path); the
PTX is loaded by the driver (once per device and module) for the device's architecture.
``exports`` names kernels by their C++ names (templates such as ``axpy<float>``); without it,
declare kernels ``extern "C"``.
"""

import ctypes
import ctypes.util
import re
import threading

import numpy as np

from mxrs import _cuda_libs, _native
from mxrs.base import MXNetError
from mxrs.context import Context
from mxrs.ndarray import NDArray

__all__ = ["CudaKernel", "CudaModule"]

_DTYPE_CPP_TO_NP = {
    "float": np.float32,
    "double": np.float64,
    "__half": np.float16,
    "uint8_t": np.uint8,
    "int": np.int32,
    "int32_t": np.int32,
    "int8_t": np.int8,
    "char": np.int8,
    "int64_t": np.int64,
}
_SCALAR_KIND = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f64",
    np.dtype(np.float16): "f16",
    np.dtype(np.uint8): "u8",
    np.dtype(np.int32): "i32",
    np.dtype(np.int8): "i8",
    np.dtype(np.int64): "i64",
}
_ARG = re.compile(r"^(const)?\s?([\w_]+)\s?(\*)?\s?([\w_]+)?$")

_nvrtc_lock = threading.Lock()
_nvrtc: ctypes.CDLL | None = None


def _load_nvrtc():
    """NVRTC through ctypes: PyPI's ``nvidia-cuda-nvrtc`` first, then the system's."""
    global _nvrtc
    with _nvrtc_lock:
        if _nvrtc is not None:
            return _nvrtc
        _cuda_libs.preload()
        candidates = [_cuda_libs.find_library("libnvrtc.so.1*"), _cuda_libs.find_library("libnvrtc.so*")]
        candidates += ["libnvrtc.so.13", "libnvrtc.so.12", ctypes.util.find_library("nvrtc")]
        errors = []
        for path in candidates:
            if not path:
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as exc:
                errors.append(str(exc))
                continue
            _nvrtc = lib
            return lib
        raise MXNetError(
            "mx.rtc needs NVRTC, which was not found: install it with `pip install nvidia-cuda-nvrtc` "
            f"(or put a CUDA toolkit's libnvrtc on the library path){'; ' + '; '.join(errors) if errors else ''}"
        )


def _check(lib, status, what, prog=None):
    if status == 0:
        return
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    msg = lib.nvrtcGetErrorString(status).decode()
    log = ""
    if prog is not None:
        size = ctypes.c_size_t()
        if lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)) == 0 and size.value > 1:
            buf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, buf)
            log = "\n" + buf.value.decode(errors="replace")
    raise MXNetError(f"mx.rtc.CudaModule: {what} failed: {msg}{log}")


def _compile(source, options, exports):
    """PTX text of ``source`` and the lowered (mangled) names of ``exports``."""
    lib = _load_nvrtc()
    prog = ctypes.c_void_p()
    _check(
        lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"rtc.cu", 0, None, None), "nvrtcCreateProgram"
    )
    try:
        for name in exports:
            _check(lib, lib.nvrtcAddNameExpression(prog, name.encode()), f"exporting {name!r}", prog)
        opts = (ctypes.c_char_p * max(len(options), 1))(*[o.encode() for o in options])
        _check(lib, lib.nvrtcCompileProgram(prog, len(options), opts), "compiling the source", prog)
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize", prog)
        buf = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetPTX(prog, buf), "nvrtcGetPTX", prog)
        lowered = {}
        for name in exports:
            out = ctypes.c_char_p()
            _check(lib, lib.nvrtcGetLoweredName(prog, name.encode(), ctypes.byref(out)), f"lowering {name!r}", prog)
            lowered[name] = (out.value or b"").decode()
        return buf.value.decode(), lowered
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


class CudaModule:
    r"""CUDA C source compiled with NVRTC; ``get_kernel`` takes its kernels.

    ``source`` is the complete source; ``options`` are NVRTC flags (``"-I..."``,
    ``"--gpu-architecture=compute_90"``); ``exports`` are C++ names of kernels to export
    (templates). Example::

        source = r'''
        extern "C" __global__ void axpy(const float *x, float *y, float alpha) {
            int i = threadIdx.x + blockIdx.x * blockDim.x;
            y[i] += alpha * x[i];
        }
        '''
        module = mx.rtc.CudaModule(source)
        func = module.get_kernel("axpy", "const float *x, float *y, float alpha")
        x = mx.nd.ones((10,), ctx=mx.gpu(0))
        y = mx.nd.zeros((10,), ctx=mx.gpu(0))
        func.launch([x, y, 3.0], mx.gpu(0), (1, 1, 1), (10, 1, 1))
    """

    def __init__(self, source, options=(), exports=()):
        if isinstance(options, str):
            options = (options,)
        if isinstance(exports, str):
            exports = (exports,)
        self.options = tuple(options)
        self.exports = tuple(exports)
        self.ptx, self._lowered = _compile(source, self.options, self.exports)

    def get_kernel(self, name, signature):
        """The kernel ``name`` with C signature ``signature`` (``"const float *x, float *y,
        int n"`` or without names: ``"const float *, float *, int"``)."""
        is_ndarray, is_const, dtypes = [], [], []
        for arg in re.sub(r"\s+", " ", signature).split(","):
            clean = " ".join(arg.split())
            match = _ARG.match(clean)
            if not match or match.group(2) == "const":
                raise ValueError(
                    f'Invalid function prototype "{clean}". Must be in the form of "(const) type (*) (name)"'
                )
            if match.group(2) not in _DTYPE_CPP_TO_NP:
                raise TypeError(
                    f"Unsupported kernel argument type {clean}. Supported types are: {','.join(_DTYPE_CPP_TO_NP)}."
                )
            is_const.append(bool(match.group(1)))
            is_ndarray.append(bool(match.group(3)))
            dtypes.append(np.dtype(_DTYPE_CPP_TO_NP[match.group(2)]))
        symbol = self._lowered.get(name, name)
        if f".entry {symbol}(" not in self.ptx and f".entry {symbol} (" not in self.ptx:
            known = sorted(set(re.findall(r"\.entry\s+([\w$]+)", self.ptx)))
            raise MXNetError(
                f"mx.rtc: kernel {name!r} is not in the compiled module (kernels: {known}); declare it "
                'extern "C" or list its C++ name in exports'
            )
        return CudaKernel(self, name, symbol, is_ndarray, is_const, dtypes)


class CudaKernel:
    """A kernel of a :class:`CudaModule` with its declared signature (made by ``get_kernel``)."""

    def __init__(self, module, name, symbol, is_ndarray, is_const, dtypes):
        self._module = module
        self._name = name
        self._symbol = symbol
        self._is_ndarray = is_ndarray
        self._is_const = is_const
        self._dtypes = dtypes

    def launch(self, args, ctx, grid_dims, block_dims, shared_mem=0):
        """Launch on GPU ``ctx`` with ``grid_dims`` blocks of ``block_dims`` threads (3-tuples)
        and ``shared_mem`` bytes of dynamic shared memory. ``args`` match the signature:
        NDArrays on ``ctx`` of the pointer's dtype for pointers, numbers for the others."""
        if not isinstance(ctx, Context) or ctx.device_type != "gpu":
            raise MXNetError(f"CudaKernel({self._name}): kernels can only be launched on a GPU context, got {ctx}")
        for what, dims in (("grid_dims", grid_dims), ("block_dims", block_dims)):
            if len(dims) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
                raise MXNetError(f"CudaKernel({self._name}): {what} must be a tuple of 3 positive integers, got {dims}")
        if len(args) != len(self._dtypes):
            raise MXNetError(f"CudaKernel({self._name}) expects {len(self._dtypes)} arguments but got {len(args)}")
        packed = []
        for i, (arg, is_nd, const, dtype) in enumerate(zip(args, self._is_ndarray, self._is_const, self._dtypes)):
            if is_nd:
                if not isinstance(arg, NDArray):
                    raise MXNetError(
                        f"CudaKernel({self._name}): argument {i} must be an NDArray, not {type(arg).__name__}"
                    )
                if np.dtype(arg.dtype) != dtype:
                    raise MXNetError(
                        f"CudaKernel({self._name}): argument {i} has dtype {np.dtype(arg.dtype).name}, "
                        f"the signature declares {dtype.name}"
                    )
                if arg.context != ctx:
                    raise MXNetError(
                        f"CudaKernel({self._name}): argument {i} is on {arg.context}, the launch is on {ctx}"
                    )
                packed.append(("ptr", arg._handle, not const))
            else:
                if isinstance(arg, bool) or not isinstance(arg, (int, float, np.number)):
                    raise MXNetError(
                        f"CudaKernel({self._name}): argument {i} must be a number, not {type(arg).__name__}"
                    )
                value = np.array(arg, dtype=dtype)
                scalar = int(value.view(np.uint16)) if dtype == np.float16 else value.item()
                packed.append((_SCALAR_KIND[dtype], scalar, False))
        grid = (int(grid_dims[0]), int(grid_dims[1]), int(grid_dims[2]))
        block = (int(block_dims[0]), int(block_dims[1]), int(block_dims[2]))
        _native.rtc_launch(ctx.device_id, self._module.ptx, self._symbol, packed, grid, block, int(shared_mem))

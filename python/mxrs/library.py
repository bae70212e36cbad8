"""Extension libraries (MXNet's ``mx.library``): load custom operators compiled against MXNet
1.9.1's ``include/mxnet/lib_api.h``.

``mx.library.load('/abs/path/libgemm_lib.so')`` opens the library with ctypes, checks its API
version (``_opVersion``, 11 as MXNet 1.9.1), runs its ``initialize(10901)`` and registers each
operator of its registry (``_opRegSize``/``_opRegGet``) as ``mx.nd.<name>``::

    mx.library.load(os.path.abspath("libgemm_lib.so"))
    c = mx.nd.my_gemm(a, b)                  # the library's parseAttrs, inferType,
                                             # inferShape and forward
    with mx.autograd.record():
        c = mx.nd.my_gemm(a, b)              # its backward gives a.grad and b.grad
    c.backward()

Keyword arguments become the operator's attributes (as strings). Operators with a forward for
``"cpu"`` and stateful operators (``createOpState``: a state per call, kept for backward) run on
CPU arrays (dense storage); the library's error messages (``MX_ERROR_MSG``) are in the raised
:class:`~mxrs.base.MXNetError`. Not supported: running them in symbols (``mx.sym``), sparse
inputs, GPU arrays, and the libraries' partitioners and graph passes (a warning says they were
skipped).
"""

import ctypes
import os
import sys
import warnings
from typing import Any

import numpy as np

from mxrs import autograd
from mxrs import ndarray as nd
from mxrs.base import MXNetError, NotSupported, ShapeError
from mxrs.ndarray.ndarray import NDArray

__all__ = ["load", "loaded_ops"]

MX_LIBRARY_VERSION = 11
MXNET_VERSION = 10901
_DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64}
_CODES = {np.dtype(t): c for c, t in _DTYPES.items()}

_P = ctypes.POINTER
_c_int_p = _P(ctypes.c_int)
_c_str_p = _P(ctypes.c_char_p)
_MALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
# The arguments of _opCallFCompute / _opCallFStatefulCompute after the function (or state).
_COMPUTE_TAIL = (
    [_P(_P(ctypes.c_int64)), _c_int_p, _P(ctypes.c_void_p), _c_int_p, _P(ctypes.c_size_t), _c_str_p, _c_int_p]
    + [ctypes.c_int]
    + [_P(_P(ctypes.c_int64)), _c_int_p, _P(ctypes.c_void_p), _c_int_p, _P(ctypes.c_size_t), _c_str_p, _c_int_p]
    + [ctypes.c_int, _MALLOC, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    + [ctypes.c_void_p, ctypes.c_void_p, _c_int_p, _c_int_p]
    + [_P(ctypes.c_void_p)] * 4
    + [_P(ctypes.c_int64)] * 4
    + [ctypes.c_void_p, ctypes.c_void_p]
)

# name -> _LibOp of every operator loaded so far.
loaded_ops: dict[str, Any] = {}
_libraries: list[Any] = []


class _Lib:
    """The ctypes functions of one loaded library."""

    def __init__(self, path):
        self.path = path
        self.dll = ctypes.CDLL(path, mode=getattr(os, "RTLD_LOCAL", 0) | getattr(os, "RTLD_LAZY", 1))
        self.seen_msgs = 0
        sig = {
            "_opVersion": (ctypes.c_int, []),
            "_msgSize": (ctypes.c_int, []),
            "_msgGet": (None, [ctypes.c_int, _c_str_p]),
            "initialize": (ctypes.c_int, [ctypes.c_int]),
            "_opRegSize": (ctypes.c_int, []),
            "_opRegGet": (
                None,
                [ctypes.c_int, _c_str_p, _c_int_p]
                + [_P(_c_str_p), _P(_P(ctypes.c_void_p)), _c_int_p] * 3
                + [_P(ctypes.c_void_p)] * 5,
            ),
            "_opCallFree": (None, [ctypes.c_void_p]),
            "_opCallParseAttrs": (
                ctypes.c_int,
                [ctypes.c_void_p, _c_str_p, _c_str_p, ctypes.c_int, _c_int_p, _c_int_p],
            ),
            "_opCallInferShape": (
                ctypes.c_int,
                [ctypes.c_void_p, _c_str_p, _c_str_p, ctypes.c_int, _P(_P(ctypes.c_uint)), _c_int_p, ctypes.c_int]
                + [_P(_P(_P(ctypes.c_uint))), _P(_c_int_p)] * 2
                + [ctypes.c_int],
            ),
            "_opCallInferType": (
                ctypes.c_int,
                [ctypes.c_void_p, _c_str_p, _c_str_p, ctypes.c_int, _c_int_p, ctypes.c_int, _c_int_p, ctypes.c_int],
            ),
            "_opCallFCompute": (ctypes.c_int, [ctypes.c_void_p, _c_str_p, _c_str_p, ctypes.c_int] + _COMPUTE_TAIL),
            "_opCallCreateOpState": (
                ctypes.c_int,
                [ctypes.c_void_p, _c_str_p, _c_str_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                + [_P(_P(ctypes.c_uint)), _c_int_p, ctypes.c_int, _c_int_p, _P(ctypes.c_void_p)],
            ),
            "_opCallDestroyOpState": (None, [ctypes.c_void_p]),
            "_opCallFStatefulCompute": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p] + _COMPUTE_TAIL),
        }
        for name, (res, args) in sig.items():
            try:
                f = getattr(self.dll, name)
            except AttributeError as e:
                raise MXNetError(
                    f"library {path} does not define {name}: it was not built with MXNet's lib_api.h/lib_api.cc"
                ) from e
            f.restype, f.argtypes = res, args
            setattr(self, name, f)

    def __getattr__(self, name: str) -> Any:
        # The library's functions are set in __init__; this only tells type checkers so.
        raise AttributeError(name)

    def count(self, name):
        """The number of partitioners/passes (``_partRegSize``...), 0 when not defined."""
        f = getattr(self.dll, name, None)
        if f is None:
            return 0
        f.restype, f.argtypes = ctypes.c_int, []
        return int(f())

    def messages(self):
        """The library's error messages not reported yet, as MXNet formats them."""
        n = int(self._msgSize())
        if n <= self.seen_msgs:
            return ""
        out = "\nExtension Traceback:\n"
        for i in range(self.seen_msgs, n):
            msg = ctypes.c_char_p()
            self._msgGet(i, ctypes.byref(msg))
            out += f"\t[{i}] {(msg.value or b'').decode(errors='replace')}\n"
        self.seen_msgs = n
        return out


def _attrs(kwargs):
    keys = [str(k).encode() for k in kwargs]
    vals = [str(v).encode() for v in kwargs.values()]
    return (ctypes.c_char_p * max(len(keys), 1))(*keys), (ctypes.c_char_p * max(len(vals), 1))(*vals), len(keys)


class _Tensors:
    """Pointers, shapes and types of dense CPU arrays, laid out for ``_opCallFCompute``."""

    def __init__(self, arrays):
        n = len(arrays)
        self.views = [np.from_dlpack(a) for a in arrays]  # waits for the engine; shares memory
        self.shapes = [(ctypes.c_int64 * max(len(a.shape), 1))(*a.shape) for a in arrays]
        self.shape_ptrs = (_P(ctypes.c_int64) * max(n, 1))(*[ctypes.cast(s, _P(ctypes.c_int64)) for s in self.shapes])
        self.dims = (ctypes.c_int * max(n, 1))(*[len(a.shape) for a in arrays])
        self.data = (ctypes.c_void_p * max(n, 1))(*[v.ctypes.data for v in self.views])
        self.types = (ctypes.c_int * max(n, 1))(*[_CODES[np.dtype(a.dtype)] for a in arrays])
        self.ids = (ctypes.c_size_t * max(n, 1))()
        self.dev_type = (ctypes.c_char_p * max(n, 1))(*([b"cpu"] * n))
        self.dev_id = (ctypes.c_int * max(n, 1))()
        self.stypes = (ctypes.c_int * max(n, 1))()
        self.none = (ctypes.c_void_p * max(n, 1))()
        self.zeros = (ctypes.c_int64 * max(n, 1))()
        self.n = n

    def args(self):
        return [self.shape_ptrs, self.dims, self.data, self.types, self.ids, self.dev_type, self.dev_id, self.n]


def _compute_args(ins, outs, malloc):
    return (
        ins.args()
        + outs.args()
        + [malloc, None, None, None, None, None, None, ins.stypes, outs.stypes]
        + [ins.none, outs.none, ins.none, outs.none, ins.zeros, outs.zeros, ins.zeros, outs.zeros, None, None]
    )


def _cpu_malloc(buffers):
    """The ``alloc_cpu`` of OpResource: numpy buffers kept alive in ``buffers`` for the call."""

    def alloc(_ctx, size):
        buf = np.empty(max(int(size), 1) + 64, dtype=np.uint8)
        buffers.append(buf)
        addr = buf.ctypes.data
        return addr + (-addr) % 64

    return _MALLOC(alloc)


class _LibOp:
    """One operator of a loaded library, run on NDArrays."""

    def __init__(self, lib, name, parse, infer_type, infer_shape, forward, backward, create_op):
        self.lib, self.name = lib, name
        self.parse, self.infer_type, self.infer_shape = parse, infer_type, infer_shape
        self.forward, self.backward, self.create_op = forward, backward, create_op

    def _fail(self, what):
        raise MXNetError(f"Error calling {what} for custom operator '{self.name}'{self.lib.messages()}")

    def num_io(self, attrs):
        keys, vals, n = attrs
        num_in, num_out = ctypes.c_int(), ctypes.c_int()
        if not self.lib._opCallParseAttrs(self.parse, keys, vals, n, ctypes.byref(num_in), ctypes.byref(num_out)):
            self._fail("ParseAttrs")
        return num_in.value, num_out.value

    def out_types(self, attrs, inputs, num_out):
        keys, vals, n = attrs
        for a in inputs:
            if np.dtype(a.dtype) not in _CODES:
                raise MXNetError(f"custom operator '{self.name}': dtype {np.dtype(a.dtype)} is not in lib_api.h")
        intypes = (ctypes.c_int * max(len(inputs), 1))(*[_CODES[np.dtype(a.dtype)] for a in inputs])
        outtypes = (ctypes.c_int * max(num_out, 1))(*([-1] * num_out))
        if not self.lib._opCallInferType(self.infer_type, keys, vals, n, intypes, len(inputs), outtypes, num_out):
            self._fail("InferType")
        return [_DTYPES[outtypes[i]] for i in range(num_out)]

    def out_shapes(self, attrs, inputs, num_out):
        keys, vals, n = attrs
        shapes = [(ctypes.c_uint * max(len(a.shape), 1))(*a.shape) for a in inputs]
        inshapes = (_P(ctypes.c_uint) * max(len(inputs), 1))(*[ctypes.cast(s, _P(ctypes.c_uint)) for s in shapes])
        indims = (ctypes.c_int * max(len(inputs), 1))(*[len(a.shape) for a in inputs])
        mod_in, mod_dims = _P(_P(ctypes.c_uint))(), _c_int_p()
        out, out_dims = _P(_P(ctypes.c_uint))(), _c_int_p()
        ok = self.lib._opCallInferShape(
            self.infer_shape, keys, vals, n, inshapes, indims, len(inputs),
            ctypes.byref(mod_in), ctypes.byref(mod_dims), ctypes.byref(out), ctypes.byref(out_dims), num_out,
        )  # fmt: skip
        if not ok:
            shapes_s = ", ".join(str(tuple(a.shape)) for a in inputs)
            msgs = self.lib.messages()
            raise ShapeError(f"Error calling InferShape for custom operator '{self.name}' with inputs {shapes_s}{msgs}")
        res = [tuple(int(out[i][j]) for j in range(out_dims[i])) for i in range(num_out)]
        for i in range(len(inputs)):
            self.lib._opCallFree(ctypes.cast(mod_in[i], ctypes.c_void_p))
        for i in range(num_out):
            self.lib._opCallFree(ctypes.cast(out[i], ctypes.c_void_p))
        for p in (mod_in, mod_dims, out, out_dims):
            self.lib._opCallFree(ctypes.cast(p, ctypes.c_void_p))
        return res

    def run(self, fcomp, attrs, inputs, outputs, state=None, is_forward=True):
        """Run ``fcomp`` (or the state's forward/backward) from ``inputs`` into ``outputs``."""
        ins, outs = _Tensors(inputs), _Tensors(outputs)
        buffers: list[Any] = []
        malloc = _cpu_malloc(buffers)
        if state is not None:
            ok = self.lib._opCallFStatefulCompute(int(is_forward), state.ptr, *_compute_args(ins, outs, malloc))
        else:
            keys, vals, n = attrs
            ok = self.lib._opCallFCompute(fcomp, keys, vals, n, *_compute_args(ins, outs, malloc))
        if not ok:
            self._fail("FCompute" if state is None else "stateful " + ("Forward" if is_forward else "Backward"))

    def create_state(self, attrs, inputs):
        keys, vals, n = attrs
        shapes = [(ctypes.c_uint * max(len(a.shape), 1))(*a.shape) for a in inputs]
        inshapes = (_P(ctypes.c_uint) * max(len(inputs), 1))(*[ctypes.cast(s, _P(ctypes.c_uint)) for s in shapes])
        indims = (ctypes.c_int * max(len(inputs), 1))(*[len(a.shape) for a in inputs])
        intypes = (ctypes.c_int * max(len(inputs), 1))(*[_CODES[np.dtype(a.dtype)] for a in inputs])
        ptr = ctypes.c_void_p()
        ok = self.lib._opCallCreateOpState(
            self.create_op, keys, vals, n, b"cpu", 0, inshapes, indims, len(inputs), intypes, ctypes.byref(ptr)
        )
        if not ok or not ptr.value:
            self._fail("CreateOpState")
        return _State(self.lib, ptr)

    def __call__(self, *inputs, out=None, name=None, **kwargs):
        for i, a in enumerate(inputs):
            if not isinstance(a, NDArray):
                raise MXNetError(f"{self.name}: input {i} must be an NDArray, got {type(a).__name__}")
            if getattr(a, "stype", "default") != "default" or a.context.device_type != "cpu":
                raise NotSupported(
                    f"{self.name}: custom library operators run on dense CPU arrays here, got a "
                    f"{getattr(a, 'stype', 'default')} array on {a.context}"
                )
        attrs = _attrs(kwargs)
        num_in, num_out = self.num_io(attrs)
        if len(inputs) != num_in:
            raise MXNetError(f"custom operator '{self.name}' takes {num_in} inputs, got {len(inputs)}")
        outs = _Call(self, attrs, num_out)(*inputs)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if out is not None:
            targets = out if isinstance(out, (list, tuple)) else [out]
            for t, o in zip(targets, outs):
                t[:] = o
            return out
        return outs[0] if num_out == 1 else list(outs)


class _State:
    """A stateful operator instance of a library, destroyed when no longer used."""

    def __init__(self, lib, ptr):
        self.lib, self.ptr = lib, ptr

    def __del__(self):
        if self.ptr:
            self.lib._opCallDestroyOpState(self.ptr)
            self.ptr = None


class _Call(autograd.Function):
    """One call of a library operator; under ``autograd.record()`` its backward is the library's."""

    def __init__(self, op, attrs, num_out):
        super().__init__()
        self.op, self.attrs, self.num_out = op, attrs, num_out
        self.state = None

    def forward(self, *inputs):
        op = self.op
        ctx = inputs[0].context if inputs else None
        types = op.out_types(self.attrs, inputs, self.num_out)
        shapes = op.out_shapes(self.attrs, inputs, self.num_out)
        outs = [nd.empty(s, ctx=ctx, dtype=t) for s, t in zip(shapes, types)]
        if op.forward is not None:
            op.run(op.forward, self.attrs, list(inputs), outs)
        else:
            self.state = op.create_state(self.attrs, inputs)
            op.run(None, self.attrs, list(inputs), outs, state=self.state, is_forward=True)
        self.save_for_backward(*inputs, *outs)
        return outs[0] if self.num_out == 1 else outs

    def backward(self, *ograds):
        op = self.op
        saved: list[Any] = list(self.saved_tensors)
        inputs = saved[: len(saved) - self.num_out]
        if op.backward is None and self.state is None:
            raise MXNetError(f"custom operator '{op.name}' has no backward function")
        grads = [nd.zeros(a.shape, ctx=a.context, dtype=a.dtype) for a in inputs]
        args = [g.astype(o.dtype) if g.dtype != o.dtype else g for g, o in zip(ograds, saved[len(inputs) :])]
        if self.state is not None:
            op.run(None, self.attrs, args + saved, grads, state=self.state, is_forward=False)
        else:
            op.run(op.backward, self.attrs, args + saved, grads)
        return grads[0] if len(grads) == 1 else tuple(grads)


def _register(lib, verbose):
    num_ops = int(lib._opRegSize())
    if verbose:
        print(f"Found {num_ops} operators in library", file=sys.stderr)
    for i in range(num_ops):
        name = ctypes.c_char_p()
        is_sg = ctypes.c_int()
        ctxs = [_c_str_p() for _ in range(3)]
        fps = [_P(ctypes.c_void_p)() for _ in range(3)]
        counts = [ctypes.c_int() for _ in range(3)]
        fns = [ctypes.c_void_p() for _ in range(5)]
        lib._opRegGet(
            i, ctypes.byref(name), ctypes.byref(is_sg),
            *[x for k in range(3) for x in (ctypes.byref(ctxs[k]), ctypes.byref(fps[k]), ctypes.byref(counts[k]))],
            *[ctypes.byref(f) for f in fns],
        )  # fmt: skip
        op_name = (name.value or b"").decode()
        maps = [{ctxs[k][j].decode(): fps[k][j] for j in range(counts[k].value)} for k in range(3)]
        parse, infer_type, _stype, infer_shape, _mutate = (f.value for f in fns)
        if is_sg.value:
            warnings.warn(
                f"mx.library.load: subgraph operator '{op_name}' is not supported by mxrs; skipped", stacklevel=3
            )
            continue
        for what, ok in (
            ("ParseAttrs", parse),
            ("Forward or CreateOpState", maps[0] or maps[2]),
            ("InferType", infer_type),
            ("InferShape", infer_shape),
        ):
            if not ok:
                raise MXNetError(f"Error loading '{op_name}' custom op, {what} function was not set.")
        if not maps[0].get("cpu") and not maps[2].get("cpu"):
            warnings.warn(f"mx.library.load: '{op_name}' has no CPU implementation; skipped", stacklevel=3)
            continue
        op = _LibOp(
            lib, op_name, parse, infer_type, infer_shape, maps[0].get("cpu"), maps[1].get("cpu"), maps[2].get("cpu")
        )
        loaded_ops[op_name] = op
        fn = _make_function(op)
        setattr(nd, op_name, fn)
        if verbose:
            print(f"\tOp[{i}] {op_name}", file=sys.stderr)


def _make_function(op):
    def call(*args, **kwargs):
        return op(*args, **kwargs)

    call.__name__ = call.__qualname__ = op.name
    call.__doc__ = f"Custom operator ``{op.name}`` of the library {op.lib.path} (see ``mx.library``)."
    return call


def load(path, verbose=True):
    """Load the extension library at ``path`` (an absolute path to a ``.so``/``.dll`` built with
    MXNet 1.9.1's lib_api.h) and register its operators as ``mx.nd.<name>``; with ``verbose``
    the operators found are listed on stderr, as MXNet logs them."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MXNetError(f"load path {path} does NOT exist")
    if not os.path.isabs(path):
        raise MXNetError(f"load path {path} is not an absolute path")
    if os.path.splitext(path)[1] not in (".so", ".dll"):
        raise MXNetError(f"load path {path} is NOT a library file")
    try:
        lib = _Lib(path)
    except OSError as e:
        raise MXNetError(f"Unable to load library {path}: {e}") from e
    version = int(lib._opVersion())
    if version != MX_LIBRARY_VERSION:
        raise MXNetError(f"Library version ({version}) does not match MXNet version ({MX_LIBRARY_VERSION})")
    if not lib.initialize(MXNET_VERSION):
        raise MXNetError(f"Library failed to initialize{lib.messages()}")
    _register(lib, verbose)
    for what, fn in (("partitioners", "_partRegSize"), ("graph passes", "_passRegSize")):
        n = lib.count(fn)
        if verbose:
            print(f"Found {n} {what} in library", file=sys.stderr)
        if n:
            warnings.warn(f"mx.library.load: {path} has {n} {what}, which mxrs does not run; skipped", stacklevel=2)
    _libraries.append(lib)

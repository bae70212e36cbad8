"""``mx.library``: load operator libraries built against MXNet 1.9.1's extension API.

MXNet 1.9.1's ``include/mxnet/lib_api.h`` lets a shared library register operators
(``REGISTER_OP(my_gemm).setForward(...).setInferShape(...)``); ``mx.library.load(path)`` opens
it and adds every operator to ``mx.nd`` (and ``mx.sym``). The library talks to its host only
through the plain C functions that ``lib_api.cc`` compiles into it (``_opVersion``,
``_opRegSize``, ``_opRegGet``, ``_opCallParseAttrs``, ``_opCallInferShape``,
``_opCallInferType``, ``_opCallFCompute``, the stateful-op calls, ``_msgSize``/``_msgGet``), so
mxrs loads the same ``.so`` files MXNet does, through :mod:`ctypes`.

How the operators run in mxrs:

- Each library operator becomes a Python custom operator (:mod:`mxrs.operator`, registered as
  ``op_type="_lib_" + name``); ``mx.nd.NAME(*inputs, **attrs)`` calls it, so it is recorded by
  :mod:`mxrs.autograd` and its ``backward`` (MXNet's ``_backward_NAME``: inputs are the output
  gradients, then the inputs, then the outputs) runs the library's backward function. Where
  ``mx.sym.Custom`` exists, ``mx.sym.NAME`` builds the same operator into graphs.
- Attributes go to the library as strings, as MXNet passes them.
- The library's CPU functions run on host copies of the inputs (GPU arrays are copied to the
  host and back). Operators with only a GPU implementation, sparse storage, and the library's
  random-number resources are refused with an :class:`~mxrs.base.MXNetError`; so are graph
  partitioners and passes (``optimize_for``), which mxrs does not run.
- Every failure (a wrong path, a version mismatch, ``MX_FAIL`` from the library) raises
  :class:`~mxrs.base.MXNetError` with the library's own messages (its "Extension Traceback").
"""

import ctypes
import os
import sys

import numpy as np

from mxrs.base import MXNetError

__all__ = ["load"]

#: The extension API version of MXNet 1.9.1 (``MX_LIBRARY_VERSION`` in lib_api.h).
MX_LIBRARY_VERSION = 11
#: The MXNet version passed to the library's ``initialize`` (1.9.1).
MXNET_VERSION = 10901

_DTYPES = {
    0: np.float32,
    1: np.float64,
    2: np.float16,
    3: np.uint8,
    4: np.int32,
    5: np.int8,
    6: np.int64,
}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_CP = ctypes.c_char_p
_CPP = ctypes.POINTER(ctypes.c_char_p)
_IP = ctypes.POINTER(ctypes.c_int)
_I64PP = ctypes.POINTER(ctypes.POINTER(ctypes.c_int64))
_UPP = ctypes.POINTER(ctypes.POINTER(ctypes.c_uint))
_SZP = ctypes.POINTER(ctypes.c_size_t)
_I64P = ctypes.POINTER(ctypes.c_int64)

#: ``void* (*xpu_malloc_t)(void*, int)``: the allocator the library's ``OpResource`` calls.
_MALLOC_T = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)

#: Loaded libraries by real path, kept alive (MXNet never unloads them either).
_LOADED: dict = {}


def _func(lib, path, name, restype, argtypes):
    try:
        fn = getattr(lib, name)
    except AttributeError:
        raise MXNetError(f"library {path}: missing symbol {name!r}; is it built against MXNet's lib_api.h?") from None
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


class _Lib:
    """The C entry points of one loaded library."""

    def __init__(self, path):
        self.path = path
        self.seen = 0
        try:
            self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        except OSError as exc:
            raise MXNetError(f"library {path}: cannot be loaded: {exc}") from exc
        f = lambda name, res, args: _func(self.lib, path, name, res, args)  # noqa: E731
        self.version = f("_opVersion", ctypes.c_int, [])
        self.msg_size = f("_msgSize", ctypes.c_int, [])
        self.msg_get = f("_msgGet", None, [ctypes.c_int, _CPP])
        self.initialize = f("initialize", ctypes.c_int, [ctypes.c_int])
        self.reg_size = f("_opRegSize", ctypes.c_int, [])
        self.reg_get = f(
            "_opRegGet",
            None,
            [ctypes.c_int, _CPP, _IP] + [ctypes.POINTER(_CPP), ctypes.POINTER(_PP), _IP] * 3 + [_PP] * 5,
        )
        self.call_free = f("_opCallFree", None, [_P])
        self.call_parse = f("_opCallParseAttrs", ctypes.c_int, [_P, _CPP, _CPP, ctypes.c_int, _IP, _IP])
        self.call_shape = f(
            "_opCallInferShape",
            ctypes.c_int,
            [_P, _CPP, _CPP, ctypes.c_int, _UPP, _IP, ctypes.c_int]
            + [ctypes.POINTER(_UPP), ctypes.POINTER(_IP), ctypes.POINTER(_UPP), ctypes.POINTER(_IP), ctypes.c_int],
        )
        self.call_type = f(
            "_opCallInferType", ctypes.c_int, [_P, _CPP, _CPP, ctypes.c_int, _IP, ctypes.c_int, _IP, ctypes.c_int]
        )
        tensors = [_I64PP, _IP, _PP, _IP, _SZP, _CPP, _IP, ctypes.c_int]
        resources = [_P, _P, _P, _P, _P, _P, _P]  # cpu/gpu malloc+alloc, stream, sparse malloc+alloc
        sparse = [_IP, _IP, _PP, _PP, _PP, _PP, _I64P, _I64P, _I64P, _I64P, _P, _P]
        self.call_fcompute = f(
            "_opCallFCompute", ctypes.c_int, [_P, _CPP, _CPP, ctypes.c_int] + tensors * 2 + resources + sparse
        )
        self.call_create_state = f(
            "_opCallCreateOpState",
            ctypes.c_int,
            [_P, _CPP, _CPP, ctypes.c_int, _CP, ctypes.c_int, _UPP, _IP, ctypes.c_int, _IP, _PP],
        )
        self.call_destroy_state = f("_opCallDestroyOpState", None, [_P])
        self.call_stateful = f(
            "_opCallFStatefulCompute", ctypes.c_int, [ctypes.c_int, _P] + tensors * 2 + resources + sparse
        )

    def messages(self):
        """The library's error messages added since the last call (MXNet's "Extension
        Traceback"; the library keeps every message it ever raised, so older ones are skipped)."""
        n = self.msg_size()
        first, self.seen = self.seen, max(n, 0)
        if n <= first:
            return ""
        lines = []
        for i in range(first, n):
            msg = ctypes.c_char_p()
            self.msg_get(i, ctypes.byref(msg))
            lines.append(f"\t[{i}] {(msg.value or b'').decode('utf-8', 'replace')}")
        return "\nExtension Traceback:\n" + "\n".join(lines)


def _attr_arrays(attrs):
    keys = [str(k).encode() for k in attrs]
    vals = [str(v).encode() for v in attrs.values()]
    return (ctypes.c_char_p * max(len(keys), 1))(*keys), (ctypes.c_char_p * max(len(vals), 1))(*vals), len(keys)


def _uint_shapes(shapes):
    rows = [(ctypes.c_uint * max(len(s), 1))(*s) for s in shapes]
    arr = (ctypes.POINTER(ctypes.c_uint) * max(len(rows), 1))(
        *[ctypes.cast(r, ctypes.POINTER(ctypes.c_uint)) for r in rows]
    )
    dims = (ctypes.c_int * max(len(shapes), 1))(*[len(s) for s in shapes])
    return arr, dims, rows


class _Tensors:
    """C views of host arrays for ``_opCallFCompute`` (dense, CPU)."""

    def __init__(self, arrays):
        self.arrays = arrays
        n = len(arrays)
        self.shape_rows = [(ctypes.c_int64 * max(a.ndim, 1))(*a.shape) for a in arrays]
        self.shapes = (ctypes.POINTER(ctypes.c_int64) * max(n, 1))(
            *[ctypes.cast(r, ctypes.POINTER(ctypes.c_int64)) for r in self.shape_rows]
        )
        self.dims = (ctypes.c_int * max(n, 1))(*[a.ndim for a in arrays])
        self.data = (ctypes.c_void_p * max(n, 1))(*[a.ctypes.data for a in arrays])
        self.types = (ctypes.c_int * max(n, 1))(*[_CODES[a.dtype] for a in arrays])
        self.ids = (ctypes.c_size_t * max(n, 1))(*([0] * n))
        self.dev_type = (ctypes.c_char_p * max(n, 1))(*([b"cpu"] * n))
        self.dev_id = (ctypes.c_int * max(n, 1))(*([0] * n))
        self.stypes = (ctypes.c_int * max(n, 1))(*([0] * n))
        self.null_ptrs = (ctypes.c_void_p * max(n, 1))()
        self.null_ptrs2 = (ctypes.c_void_p * max(n, 1))()
        self.zeros = (ctypes.c_int64 * max(n, 1))()
        self.zeros2 = (ctypes.c_int64 * max(n, 1))()
        self.n = n

    def dense_args(self):
        return [self.shapes, self.dims, self.data, self.types, self.ids, self.dev_type, self.dev_id, self.n]


def _compute_args(ins, outs, malloc):
    """Arguments after the tensors: resources (CPU allocator only), then sparse fields."""
    resources = [ctypes.cast(malloc, ctypes.c_void_p), None, None, None, None, None, None]
    sparse = [
        ins.stypes,
        outs.stypes,
        ins.null_ptrs,
        outs.null_ptrs,
        ins.null_ptrs2,
        outs.null_ptrs2,
        ins.zeros,
        outs.zeros,
        ins.zeros2,
        outs.zeros2,
        None,
        None,
    ]
    return resources + sparse


class _Workspace:
    """The CPU allocator handed to the library for one call: buffers live until the call ends."""

    def __init__(self):
        self.buffers: list = []

        def malloc(_alloc, size):
            buf = np.empty(max(int(size), 1), dtype=np.uint8)
            self.buffers.append(buf)
            return buf.ctypes.data

        self.fn = _MALLOC_T(malloc)


class _LibOpDef:
    """One operator of a library, as ``_opRegGet`` describes it."""

    def __init__(self, lib, idx):
        self.lib = lib
        name = ctypes.c_char_p()
        is_sg = ctypes.c_int()
        ctxs = [ctypes.POINTER(ctypes.c_char_p)() for _ in range(3)]
        fps = [ctypes.POINTER(ctypes.c_void_p)() for _ in range(3)]
        counts = [ctypes.c_int() for _ in range(3)]
        fns = [ctypes.c_void_p() for _ in range(5)]
        args = [idx, ctypes.byref(name), ctypes.byref(is_sg)]
        for c, p, n in zip(ctxs, fps, counts):
            args += [ctypes.byref(c), ctypes.byref(p), ctypes.byref(n)]
        args += [ctypes.byref(f) for f in fns]
        lib.reg_get(*args)
        self.name = (name.value or b"").decode()
        self.is_subgraph_op = bool(is_sg.value)

        def table(c, p, n):
            return {c[i].decode(): p[i] for i in range(n.value)}

        self.forward = table(ctxs[0], fps[0], counts[0])
        self.backward = table(ctxs[1], fps[1], counts[1])
        self.create_state = table(ctxs[2], fps[2], counts[2])
        self.parse, self.infer_type, self.infer_stype, self.infer_shape, self.mutate = (f.value for f in fns)

    def fail(self, what):
        raise MXNetError(f"library op {self.name!r} ({self.lib.path}): {what}{self.lib.messages()}")

    def num_in_out(self, attrs):
        keys, vals, n = _attr_arrays(attrs)
        num_in, num_out = ctypes.c_int(), ctypes.c_int()
        if not self.lib.call_parse(self.parse, keys, vals, n, ctypes.byref(num_in), ctypes.byref(num_out)):
            self.fail("parseAttrs failed")
        return num_in.value, num_out.value

    def shapes(self, attrs, in_shapes, num_out):
        keys, vals, n = _attr_arrays(attrs)
        arr, dims, _rows = _uint_shapes(in_shapes)
        mod_in, mod_dims = _UPP(), _IP()
        out, out_dims = _UPP(), _IP()
        ok = self.lib.call_shape(
            self.infer_shape,
            keys,
            vals,
            n,
            arr,
            dims,
            len(in_shapes),
            ctypes.byref(mod_in),
            ctypes.byref(mod_dims),
            ctypes.byref(out),
            ctypes.byref(out_dims),
            num_out,
        )
        if not ok:
            self.fail(f"inferShape failed for input shapes {[tuple(s) for s in in_shapes]}")
        free = self.lib.call_free
        new_in = [tuple(mod_in[i][j] for j in range(mod_dims[i])) for i in range(len(in_shapes))]
        new_out = [tuple(out[i][j] for j in range(out_dims[i])) for i in range(num_out)]
        for i in range(len(in_shapes)):
            free(ctypes.cast(mod_in[i], ctypes.c_void_p))
        for i in range(num_out):
            free(ctypes.cast(out[i], ctypes.c_void_p))
        for p in (mod_in, mod_dims, out, out_dims):
            free(ctypes.cast(p, ctypes.c_void_p))
        return new_in, new_out

    def types(self, attrs, in_types, num_out):
        keys, vals, n = _attr_arrays(attrs)
        ins = (ctypes.c_int * max(len(in_types), 1))(*[_CODES[np.dtype(t)] for t in in_types])
        outs = (ctypes.c_int * max(num_out, 1))(*([-1] * num_out))
        if not self.lib.call_type(self.infer_type, keys, vals, n, ins, len(in_types), outs, num_out):
            self.fail(f"inferType failed for input types {[np.dtype(t).name for t in in_types]}")
        for i in range(num_out):
            if outs[i] not in _DTYPES:
                self.fail(f"inferType left output {i} with unknown type code {outs[i]}")
        return [_DTYPES[ins[i]] for i in range(len(in_types))], [_DTYPES[outs[i]] for i in range(num_out)]

    def compute(self, fcomp, attrs, inputs, outputs):
        keys, vals, n = _attr_arrays(attrs)
        ins, outs, ws = _Tensors(inputs), _Tensors(outputs), _Workspace()
        args = [fcomp, keys, vals, n] + ins.dense_args() + outs.dense_args() + _compute_args(ins, outs, ws.fn)
        return self.lib.call_fcompute(*args)

    def stateful(self, state, is_forward, inputs, outputs):
        ins, outs, ws = _Tensors(inputs), _Tensors(outputs), _Workspace()
        args = [int(is_forward), state] + ins.dense_args() + outs.dense_args() + _compute_args(ins, outs, ws.fn)
        return self.lib.call_stateful(*args)

    def new_state(self, attrs, in_shapes, in_types):
        fp = self.create_state.get("cpu")
        if fp is None:
            self.fail(f"no CPU state creator (the library registers it for {sorted(self.create_state)})")
        keys, vals, n = _attr_arrays(attrs)
        arr, dims, _rows = _uint_shapes(in_shapes)
        types = (ctypes.c_int * max(len(in_types), 1))(*[_CODES[np.dtype(t)] for t in in_types])
        state = ctypes.c_void_p()
        ok = self.lib.call_create_state(
            fp, keys, vals, n, b"cpu", 0, arr, dims, len(in_shapes), types, ctypes.byref(state)
        )
        if not ok or not state.value:
            self.fail("createOpState failed")
        return state


def _host(arrays):
    return [np.ascontiguousarray(a.asnumpy()) for a in arrays]


def _make_prop(op):
    """A :class:`mxrs.operator.CustomOpProp` running library operator ``op``."""
    from mxrs import ndarray as nd  # noqa: PLC0415  (mx.nd is imported lazily)
    from mxrs.operator import CustomOp, CustomOpProp  # noqa: PLC0415

    class LibOp(CustomOp):
        def __init__(self, attrs, in_shapes, in_types):
            super().__init__()
            self.attrs = attrs
            self.state = op.new_state(attrs, in_shapes, in_types) if op.create_state else None

        def __del__(self):
            if getattr(self, "state", None) is not None:
                op.lib.call_destroy_state(self.state)

        def _run(self, is_forward, inputs, outputs, reqs):
            host_in = _host(inputs)
            host_out = [np.zeros(o.shape, dtype=o.dtype) for o in outputs]
            if self.state is not None:
                ok = op.stateful(self.state, is_forward, host_in, host_out)
            else:
                table = op.forward if is_forward else op.backward
                fp = table.get("cpu")
                if fp is None:
                    kind = "forward" if is_forward else "backward"
                    op.fail(f"no CPU {kind} function (the library registers it for {sorted(table)})")
                ok = op.compute(fp, self.attrs, host_in, host_out)
            if not ok:
                op.fail("forward failed" if is_forward else "backward failed")
            for dst, req, src in zip(outputs, reqs, host_out):
                self.assign(dst, req, nd.array(src, ctx=dst.context, dtype=dst.dtype))

        def forward(self, is_train, req, in_data, out_data, aux):
            self._run(True, in_data, out_data, req)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            if self.state is None and "cpu" not in op.backward:
                op.fail("has no backward function")
            self._run(False, list(out_grad) + list(in_data) + list(out_data), in_grad, req)

    class LibProp(CustomOpProp):
        def __init__(self, **attrs):
            super().__init__(need_top_grad=True)
            self.attrs = {k: str(v) for k, v in attrs.items()}
            self.num_in, self.num_out = op.num_in_out(self.attrs)

        def list_arguments(self):
            return [f"data{i}" if self.num_in > 1 else "data" for i in range(self.num_in)]

        def list_outputs(self):
            return [f"output{i}" if self.num_out > 1 else "output" for i in range(self.num_out)]

        def infer_shape(self, in_shape):
            new_in, out = op.shapes(self.attrs, [tuple(s) for s in in_shape], self.num_out)
            return new_in, out, []

        def infer_type(self, in_type):
            new_in, out = op.types(self.attrs, list(in_type), self.num_out)
            return new_in, out, []

        def create_operator(self, ctx, in_shapes, in_dtypes):
            return LibOp(self.attrs, [tuple(s) for s in in_shapes], list(in_dtypes))

    LibProp.__name__ = f"LibProp_{op.name}"
    return LibProp


def _nd_function(op, op_type):
    from mxrs.ndarray import Custom  # noqa: PLC0415

    def fn(*args, out=None, name=None, **attrs):
        return Custom(*args, op_type=op_type, out=out, name=name, **attrs)

    fn.__name__ = op.name
    fn.__doc__ = f"Operator {op.name!r} of the extension library {op.lib.path} (runs through mx.nd.Custom)."
    return fn


def _sym_function(op, op_type, custom):
    def fn(*args, name=None, **attrs):
        return custom(*args, op_type=op_type, name=name, **attrs)

    fn.__name__ = op.name
    fn.__doc__ = f"Operator {op.name!r} of the extension library {op.lib.path} (a Custom node)."
    return fn


def _register(op, verbose):
    from mxrs import ndarray, operator, symbol  # noqa: PLC0415

    if op.is_subgraph_op:
        if verbose:
            print(f"\tskipped subgraph operator {op.name!r}: mxrs does not partition graphs")
        return
    if not (op.forward or op.create_state):
        raise MXNetError(f"library op {op.name!r} ({op.lib.path}): registers no forward function and no state creator")
    op_type = "_lib_" + op.name
    operator.register(op_type)(_make_prop(op))
    setattr(ndarray, op.name, _nd_function(op, op_type))
    custom = getattr(symbol, "Custom", None)
    if custom is not None:
        setattr(symbol, op.name, _sym_function(op, op_type, custom))
    if verbose:
        print(f"\tregistered operator {op.name!r} (forward on {sorted(op.forward or op.create_state)})")


def load(path, verbose=True):
    """Load the extension library at ``path`` (an absolute path to a ``.so``/``.dll`` built
    against MXNet 1.9.1's ``lib_api.h``) and add its operators to ``mx.nd`` and ``mx.sym``."""
    if not os.path.exists(path):
        raise MXNetError(f"load path {path} does NOT exist")
    if not os.path.isabs(path):
        raise MXNetError(f"load path {path} is not an absolute path")
    if os.path.splitext(path)[1] not in (".so", ".dll"):
        raise MXNetError(f"load path {path} is NOT a library file")
    real = os.path.realpath(path)
    if real in _LOADED:
        return
    lib = _Lib(real)
    version = lib.version()
    if version != MX_LIBRARY_VERSION:
        raise MXNetError(
            f"library {path}: library version ({version}) does not match MXNet version ({MX_LIBRARY_VERSION})"
        )
    if not lib.initialize(MXNET_VERSION):
        raise MXNetError(f"library {path}: failed to initialize{lib.messages()}")
    count = lib.reg_size()
    if verbose:
        print(f"Found {count} operators in library {path}", file=sys.stdout)
    ops = [_LibOpDef(lib, i) for i in range(count)]
    for op in ops:
        _register(op, verbose)
    for extra in ("_partRegSize", "_passRegSize"):
        fn = getattr(lib.lib, extra, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            n = fn()
            if n and verbose:
                kind = "partitioners" if extra == "_partRegSize" else "graph passes"
                print(f"\tskipped {n} {kind}: mxrs does not run optimize_for")
    _LOADED[real] = (lib, ops)

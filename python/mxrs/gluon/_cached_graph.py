"""The engine of a hybridized HybridBlock: its traced Symbol bound to executors.

One executor is bound per input signature (shapes, dtypes, context, and whether autograd is
recording). Parameters are bound in place (no copy per call); inputs are copied into the
executor's own buffers and outputs copied out, so results never alias the executor's memory.

Under ``autograd.record()`` a call is one tape node (an ``autograd.Function``) whose backward
runs the executor's backward pass. A parameter whose gradient comes from this call alone and
whose ``grad_req`` is write gets its gradient written straight into its ``.grad`` array (as
MXNet's CachedOp does); otherwise the executor writes a buffer of its own and the tape gets a
copy. An executor whose forward state is still needed by a tape
node is busy until that node is freed, so calling the same block twice in one recording binds a
second executor instead of overwriting the first one's saved activations.
"""

import weakref

from mxrs import autograd
from mxrs.base import MXNetError
from mxrs.executor import Executor
from mxrs.ndarray.ndarray import NDArray, invoke, zeros

__all__ = ["CachedGraph"]


class _Entry:
    """A bound executor and the parameter arrays it was bound with."""

    __slots__ = ("exe", "params", "aux", "busy", "data_bufs", "grads", "own")

    def __init__(self, exe, params, aux, data_bufs, grads, own):
        self.exe = exe
        self.params = params
        self.aux = aux
        self.data_bufs = data_bufs
        # Per argument: whether it has a gradient, and the executor's own buffer for it (made
        # when first needed: a parameter's own .grad is bound instead where it can be).
        self.grads = grads
        self.own = own
        self.busy = False

    def own_grad(self, i):
        """The executor's own gradient buffer of argument ``i``."""
        buf = self.own[i]
        if buf is None:
            arg = self.exe.arg_arrays[i]
            buf = self.own[i] = zeros(arg.shape, ctx=arg.context, dtype=arg.dtype)
        return buf


def _only_or_data(param, like):
    """The parameter's array on ``like``'s context (its only array without a lookup)."""
    arrays = param._data
    if arrays is not None and len(arrays) == 1:
        return arrays[0]
    return param.data(like.context)


def _release(entry):
    entry.busy = False


class _Backward:
    """The backward of one recorded call: the executor's backward pass. While the tape holds
    it, the executor's saved forward state belongs to that call (its entry is busy)."""

    def __init__(self, entry, order):
        self._entry = entry
        self._order = order
        entry.busy = True
        weakref.finalize(self, _release, entry)

    def __call__(self, *out_grads, dests=None):
        entry = self._entry
        exe = entry.exe
        # Each gradient goes to its destination (a variable's .grad the tape hands over) or to
        # the executor's own buffer.
        targets: list[NDArray | None] = [None] * len(self._order)
        pairs = []
        for j, i in enumerate(self._order):
            if not entry.grads[i]:
                continue
            d = dests[j] if dests is not None else None
            t = d if d is not None else entry.own_grad(i)
            targets[j] = t
            pairs.append((i, t._handle))
        exe._handle.set_grad_arrays(pairs)
        outs = exe.outputs
        exe.backward(
            [g if g is not None else zeros(o.shape, ctx=o.context, dtype=o.dtype) for g, o in zip(out_grads, outs)]
        )
        return [
            t if t is None or (dests is not None and dests[j] is not None) else t.copy() for j, t in enumerate(targets)
        ]


class CachedGraph:
    """A traced graph with its executors.

    Parameters
    ----------
    inputs : list of Symbol
        The input variables, in call order.
    out : Symbol
        The traced outputs.
    params : ParameterDict
        Every Parameter the graph names.
    """

    def __init__(self, inputs, out, params):
        self.symbol = out
        self.data_names = [i.name for i in inputs]
        self._arg_names = out.list_arguments()
        aux_names = out.list_auxiliary_states()
        missing = [n for n in self._arg_names + aux_names if n not in self.data_names and n not in params]
        if missing:
            raise MXNetError(
                f"hybridize: the traced graph uses variables {missing} that are neither inputs "
                f"({self.data_names}) nor Parameters of the block"
            )
        unused = [n for n in self.data_names if n not in self._arg_names]
        if unused:
            raise MXNetError(f"hybridize: the inputs {unused} are not used by the block's graph")
        self._data_pos = [self._arg_names.index(n) for n in self.data_names]
        self._param_pos = [i for i, n in enumerate(self._arg_names) if n not in self.data_names]
        self._params = [params[self._arg_names[i]] for i in self._param_pos]
        self._aux = [params[n] for n in aux_names]
        # Function inputs are the data then the parameters; their positions among the arguments.
        self._input_order = self._data_pos + self._param_pos
        self._entries = {}

    def params(self):
        """The graph's argument then aux Parameters."""
        return self._params + self._aux

    def _bind(self, data, pdata, adata, needs):
        """Bind an executor; ``needs`` (None when not recording) says which parameters want a gradient."""
        ctx = data[0].context
        args: list = [None] * len(self._arg_names)
        bufs = []
        for pos, d in zip(self._data_pos, data):
            buf = zeros(d.shape, ctx=ctx, dtype=d.dtype)
            args[pos] = buf
            bufs.append(buf)
        for pos, p in zip(self._param_pos, pdata):
            args[pos] = p
        grads: list = [None] * len(args)
        own: list = [None] * len(args)
        if needs is not None:
            for pos in self._data_pos:
                grads[pos] = own[pos] = zeros(args[pos].shape, ctx=ctx, dtype=args[pos].dtype)
            for pos, p, n in zip(self._param_pos, self._params, needs):
                if not n:
                    continue
                # A parameter written by backward starts bound to its own .grad (usually the
                # destination the tape hands over); others get a buffer of the executor's.
                g = p.grad(ctx) if p.grad_req == "write" else None
                if g is None or g.shape != args[pos].shape or g.dtype != args[pos].dtype:
                    g = own[pos] = zeros(args[pos].shape, ctx=ctx, dtype=args[pos].dtype)
                grads[pos] = g
        reqs = ["write" if g is not None else "null" for g in grads]
        exe = Executor._bind(self.symbol, ctx, args, grads, reqs, adata)
        # Arguments no gradient reaches (a label) get None: the tape reads that as zeros.
        wired = set(exe._handle.grad_args())
        return _Entry(exe, pdata, adata, bufs, [i in wired for i in range(len(grads))], own)

    def _entry(self, data, recording):
        pair = data[0]._ctx
        # Recording executors differ by which parameters want gradients (frozen ones do not).
        needs = tuple(p._grad_req != "null" for p in self._params) if recording else None
        key = (tuple((d.shape, d.dtype) for d in data), pair, needs)
        pool = self._entries.get(key)
        if pool is None:
            # The first call with this signature: data(ctx) checks the contexts (and raises
            # DeferredInitializationError before the shapes are known).
            ctx = data[0].context
            pdata = [p.data(ctx) for p in self._params]
            adata = [p.data(ctx) for p in self._aux]
            pool = self._entries[key] = []
        else:
            pdata = [_only_or_data(p, data[0]) for p in self._params]
            adata = [_only_or_data(p, data[0]) for p in self._aux]
        for entry in pool:
            if entry.busy:
                continue
            if all(a is b for a, b in zip(entry.params, pdata)) and all(a is b for a, b in zip(entry.aux, adata)):
                return entry
            pool.remove(entry)
            break
        entry = self._bind(data, pdata, adata, needs)
        pool.append(entry)
        return entry

    def _run(self, entry, data, is_train):
        """Copy ``data`` in, run forward, copy the outputs out (one array or a tuple)."""
        for buf, d in zip(entry.data_bufs, data):
            invoke("_copy", [d], out=buf)
        exe = entry.exe
        exe._handle.forward(bool(is_train))
        outs = [o.copy() for o in exe.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def __call__(self, data):
        """Run the graph on the input arrays ``data``; a list of output arrays."""
        recording = autograd.is_recording()
        train = autograd.is_training()
        entry = self._entry(data, recording)
        if not recording:
            out = self._run(entry, data, train)
            return [out] if not isinstance(out, tuple) else list(out)
        with autograd.pause(train):
            outs = self._run(entry, data, train)
        outs = [outs] if not isinstance(outs, tuple) else list(outs)
        back = _Backward(entry, self._input_order)
        return autograd.record_custom(list(data) + list(entry.params), outs, back, name="HybridBlock", direct=True)

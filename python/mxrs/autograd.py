"""Imperative automatic differentiation (MXNet's ``mx.autograd``).

Inside ``with autograd.record():`` every operator call is recorded on a tape kept in Rust
(``mxrs_ndarray_core::autograd``): the imperative call itself adds one node per op, with no
Python frame, and ``backward``/``grad`` walk it backwards with the operator registry's
gradients. Arrays marked with ``x.attach_grad()`` (or :func:`mark_variables`) receive their
gradient in ``x.grad``::

    x = mx.nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()            # x.grad == 2 * x

Recording and training mode are per thread, as in MXNet.

Nodes whose backward is Python code
-----------------------------------
:class:`Function` (custom forward and backward) is built on :func:`record_custom`, a small
API for any computation that should be ONE node of the tape, such as a hybridized block whose
backward runs a Symbol executor's backward::

    outputs = autograd.record_custom(inputs, outputs, backward, name="HybridBlock")

``inputs`` are the arrays the outputs depend on (the data, then the parameters),
``outputs`` the arrays already computed (outside the tape, e.g. under :func:`pause`), and
``backward(*out_grads)`` returns one gradient (an NDArray or None) per input, in order; it
runs with recording off. The returned arrays are ``outputs`` as nodes of the graph (same
memory); use them in place of the originals. Nothing is recorded when not recording.
"""

from mxrs import _native
from mxrs.base import MXNetTypeError, MXNetValueError
from mxrs.ndarray.ndarray import NDArray
from mxrs.symbol.symbol import Symbol

__all__ = [
    "set_recording",
    "set_training",
    "is_recording",
    "is_training",
    "record",
    "pause",
    "train_mode",
    "predict_mode",
    "mark_variables",
    "backward",
    "grad",
    "get_symbol",
    "record_custom",
    "Function",
]

_GRAD_REQS = ("null", "write", "add", "inplace")


def set_recording(is_recording):  # pylint: disable=redefined-outer-name
    """Set whether this thread records operators; returns the previous state."""
    return _native.autograd_set_recording(bool(is_recording))


def set_training(train_mode):  # pylint: disable=redefined-outer-name
    """Set this thread's training mode (Dropout, BatchNorm); returns the previous state."""
    return _native.autograd_set_training(bool(train_mode))


def is_recording():
    """Whether operators are being recorded on this thread."""
    return _native.autograd_is_recording()


def is_training():
    """Whether this thread is in training mode."""
    return _native.autograd_is_training()


class _RecordingStateScope:
    """Sets the recording flag and/or the training mode for a ``with`` block (None: unchanged)."""

    def __init__(self, is_record, train_mode):  # pylint: disable=redefined-outer-name
        self._enter_is_record = is_record
        self._enter_train_mode = train_mode
        self._prev_is_record = None
        self._prev_train_mode = None

    def __enter__(self):
        if self._enter_is_record is not None:
            self._prev_is_record = set_recording(self._enter_is_record)
        if self._enter_train_mode is not None:
            self._prev_train_mode = set_training(self._enter_train_mode)
        return self

    def __exit__(self, ptype, value, trace):
        if self._enter_is_record is not None and self._prev_is_record != self._enter_is_record:
            set_recording(self._prev_is_record)
        if self._enter_train_mode is not None and self._prev_train_mode != self._enter_train_mode:
            set_training(self._prev_train_mode)


def record(train_mode=True):  # pylint: disable=redefined-outer-name
    """Scope in which operators are recorded for :func:`backward` (training mode by default)."""
    return _RecordingStateScope(True, train_mode)


def pause(train_mode=False):  # pylint: disable=redefined-outer-name
    """Scope in which nothing is recorded (prediction mode by default)."""
    return _RecordingStateScope(False, train_mode)


def train_mode():
    """Scope in training mode, recording left as it is."""
    return _RecordingStateScope(None, True)


def predict_mode():
    """Scope in prediction mode, recording left as it is."""
    return _RecordingStateScope(None, False)


def _as_list(x, what):
    if isinstance(x, NDArray):
        return [x]
    if isinstance(x, (list, tuple)):
        for i, a in enumerate(x):
            if not isinstance(a, NDArray):
                raise MXNetTypeError(f"{what}[{i}] must be an NDArray, got {type(a).__name__}")
        return list(x)
    raise MXNetTypeError(f"{what} must be an NDArray or a list of NDArrays, got {type(x).__name__}")


def _check_req(req):
    if req not in _GRAD_REQS:
        raise MXNetValueError(f"grad_req must be 'write', 'add' or 'null', got {req!r}")
    return req


def mark_variables(variables, gradients, grad_reqs="write"):
    """Mark arrays as variables whose gradients backward stores into ``gradients``."""
    variables = _as_list(variables, "variables")
    gradients = _as_list(gradients, "gradients")
    if len(variables) != len(gradients):
        raise MXNetValueError(f"mark_variables: {len(variables)} variables but {len(gradients)} gradients")
    reqs = [grad_reqs] * len(variables) if isinstance(grad_reqs, str) else list(grad_reqs)
    if len(reqs) != len(variables):
        raise MXNetValueError(f"mark_variables: {len(variables)} variables but {len(reqs)} grad_reqs")
    for v, g, r in zip(variables, gradients, reqs):
        v._handle = _native.autograd_mark_variable(v._handle, g._handle, _check_req(r))


def _parse_head(heads, head_grads):
    heads = _as_list(heads, "heads")
    if head_grads is None:
        return heads, [None] * len(heads)
    if isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    if len(head_grads) != len(heads):
        raise MXNetValueError("heads and head_grads must be lists of the same length")
    return heads, [None if g is None else g._handle for g in head_grads]


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):  # pylint: disable=redefined-outer-name
    """Compute the gradients of ``heads`` with respect to the marked variables (into ``.grad``)."""
    heads, hgrads = _parse_head(heads, head_grads)
    _native.autograd_backward([h._handle for h in heads], hgrads, None, bool(retain_graph), False, bool(train_mode))


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False, train_mode=True):  # pylint: disable=redefined-outer-name
    """The gradients of ``heads`` with respect to ``variables``, as new arrays (``.grad`` is left
    alone). With ``create_graph=True`` the gradient computation is itself recorded, so the
    results can be differentiated again (second order). ``retain_graph`` defaults to
    ``create_graph``."""
    heads, hgrads = _parse_head(heads, head_grads)
    single = isinstance(variables, NDArray)
    variables = _as_list(variables, "variables")
    if not variables:
        raise MXNetValueError("variables cannot be an empty list.")
    retain = create_graph if retain_graph is None else retain_graph
    res = _native.autograd_backward(
        [h._handle for h in heads],
        hgrads,
        [v._handle for v in variables],
        bool(retain),
        bool(create_graph),
        bool(train_mode),
    )
    out = [_wrap(h) for h in res]
    return out[0] if single else out


def get_symbol(x):
    """The recorded history of ``x`` as a Symbol: one node per recorded op, a variable
    ``var<k>`` per marked variable and per input from outside the graph."""
    if not isinstance(x, NDArray):
        raise MXNetTypeError(f"get_symbol: expected an NDArray, got {type(x).__name__}")
    return Symbol(_native.autograd_get_symbol(x._handle))


def _wrap(handle):
    a = NDArray(handle)
    return a


def record_custom(inputs, outputs, backward_fn, name="custom", direct=False):
    """Record ONE node from ``inputs`` to ``outputs`` whose backward is ``backward_fn(*out_grads)``,
    returning one gradient (NDArray or None) per input. Returns ``outputs`` as nodes of the
    graph (new NDArray objects sharing their memory); when not recording, returns them as they
    are. See the module's documentation.

    With ``direct=True`` the backward is called as ``backward_fn(*out_grads, dests=dests)``:
    ``dests`` has one entry per input, the input's gradient buffer where it is a variable with
    ``grad_req='write'`` that gets its whole gradient from this node (else None). Writing the
    gradient into that buffer and returning the buffer itself saves the tape's copy."""
    inputs = _as_list(inputs, "inputs")
    outputs = _as_list(outputs, "outputs")
    if not is_recording():
        return outputs
    n_in = len(inputs)

    def native_backward(out_grads, train, dests):
        with _RecordingStateScope(False, train):
            ogs = [_wrap(g) for g in out_grads]
            if direct:
                ds = [None if d is None else _wrap(d) for d in dests] if dests else [None] * n_in
                rets = backward_fn(*ogs, dests=ds)
            else:
                rets = backward_fn(*ogs)
        if isinstance(rets, NDArray) or rets is None:
            rets = (rets,)
        rets = tuple(rets)
        if len(rets) != n_in:
            raise MXNetValueError(f"{name}.backward must return {n_in} gradients (one per input), got {len(rets)}")
        for r in rets:
            if r is not None and not isinstance(r, NDArray):
                raise MXNetTypeError(f"{name}.backward must return NDArrays, not {type(r).__name__}")
        return [None if r is None else r._handle for r in rets]

    handles = _native.autograd_record_custom(
        name, native_backward, [a._handle for a in inputs], [o._handle for o in outputs]
    )
    return [_wrap(h) for h in handles]


class Function:
    """Customize differentiation: subclass it, define ``forward(*inputs)`` and
    ``backward(*output_grads)`` (returning one gradient per input), and call an instance once.
    ``save_for_backward(*arrays)`` keeps arrays for ``backward`` in ``self.saved_tensors``::

        class sigmoid(mx.autograd.Function):
            def forward(self, x):
                y = 1 / (1 + mx.nd.exp(-x))
                self.save_for_backward(y)
                return y

            def backward(self, dy):
                (y,) = self.saved_tensors
                return dy * y * (1 - y)
    """

    def __init__(self):
        self._used = False
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        """Keep ``args`` for :meth:`backward` (as ``self.saved_tensors``)."""
        self.saved_tensors = args

    def __call__(self, *inputs):
        if self._used:
            raise MXNetValueError("Each Function instance can only be called once. Please create another instance.")
        self._used = True
        prev = set_recording(False)
        try:
            outputs = self.forward(*inputs)
        finally:
            set_recording(prev)
        if not prev:
            return outputs
        single = isinstance(outputs, NDArray)
        outs = [outputs] if single else list(outputs)
        recorded = record_custom(list(inputs), outs, self.backward, name=type(self).__name__)
        # The caller's arrays become the graph's outputs (as MXNet marks them in place).
        for o, r in zip(outs, recorded):
            o._handle = r._handle
        return outputs

    def forward(self, *inputs):
        """Forward computation."""
        raise NotImplementedError

    def backward(self, *output_grads):
        """Backward computation: one gradient per input of :meth:`forward`."""
        raise NotImplementedError

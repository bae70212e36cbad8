"""``mx.nd.all_finite`` and ``mx.nd.multi_all_finite`` with MXNet's ``init_output=False``: the
flag then only ever clears ``out`` (``out`` keeps 0 once an earlier call saw an overflow), which
lets a loss scaler check its gradients in chunks into one output. The registry op computes the
flag of its own inputs; this wrapper combines it with ``out``'s previous value.
"""

from mxrs.base import _Null
from mxrs.ndarray import _ops


def _combine(flag, out):
    if out is None:
        return flag
    target = out[0] if isinstance(out, (list, tuple)) else out
    return _ops.elemwise_mul(target, flag.as_in_context(target.context), out=target)


def all_finite(data=None, init_output=_Null, out=None, name=None, ctx=None, **kwargs):
    """1.0 when every element of ``data`` is finite, else 0.0 (a ``(1,)`` float32 array). With
    ``init_output=False`` and ``out``, ``out`` is only cleared, never set."""
    if init_output is _Null or init_output:
        return _ops.all_finite(data, init_output=init_output, out=out, name=name, ctx=ctx, **kwargs)
    return _combine(_ops.all_finite(data, name=name, ctx=ctx, **kwargs), out)


def multi_all_finite(*data, num_arrays=_Null, init_output=_Null, out=None, name=None, ctx=None, **kwargs):
    """1.0 when every element of every array is finite, else 0.0. With ``init_output=False``
    and ``out``, ``out`` is only cleared, never set."""
    if init_output is _Null or init_output:
        return _ops.multi_all_finite(
            *data, num_arrays=num_arrays, init_output=init_output, out=out, name=name, ctx=ctx, **kwargs
        )
    return _combine(_ops.multi_all_finite(*data, num_arrays=num_arrays, name=name, ctx=ctx, **kwargs), out)

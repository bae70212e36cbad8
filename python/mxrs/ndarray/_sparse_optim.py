"""Optimizer updates with a row_sparse gradient (``mx.nd.sparse.sgd_update``...).

With ``lazy_update=True`` (MXNet's default) only the rows the gradient stores are updated: the
rows of the weight and states are gathered (``take``), updated by the dense update op (the same
kernel and formula as a dense update, on those rows only) and written back in place by
``_sparse_row_assign``. Weight decay and momentum therefore touch only those rows, as in
MXNet's lazy kernels. A dense gradient, or ``lazy_update=False``, runs the dense update over
the whole array (a row_sparse gradient through its dense value); so does FTRL, as in MXNet.
"""

from mxrs.base import ShapeError
from mxrs.ndarray import _ops
from mxrs.ndarray._sparse_base import RowSparseNDArray
from mxrs.ndarray.ndarray import invoke

__all__ = ["sgd_update", "sgd_mom_update", "adam_update", "adagrad_update", "ftrl_update"]


def _lazy(grad, lazy_update):
    return isinstance(grad, RowSparseNDArray) and bool(lazy_update)


def _opts(**kw):
    """The keyword arguments that were given (None means the op's default)."""
    return {k: v for k, v in kw.items() if v is not None}


def _write(target, rows, idx):
    """Write ``rows`` at row ``idx`` of ``target``, in place."""
    invoke("_sparse_row_assign", [target, rows, idx], out=target)


def _target(weight, out):
    """Where the new weight goes: ``out`` (given a copy of the weight first) or the weight."""
    if out is None or out is weight:
        return weight
    weight.copyto(out)
    return out


def _rows_update(dense_fn, weight, grad, states, out, attrs):
    """Run ``dense_fn(weight_rows, grad.data, *state_rows, out=weight_rows, **attrs)`` on the
    rows ``grad`` stores, then write the rows of the weight (into ``out``) and states back."""
    name = dense_fn.__name__.lstrip("_")
    for what, x in [("gradient", grad)] + [("state", s) for s in states]:
        if x.shape != weight.shape:
            raise ShapeError(f"{name}: weight shape {weight.shape} and {what} shape {x.shape} differ")
    target = _target(weight, out)
    idx = grad.indices
    if idx.shape[0] == 0:
        return target
    w = _ops.take(weight, idx)
    st = [_ops.take(s, idx) for s in states]
    dense_fn(w, grad.data, *st, out=w, **attrs)
    _write(target, w, idx)
    for s, r in zip(states, st, strict=True):
        _write(s, r, idx)
    return target


def sgd_update(weight, grad, lr, wd=None, rescale_grad=None, clip_gradient=None, lazy_update=True, out=None, name=None):
    """SGD: ``weight -= lr * (clip(rescale_grad * grad) + wd * weight)``; lazy on the rows of a
    row_sparse gradient."""
    attrs = _opts(lr=lr, wd=wd, rescale_grad=rescale_grad, clip_gradient=clip_gradient)
    if _lazy(grad, lazy_update):
        return _rows_update(_ops.sgd_update, weight, grad, [], out, attrs)
    return _ops.sgd_update(weight, grad, out=out, **attrs)


def sgd_mom_update(
    weight,
    grad,
    mom,
    lr,
    momentum=None,
    wd=None,
    rescale_grad=None,
    clip_gradient=None,
    lazy_update=True,
    out=None,
    name=None,
):
    """SGD with momentum; lazy on the rows of a row_sparse gradient (``mom`` too)."""
    attrs = _opts(lr=lr, momentum=momentum, wd=wd, rescale_grad=rescale_grad, clip_gradient=clip_gradient)
    if _lazy(grad, lazy_update):
        return _rows_update(_ops.sgd_mom_update, weight, grad, [mom], out, attrs)
    return _ops.sgd_mom_update(weight, grad, mom, out=out, **attrs)


def adam_update(
    weight,
    grad,
    mean,
    var,
    lr,
    beta1=None,
    beta2=None,
    epsilon=None,
    wd=None,
    rescale_grad=None,
    clip_gradient=None,
    lazy_update=True,
    out=None,
    name=None,
):
    """Adam; lazy on the rows of a row_sparse gradient (``mean`` and ``var`` too)."""
    attrs = _opts(
        lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon, wd=wd, rescale_grad=rescale_grad, clip_gradient=clip_gradient
    )
    if _lazy(grad, lazy_update):
        return _rows_update(_ops.adam_update, weight, grad, [mean, var], out, attrs)
    return _ops.adam_update(weight, grad, mean, var, out=out, **attrs)


def ftrl_update(
    weight, grad, z, n, lr, lamda1=None, beta=None, wd=None, rescale_grad=None, clip_gradient=None, out=None, name=None
):
    """FTRL. As MXNet 1.9.1, a row_sparse gradient is not lazy here: it updates through its
    dense value (every weight row is recomputed from ``z`` and ``n``)."""
    attrs = _opts(lr=lr, lamda1=lamda1, beta=beta, wd=wd, rescale_grad=rescale_grad, clip_gradient=clip_gradient)
    return _ops.ftrl_update(weight, grad, z, n, out=out, **attrs)


def _adagrad_dense(w, g, h, out=None, lr=0.01, epsilon=1e-7, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    """MXNet's sparse AdaGrad step over whole arrays: ``g = clip(rescale_grad * grad)``,
    ``history += g²``, ``weight -= lr * g / sqrt(history + epsilon)`` (in place)."""
    g = g * rescale_grad
    if clip_gradient is not None and clip_gradient >= 0:
        g = _ops.clip(g, a_min=-clip_gradient, a_max=clip_gradient)
    h += g * g
    res = w - lr * g / _ops.sqrt(h + epsilon)
    target = w if out is None else out
    target[:] = res
    return target


def adagrad_update(
    weight, grad, history, lr, epsilon=1e-7, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, out=None, name=None
):
    """AdaGrad as MXNet's ``_sparse_adagrad_update`` (``wd`` must be 0); a row_sparse gradient
    updates only its rows (of ``history`` too)."""
    if wd:
        raise ValueError("sparse adagrad_update does not support wd")
    attrs = {"lr": lr, "epsilon": epsilon, "rescale_grad": rescale_grad, "clip_gradient": clip_gradient}
    if isinstance(grad, RowSparseNDArray):
        return _rows_update(_adagrad_dense, weight, grad, [history], out, attrs)
    return _adagrad_dense(weight, grad, history, out=_target(weight, out), **attrs)

"""The Python functions of ``mx.nd.contrib``, as MXNet 1.x's ``ndarray/contrib.py`` defines them.

``foreach``, ``while_loop`` and ``cond`` run their bodies as Python loops and branches over
NDArrays, so they work under ``autograd.record`` like any other imperative code. The generated
``mx.nd.contrib`` module (``tools/gen_ops.py``) re-exports these beside the ``_contrib_*`` ops.
"""

import math

import numpy as np

from mxrs.base import MXNetError
from mxrs.context import current_context
from mxrs.ndarray import _ops
from mxrs.ndarray._contrib_graph import (  # noqa: F401
    dgl_adjacency,
    dgl_csr_neighbor_non_uniform_sample,
    dgl_csr_neighbor_uniform_sample,
    dgl_graph_compact,
    dgl_subgraph,
    edge_id,
    getnnz,
)
from mxrs.ndarray._sparse_base import RowSparseNDArray
from mxrs.ndarray._sparse_optim import _target, _write
from mxrs.ndarray.ndarray import NDArray, array, zeros

__all__ = [
    "boolean_mask",
    "cond",
    "dgl_adjacency",
    "dgl_csr_neighbor_non_uniform_sample",
    "dgl_csr_neighbor_uniform_sample",
    "dgl_graph_compact",
    "dgl_subgraph",
    "edge_id",
    "getnnz",
    "foreach",
    "group_adagrad_update",
    "isfinite",
    "isinf",
    "isnan",
    "rand_zipfian",
    "while_loop",
]


def _flatten(args, inout_str):
    """A nested list of NDArrays as a flat list and its nesting format (MXNet's ``_flatten``)."""
    if isinstance(args, NDArray):
        return [args], 0
    if not isinstance(args, (list, tuple)):
        raise MXNetError(f"{inout_str} must be (nested) list of NDArray, but got {args!r} of type {type(args)}")
    flat, fmts = [], []
    for i in args:
        arg, fmt = _flatten(i, inout_str)
        flat.extend(arg)
        fmts.append(fmt)
    return flat, fmts


def _regroup(args, fmt):
    """The inverse of :func:`_flatten`: ``(nested, rest)``."""
    if isinstance(fmt, int):
        if fmt == 0:
            return args[0], args[1:]
        return args[:fmt], args[fmt:]
    ret = []
    for i in fmt:
        res, args = _regroup(args, i)
        ret.append(res)
    return ret, args


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _scalar(value, type_, name):
    """``value`` (an NDArray of one element, a number...) as a Python ``type_``."""
    if hasattr(value, "asscalar"):
        value = value.asscalar()
    try:
        return type_(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot convert {name} to python {type_.__name__}") from e


def foreach(body, data, init_states):
    """Run ``body(data[i], states) -> (outputs, states)`` for each ``i`` along axis 0 of ``data``;
    returns the step outputs stacked along a new axis 0, and the final states."""
    for what, x in (("data", data), ("init_states", init_states)):
        flat, _ = _flatten(x, f"foreach {what}")
        if not all(isinstance(a, NDArray) for a in flat):
            raise MXNetError(f"foreach: {what} should be an NDArray or a nested list of NDArrays")
    single = isinstance(data, NDArray)
    num_iters = data.shape[0] if single else data[0].shape[0]
    states = init_states
    outputs = []
    out_fmt = None
    for i in range(num_iters):
        eles = data[i] if single else [d[i] for d in data]
        outs, states = body(eles, states)
        outs, out_fmt = _flatten(outs, "foreach output")
        outputs.append(outs)
    stacked = [_ops.stack(*out, axis=0) for out in zip(*outputs)]
    if out_fmt is None:
        return [], states
    result, _ = _regroup(stacked, out_fmt)
    return result, states


def while_loop(cond, func, loop_vars, max_iterations=None):
    """Run ``func(*loop_vars) -> (step_output, new_loop_vars)`` while ``cond(*loop_vars)`` holds,
    at most ``max_iterations`` times. Step outputs are stacked along axis 0 and padded to
    ``max_iterations`` rows (with zeros; MXNet leaves the padding uninitialised)."""
    if max_iterations is None:
        raise ValueError("max_iterations should be specified")
    max_iterations = _scalar(max_iterations, int, "max_iteration")
    if isinstance(loop_vars, (list, tuple)) and len(loop_vars) == 0:
        raise ValueError("loop_vars should contain at least one element")
    single = isinstance(loop_vars, NDArray)
    loop_vars = _as_list(loop_vars)
    steps, outputs, out_fmt = 0, [], None
    while steps < max_iterations and _scalar(cond(*loop_vars), bool, "Return value of cond"):
        step_output, new_vars = func(*loop_vars)
        step_output = [] if step_output is None else step_output
        new_vars = _as_list([] if new_vars is None else new_vars)
        if len(new_vars) != len(loop_vars):
            raise ValueError("The length of loop_vars should be consistent during the loop")
        loop_vars = new_vars
        step_output, out_fmt = _flatten(
            list(step_output) if isinstance(step_output, tuple) else step_output, "while output"
        )
        outputs.append(step_output)
        steps += 1
        if len(step_output) != len(outputs[0]):
            raise ValueError("Number of elements in step_output should be the same in each step")
    stacked = []
    for i_th, step_items in enumerate(zip(*outputs), 1):
        items = [x.expand_dims(axis=0) for x in step_items]
        if steps != max_iterations and items:
            pad_shape = (max_iterations - steps,) + tuple(items[0].shape[1:])
            items.append(zeros(pad_shape, ctx=items[0].context, dtype=items[0].dtype))
        shapes = {x.shape[1:] for x in items}
        if len(shapes) > 1:
            lines = [f"Shapes of {i_th}-th elements in step_outputs are inconsistent, which are:"]
            lines += [f"  Step {i}, shape is {x.shape}" for i, x in enumerate(items)]
            raise ValueError("\n".join(lines))
        stacked.append(_ops.concat(*items, dim=0))
    if out_fmt is not None:
        stacked, _ = _regroup(stacked, out_fmt)
    return stacked, (loop_vars[0] if single else loop_vars)


def cond(pred, then_func, else_func):
    """``then_func()`` when ``pred`` (an NDArray of one element, or a number) is true, else
    ``else_func()``."""
    return then_func() if _scalar(pred, bool, "pred") else else_func()


def isinf(data):
    """1 where ``data`` is +inf or -inf, else 0 (data's dtype)."""
    return data.abs() == np.inf


def isfinite(data):
    """1 where ``data`` is neither infinite nor NaN, else 0."""
    return _ops.broadcast_logical_and(data.abs() != np.inf, data == data)


def isnan(data):
    """1 where ``data`` is NaN, else 0."""
    return data != data


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """``num_sampled`` classes drawn from the log-uniform (Zipfian) distribution over
    ``[0, range_max)``, with the expected counts of ``true_classes`` and of the samples:
    ``(samples (int64), expected_count_true (float64), expected_count_sampled (float64))``."""
    if ctx is None:
        ctx = current_context()
    log_range = math.log(range_max + 1)
    rand = _ops._random_uniform(low=0, high=log_range, shape=(num_sampled,), dtype="float64", ctx=ctx)
    sampled = (_ops.exp(rand) - 1).astype("int64") % range_max
    true_cls = true_classes.as_in_context(ctx).astype("float64")
    expected_true = _ops.log((true_cls + 2.0) / (true_cls + 1.0)) / log_range * num_sampled
    sampled_f = sampled.astype("float64")
    expected_sampled = _ops.log((sampled_f + 2.0) / (sampled_f + 1.0)) / log_range * num_sampled
    return sampled, expected_true, expected_sampled


def boolean_mask(data, index, axis=0, out=None, name=None, **kwargs):
    """The slices of ``data`` along ``axis`` where ``index`` (1-D, that axis' length) is nonzero.

    The output's shape depends on ``index``'s values, so this waits for ``index`` and gathers
    with ``take`` (recorded by autograd: the gradient scatters back into the kept slices)."""
    if kwargs:
        raise TypeError(f"boolean_mask: unexpected arguments {sorted(kwargs)}")
    if not isinstance(data, NDArray) or not isinstance(index, NDArray):
        raise MXNetError("_contrib_boolean_mask: data and index must be NDArrays")
    ax = axis + data.ndim if axis < 0 else axis
    if index.ndim != 1 or not 0 <= ax < data.ndim or index.shape[0] != data.shape[ax]:
        raise MXNetError(
            f"_contrib_boolean_mask: index must be 1-D with the length of data's axis {axis} "
            f"(got data {data.shape}, index {index.shape})"
        )
    keep = np.flatnonzero(index.asnumpy())
    positions = array(keep, ctx=data.context, dtype="int64")
    return _ops.take(data, positions, axis=ax, out=out)


def group_adagrad_update(weight, grad, history, lr, rescale_grad=1.0, clip_gradient=-1.0, epsilon=1e-5, out=None):
    """AdaGrad with one learning rate per row (MXNet's ``contrib.group_adagrad_update``).

    For each row ``r`` the gradient stores (every row of a dense gradient, only the stored rows
    of a row_sparse one), with ``g = clip(rescale_grad * grad[r], clip_gradient)`` (no clipping
    when ``clip_gradient < 0``)::

        history[r] += mean(g * g)
        weight[r] -= lr * g / sqrt(history[r] + epsilon)

    ``weight`` is 2-d and ``history`` has shape ``(rows, 1)``; both are updated in place (the
    new weight goes to ``out`` when given). Rows the gradient does not store are left alone.
    """
    if len(weight.shape) != 2 or tuple(history.shape) != (weight.shape[0], 1):
        raise MXNetError(
            f"group_adagrad_update: weight must be 2-d and history (rows, 1), got {weight.shape} and {history.shape}"
        )
    if grad.shape != weight.shape:
        raise MXNetError(f"group_adagrad_update: weight shape {weight.shape} and gradient shape {grad.shape} differ")
    target = _target(weight, out)
    if isinstance(grad, RowSparseNDArray):
        idx = grad.indices
        if idx.shape[0] == 0:
            return target
        g, w, h = grad.data, _ops.take(weight, idx), _ops.take(history, idx)
    else:
        idx, g, w, h = None, grad, weight.copy(), history.copy()
    g = g * float(rescale_grad)
    if clip_gradient >= 0:
        g = _ops.clip(g, -float(clip_gradient), float(clip_gradient))
    h = h + _ops.mean(g * g, axis=1, keepdims=True)
    w = w - float(lr) * g / _ops.sqrt(h + float(epsilon))
    if idx is None:
        w.copyto(target)
        h.copyto(history)
    else:
        _write(target, w, idx)
        _write(history, h, idx)
    return target

"""The Python functions of ``mx.sym.contrib``: ``foreach``, ``while_loop`` and ``cond`` build
their loops and branches into the graph, and ``rand_zipfian`` / ``boolean_mask`` as in MXNet.

MXNet 1.9.1 turns a symbolic loop into one ``_foreach`` / ``_while_loop`` / ``_cond`` node with
a subgraph; mxrs has no subgraph ops, so it builds the same computation from plain ops:

- ``foreach`` is unrolled over axis 0 of ``data``, whose length must therefore be known when the
  loop is built (a variable declared with ``shape=``, or anything whose shape infers from such);
- ``while_loop`` is unrolled ``max_iterations`` times, each step's results kept only while every
  condition so far held (step outputs after the loop ends are zeros, as the padding);
- ``cond`` computes both branches and selects one with ``where`` (their outputs must have equal
  shapes; gradients flow only into the selected branch).
"""

import math

from mxrs.base import MXNetError
from mxrs.symbol import _ops
from mxrs.symbol._contrib_graph import (  # noqa: F401
    dgl_adjacency,
    dgl_csr_neighbor_non_uniform_sample,
    dgl_csr_neighbor_uniform_sample,
    dgl_graph_compact,
    dgl_subgraph,
    edge_id,
    getnnz,
)
from mxrs.symbol.symbol import Symbol

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
    "rand_zipfian",
    "while_loop",
]


def _flatten(args, inout_str):
    if isinstance(args, Symbol):
        return [args], 0
    if not isinstance(args, (list, tuple)):
        raise MXNetError(f"{inout_str} must be (nested) list of Symbol, but got {args!r} of type {type(args)}")
    flat, fmts = [], []
    for i in args:
        arg, fmt = _flatten(i, inout_str)
        flat.extend(arg)
        fmts.append(fmt)
    return flat, fmts


def _regroup(args, fmt):
    if isinstance(fmt, int):
        if fmt == 0:
            return args[0], args[1:]
        return args[:fmt], args[fmt:]
    ret = []
    for i in fmt:
        res, args = _regroup(args, i)
        ret.append(res)
    return ret, args


def _leading_dim(sym):
    """Axis 0's length of ``sym`` when its shape infers from the graph's declared shapes."""
    try:
        _, out_shapes, _ = sym.infer_shape_partial()
    except MXNetError:
        out_shapes = None
    if out_shapes and out_shapes[0] and len(out_shapes[0]) > 0 and out_shapes[0][0] > 0:
        return out_shapes[0][0]
    return None


def foreach(body, data, init_states, name="foreach"):
    """``body(data[i], states) -> (outputs, states)`` unrolled over axis 0 of ``data``; returns
    the step outputs stacked along a new axis 0, and the final states."""
    for what, x in (("data", data), ("init_states", init_states)):
        flat, _ = _flatten(x, f"foreach {what}")
        if not all(isinstance(a, Symbol) for a in flat):
            raise MXNetError(f"foreach: {what} should be a Symbol or a nested list of Symbols")
    single = isinstance(data, Symbol)
    flat_data, data_fmt = _flatten(data, "foreach data")
    lengths = {_leading_dim(d) for d in flat_data}
    if None in lengths or len(lengths) != 1:
        raise MXNetError(
            "mx.sym.contrib.foreach: mxrs unrolls symbolic loops, so the length of data's axis 0 must be known "
            "when the loop is built (declare the data variables with shape=...); a loop over an axis of "
            "unknown length is not supported"
        )
    (num_iters,) = lengths
    states = init_states
    outputs: list[list[Symbol]] = []
    out_fmt = None
    for i in range(num_iters):
        eles = [_ops.squeeze(_ops.slice_axis(d, axis=0, begin=i, end=i + 1), axis=0) for d in flat_data]
        outs, states = body(eles[0] if single else _regroup(eles, data_fmt)[0], states)
        outs, out_fmt = _flatten(outs, "foreach output")
        outputs.append(outs)
    if out_fmt is None:
        return [], states
    stacked = [_ops.stack(*out, axis=0) for out in zip(*outputs)]
    return _regroup(stacked, out_fmt)[0], states


def _select(pred, a, b):
    """``a`` where the one-element ``pred`` is nonzero, else ``b`` (same shapes)."""
    mask = _ops.broadcast_add(_ops.zeros_like(a), _ops.reshape(pred, shape=(1,)))
    return _ops.where(mask, a, b)


def cond(pred, then_func, else_func, name="cond"):
    """The outputs of ``then_func()`` where the one-element ``pred`` is nonzero, else those of
    ``else_func()`` (both are built; their outputs must have the same structure and shapes)."""
    then_out, then_fmt = _flatten(then_func(), "cond then_func output")
    else_out, else_fmt = _flatten(else_func(), "cond else_func output")
    if then_fmt != else_fmt or len(then_out) != len(else_out):
        raise MXNetError("mx.sym.contrib.cond: then_func and else_func must return the same structure of outputs")
    picked = [_select(pred, a, b) for a, b in zip(then_out, else_out)]
    return _regroup(picked, then_fmt)[0]


def while_loop(cond, func, loop_vars, max_iterations=None, name="while_loop"):
    """``func(*loop_vars) -> (step_output, new_loop_vars)`` while ``cond(*loop_vars)``, unrolled
    ``max_iterations`` times; returns the step outputs stacked (``max_iterations`` rows, zeros
    after the loop ended) and the final loop variables."""
    if max_iterations is None:
        raise ValueError("max_iterations should be specified")
    max_iterations = int(max_iterations)
    single = isinstance(loop_vars, Symbol)
    loop_vars = [loop_vars] if single else list(loop_vars)
    if not loop_vars:
        raise ValueError("loop_vars should contain at least one element")
    active = _ops.reshape(cond(*loop_vars), shape=(1,))
    outputs: list[list[Symbol]] = []
    out_fmt = None
    for _ in range(max_iterations):
        step_output, new_vars = func(*loop_vars)
        step_output = [] if step_output is None else step_output
        new_vars = [] if new_vars is None else new_vars
        new_vars = [new_vars] if isinstance(new_vars, Symbol) else list(new_vars)
        if len(new_vars) != len(loop_vars):
            raise ValueError("The length of loop_vars should be consistent during the loop")
        step_output, out_fmt = _flatten(step_output, "while output")
        if outputs and len(step_output) != len(outputs[0]):
            raise ValueError("Number of elements in step_output should be the same in each step")
        outputs.append([_select(active, o, _ops.zeros_like(o)) for o in step_output])
        loop_vars = [_select(active, n, v) for n, v in zip(new_vars, loop_vars)]
        active = _ops.broadcast_mul(active, _ops.reshape(cond(*loop_vars), shape=(1,)))
    stacked = [_ops.stack(*out, axis=0) for out in zip(*outputs)]
    if out_fmt is not None:
        stacked, _ = _regroup(stacked, out_fmt)
    return stacked, (loop_vars[0] if single else loop_vars)


def rand_zipfian(true_classes, num_sampled, range_max):
    """Symbolic :func:`mxrs.ndarray.contrib.rand_zipfian`: ``(samples, expected_count_true,
    expected_count_sampled)``."""
    log_range = math.log(range_max + 1)
    rand = _ops._random_uniform(low=0, high=log_range, shape=(num_sampled,), dtype="float64")
    sampled = _ops._mod_scalar(_ops.Cast(_ops.exp(rand) - 1, dtype="int64"), scalar=range_max)
    true_cls = _ops.Cast(true_classes, dtype="float64")
    expected_true = _ops.log((true_cls + 2.0) / (true_cls + 1.0)) / log_range * num_sampled
    sampled_f = _ops.Cast(sampled, dtype="float64")
    expected_sampled = _ops.log((sampled_f + 2.0) / (sampled_f + 1.0)) / log_range * num_sampled
    return sampled, expected_true, expected_sampled


def boolean_mask(data, index, axis=0, name=None, **kwargs):
    """Not supported in graphs: its output shape depends on ``index``'s values."""
    raise MXNetError(
        "mx.sym.contrib.boolean_mask (_contrib_boolean_mask) is not supported by mxrs: its output shape depends "
        "on the values of index, which a symbolic graph cannot infer; use mx.nd.contrib.boolean_mask"
    )

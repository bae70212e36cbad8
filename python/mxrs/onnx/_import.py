"""``mx.onnx.import_model``: an ONNX model read back as ``(sym, arg_params, aux_params)``.

Every ONNX tensor becomes either a Symbol or a constant (an initializer, a Constant node, or
a value computed from constants and from the static shapes of the graph's inputs, such as the
``Shape -> Slice -> Concat -> Reshape`` chains MXNet 1.9.1's exporter writes). Constants that
an op takes as a tensor become parameters under their initializer's name; those it takes as an
attribute (a reshape target, slice bounds, a scalar) are read as values.
"""

import numpy as np

from mxrs import ndarray as _nd
from mxrs import symbol as _sym
from mxrs.onnx import _import_fold, _import_ops
from mxrs.onnx._common import onnx_module
from mxrs.onnx._import_context import ImportContext, OnnxNode


def _graph_inputs(graph, ctx):
    for vi in graph.input:
        if vi.name in ctx.values:
            continue
        dims = vi.type.tensor_type.shape.dim
        ctx.input_shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in dims)
        dt = ctx.onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        ctx.values[vi.name] = _sym.var(vi.name, dtype=dt)


def _run(graph, ctx):
    onnx = ctx.onnx
    for init in graph.initializer:
        ctx.values[init.name] = onnx.numpy_helper.to_array(init)
        ctx.initializers.add(init.name)
    _graph_inputs(graph, ctx)
    for proto in graph.node:
        node = OnnxNode(proto, onnx)
        if node.op_type in _import_fold.FOLD and all(ctx.is_const(i) for i in node.inputs):
            outs = _import_fold.FOLD[node.op_type](ctx, node)
        elif node.op_type == "Shape":
            outs = [np.asarray(ctx.shape(node.inputs[0]), dtype=np.int64)]
        else:
            translate = _import_ops.TABLE.get(node.op_type)
            if translate is None:
                raise node.fail("no translation for this op")
            outs = translate(ctx, node)
        for name, value in zip(node.outputs, outs):
            if name:
                ctx.values[name] = value


def _from_graph(graph, opset):
    ctx = ImportContext(onnx_module(), opset)
    _run(graph, ctx)
    outs = [ctx.sym(o.name) for o in graph.output]
    sym = outs[0] if len(outs) == 1 else _sym.Group(outs)
    args, aux = set(sym.list_arguments()), set(sym.list_auxiliary_states())
    arg_params = {k: _nd.array(v, dtype=v.dtype) for k, v in ctx.params.items() if k in args}
    aux_params = {k: _nd.array(v, dtype=v.dtype) for k, v in ctx.params.items() if k in aux}
    return sym, arg_params, aux_params


def _opset(model) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions) if versions else 13


def import_model(model_file):
    """``(sym, arg_params, aux_params)`` of the ONNX model in ``model_file``, as MXNet 1.x's
    ``mx.contrib.onnx.import_model``. Inputs with free dimensions are accepted unless the graph
    computes shapes from them."""
    onnx = onnx_module()
    model = onnx.load_model(str(model_file))
    return _from_graph(model.graph, _opset(model))


def get_model_metadata(model_file):
    """``{'input_tensor_data': [(name, shape)], 'output_tensor_data': [(name, shape)]}`` of the
    graph's inputs (less initializers) and outputs, as MXNet 1.x's."""
    onnx = onnx_module()
    graph = onnx.load_model(str(model_file)).graph
    inits = {i.name for i in graph.initializer}

    def shape(vi):
        return tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)

    return {
        "input_tensor_data": [(vi.name, shape(vi)) for vi in graph.input if vi.name not in inits],
        "output_tensor_data": [(vi.name, shape(vi)) for vi in graph.output],
    }


__all__ = ["import_model", "get_model_metadata"]

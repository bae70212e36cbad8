"""``mx.onnx.export_model``: an MXNet graph (Symbol + parameters, the ``-symbol.json`` and
``.params`` files, or a Gluon HybridBlock) written as an ONNX model, opset 13.

The graph is read from the Symbol's JSON, as MXNet's exporter does; shapes and types come from
MXNet's inference for the given input shapes. Tensor names follow MXNet 1.9.1's exporter: a
node's output is named after the node (``fc1``), the graph's outputs after the symbol's outputs
less ``_output``, parameters keep their names and become initializers.
"""

import json
import logging
import os

import numpy as np

from mxrs import ndarray as _nd
from mxrs import symbol as _sym
from mxrs.onnx import _export_nn, _export_tensor
from mxrs.onnx._common import IR_VERSION, OPSET, OnnxError, onnx_module
from mxrs.onnx._context import ExportContext, ExportNode

TRANSLATIONS = {**_export_tensor.TABLE, **_export_nn.TABLE}


def get_operator_support(opset_version=None):
    """The MXNet ops the exporter translates, sorted."""
    return sorted(TRANSLATIONS)


def _to_numpy(v):
    return v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v)


def _load_params(params):
    """A dict name -> NumPy array from a .params path, a dict, or [arg_params, aux_params]."""
    if isinstance(params, (str, os.PathLike)):
        params = _nd.load(os.fspath(params))
    elif isinstance(params, (list, tuple)) and len(params) == 2 and all(isinstance(p, dict) for p in params):
        params = {**params[0], **params[1]}
    if not isinstance(params, dict):
        raise ValueError("Input sym and params should either be files or objects")
    out = {}
    for k, v in params.items():
        name = k[4:] if k.startswith(("arg:", "aux:")) else k
        out[name] = _to_numpy(v)
    return out


def _from_block(block, in_shapes, in_types):
    """(symbol, params) of a Gluon HybridBlock traced on variables ``data`` (``data0``,
    ``data1``... for several inputs), as ``HybridBlock.export`` names them. Parameters whose
    shapes are still deferred are settled by one forward pass on zeros of ``in_shapes``."""
    shapes = list(in_shapes or [])
    types = in_types if isinstance(in_types, list) else [in_types] * len(shapes)
    params = block.collect_params()
    if any(d in (0, -1) for p in params.values() for d in (p.shape or (0,))):
        if not shapes:
            raise OnnxError("export_model of a Gluon block with deferred parameter shapes needs in_shapes")
        block(*[_nd.zeros(tuple(s), dtype=np.dtype(t).name) for s, t in zip(shapes, types)])
    names = ["data"] if len(shapes) <= 1 else [f"data{i}" for i in range(len(shapes))]
    out = block(*[_sym.var(n) for n in names])
    if isinstance(out, (list, tuple)):
        out = _sym.Group(list(out))
    return out, {p.name: p.data() for p in params.values()}


def _visible_outputs(nodes, names):
    """For every JSON node, the indices into ``names`` (the internals' outputs) of its outputs."""
    table, pos = [], 0
    for i, node in enumerate(nodes):
        if node["op"] == "null":
            table.append([pos])
            pos += 1
            continue
        prefix = node["name"] + "_"
        next_var = next((m["name"] for m in nodes[i + 1 :] if m["op"] == "null"), None)
        mine = []
        while pos < len(names) and names[pos].startswith(prefix) and names[pos] != next_var:
            mine.append(pos)
            pos += 1
        table.append(mine)
    return table


class _Graph:
    """The MXNet graph with the shapes and types of every output for the example inputs."""

    def __init__(self, sym, params, in_shapes, in_types):
        self.sym = sym
        self.nodes = json.loads(sym.tojson())["nodes"]
        self.heads = json.loads(sym.tojson())["heads"]
        labels = self._label_names()
        self.inputs = [n for n in sym.list_inputs() if n not in params and n not in labels]
        if in_shapes is None or len(in_shapes) != len(self.inputs):
            raise OnnxError(f"export_model needs one shape in in_shapes per input {self.inputs}, got {in_shapes}")
        if not isinstance(in_types, list):
            in_types = [in_types] * len(self.inputs)
        if len(in_types) != len(self.inputs):
            raise OnnxError(f"export_model: the lengths of in_types {in_types} and in_shapes {in_shapes} must equal")
        self.in_types = [np.dtype(t) for t in in_types]
        known = {n: tuple(s) for n, s in zip(self.inputs, in_shapes)}
        known.update({n: v.shape for n, v in params.items() if n in sym.list_inputs()})
        internals = sym.get_internals()
        _, shapes, _ = internals.infer_shape(**known)
        if shapes is None:
            raise OnnxError(f"shape inference failed with {known}")
        types = {n: t for n, t in zip(self.inputs, self.in_types)}
        types.update({n: v.dtype for n, v in params.items() if n in sym.list_inputs()})
        _, dtypes, _ = internals.infer_type_partial(**types)
        where = _visible_outputs(self.nodes, internals.list_outputs())
        self.shapes = [[tuple(shapes[p]) for p in w] for w in where]
        self.dtypes = [[np.dtype(dtypes[p] or np.float32) for p in w] for w in where]

    def _label_names(self):
        """The label inputs of loss layers (SoftmaxOutput...): not inputs of the exported graph."""
        used_elsewhere, labels = set(), set()
        for node in self.nodes:
            for j, (src, _, _) in enumerate(node["inputs"]):
                name = self.nodes[src]["name"] if self.nodes[src]["op"] == "null" else None
                if name is None:
                    continue
                if node["op"] in _export_nn.LOSS_OPS and j > 0:
                    labels.add(name)
                else:
                    used_elsewhere.add(name)
        return labels - used_elsewhere


def _node_output_names(node, count):
    if count == 1:
        return [node["name"]]
    return [f"{node['name']}{k}" for k in range(count)]


def _convert(g, params, ctx, dynamic_shapes):
    """Translate every node; returns the graph's inputs and the ONNX names of every output."""
    onnx = ctx.onnx
    names, graph_inputs, seen = [], [], set()
    for idx, node in enumerate(g.nodes):
        if node["name"] in seen:
            node["name"] = f"idx_{idx}_{node['name']}"
        seen.add(node["name"])
        # Claim every node's names first, so no helper tensor takes one of them.
        for o in _node_output_names(node, len(g.shapes[idx])):
            ctx.reserve(o)
    for idx, node in enumerate(g.nodes):
        name = node["name"]
        if node["op"] == "null":
            if name in params:
                ctx.initializer(name, params[name])
            elif name in g.inputs:
                k = g.inputs.index(name)
                shape = dynamic_shapes[k] if dynamic_shapes is not None else g.shapes[idx][0]
                elem = onnx.helper.np_dtype_to_tensor_dtype(g.in_types[k])
                graph_inputs.append(onnx.helper.make_tensor_value_info(name, elem, shape))
            names.append([name])
            continue
        translate = TRANSLATIONS.get(node["op"])
        if translate is None:
            raise OnnxError(f"ONNX export: no translation for op {node['op']} (node '{name}')")
        inputs = node["inputs"]
        n = ExportNode(
            name=name,
            op=node["op"],
            attrs=node.get("attrs", {}),
            inputs=[names[s][o] for s, o, _ in inputs],
            in_shapes=[g.shapes[s][o] for s, o, _ in inputs],
            in_dtypes=[g.dtypes[s][o] for s, o, _ in inputs],
            outputs=_node_output_names(node, len(g.shapes[idx])),
            out_shapes=g.shapes[idx],
            out_dtypes=g.dtypes[idx],
        )
        n.params = {i: params[i] for i in n.inputs if i in params}
        if ctx.verbose:
            logging.info("Converting idx: %d, op: %s, name: %s", idx, n.op, name)
        translate(ctx, n)
        names.append(n.outputs)
    return graph_inputs, names


def _graph_outputs(g, names, ctx, dynamic):
    outs = []
    for src, o, _ in g.heads:
        shape = g.shapes[src][o]
        elem = ctx.helper.np_dtype_to_tensor_dtype(g.dtypes[src][o])
        dims = [None] * len(shape) if dynamic else list(shape)
        outs.append(ctx.helper.make_tensor_value_info(names[src][o], elem, dims))
    return outs


def _resolve_inputs(sym, params, in_shapes, in_types):
    if isinstance(sym, (str, os.PathLike)):
        sym = _sym.load(os.fspath(sym))
    elif not isinstance(sym, _sym.Symbol) and hasattr(sym, "collect_params"):
        sym, block_params = _from_block(sym, in_shapes, in_types)
        if params is None:
            params = block_params
    if not isinstance(sym, _sym.Symbol):
        raise ValueError("Input sym and params should either be files or objects")
    return sym, _load_params(params if params is not None else {})


def _dynamic_shapes(in_shapes, dynamic, dynamic_input_shapes):
    if not dynamic:
        if dynamic_input_shapes is not None:
            raise ValueError("dynamic_input_shapes is specified: set dynamic=True to enable dynamic input shapes")
        return None
    if dynamic_input_shapes is None:
        return [[None] * len(s) for s in in_shapes]
    if len(dynamic_input_shapes) != len(in_shapes) or any(
        len(a) != len(b) for a, b in zip(in_shapes, dynamic_input_shapes)
    ):
        raise ValueError("dynamic_input_shapes must have one shape of the same length per shape in in_shapes")
    return [list(s) for s in dynamic_input_shapes]


def export_model(
    sym,
    params,
    in_shapes=None,
    in_types=np.float32,
    onnx_file_path="model.onnx",
    verbose=False,
    dynamic=False,
    dynamic_input_shapes=None,
    run_shape_inference=False,
    input_type=None,
    input_shape=None,
):
    """Write ``sym`` with ``params`` as an ONNX model at ``onnx_file_path``; returns the path.

    As MXNet 1.9.1's ``mx.onnx.export_model``: ``sym`` is a Symbol or the path of a
    ``-symbol.json`` file, ``params`` a dict of NDArrays, ``[arg_params, aux_params]`` or the
    path of a ``.params`` file. ``sym`` may also be a Gluon HybridBlock with ``params=None``
    (its own parameters; inputs named ``data`` or ``data0``, ``data1``...);
    ``in_shapes`` gives one shape per graph input (the symbol's inputs that are not parameters
    or labels), ``in_types`` one type for all or a list. ``dynamic=True`` leaves every input
    dimension free (or as ``dynamic_input_shapes`` says, ``None`` for a free one).
    ``input_type``/``input_shape`` are the old names of ``in_types``/``in_shapes``.
    """
    onnx = onnx_module()
    if input_type is not None:
        in_types = input_type
    if input_shape is not None:
        in_shapes = input_shape
    sym, weights = _resolve_inputs(sym, params, in_shapes, in_types)
    g = _Graph(sym, weights, in_shapes, in_types)
    dyn = _dynamic_shapes(in_shapes, dynamic, dynamic_input_shapes)
    ctx = ExportContext(onnx, dynamic=bool(dynamic), verbose=verbose)
    graph_inputs, names = _convert(g, weights, ctx, dyn)
    graph = onnx.helper.make_graph(
        ctx.nodes,
        "mxnet_converted_model",
        graph_inputs,
        _graph_outputs(g, names, ctx, dynamic),
        initializer=ctx.initializers,
    )
    model = onnx.helper.make_model(
        graph, producer_name="mxrs", opset_imports=[onnx.helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    if run_shape_inference:
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - MXNet keeps the model when inference fails
            logging.info("Shape inference failed, original export is kept.")
    with open(onnx_file_path, "wb") as f:
        f.write(model.SerializeToString())
    logging.info("Exported ONNX file %s saved to disk", onnx_file_path)
    return onnx_file_path


__all__ = ["export_model", "get_operator_support", "TRANSLATIONS"]

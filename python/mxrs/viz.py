"""``mx.viz``: look at a network: :func:`print_summary` (a table of layers, output shapes and
parameter counts, as MXNet prints it) and :func:`plot_network` (a ``graphviz.Digraph``).

``plot_network`` needs the ``graphviz`` package from PyPI (``pip install graphviz``); rendering
the digraph to an image also needs Graphviz's ``dot`` program. Without ``dot`` the digraph's
``source`` (DOT text) is still available.

This module also gives notebooks their views: a ``Symbol`` shows its graph (``_repr_png_``, when
graphviz and ``dot`` are there) and an ``NDArray`` an HTML block with its shape, dtype, context
and values (abbreviated as NumPy prints large arrays).
"""

import copy
import html
import json
import math
import shutil

from mxrs.base import MXNetTypeError, MXNetValueError
from mxrs.ndarray import NDArray
from mxrs.symbol import Symbol

__all__ = ["print_summary", "plot_network"]


def _graph(symbol):
    if not isinstance(symbol, Symbol):
        raise MXNetTypeError("symbol must be Symbol")
    conf = json.loads(symbol.tojson())
    return conf["nodes"], conf["heads"]


def _shapes(symbol, shape):
    """Output shapes of every internal node by output name, and argument shapes by name."""
    if shape is None:
        return {}, {}
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(**shape)
    if out_shapes is None:
        raise MXNetValueError("Input shape is incomplete")
    outs = dict(zip(internals.list_outputs(), out_shapes))
    arg_shapes, _, _ = symbol.infer_shape(**shape)
    args = dict(zip(symbol.list_arguments(), arg_shapes or []))
    return outs, args


def _out_name(node):
    return node["name"] if node["op"] == "null" else node["name"] + "_output"


def _layer_params(nodes, node, arg_shapes, inputs_shown):
    """Parameters a layer owns: the sizes of its variable inputs that are not data inputs."""
    total = 0
    for i, *_ in node["inputs"]:
        src = nodes[i]
        if src["op"] == "null" and src["name"] not in inputs_shown and not src["name"].endswith("label"):
            shp = arg_shapes.get(src["name"])
            total += math.prod(shp) if shp else 0
    return total


def print_summary(symbol, shape=None, line_length=120, positions=(0.44, 0.64, 0.74, 1.0)):
    """Print the layers of ``symbol``: name (op), output shape, parameter count, previous layers.

    ``shape`` maps input names to shapes (as for ``infer_shape``); without it no shapes or
    counts are shown. Data inputs (the names in ``shape``) show as ``name(null)`` rows; the other
    variables are parameters, counted with the layer that uses them.
    """
    nodes, _ = _graph(symbol)
    out_shapes, arg_shapes = _shapes(symbol, shape)
    shown = set(shape or ())
    cols = [int(line_length * p) if p <= 1 else int(p) for p in positions]
    heading = ["Layer (type)", "Output Shape", "Param #", "Previous Layer"]

    def row(fields):
        line = ""
        for i, f in enumerate(fields):
            line = (line + str(f))[: cols[i]].ljust(cols[i])
        print(line)

    print("_" * line_length)
    row(heading)
    print("=" * line_length)
    total = 0
    layers = [n for n in nodes if n["op"] != "null" or n["name"] in shown]
    for k, node in enumerate(layers):
        prev = [nodes[i]["name"] for i, *_ in node["inputs"] if nodes[i]["op"] != "null" or nodes[i]["name"] in shown]
        out = out_shapes.get(_out_name(node))
        out_txt = "x".join(str(d) for d in out[1:]) if out else ""
        params = _layer_params(nodes, node, arg_shapes, shown) if node["op"] != "null" else 0
        total += params
        row([f"{node['name']}({node['op']})", out_txt, params, prev[0] if prev else ""])
        for p in prev[1:]:
            row(["", "", "", p])
        print(("=" if k == len(layers) - 1 else "_") * line_length)
    print(f"Total params: {total}")
    print("_" * line_length)


_COLORS = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3", "#fdb462", "#b3de69", "#fccde5")
_OP_COLOR = {
    "FullyConnected": 1,
    "Convolution": 1,
    "Deconvolution": 1,
    "Activation": 2,
    "LeakyReLU": 2,
    "BatchNorm": 3,
    "Pooling": 4,
    "Concat": 5,
    "Flatten": 5,
    "Reshape": 5,
    "Softmax": 6,
    "SoftmaxOutput": 7,
}


def _label(node):
    op, attrs = node["op"], node.get("attrs", {})
    if op == "FullyConnected":
        return f"FullyConnected\n{attrs.get('num_hidden', '')}"
    if op == "Convolution":
        k = "x".join(attrs.get("kernel", "()").strip("()").replace(" ", "").split(","))
        s = "x".join(attrs.get("stride", "(1,)").strip("()").replace(" ", "").split(",")) or "1"
        return f"Convolution\n{k}/{s.split('x')[0]}, {attrs.get('num_filter', '')}"
    if op == "Activation" or op == "LeakyReLU":
        return f"{op}\n{attrs.get('act_type', '')}"
    if op == "Pooling":
        k = "x".join(attrs.get("kernel", "()").strip("()").replace(" ", "").split(","))
        return f"Pooling\n{attrs.get('pool_type', 'max')}, {k}"
    return node["name"]


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None, node_attrs=None, hide_weights=True):
    """A ``graphviz.Digraph`` of ``symbol``: a node per layer (and input), edges labelled with
    the shapes flowing along them when ``shape`` is given. ``hide_weights`` leaves out weight,
    bias, gamma, beta and moving-statistics variables, as MXNet does.
    """
    try:
        from graphviz import Digraph  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError("Draw network requires graphviz library (pip install graphviz)") from e
    nodes, _ = _graph(symbol)
    out_shapes, _ = _shapes(symbol, shape)
    base = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034", "style": "filled"}
    base.update(node_attrs or {})
    dot = Digraph(name=title, format=save_format)
    hidden = set()
    for i, node in enumerate(nodes):
        name, op = node["name"], node["op"]
        attrs = copy.deepcopy(base)
        if op == "null":
            if hide_weights and name.endswith(("weight", "bias", "gamma", "beta", "moving_mean", "moving_var")):
                hidden.add(i)
                continue
            attrs.update(shape="oval", fillcolor=_COLORS[0])
            dot.node(name=name, label=name, **attrs)
            continue
        attrs["fillcolor"] = _COLORS[_OP_COLOR.get(op, 5)]
        dot.node(name=name, label=_label(node), **attrs)
    for node in nodes:
        if node["op"] == "null":
            continue
        for src, *_ in node["inputs"]:
            if src in hidden:
                continue
            shp = out_shapes.get(_out_name(nodes[src]))
            label = "x".join(str(d) for d in shp[1:]) if shp else ""
            dot.edge(tail_name=node["name"], head_name=nodes[src]["name"], label=label, dir="back", arrowtail="open")
    return dot


def _symbol_png(self):
    """The graph as a PNG for notebooks, or None without graphviz and its ``dot`` program."""
    if shutil.which("dot") is None:
        return None
    try:
        return plot_network(self, save_format="png").pipe()
    except Exception:  # noqa: BLE001 - a failed drawing must not break printing
        return None


def _ndarray_html(self):
    """An HTML view of the array for notebooks."""
    shape = "x".join(str(d) for d in self.shape)
    dtype = getattr(self.dtype, "__name__", str(self.dtype))
    head = f"<b>{type(self).__name__}</b> {shape} <code>{dtype}</code> @{self.context}"
    return f"<div>{head}<pre>{html.escape(str(self.asnumpy()))}</pre></div>"


setattr(Symbol, "_repr_png_", _symbol_png)  # noqa: B010 - a method added from here, not in symbol.py
setattr(NDArray, "_repr_html_", _ndarray_html)  # noqa: B010

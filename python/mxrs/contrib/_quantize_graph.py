"""The INT8 graph passes of ``mx.contrib.quantization``, on a Symbol's JSON graph.

MXNet 1.9.1 does them in C++ (``src/operator/quantization/quantize_graph_pass.cc``:
``QuantizeGraph`` behind ``MXQuantizeSymbol`` and ``SetCalibTableToQuantizedGraph`` behind
``MXSetCalibTableToQuantizedSymbol``), reading per-operator attributes (``FQuantizedOp``,
``FQuantizable``, ``FNeedRequantize``, ``FAvoidQuantizeInput``, ``FNeedCalibrateInput`` /
``Output``). This module keeps those attributes in tables and replays the same passes on the
JSON graph (``sym.tojson()``), so the rewritten graph has MXNet's nodes, names, attributes and
node order (a post-order depth-first walk from the heads, as ``nnvm::DFSVisit``).

What is quantized (MXNet's rules): ``Convolution`` and ``FullyConnected`` (must-quantize nodes),
``Activation`` with ``act_type='relu'``, ``Pooling`` max/avg, ``Flatten``, ``Concat`` with
``dim > 0``, ``elemwise_add``, ``elemwise_mul``, ``BatchNorm`` and float32 ``Embedding``
(support nodes). In ``quantize_mode='smart'`` a support node is quantized only when it lies
between must-quantize nodes (it feeds one and is fed by one, through support nodes); in
``'full'`` every quantizable node is. ``_contrib_quantize_v2`` goes before a quantized node's
float inputs, ``_contrib_requantize`` after the int32 ones (conv, FC, elemwise add/mul),
``_contrib_dequantize`` before float consumers and graph outputs; parameters named in
``offline_params`` become ``NAME_quantize``/``_min``/``_max`` variables.

Differences: mxrs has no oneDNN fused subgraph operators (``_sg_mkldnn_conv``...), so
``quantize_granularity='channel-wise'`` (which only changes those) has no effect; the quantized
RNN is not supported (``RNN`` stays float). A ``Pooling`` other than max/avg and an
``Embedding`` of another dtype stay float (MXNet's table returns the float operator for them).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable

from mxrs.base import MXNetError

QUANTIZE_V2 = "_contrib_quantize_v2"
REQUANTIZE = "_contrib_requantize"
DEQUANTIZE = "_contrib_dequantize"

# FListOutputNames of MXNet 1.9.1's float operators: the quantize node after output `i` of such
# an operator is named NAME_<names[i]>_quantize, after any other operator NAME_<i>_quantize.
# (The legacy OperatorProperty operators all list their outputs, ``output`` by default.)
_OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "Activation": ("output",),
    "BatchNorm": ("output", "mean", "var"),
    "Concat": ("output",),
    "Convolution": ("output",),
    "Deconvolution": ("output",),
    "Dropout": ("output", "mask"),
    "FullyConnected": ("output",),
    "GroupNorm": ("output", "mean", "std"),
    "LayerNorm": ("output", "mean", "std"),
    "LeakyReLU": ("output", "mask"),
    "LRN": ("output", "tmp_norm"),
    "Pooling": ("output",),
    "RNN": ("output", "state", "state_cell"),
    "SoftmaxActivation": ("output",),
    "SoftmaxOutput": ("output",),
    "UpSampling": ("output",),
    "_contrib_BatchNormWithReLU": ("output", "mean", "var"),
    "_contrib_ROIAlign": ("output",),
    "_contrib_RROIAlign": ("output",),
    "col2im": ("output",),
    "elemwise_add": ("output",),
    "im2col": ("output",),
    "make_loss": ("output",),
    "softmax": ("output",),
    "softmin": ("output",),
}
_LEGACY_OPS = frozenset(
    "BatchNorm_v1 BilinearSampler Convolution_v1 Correlation Crop GridGenerator "
    "IdentityAttachKLSparseReg InstanceNorm L2Normalization MakeLoss Pad Pooling_v1 ROIPooling "
    "SVMOutput SequenceLast SequenceMask SequenceReverse SliceChannel SpatialTransformer SwapAxis "
    "_contrib_DeformableConvolution _contrib_DeformablePSROIPooling _contrib_MultiBoxDetection "
    "_contrib_MultiBoxPrior _contrib_MultiBoxTarget _contrib_MultiProposal _contrib_PSROIPooling "
    "_contrib_Proposal _contrib_SyncBatchNorm".split()
)

# Quantized operators: FNeedRequantize (int32 output), FAvoidQuantizeInput (float inputs).
_NEED_REQUANTIZE = frozenset(
    {
        "_contrib_quantized_conv",
        "_contrib_quantized_fully_connected",
        "_contrib_quantized_elemwise_add",
        "_contrib_quantized_elemwise_mul",
    }
)
_MUST_QUANTIZE = frozenset({"Convolution", "FullyConnected"})
_CALIB_INPUT_OPS = frozenset({QUANTIZE_V2, REQUANTIZE})
_CALIB_OUTPUT_OPS = frozenset({"_contrib_quantized_batch_norm"})


def _true(value: str | None) -> bool:
    return str(value).lower() in ("true", "1")


def quantized_op_name(op: str, attrs: dict[str, str]) -> str | None:
    """The quantized operator MXNet's ``FQuantizedOp`` gives for a float node, or None when the
    operator (with these attributes) has no quantized version."""
    if op in ("Convolution", "FullyConnected", "Flatten", "elemwise_add", "elemwise_mul", "BatchNorm"):
        return {
            "Convolution": "_contrib_quantized_conv",
            "FullyConnected": "_contrib_quantized_fully_connected",
            "Flatten": "_contrib_quantized_flatten",
            "elemwise_add": "_contrib_quantized_elemwise_add",
            "elemwise_mul": "_contrib_quantized_elemwise_mul",
            "BatchNorm": "_contrib_quantized_batch_norm",
        }[op]
    if op == "Activation":
        return "_contrib_quantized_act" if attrs.get("act_type") == "relu" else None
    if op == "Pooling":
        return "_contrib_quantized_pooling" if attrs.get("pool_type", "max") in ("max", "avg") else None
    if op == "Concat":
        return "_contrib_quantized_concat" if int(attrs.get("dim", "1")) > 0 else None
    if op == "Embedding":
        return "_contrib_quantized_embedding" if attrs.get("dtype", "float32") == "float32" else None
    return None


def _avoid_quantize_input(op: str, index: int) -> bool:
    """MXNet's ``FAvoidQuantizeInput`` of the float operator: inputs passed on as float."""
    if op == "BatchNorm":
        return index != 0
    if op == "Embedding":
        return index == 0
    return False


class Node:
    """A node of the graph being rewritten (identity matters: nodes are shared by entries)."""

    __slots__ = ("op", "name", "attrs", "inputs", "extra")

    def __init__(self, op: str, name: str, attrs: dict[str, str] | None = None, extra: dict | None = None):
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.inputs: list[tuple[Node, int, int]] = []
        self.extra = dict(extra or {})

    def is_variable(self) -> bool:
        return self.op == "null"


Entry = tuple[Node, int, int]


def parse_graph(graph: dict) -> list[Entry]:
    """The head entries of a Symbol JSON graph, as linked :class:`Node` objects."""
    nodes: list[Node] = []
    for spec in graph["nodes"]:
        extra = {k: v for k, v in spec.items() if k not in ("op", "name", "attrs", "param", "inputs")}
        node = Node(spec["op"], spec["name"], spec.get("attrs", spec.get("param")), extra)
        for inp in spec["inputs"]:
            node.inputs.append((nodes[inp[0]], inp[1], inp[2] if len(inp) > 2 else 0))
        nodes.append(node)
    return [(nodes[h[0]], h[1], h[2] if len(h) > 2 else 0) for h in graph["heads"]]


def dfs_post_order(heads: Iterable[Entry]) -> list[Node]:
    """Nodes reachable from ``heads`` in nnvm's ``DFSVisit`` order (inputs first, in order)."""
    order: list[Node] = []
    seen: set[int] = set()
    for head in heads:
        if id(head[0]) in seen:
            continue
        seen.add(id(head[0]))
        stack = [(head[0], 0)]
        while stack:
            node, i = stack.pop()
            if i < len(node.inputs):
                stack.append((node, i + 1))
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                order.append(node)
    return order


def to_json(heads: list[Entry]) -> dict:
    """A Symbol JSON graph (as a dict) of the graph ending in ``heads``."""
    order = dfs_post_order(heads)
    index = {id(n): i for i, n in enumerate(order)}
    nodes = []
    for n in order:
        spec: dict = {"op": n.op, "name": n.name}
        if n.attrs:
            spec["attrs"] = dict(n.attrs)
        spec["inputs"] = [[index[id(e[0])], e[1], e[2]] for e in n.inputs]
        spec.update(n.extra)
        nodes.append(spec)
    return {
        "nodes": nodes,
        "arg_nodes": [i for i, n in enumerate(order) if n.is_variable()],
        "heads": [[index[id(e[0])], e[1], e[2]] for e in heads],
        "attrs": {"mxnet_version": ["int", 10901]},
    }


def _output_suffix(node: Node, index: int) -> str:
    names = _OUTPUT_NAMES.get(node.op)
    if names is None and node.op in _LEGACY_OPS:
        names = ("output",) if index == 0 else None
    if names is not None and index < len(names):
        return "_" + names[index]
    return "_" + str(index)


def _op_output_name(node: Node, index: int) -> str:
    """nnvm's ``ListOutputNames`` of output ``index`` of an operator node: mxrs names the
    outputs of a one-node graph holding it (variables for its inputs)."""
    from mxrs.symbol import load_json

    graph = {
        "nodes": [{"op": "null", "name": f"__in{i}", "inputs": []} for i in range(len(node.inputs))]
        + [
            {
                "op": node.op,
                "name": node.name,
                "attrs": dict(node.attrs),
                "inputs": [[i, 0, 0] for i in range(len(node.inputs))],
            }
        ],
        "heads": [[len(node.inputs), index, 0]],
        "arg_nodes": list(range(len(node.inputs))),
    }
    try:
        return load_json(json.dumps(graph)).list_outputs()[0]
    except (MXNetError, ValueError, KeyError, IndexError):
        names = _OUTPUT_NAMES.get(node.op)
        if node.op.startswith("_contrib_quantize") or node.op in (REQUANTIZE, DEQUANTIZE):
            names = ("output", "min_output", "max_output")
        if names is not None and index < len(names):
            return f"{node.name}_{names[index]}"
        return f"{node.name}_output" if index == 0 else f"{node.name}_output{index}"


def output_name(node: Node, index: int) -> str:
    """MXNet's ``common::GetOutputName`` of an entry: the variable's name, else the output name."""
    return node.name if node.is_variable() else _op_output_name(node, index)


class _Rewrite:
    """State of one ``QuantizeGraph`` pass."""

    def __init__(self, quantized_dtype: str):
        self.quantized_dtype = quantized_dtype
        self.qmap: dict[int, Node] = {}  # original node id -> quantized node
        self.mirror: dict[int, Node] = {}  # original node id -> node in the new graph
        self.reverse: dict[int, Node] = {}  # new node id -> original node
        self.entry_quantize: dict[tuple[int, int, int], Entry] = {}  # original entry -> quantize

    def quantized(self, node: Node) -> bool:
        return id(node) in self.qmap

    def _quantize_input(self, node: Node, e: Entry, mirror_node: Node) -> Entry:
        key = (id(e[0]), e[1], e[2])
        if key not in self.entry_quantize:
            suffix = "" if mirror_node.is_variable() else _output_suffix(e[0], e[1])
            q = Node(QUANTIZE_V2, e[0].name + suffix + "_quantize", {"out_type": self.quantized_dtype})
            q.inputs.append((mirror_node, e[1], e[2]))
            self.entry_quantize[key] = (q, 0, e[2])
        return self.entry_quantize[key]

    def quantized_node(self, node: Node) -> Node:
        new = self.qmap[id(node)]
        for i, e in enumerate(node.inputs):
            mirror_node = self.mirror[id(e[0])]
            if _avoid_quantize_input(node.op, i):
                new.inputs.append((mirror_node, e[1], e[2]))
            elif not self.quantized(e[0]):
                new.inputs.append(self._quantize_input(node, e, mirror_node))
            elif mirror_node.op == DEQUANTIZE:
                new.inputs.append((mirror_node.inputs[0][0], e[1], e[2]))
            else:
                new.inputs.append((mirror_node, e[1], e[2]))
        for i, e in enumerate(node.inputs):
            if _avoid_quantize_input(node.op, i):
                continue
            mirror_node = self.mirror[id(e[0])]
            if mirror_node.op == DEQUANTIZE:
                mirror_node = mirror_node.inputs[0][0]
            min_index, max_index = 1, 2
            if self.quantized(e[0]):
                min_index, max_index = 1 + 2 * e[1], 2 + 2 * e[1]
            key = (id(e[0]), e[1], e[2])
            source = self.entry_quantize[key][0] if key in self.entry_quantize else mirror_node
            new.inputs.append((source, min_index, 0))
            new.inputs.append((source, max_index, 0))
        if new.op in _NEED_REQUANTIZE:
            req = Node(REQUANTIZE, "requantize_" + node.name, {"out_type": self.quantized_dtype})
            req.inputs = [(new, 0, 0), (new, 1, 0), (new, 2, 0)]
            new = req
        return new

    def _dequantize(self, e: Entry, mirror_node: Node) -> Node:
        deq = Node(DEQUANTIZE, e[0].name + "_dequantize")
        deq.inputs = [(mirror_node, e[1], e[2]), (mirror_node, 1 + 2 * e[1], 0), (mirror_node, 2 + 2 * e[1], 0)]
        return deq

    def float_node(self, node: Node) -> Node:
        new = Node(node.op, node.name, node.attrs, node.extra)
        for e in node.inputs:
            mirror_node = self.mirror[id(e[0])]
            key = (id(e[0]), e[1], e[2])
            if self.quantized(e[0]) and mirror_node.op != DEQUANTIZE:
                deq = self._dequantize(e, mirror_node)
                new.inputs.append((deq, 0, 0))
                self.mirror[id(e[0])] = deq
                self.reverse[id(deq)] = e[0]
            elif key in self.entry_quantize:
                new.inputs.append((self.entry_quantize[key][0].inputs[0][0], e[1], e[2]))
            else:
                new.inputs.append((mirror_node, e[1], e[2]))
        return new

    def run(self, heads: list[Entry]) -> list[Entry]:
        for node in dfs_post_order(heads):
            new = self.quantized_node(node) if self.quantized(node) else self.float_node(node)
            self.mirror[id(node)] = new
            self.reverse[id(new)] = node
        outputs: list[Entry] = []
        for e in heads:
            mirror_node = self.mirror[id(e[0])]
            if self.quantized(e[0]):
                outputs.append((self._dequantize(e, mirror_node), 0, 0))
            else:
                outputs.append((mirror_node, e[1], e[2]))
        return outputs


def _mark_quantized_nodes(
    order: list[Node],
    quantize_mode: str,
    excluded_nodes: set[str],
    excluded_ops: set[str],
    available: Callable[[str], bool],
) -> dict[int, Node]:
    """MXNet's ``MarkQuantizedNodes``: the quantized node of each node to quantize."""
    qmap: dict[int, Node] = {}
    must: list[Node] = []
    support: dict[int, int] = {}
    consumers: dict[int, list[Node]] = {}
    for node in order:
        for e in node.inputs:
            consumers.setdefault(id(e[0]), []).append(node)
        if node.is_variable():
            continue
        qop = quantized_op_name(node.op, node.attrs)
        if qop is None:
            continue
        if not available(qop):
            logging.info("Neither FCompute nor FComputeEx registered, %s is excluded automatically.", node.op)
            continue
        if node.name in excluded_nodes or node.op in excluded_ops:
            continue
        qmap[id(node)] = Node(qop, "quantized_" + node.name, node.attrs)
        if node.op in _MUST_QUANTIZE:
            must.append(node)
        else:
            support[id(node)] = 0
    if quantize_mode == "full":
        return qmap
    if quantize_mode != "smart":
        raise MXNetError(f"quantize_graph: unrecognized quantize mode: {quantize_mode}")
    queue = deque(must)
    while queue:  # from the inputs of must-quantize nodes
        node = queue.popleft()
        for e in node.inputs:
            if id(e[0]) in support:
                support[id(e[0])] |= 1
                queue.append(e[0])
    queue = deque(must)
    while queue:  # from their outputs
        node = queue.popleft()
        for out in consumers.get(id(node), []):
            if id(out) in support:
                support[id(out)] |= 2
                queue.append(out)
    for nid, bits in support.items():
        if bits != 3:
            del qmap[nid]
    return qmap


def _offline_params(outputs: list[Entry], offline: set[str]) -> list[Entry]:
    """MXNet's ``OfflineParams``: a quantize node reading an offline parameter becomes the
    variables ``NAME_quantize``, ``NAME_quantize_min`` and ``NAME_quantize_max``."""
    suffixes = ("", "_min", "_max")
    made: dict[tuple[int, int, int], Node] = {}

    def need(n: Node) -> bool:
        return n.op == QUANTIZE_V2 and n.inputs[0][0].is_variable() and n.inputs[0][0].name in offline

    for node in dfs_post_order(outputs):
        for k, e in enumerate(node.inputs):
            if need(e[0]):
                key = (id(e[0]), e[1], e[2])
                if key not in made:
                    made[key] = Node("null", e[0].name + suffixes[e[1]])
                node.inputs[k] = (made[key], 0, 0)
    return [(made[(id(e[0]), e[1], e[2])], 0, 0) if need(e[0]) else e for e in outputs]


def _calib_nodes(outputs: list[Entry], reverse: dict[int, Node]) -> list[str]:
    names: list[str] = []
    for node in dfs_post_order(outputs):
        if node.op in _CALIB_INPUT_OPS:
            e = node.inputs[0]
            if id(node) in reverse:
                names.append(output_name(reverse[id(node)], e[1]))
            elif e[0].is_variable():
                names.append(e[0].name)
            elif id(e[0]) in reverse:
                names.append(output_name(reverse[id(e[0])], e[1]))
            else:
                raise MXNetError(f"quantize_graph: can't find calibration node for {node.name}")
        elif node.op in _CALIB_OUTPUT_OPS:
            source = reverse.get(id(node), node)
            names.append(output_name(source, 0))
    return names


def quantize_graph_json(
    graph: dict,
    excluded_symbols: Iterable[str] = (),
    excluded_operators: Iterable[str] = (),
    offline_params: Iterable[str] = (),
    quantized_dtype: str = "int8",
    quantize_mode: str = "smart",
    available: Callable[[str], bool] | None = None,
) -> tuple[dict, list[str]]:
    """MXNet's ``QuantizeGraph`` on a Symbol JSON graph (a dict): the quantized graph and the
    names of the layer outputs to calibrate (``calib_nodes``). ``available(op)`` says whether
    a quantized operator can run (MXNet: it has a compute function for the target device);
    nodes whose quantized operator cannot are left in float."""
    heads = parse_graph(graph)
    order = dfs_post_order(heads)
    rewrite = _Rewrite(quantized_dtype)
    rewrite.qmap = _mark_quantized_nodes(
        order, quantize_mode, set(excluded_symbols), set(excluded_operators), available or (lambda op: True)
    )
    outputs = rewrite.run(heads)
    offline = set(offline_params)
    if offline:
        outputs = _offline_params(outputs, offline)
    return to_json(outputs), _calib_nodes(outputs, rewrite.reverse)


def _calib_entry_name(node: Node, index: int) -> str:
    name = output_name(node, index)
    if node.name.startswith("quantized_"):
        name = name[len("quantized_") :]
    return name


def set_calib_table_json(graph: dict, calib_table: dict[str, tuple[float, float]]) -> dict:
    """MXNet's ``SetCalibTableToQuantizedGraph``: ``min_calib_range``/``max_calib_range`` on
    each quantize/requantize node (from its input's name) and quantized batch norm (from its
    output's name) found in ``calib_table`` (name -> (min, max))."""
    import numpy as np

    heads = parse_graph(graph)
    for node in dfs_post_order(heads):
        if node.op in _CALIB_INPUT_OPS:
            e = node.inputs[0]
            key = _calib_entry_name(e[0], e[1])
        elif node.op in _CALIB_OUTPUT_OPS:
            key = _calib_entry_name(node, 0)
        else:
            continue
        if key in calib_table:
            lo, hi = calib_table[key]
            node.attrs["min_calib_range"] = "%f" % float(np.float32(lo))
            node.attrs["max_calib_range"] = "%f" % float(np.float32(hi))
    return to_json(heads)

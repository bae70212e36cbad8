"""mx.contrib.quantization's graph pass and calibration against MXNet 1.9.1
(tests/data/quantpy_golden.json, written by tools/golden/quantpy.py): the rewritten graphs of
quantize_model, the naive/entropy calibration ranges found by running the FP32 model in mxrs,
and the KL thresholds. These need no quantized operator (the graphs are compared as JSON)."""

import json
import os

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError
from mxrs.contrib import _quantize_graph as qg
from mxrs.contrib import quantization as q

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "quantpy_golden.json")))
CASES = sorted(k for k in GOLDEN if not k.startswith("_"))


def _structure(graph):
    nodes = [
        (n["op"], n["name"], {k: v for k, v in n.get("attrs", {}).items() if "calib" not in k}, n["inputs"])
        for n in graph["nodes"]
    ]
    return nodes, graph["heads"]


def _calib_attrs(graph):
    return {
        n["name"]: (float(n["attrs"]["min_calib_range"]), float(n["attrs"]["max_calib_range"]))
        for n in graph["nodes"]
        if "min_calib_range" in n.get("attrs", {})
    }


def _rewrite(case, graph=None):
    kw = case["kwargs"]
    return qg.quantize_graph_json(
        graph if graph is not None else case["sym"],
        kw.get("excluded_sym_names", []),
        kw.get("excluded_op_names", []),
        list(case["args"]),
        kw.get("quantized_dtype", "int8"),
        kw.get("quantize_mode", "smart"),
    )


@pytest.mark.parametrize("name", CASES)
def test_quantized_graph_matches_mxnet(name):
    case = GOLDEN[name]
    graph, calib = _rewrite(case)
    assert _structure(graph) == _structure(case["qsym"])
    # every calibrated node of MXNet's graph reads one of the layer outputs listed to calibrate
    assert len(calib) == len(set(calib))
    if case["kwargs"]["calib_mode"] != "none":
        assert len(_calib_attrs(case["qsym"])) == len(calib)


def test_graph_of_mxrs_symbol_matches_mxnet():
    """The same net built with mxrs's Symbol API (not loaded from MXNet's JSON)."""
    data = mx.sym.var("data")
    c1 = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv1")
    r1 = mx.sym.Activation(c1, act_type="relu", name="relu1")
    p1 = mx.sym.Pooling(r1, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    c2 = mx.sym.Convolution(p1, kernel=(3, 3), num_filter=8, pad=(1, 1), name="conv2")
    r2 = mx.sym.Activation(c2, act_type="relu", name="relu2")
    p2 = mx.sym.Pooling(r2, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="pool2")
    fl = mx.sym.Flatten(p2, name="flatten")
    f1 = mx.sym.FullyConnected(fl, num_hidden=16, name="fc1")
    t1 = mx.sym.Activation(f1, act_type="tanh", name="tanh1")
    f2 = mx.sym.FullyConnected(t1, num_hidden=5, name="fc2")
    net = mx.sym.SoftmaxOutput(f2, name="softmax")
    case = GOLDEN["lenet_none"]
    graph, calib = _rewrite(case, json.loads(net.tojson()))
    assert _structure(graph) == _structure(case["qsym"])
    assert calib == ["data", "conv1_output", "conv2_output", "fc1_output", "tanh1_output", "fc2_output"]


def test_unavailable_quantized_op_stays_float():
    """A quantized operator that cannot run leaves its layer in float (MXNet: 'Neither FCompute
    nor FComputeEx registered, ... is excluded automatically')."""
    case = GOLDEN["mlp_none"]
    graph, calib = qg.quantize_graph_json(
        case["sym"], offline_params=list(case["args"]), available=lambda op: op != "_contrib_quantized_act"
    )
    ops = [(n["op"], n["name"]) for n in graph["nodes"] if n["op"] != "null"]
    assert ops == [
        ("_contrib_quantize_v2", "data_quantize"),
        ("_contrib_quantized_fully_connected", "quantized_fc1"),
        ("_contrib_requantize", "requantize_fc1"),
        ("_contrib_dequantize", "fc1_dequantize"),
        ("Activation", "relu1"),
        ("_contrib_quantize_v2", "relu1_output_quantize"),
        ("_contrib_quantized_fully_connected", "quantized_fc2"),
        ("_contrib_requantize", "requantize_fc2"),
        ("_contrib_dequantize", "fc2_dequantize"),
        ("SoftmaxOutput", "softmax"),
    ]
    assert calib == ["data", "fc1_output", "relu1_output", "fc2_output"]


def test_unknown_quantize_mode():
    with pytest.raises(MXNetError, match="quantize mode"):
        qg.quantize_graph_json(GOLDEN["mlp_none"]["sym"], quantize_mode="partial")


def _module_for(case):
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    label = "softmax_label" in sym.list_arguments()
    calib = np.array(case["calib"], dtype="float32")
    if label:
        it = mx.io.NDArrayIter(
            calib, np.array(case["calib_label"], dtype="float32"), batch_size=4, label_name="softmax_label"
        )
    else:
        it = mx.io.NDArrayIter(calib, batch_size=4)
    mod = mx.mod.Module(sym, label_names=("softmax_label",) if label else None)
    if it.provide_label:
        mod.bind(for_training=False, data_shapes=it.provide_data, label_shapes=it.provide_label)
    else:
        mod.bind(for_training=False, data_shapes=it.provide_data)
    args = {k: mx.nd.array(v) for k, v in case["args"].items()}
    auxs = {k: mx.nd.array(v) for k, v in case["auxs"].items()}
    mod.set_params(args, auxs)
    return mod, it


@pytest.mark.parametrize("name", [k for k in CASES if GOLDEN[k]["kwargs"]["calib_mode"] == "naive"])
def test_naive_calibration_matches_mxnet(name):
    """Layer output min/max of the FP32 model in mxrs give MXNet's calibration ranges."""
    case = GOLDEN[name]
    graph, calib = _rewrite(case)
    mod, it = _module_for(case)
    th_dict, n = q._collect_layer_output_min_max(mod, it, "int8", include_layer=calib)
    assert n == 8
    assert sorted(th_dict) == sorted(calib)
    got = _calib_attrs(qg.set_calib_table_json(graph, th_dict))
    want = _calib_attrs(case["qsym"])
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=2e-6, err_msg=k)


@pytest.mark.parametrize("name", ["mlp_entropy", "mlp_entropy_uint8"])
def test_entropy_calibration_matches_mxnet(name):
    case = GOLDEN[name]
    graph, calib = _rewrite(case)
    mod, it = _module_for(case)
    hist_dict, _ = q._collect_layer_histogram(mod, it, include_layer=calib)
    dtype = case["kwargs"].get("quantized_dtype", "int8")
    th_dict = q._get_optimal_thresholds(hist_dict, dtype)
    got = _calib_attrs(qg.set_calib_table_json(graph, th_dict))
    want = _calib_attrs(case["qsym"])
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-3, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("case", GOLDEN["_entropy"], ids=lambda c: f"{c['kind']}-{c['dtype']}-{c['bins']}")
def test_optimal_threshold_matches_mxnet(case):
    rs = np.random.RandomState(case["seed"])
    arr = rs.laplace(size=5000) if case["kind"] == "laplace" else rs.randn(5000)
    if case["kind"] == "relu":
        arr = np.maximum(arr, 0)
    arr = arr.astype("float32")
    th = float(max(abs(arr.min()), abs(arr.max())))
    hist, edges = np.histogram(arr, bins=case["bins"], range=(-th, th))
    lo, hi, thr, div = q._get_optimal_threshold((hist, edges, arr.min(), arr.max(), th), case["dtype"])
    assert (lo, hi) == (arr.min(), arr.max())
    np.testing.assert_allclose(float(np.ravel(thr)[0]), case["threshold"], rtol=1e-6)
    np.testing.assert_allclose(float(np.ravel(div)[0]), case["divergence"], rtol=1e-4)
    # the NumPy port of MXNet's calibrate_entropy (used when mxrs lacks the operator)
    nbins = 511 if case["kind"] == "relu" and case["dtype"] == "uint8" else 255
    thr, div = q._calibrate_entropy(hist, edges, nbins)
    np.testing.assert_allclose(thr, case["threshold"], rtol=1e-6)
    np.testing.assert_allclose(div, case["divergence"], rtol=1e-4)


def test_collectors_and_histogram_merge():
    mm = q._LayerOutputMinMaxCollector("int8", include_layer=["a"])
    mm.collect("a", mx.nd.array([1.0, -2.0, 3.0]))
    mm.collect(b"a", mx.nd.array([5.0, 0.0]))
    mm.collect("b", mx.nd.array([100.0]))
    assert mm.min_max_dict == {"a": (-2.0, 5.0)}
    hc = q._LayerHistogramCollector(num_bins=11, include_layer=["x"])
    hc.collect("x", mx.nd.array([-1.0, 0.0, 1.0]))
    hc.collect("x", mx.nd.array([0.5, 2.5]))
    hist, edges, lo, hi, th = hc.hist_dict["x"]
    # the range grows by whole old bins (width 2/11) on both sides until it holds 2.5
    assert len(hist) == 11 + 2 * 9 and hist.sum() == 5
    np.testing.assert_allclose(th, 1 + 9 * 2 / 11)
    assert (lo, hi) == (-1.0, 2.5)
    p = q._smooth_distribution(np.array([0.0, 2.0, 2.0]))
    np.testing.assert_allclose(p, [1e-4, 2 - 5e-5, 2 - 5e-5], rtol=1e-6)
    with pytest.raises(ValueError, match="malformed"):
        q._smooth_distribution(np.zeros(3))


def test_argument_errors():
    sym = mx.sym.load_json(json.dumps(GOLDEN["mlp_none"]["sym"]))
    args = {k: mx.nd.array(v) for k, v in GOLDEN["mlp_none"]["args"].items()}
    with pytest.raises(ValueError, match="excluded_sym_names must be a list"):
        q.quantize_model(sym, args, {}, excluded_sym_names="fc1")
    with pytest.raises(ValueError, match="excluded_op_names must be a list"):
        q.quantize_model(sym, args, {}, excluded_op_names="Pooling")
    with pytest.raises(ValueError, match="unknown quantized_dtype"):
        q.quantize_model(sym, args, {}, quantized_dtype="int4")
    with pytest.raises(ValueError, match="quantize_granularity"):
        q.quantize_graph(sym, args, {}, quantize_granularity="row-wise")
    with pytest.raises(ValueError, match="single ctx"):
        q.quantize_model_mkldnn(sym, args, {}, ctx=[mx.cpu()])
    with pytest.raises(ValueError, match="naive or entropy"):
        q.calib_graph(sym, args, {}, None, calib_mode="none")
    with pytest.raises(ValueError, match="unknown calibration mode"):
        q.calib_graph(sym, args, {}, None, calib_mode="kl")
    with pytest.raises(ValueError, match="Only supports data as a type of DataIter"):
        q._collect_layer_statistics(None, [1, 2], None)


def test_namespace():
    assert mx.contrib.quant is mx.contrib.quantization
    for name in (
        "quantize_model",
        "quantize_model_mkldnn",
        "quantize_graph",
        "calib_graph",
        "quantize_net",
        "quantize_net_v2",
        "combine_histogram",
        "CalibrationCollector",
        "_LayerHistogramCollector",
        "_LayerOutputMinMaxCollector",
        "_get_optimal_threshold",
        "_get_optimal_thresholds",
    ):
        assert callable(getattr(mx.contrib.quant, name)), name


def test_quantize_model_leaves_float_what_mxrs_cannot_run(monkeypatch):
    """Without a quantized operator for any layer, quantize_model returns the FP32 model (MXNet
    excludes a layer whose quantized operator has no kernel on the device)."""
    monkeypatch.setattr(q, "_can_run", lambda op: False)
    case = GOLDEN["mlp_none"]
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    args = {k: mx.nd.array(v) for k, v in case["args"].items()}
    qsym, qargs, qauxs = q.quantize_model(sym, args, {}, calib_mode="none")
    assert json.loads(qsym.tojson())["nodes"] == json.loads(sym.tojson())["nodes"]
    assert sorted(qargs) == sorted(args) and qauxs == {}

"""mx.contrib.quantization end to end: quantize_model / quantize_graph + calib_graph /
quantize_net_v2 give a quantized model that runs in mxrs, with MXNet 1.9.1's graph, quantized
parameters and outputs (tests/data/quantpy_golden.json) and outputs close to the FP32 model.
These need mxrs's quantized operators; without them they skip, naming the missing ones."""

import json
import os

import mxrs as mx
import numpy as np
import pytest
from mxrs.contrib import quantization as q
from mxrs.contrib._quantize_calib import _has_op

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "quantpy_golden.json")))
_FC_OPS = (
    "_contrib_quantize",
    "_contrib_quantize_v2",
    "_contrib_quantized_fully_connected",
    "_contrib_requantize",
    "_contrib_dequantize",
)
_ACT = "_contrib_quantized_act"
_CNN_OPS = (*_FC_OPS, _ACT, "_contrib_quantized_conv", "_contrib_quantized_pooling", "_contrib_quantized_flatten")


def _need(*ops):
    missing = [op for op in ops if not _has_op(op)]
    if missing:
        pytest.skip("mxrs has no quantized operator " + ", ".join(missing) + " (they come with branch h-quant)")


def _params(case):
    args = {k: mx.nd.array(v) for k, v in case["args"].items()}
    auxs = {k: mx.nd.array(v) for k, v in case["auxs"].items()}
    return args, auxs


def _calib_iter(case):
    calib = np.array(case["calib"], dtype="float32")
    label = np.array(case["calib_label"], dtype="float32")
    return mx.io.NDArrayIter(calib, label, batch_size=4, label_name="softmax_label")


def _run(sym, args, auxs, data):
    mod = mx.mod.Module(sym, data_names=("data",), label_names=("softmax_label",))
    mod.bind(for_training=False, data_shapes=[("data", data.shape)], label_shapes=[("softmax_label", data.shape[:1])])
    mod.set_params(args, auxs, allow_missing=True)
    mod.forward(mx.io.DataBatch([mx.nd.array(data)]), is_train=False)
    return mod.get_outputs()[0].asnumpy()


def _calib_attrs(graph):
    return {
        n["name"]: (float(n["attrs"]["min_calib_range"]), float(n["attrs"]["max_calib_range"]))
        for n in graph["nodes"]
        if "min_calib_range" in n.get("attrs", {})
    }


def _check_qargs(qargs, case):
    assert sorted(qargs) == sorted(case["qargs"])
    for k, want in case["qargs"].items():
        got = qargs[k].asnumpy()
        assert got.dtype == np.dtype(want["dtype"]), k
        if want["dtype"] == "int8":
            # round half away from zero of x * 127 / max|x|: at most one step off in float32
            assert np.abs(got.astype(int) - np.array(want["value"])).max() <= 1, k
        else:
            np.testing.assert_allclose(got, want["value"], rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("name", ["mlp_naive", "mlp_naive_auto", "mlp_entropy"])
def test_quantize_model_mlp_matches_mxnet(name):
    _need(*_FC_OPS, _ACT)
    case = GOLDEN[name]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    kw = dict(case["kwargs"])
    qsym, qargs, qauxs = q.quantize_model(sym, args, auxs, calib_data=_calib_iter(case), **kw)
    graph = json.loads(qsym.tojson())
    assert [(n["op"], n["name"]) for n in graph["nodes"]] == [(n["op"], n["name"]) for n in case["qsym"]["nodes"]]
    want = _calib_attrs(case["qsym"])
    got = _calib_attrs(graph)
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-3, atol=1e-5, err_msg=k)
    assert qsym.list_arguments() == case["qsym_arguments"]
    _check_qargs(qargs, case)
    test = np.array(case["test"], dtype="float32")
    out = _run(qsym, qargs, qauxs, test)
    np.testing.assert_allclose(out, case["int8_out"][0], atol=0.02)
    np.testing.assert_allclose(out, case["fp32_out"][0], atol=0.05)
    np.testing.assert_allclose(_run(sym, args, auxs, test), case["fp32_out"][0], rtol=1e-4, atol=1e-6)


def test_quantize_model_without_calibration_runs():
    """calib_mode='none': the requantize ranges come from each batch at run time."""
    _need(*_FC_OPS, _ACT)
    case = GOLDEN["mlp_naive"]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    qsym, qargs, qauxs = q.quantize_model(sym, args, auxs, calib_mode="none")
    assert _calib_attrs(json.loads(qsym.tojson())) == {}
    test = np.array(case["test"], dtype="float32")
    np.testing.assert_allclose(_run(qsym, qargs, qauxs, test), case["fp32_out"][0], atol=0.05)


@pytest.mark.parametrize("name", ["lenet_naive", "lenet_naive_full"])
def test_quantized_lenet_close_to_float(name):
    """MXNet's own unfused quantized CNN does not run on its oneDNN build, so the reference is
    the FP32 LeNet; the graph (with its calibration ranges) is MXNet's. (Not 'auto': there the
    requantized uint8 feeds _contrib_quantized_act, whose output MXNet types int8 whatever its
    input, so the unfused graph reads uint8 data as int8 in MXNet too.)"""
    _need(*_CNN_OPS)
    case = GOLDEN[name]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    qsym, qargs, qauxs = q.quantize_model(sym, args, auxs, calib_data=_calib_iter(case), **case["kwargs"])
    graph = json.loads(qsym.tojson())
    assert [n["name"] for n in graph["nodes"]] == [n["name"] for n in case["qsym"]["nodes"]]
    want = _calib_attrs(case["qsym"])
    for k, v in _calib_attrs(graph).items():
        np.testing.assert_allclose(v, want[k], rtol=1e-4, atol=2e-6, err_msg=k)
    _check_qargs(qargs, case)
    data = np.array(case["calib"], dtype="float32")
    out = _run(qsym, qargs, qauxs, data)
    ref = _run(sym, args, auxs, data)
    np.testing.assert_allclose(out, ref, atol=0.05)
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.75


def test_quantize_graph_then_calib_graph_with_monitor():
    """The two-step API: quantize_graph gives a collector; an executor's monitor callback fills
    it; calib_graph sets the same ranges as quantize_model."""
    _need(*_FC_OPS, _ACT)
    case = GOLDEN["mlp_naive"]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    qsym, _, _, collector = q.quantize_graph(sym, args, auxs, calib_mode="naive", quantize_mode="smart")
    assert isinstance(collector, q._LayerOutputMinMaxCollector)
    mod = mx.mod.Module(sym)
    it = _calib_iter(case)
    mod.bind(for_training=False, data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.set_params(args, auxs)
    q._collect_layer_statistics(mod, it, collector)
    qsym, qargs, _ = q.calib_graph(qsym, args, auxs, collector, calib_mode="naive")
    want = _calib_attrs(case["qsym"])
    got = _calib_attrs(json.loads(qsym.tojson()))
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=2e-6, err_msg=k)
    _check_qargs(qargs, case)


@pytest.mark.parametrize("calib", ["none", "naive-iter", "naive-loader"])
def test_quantize_net_v2_gluon(calib):
    """A Gluon MLP quantized to a SymbolBlock: without calibration, calibrated from a DataIter,
    and from a gluon DataLoader of (data, label) batches whose last batch is smaller."""
    _need(*_FC_OPS, _ACT)
    mx.random.seed(3)
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(16, activation="relu"), mx.gluon.nn.Dense(4))
    net.initialize(mx.init.Uniform(0.5))
    rs = np.random.RandomState(7)
    x = rs.uniform(-1, 1, (10, 10)).astype("float32")
    ref = net(mx.nd.array(x)).asnumpy()
    kwargs = {"calib_mode": "none" if calib == "none" else "naive", "quantized_dtype": "int8"}
    if calib == "none":
        kwargs["data_shapes"] = [mx.io.DataDesc("data", (10, 10))]
    elif calib == "naive-iter":
        kwargs["calib_data"] = mx.io.NDArrayIter(x, batch_size=5)
    else:
        dataset = mx.gluon.data.ArrayDataset(mx.nd.array(x), mx.nd.zeros(10))
        kwargs["calib_data"] = mx.gluon.data.DataLoader(dataset, batch_size=4)
    qnet = q.quantize_net_v2(net, **kwargs)
    assert isinstance(qnet, mx.gluon.SymbolBlock)
    out = qnet(mx.nd.array(x)).asnumpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=0.05 * np.abs(ref).max())
    params = qnet.collect_params()
    weights = [k for k in params if k.endswith("weight_quantize")]
    assert len(weights) == 2 and all(params[k].data().dtype == np.int8 for k in weights)


class _SymmetricCollector(q.CalibrationCollector):
    """A customized collector: symmetric ranges max|x| of the layers to calibrate."""

    def collect(self, name, arr):
        if name in self.include_layer:
            m = max(float(np.abs(arr.asnumpy()).max()), self.min_max_dict.get(name, (0.0, 0.0))[1])
            self.min_max_dict[name] = (-m, m)

    def post_collect(self):
        return {k: (lo, hi) for k, (lo, hi) in self.min_max_dict.items()}


def test_customize_collector():
    _need(*_FC_OPS, _ACT)
    case = GOLDEN["mlp_naive"]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    collector = _SymmetricCollector()
    qsym, _, _, got = q.quantize_graph(sym, args, auxs, calib_mode="customize", LayerOutputCollector=collector)
    assert got is collector
    collector.include_layer = ["data", "fc1_output", "fc2_output"]
    mod = mx.mod.Module(sym)
    it = _calib_iter(case)
    mod.bind(for_training=False, data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.set_params(args, auxs)
    q._collect_layer_statistics(mod, it, collector)
    qsym, _, _ = q.calib_graph(qsym, args, auxs, collector, calib_mode="customize")
    ranges = _calib_attrs(json.loads(qsym.tojson()))
    mxnet = _calib_attrs(case["qsym"])
    assert sorted(ranges) == ["data_quantize", "requantize_fc1", "requantize_fc2"]
    for k, (lo, hi) in ranges.items():
        assert lo == -hi
        np.testing.assert_allclose(hi, max(-mxnet[k][0], mxnet[k][1]), rtol=1e-4)


@pytest.mark.parametrize("name", ["branch_naive_full", "emb_naive_full"])
def test_quantized_branches_close_to_float(name):
    """Every quantizable layer quantized ('full'): conv, elemwise add/mul, concat, batch norm,
    relu, pooling, flatten, FC; and a float32 Embedding. MXNet's graph; outputs near FP32."""
    _need(*_CNN_OPS, "_contrib_quantized_elemwise_add", "_contrib_quantized_elemwise_mul")
    _need("_contrib_quantized_concat", "_contrib_quantized_batch_norm", "_contrib_quantized_embedding")
    case = GOLDEN[name]
    args, auxs = _params(case)
    sym = mx.sym.load_json(json.dumps(case["sym"]))
    it = mx.io.NDArrayIter(np.array(case["calib"], dtype="float32"), batch_size=4)
    qsym, qargs, qauxs = q.quantize_model(sym, args, auxs, calib_data=it, label_names=None, **case["kwargs"])
    graph = json.loads(qsym.tojson())
    assert [(n["op"], n["name"]) for n in graph["nodes"]] == [(n["op"], n["name"]) for n in case["qsym"]["nodes"]]
    _check_qargs({k: v for k, v in qargs.items() if k in case["qargs"]}, case)

    def run(s, params, x):
        full = dict(params, data=mx.nd.array(x), **auxs)
        exe = s.bind(
            mx.cpu(),
            {k: full[k] for k in s.list_arguments()},
            aux_states={k: full[k] for k in s.list_auxiliary_states()},
        )
        return [o.asnumpy() for o in exe.forward()]

    x = np.array(case["calib"], dtype="float32")
    for got, ref in zip(run(qsym, qargs, x), run(sym, args, x)):
        np.testing.assert_allclose(got, ref, atol=0.03 * np.abs(ref).max())

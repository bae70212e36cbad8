"""MXNet 1.9.1's INT8 quantization ops (``mx.nd.contrib.quantize_v2``, ``requantize``,
``quantized_conv``...) against golden values of real MXNet (``tests/data/ops_quant_golden.json``,
written by ``tools/golden/quant.py``), plus Symbol inference and binding, and bad inputs.

``MXRS_TEST_TARGET=mxnet`` runs the golden comparisons against MXNet itself too (cases that MXNet
cannot run imperatively or at all on CPU are skipped there).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

DATA = Path(__file__).resolve().parents[1] / "data" / "ops_quant_golden.json"
CASES = json.loads(DATA.read_text())["cases"]
FLOAT_OPS = {"dequantize"}


def _arr(e):
    return np.array(e["data"], dtype=e["dtype"]).reshape(e["shape"])


def _attrs(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}


def _run(case):
    ins = [mx.nd.array(_arr(e), dtype=e["dtype"]) for _, e in case["inputs"]]
    y = getattr(mx.nd.contrib, case["op"])(*ins, **_attrs(case))
    return list(y) if isinstance(y, (list, tuple)) else [y]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case):
    if IS_MXNET and ("source" in case or case["op"] == "quantized_elemwise_mul"):
        pytest.skip("MXNet's CPU build cannot run this case imperatively")
    outs = _run(case)
    assert len(outs) == len(case["outputs"])
    for got, want in zip(outs, case["outputs"]):
        w = _arr(want)
        g = got.asnumpy()
        assert g.dtype == w.dtype, (case["name"], g.dtype, w.dtype)
        assert g.shape == w.shape
        if w.dtype == np.float32 and (case["op"] in FLOAT_OPS or w.size > 1 or case["op"] == "calibrate_entropy"):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7, err_msg=case["name"])
        elif w.dtype == np.float32:
            np.testing.assert_allclose(g, w, rtol=1e-6, err_msg=case["name"])
        else:
            np.testing.assert_array_equal(g, w, err_msg=case["name"])


def _sym_vars(names):
    return [mx.sym.var(n) for n in names]


def test_namespaces_expose_every_op():
    ops = [
        "quantize",
        "quantize_v2",
        "quantize_asym",
        "dequantize",
        "requantize",
        "quantized_conv",
        "quantized_fully_connected",
        "quantized_pooling",
        "quantized_flatten",
        "quantized_act",
        "quantized_concat",
        "quantized_elemwise_add",
        "quantized_elemwise_mul",
        "quantized_embedding",
        "quantized_batch_norm",
        "calibrate_entropy",
    ]
    for op in ops:
        assert callable(getattr(mx.nd.contrib, op)), op
        assert callable(getattr(mx.sym.contrib, op)), op


def test_sym_fc_infers_weight_ranges_and_types():
    d = mx.sym.var("data")
    y = mx.sym.contrib.quantized_fully_connected(d, *_sym_vars(["w", "b", "dmin", "dmax", "wmin", "wmax", "bmin", "bmax"]),
                                                 num_hidden=4, name="qfc")
    assert y.list_outputs() == ["qfc_output", "qfc_min_output", "qfc_max_output"]
    args, outs, _ = y.infer_shape(data=(3, 2, 5))
    assert dict(zip(y.list_arguments(), args)) == {
        "data": (3, 2, 5), "w": (4, 10), "b": (4,), "dmin": (1,), "dmax": (1,), "wmin": (1,), "wmax": (1,),
        "bmin": (1,), "bmax": (1,),
    }
    assert outs == [(3, 4), (1,), (1,)]
    targs, touts, _ = y.infer_type(data="int8")
    assert dict(zip(y.list_arguments(), targs))["w"] == np.int8
    assert dict(zip(y.list_arguments(), targs))["dmin"] == np.float32
    assert touts == [np.int32, np.float32, np.float32]


def test_sym_conv_infer_shape_and_type():
    # As in MXNet, inputs after a missing bias are passed by name (positionally they would bind to bias).
    v = dict(zip(["data", "weight", "min_data", "max_data", "min_weight", "max_weight"],
                 _sym_vars(["data", "w", "dmin", "dmax", "wmin", "wmax"])))
    y = mx.sym.contrib.quantized_conv(**v, kernel=(3, 3), num_filter=5, no_bias=True, pad=(1, 1), stride=(2, 2))
    args, outs, _ = y.infer_shape(data=(2, 3, 7, 7))
    assert dict(zip(y.list_arguments(), args))["w"] == (5, 3, 3, 3)
    assert outs == [(2, 5, 4, 4), (1,), (1,)]
    _, touts, _ = y.infer_type(data="uint8")
    assert touts == [np.int32, np.float32, np.float32]


def test_sym_quantize_v2_output_types_follow_out_type():
    d = mx.sym.var("data")
    for ot, calib, want in [("int8", None, np.int8), ("uint8", None, np.uint8), ("auto", (0.0, 1.0), np.uint8),
                            ("auto", (-1.0, 1.0), np.int8), ("auto", None, np.int8)]:
        kw = {"out_type": ot}
        if calib:
            kw.update(min_calib_range=calib[0], max_calib_range=calib[1])
        q = mx.sym.contrib.quantize_v2(d, **kw)
        _, touts, _ = q.infer_type(data="float32")
        assert touts == [want, np.float32, np.float32], (ot, calib)


def test_bound_quantized_graph_matches_float_reference():
    """quantize_v2 -> quantized_fully_connected -> requantize -> dequantize, bound as one graph,
    against the same ops run one by one and against the float product."""
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (4, 6)).astype(np.float32)
    w = rng.uniform(-0.5, 0.5, (3, 6)).astype(np.float32)
    data = mx.sym.var("data")
    q = mx.sym.contrib.quantize_v2(data, out_type="int8")
    qw, wmin, wmax = _sym_vars(["qw", "wmin", "wmax"])
    fc = mx.sym.contrib.quantized_fully_connected(data=q[0], weight=qw, min_data=q[1], max_data=q[2], min_weight=wmin,
                                                  max_weight=wmax, num_hidden=3, no_bias=True)
    rq = mx.sym.contrib.requantize(fc[0], fc[1], fc[2])
    out = mx.sym.contrib.dequantize(rq[0], rq[1], rq[2])
    wq, wlo, whi = mx.nd.contrib.quantize_v2(mx.nd.array(w), out_type="int8")
    args = {"data": mx.nd.array(x), "qw": wq, "wmin": wlo, "wmax": whi}
    got = out.bind(mx.cpu(), args).forward()[0].asnumpy()
    xq = mx.nd.contrib.quantize_v2(mx.nd.array(x), out_type="int8")
    f = mx.nd.contrib.quantized_fully_connected(xq[0], wq, xq[1], xq[2], wlo, whi, num_hidden=3, no_bias=True)
    r = mx.nd.contrib.requantize(*f)
    step = mx.nd.contrib.dequantize(*r).asnumpy()
    np.testing.assert_array_equal(got, step)
    np.testing.assert_allclose(got, x @ w.T, atol=0.05)


def test_no_gradient_flows_through_quantize():
    x = mx.nd.array([[0.5, -0.25]])
    x.attach_grad()
    with mx.autograd.record():
        q = mx.nd.contrib.quantize_v2(x, out_type="int8")
        y = mx.nd.contrib.dequantize(q[0], q[1], q[2])
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.zeros((1, 2), np.float32))


def _err(fn, *words):
    with pytest.raises(mx.base.MXNetError) as e:
        r = fn()
        for o in r if isinstance(r, (list, tuple)) else [r]:
            o.asnumpy()
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    return msg


r1 = lambda v: mx.nd.array([v])  # noqa: E731


@pytest.mark.skipif(IS_MXNET, reason="mxrs's messages")
def test_bad_inputs_name_the_op():
    i8 = mx.nd.array([[1, 2, 3]], dtype="int8")
    f = mx.nd.array([[1.0, 2.0, 3.0]])
    _err(lambda: mx.nd.contrib.dequantize(f, r1(-1.0), r1(1.0)), "dequantize", "int8 or uint8")
    _err(lambda: mx.nd.contrib.quantize(i8, r1(-1.0), r1(1.0)), "quantize", "float32")
    _err(lambda: mx.nd.contrib.quantize(f, mx.nd.array([-1.0, 0.0]), r1(1.0)), "quantize", "min_range", "(1,)")
    _err(lambda: mx.nd.contrib.requantize(i8, r1(-1.0), r1(1.0)), "requantize", "int32")
    _err(lambda: mx.nd.contrib.quantize_v2(f, out_type="int4"), "quantize_v2", "out_type")
    w = mx.nd.array([[1, 2], [3, 4]], dtype="int8")
    _err(lambda: mx.nd.contrib.quantized_fully_connected(i8, w, r1(-1.0), r1(1.0), r1(-1.0), r1(1.0), num_hidden=2,
                                                         no_bias=True), "quantized_fully_connected", "weight", "(2, 3)")
    fw = mx.nd.array([[1, 2, 3], [3, 4, 5]])
    _err(lambda: mx.nd.contrib.quantized_fully_connected(i8, fw, r1(-1.0), r1(1.0), r1(-1.0), r1(1.0), num_hidden=2,
                                                         no_bias=True), "quantized_fully_connected", "int8")
    d4 = mx.nd.zeros((1, 2, 4, 4), dtype="int8")
    cw = mx.nd.zeros((2, 3, 3, 3), dtype="int8")
    _err(lambda: mx.nd.contrib.quantized_conv(d4, cw, r1(-1.0), r1(1.0), r1(-1.0), r1(1.0), kernel=(3, 3),
                                              num_filter=2, no_bias=True), "quantized_conv", "weight")
    _err(lambda: mx.nd.contrib.quantized_conv(d4, cw, r1(-1.0), r1(1.0), r1(-1.0), r1(1.0), kernel=(3, 3),
                                              num_filter=2, num_group=2, no_bias=True), "quantized_conv", "num_group")
    f4 = mx.nd.zeros((1, 1, 2, 2))
    _err(lambda: mx.nd.contrib.quantized_pooling(f4, r1(-1.0), r1(1.0), kernel=(2, 2)), "quantized_pooling", "int8")
    _err(lambda: mx.nd.contrib.quantized_act(i8, r1(-1.0), r1(1.0), act_type="tanh"), "quantized_act", "relu")
    _err(lambda: mx.nd.contrib.quantized_elemwise_add(i8, mx.nd.zeros((1, 2), dtype="int8"), r1(-1.0), r1(1.0),
                                                      r1(-1.0), r1(1.0)), "quantized_elemwise_add", "same shape")
    g = mx.nd.ones((3,))
    _err(lambda: mx.nd.contrib.quantized_batch_norm(mx.nd.zeros((1, 3, 2), dtype="int8"), g, g, g, g, r1(-1.0),
                                                    r1(1.0)), "quantized_batch_norm", "min_calib_range")
    _err(lambda: mx.nd.contrib.calibrate_entropy(mx.nd.ones((10,)), mx.nd.ones((10,))), "calibrate_entropy",
         "hist_edges")

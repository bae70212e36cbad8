"""Golden values of MXNet 1.9.1's INT8 quantization ops (``mx.nd.contrib.quantize*``,
``dequantize``, ``requantize``, ``quantized_*``, ``calibrate_entropy``).

Run with the real MXNet venv: ``/work/mxref/bin/python tools/golden/quant.py``; it writes
``tests/data/ops_quant_golden.json``. The pip build of MXNet 1.9.1 runs these ops on CPU through
oneDNN (MKL-DNN), so the values are those of its oneDNN kernels.

Cases whose input MXNet's CPU build refuses (``quantized_conv`` over int8 data: "mkldnn_quantized_conv
op only supports uint8 as input type") are computed here instead by ``_conv_int8_reference``, a NumPy
transcription of MXNet's portable kernel (``quantized_conv.cu``: an exact int32 convolution, then
``QuantizedBiasAddKernel`` and ``QuantizationRangeForS8S8MultiplicationStruct``); such cases carry
``"source": "numpy transcription of quantized_conv.cu"``. ``quantized_elemwise_mul`` fails imperatively in
MXNet 1.9.1 (its shape function clears the outputs), so its cases run through a bound Symbol.
"""

import json
from pathlib import Path

import mxnet as mx
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "ops_quant_golden.json"
RNG = np.random.RandomState(1234)


def f32(shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def i8(shape, lo=-127, hi=127):
    return RNG.randint(lo, hi + 1, shape).astype(np.int8)


def u8(shape, lo=0, hi=255):
    return RNG.randint(lo, hi + 1, shape).astype(np.uint8)


def i32(shape, lo=-100000, hi=100000):
    return RNG.randint(lo, hi + 1, shape).astype(np.int32)


def rng(v):
    return np.array([v], dtype=np.float32)


def case(name, op, inputs, attrs=None, **extra):
    return {"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}, **extra}


def _convert_cases():
    x = f32((3, 4))
    x4 = f32((2, 3, 2, 2), -2, 3)
    cases = []
    for ot in ["int8", "uint8"]:
        cases.append(case(f"quantize_{ot}", "quantize", [("data", x), ("min_range", rng(-0.8)), ("max_range", rng(1.2))],
                          {"out_type": ot}))
    cases.append(case("quantize_default_4d", "quantize", [("data", x4), ("min_range", rng(-2.0)), ("max_range", rng(3.0))]))
    for ot in ["int8", "uint8", "auto"]:
        cases.append(case(f"quantize_v2_{ot}", "quantize_v2", [("data", x)], {"out_type": ot}))
        cases.append(case(f"quantize_v2_{ot}_calib", "quantize_v2", [("data", x4)],
                          {"out_type": ot, "min_calib_range": 0.0 if ot != "int8" else -1.5, "max_calib_range": 1.5}))
    cases.append(case("quantize_v2_auto_neg_calib", "quantize_v2", [("data", x)],
                      {"out_type": "auto", "min_calib_range": -0.5, "max_calib_range": 0.7}))
    cases.append(case("quantize_v2_int8_passthrough", "quantize_v2", [("data", i8((2, 5)))], {}))
    cases.append(case("quantize_v2_uint8_passthrough", "quantize_v2", [("data", u8((2, 5)))], {"out_type": "uint8"}))
    cases.append(case("quantize_v2_int8_passthrough_calib", "quantize_v2", [("data", i8((4,)))],
                      {"min_calib_range": -3.0, "max_calib_range": 2.0}))
    cases.append(case("dequantize_int8", "dequantize", [("data", i8((3, 4), -128)), ("min_range", rng(-1.5)),
                                                        ("max_range", rng(0.7))]))
    cases.append(case("dequantize_uint8", "dequantize", [("data", u8((2, 3, 4))), ("min_range", rng(-0.3)),
                                                         ("max_range", rng(2.5))]))
    d32 = i32((3, 5))
    cases.append(case("requantize_nocalib", "requantize", [("data", d32), ("min_range", rng(-20.0)), ("max_range", rng(20.0))]))
    cases.append(case("requantize_calib_int8", "requantize", [("data", d32), ("min_range", rng(-30.0)), ("max_range", rng(25.0))],
                      {"min_calib_range": -0.0007, "max_calib_range": 0.0009}))
    cases.append(case("requantize_calib_auto_uint8", "requantize",
                      [("data", d32), ("min_range", rng(-30.0)), ("max_range", rng(30.0))],
                      {"out_type": "auto", "min_calib_range": 0.0, "max_calib_range": 0.0011}))
    cases.append(case("requantize_calib_uint8", "requantize",
                      [("data", i32((2, 2, 3))), ("min_range", rng(-8.0)), ("max_range", rng(8.0))],
                      {"out_type": "uint8", "min_calib_range": -0.0001, "max_calib_range": 0.0002}))
    return cases


def _fc_inputs(dtype, n, k, h, no_bias, dshape=None):
    data = (u8 if dtype == "uint8" else i8)(dshape or (n, k), 0 if dtype == "uint8" else -100, 100)
    ins = [("data", data), ("weight", i8((h, int(np.prod(data.shape[1:])) if dshape else k), -60, 60))]
    if not no_bias:
        ins.append(("bias", i8((h,))))
    ins += [("min_data", rng(-1.0 if dtype == "int8" else 0.0)), ("max_data", rng(2.0)), ("min_weight", rng(-0.5)),
            ("max_weight", rng(0.4))]
    if not no_bias:
        ins += [("min_bias", rng(-0.3)), ("max_bias", rng(0.25))]
    return ins


def _matmul_cases():
    cases = []
    for dt in ["int8", "uint8"]:
        cases.append(case(f"fc_{dt}_bias", "quantized_fully_connected", _fc_inputs(dt, 3, 6, 4, False), {"num_hidden": 4}))
        cases.append(case(f"fc_{dt}_nobias", "quantized_fully_connected", _fc_inputs(dt, 2, 5, 3, True),
                          {"num_hidden": 3, "no_bias": True}))
    cases.append(case("fc_int8_flatten_4d", "quantized_fully_connected",
                      _fc_inputs("int8", 0, 0, 3, False, dshape=(2, 2, 2, 3)), {"num_hidden": 3}))
    for nb in [False, True]:
        ins = [("data", u8((2, 3, 5, 5), 0, 120)), ("weight", i8((4, 3, 3, 3), -50, 50))]
        if not nb:
            ins.append(("bias", i8((4,))))
        ins += [("min_data", rng(0.0)), ("max_data", rng(1.5)), ("min_weight", rng(-0.7)), ("max_weight", rng(0.6))]
        if not nb:
            ins += [("min_bias", rng(-0.2)), ("max_bias", rng(0.3))]
        attrs = {"kernel": (3, 3), "num_filter": 4, "pad": (1, 1), "stride": (2, 1), "no_bias": nb}
        cases.append(case(f"conv_uint8_{'nobias' if nb else 'bias'}", "quantized_conv", ins, attrs))
    ins = [("data", u8((1, 2, 6, 6), 0, 90)), ("weight", i8((3, 2, 2, 2), -40, 40)), ("min_data", rng(0.0)),
           ("max_data", rng(1.0)), ("min_weight", rng(-1.0)), ("max_weight", rng(1.0))]
    cases.append(case("conv_uint8_dilate", "quantized_conv", ins,
                      {"kernel": (2, 2), "num_filter": 3, "dilate": (2, 2), "no_bias": True}))
    return cases


def _conv_int8_reference(c):
    """MXNet's portable quantized_conv (quantized_conv.cu) over int8 data, in NumPy float32."""
    ins = dict(c["inputs"])
    a = c["attrs"]
    data, w = ins["data"].astype(np.int64), ins["weight"].astype(np.int64)
    n, ci, hh, ww = data.shape
    f, _, kh, kw = w.shape
    ph, pw = a.get("pad", (0, 0))
    sh, sw = a.get("stride", (1, 1))
    xp = np.pad(data, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (hh + 2 * ph - kh) // sh + 1, (ww + 2 * pw - kw) // sw + 1
    acc = np.zeros((n, f, oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            acc[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    one = np.float32(127.0)
    a_lvl = np.float32(max(abs(ins["min_data"][0]), abs(ins["max_data"][0]))) / one
    b_lvl = np.float32(max(abs(ins["min_weight"][0]), abs(ins["max_weight"][0]))) / one
    mx_out = np.float32(a_lvl * b_lvl) * np.float32(2147483648.0)
    out = acc.astype(np.int32)
    if "bias" in ins:
        out_lvl = np.float32(np.float64(mx_out) / 2147483647.0)
        b_abs = max(abs(ins["min_bias"][0]), abs(ins["max_bias"][0]))
        bias_lvl = np.float32(np.float64(np.float32(b_abs)) / 127.0)
        bias = ins["bias"].astype(np.float32)[None, :, None, None]
        val = (out.astype(np.float32) * out_lvl + bias * bias_lvl) / out_lvl
        out = np.trunc(val.astype(np.float32)).astype(np.int32)
    return [out, np.array([-mx_out], np.float32), np.array([mx_out], np.float32)]


def _conv_int8_cases():
    cases = []
    for nb in [False, True]:
        ins = [("data", i8((2, 2, 4, 4), -100, 100)), ("weight", i8((3, 2, 3, 3), -60, 60))]
        if not nb:
            ins.append(("bias", i8((3,))))
        ins += [("min_data", rng(-1.0)), ("max_data", rng(0.8)), ("min_weight", rng(-0.5)), ("max_weight", rng(0.5))]
        if not nb:
            ins += [("min_bias", rng(-0.1)), ("max_bias", rng(0.2))]
        c = case(f"conv_int8_{'nobias' if nb else 'bias'}", "quantized_conv", ins,
                 {"kernel": (3, 3), "num_filter": 3, "pad": (1, 1), "no_bias": nb},
                 source="numpy transcription of quantized_conv.cu")
        c["reference"] = _conv_int8_reference(c)
        cases.append(c)
    return cases


def _layer_cases():
    cases = []
    r = [("min_data", rng(-0.6)), ("max_data", rng(0.9))]
    for dt, gen in [("int8", i8), ("uint8", u8)]:
        d = gen((2, 2, 5, 5))
        cases.append(case(f"pool_max_{dt}", "quantized_pooling", [("data", d)] + r, {"kernel": (2, 2), "stride": (2, 2)}))
        cases.append(case(f"pool_avg_{dt}", "quantized_pooling", [("data", d)] + r,
                          {"kernel": (2, 2), "pool_type": "avg", "stride": (1, 1)}))
        cases.append(case(f"pool_avg3_pad_{dt}", "quantized_pooling", [("data", d)] + r,
                          {"kernel": (3, 3), "pool_type": "avg", "stride": (2, 2), "pad": (1, 1)}))
        cases.append(case(f"pool_global_max_{dt}", "quantized_pooling", [("data", d)] + r,
                          {"kernel": (1, 1), "global_pool": True}))
        cases.append(case(f"flatten_{dt}", "quantized_flatten", [("data", gen((2, 3, 2)))] + r))
        cases.append(case(f"act_{dt}", "quantized_act", [("data", gen((3, 4)))] + r, {"act_type": "relu"}))
    cases.append(case("pool_avg_exclude_pad_int8", "quantized_pooling", [("data", i8((1, 2, 4, 4)))] + r,
                      {"kernel": (3, 3), "pool_type": "avg", "pad": (1, 1), "count_include_pad": False}))
    cases.append(case("pool_max_full_int8", "quantized_pooling", [("data", i8((1, 2, 5, 5)))] + r,
                      {"kernel": (2, 2), "stride": (2, 2), "pooling_convention": "full"}))
    cases.append(case("embedding", "quantized_embedding",
                      [("data", np.array([[0, 3, 1], [4, 4, 2]], np.float32)), ("weight", i8((5, 3))),
                       ("min_weight", rng(-0.5)), ("max_weight", rng(0.5))], {"input_dim": 5, "output_dim": 3}))
    bn = [("gamma", f32((3,), 0.5, 1.5)), ("beta", f32((3,), -0.2, 0.2)), ("moving_mean", f32((3,), -0.1, 0.1)),
          ("moving_var", f32((3,), 0.5, 1.5))]
    cases.append(case("batch_norm_int8", "quantized_batch_norm", [("data", i8((2, 3, 2, 2)))] + bn + r,
                      {"min_calib_range": -1.2, "max_calib_range": 1.0}))
    cases.append(case("batch_norm_uint8_eps", "quantized_batch_norm", [("data", u8((2, 3, 3)))] + bn + r,
                      {"min_calib_range": -0.8, "max_calib_range": 1.5, "eps": 0.01, "fix_gamma": False}))
    return cases


def _arith_cases():
    cases = []
    a, b = i8((2, 6), -127), i8((2, 6), -127)
    ua, ub = u8((2, 6)), u8((2, 6))
    ranges = [("lhs_min", rng(-0.5)), ("lhs_max", rng(0.8)), ("rhs_min", rng(-1.1)), ("rhs_max", rng(0.3))]
    for tag, lhs, rhs in [("s8s8", a, b), ("u8u8", ua, ub), ("s8u8", a, ub), ("u8s8", ua, b)]:
        cases.append(case(f"add_{tag}", "quantized_elemwise_add", [("lhs", lhs), ("rhs", rhs)] + ranges))
        cases.append(case(f"add_{tag}_calib", "quantized_elemwise_add", [("lhs", lhs), ("rhs", rhs)] + ranges,
                          {"min_calib_range": -0.9, "max_calib_range": 1.3}))
    cases.append(case("mul", "quantized_elemwise_mul", [("lhs", a), ("rhs", b)] + ranges))
    cases.append(case("mul_calib", "quantized_elemwise_mul", [("lhs", a), ("rhs", b)] + ranges,
                      {"min_calib_range": -0.3, "max_calib_range": 0.35}))
    cases.append(case("mul_float", "quantized_elemwise_mul", [("lhs", a), ("rhs", b)] + ranges,
                      {"enable_float_output": True}))
    x, y, z = i8((2, 3, 2)), i8((2, 1, 2)), u8((2, 2, 2))
    cr = [("arg0_min", rng(-0.5)), ("arg0_max", rng(0.4)), ("arg1_min", rng(-1.0)), ("arg1_max", rng(0.9))]
    cases.append(case("concat_s8s8", "quantized_concat", [("arg0", x), ("arg1", y)] + cr, {"num_args": 2, "dim": 1}))
    cases.append(case("concat_same_range", "quantized_concat",
                      [("arg0", x), ("arg1", y), ("arg0_min", rng(-1.0)), ("arg0_max", rng(1.0)), ("arg1_min", rng(-1.0)),
                       ("arg1_max", rng(1.0))], {"num_args": 2, "dim": 1}))
    cases.append(case("concat_s8u8", "quantized_concat", [("arg0", i8((2, 2, 2))), ("arg1", z)] + cr,
                      {"num_args": 2, "dim": 1}))
    cases.append(case("concat_u8u8", "quantized_concat",
                      [("arg0", z), ("arg1", u8((2, 2, 2))), ("arg2", u8((2, 1, 2))), ("arg0_min", rng(0.0)),
                       ("arg0_max", rng(0.5)), ("arg1_min", rng(0.0)), ("arg1_max", rng(2.0)), ("arg2_min", rng(0.0)),
                       ("arg2_max", rng(1.0))], {"num_args": 3, "dim": 1}))
    return cases


def _calib_cases():
    cases = []
    data = RNG.normal(0, 1, 5000)
    hist, edges = np.histogram(data, bins=201, range=(-4, 4))
    cases.append(case("calibrate_entropy", "calibrate_entropy",
                      [("hist", hist.astype(np.float32)), ("hist_edges", edges.astype(np.float32))],
                      {"num_quantized_bins": 31}))
    data = np.concatenate([RNG.normal(0, 0.3, 3000), RNG.uniform(-3, 3, 200)])
    hist, edges = np.histogram(data, bins=101, range=(-3, 3))
    cases.append(case("calibrate_entropy_default", "calibrate_entropy",
                      [("hist", hist.astype(np.float32)), ("hist_edges", edges.astype(np.float32))],
                      {"num_quantized_bins": 15}))
    x3 = f32((2, 3, 4), -0.7, 1.9)
    cases.append(case("quantize_asym_3d", "quantize_asym", [("data", x3)]))
    cases.append(case("quantize_asym_3d_calib", "quantize_asym", [("data", x3)],
                      {"min_calib_range": -0.5, "max_calib_range": 1.5}))
    return cases


def _families():
    return _convert_cases() + _matmul_cases() + _conv_int8_cases() + _layer_cases() + _arith_cases() + _calib_cases()


def _enc(a):
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.ravel().tolist()}


def _run(c):
    if "reference" in c:
        return c.pop("reference")
    ins = [mx.nd.array(v, dtype=v.dtype) for _, v in c["inputs"]]
    if c["op"] == "quantized_elemwise_mul":
        # MXNet's shape function clears the outputs before assigning them, which its imperative
        # path refuses ("out_shapes.size() == outputs.size() (0 vs. 3)"); a bound Symbol runs it.
        names = [n for n, _ in c["inputs"]]
        sym = mx.sym.contrib.quantized_elemwise_mul(*[mx.sym.var(n) for n in names], **c["attrs"])
        return [o.asnumpy() for o in sym.bind(mx.cpu(), dict(zip(names, ins))).forward()]
    fn = getattr(mx.nd.contrib, c["op"])
    y = fn(*ins, **c["attrs"])
    return [o.asnumpy() for o in (y if isinstance(y, (list, tuple)) else [y])]


def main():
    out = []
    for c in _families():
        print(c["name"], flush=True)
        outs = _run(c)
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in c["attrs"].items()}
        rec = {"name": c["name"], "op": c["op"], "attrs": attrs, "inputs": [[n, _enc(v)] for n, v in c["inputs"]],
               "outputs": [_enc(o) for o in outs]}
        if "source" in c:
            rec["source"] = c["source"]
        out.append(rec)
    OUT.write_text(json.dumps({"mxnet": mx.__version__, "cases": out}, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()

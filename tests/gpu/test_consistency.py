"""Every op family on the device context agrees with the CPU: one table, run per context.

Each case is ``(id, fn, inputs, kwargs, tolerance)``: ``fn`` takes NDArrays (an ``mx.nd`` op
or a lambda), ``inputs`` are builders of NumPy arrays (fixed seed per case) and ``tolerance``
is ``None`` (the dtype default of ``_consistency.TOL``) or ``(rtol, atol)``.
"""

import zlib

import numpy as np
import pytest
from _consistency import CPU, assert_close, check_consistency
from _target import IS_MXNET, mx

nd = mx.nd


def U(shape, lo=-1.0, hi=1.0, dtype="float32"):
    return lambda rng: rng.uniform(lo, hi, size=shape).astype(dtype)


def N(shape, dtype="float32"):
    return lambda rng: rng.standard_normal(shape).astype(dtype)


def I(shape, lo, hi, dtype="int32"):  # noqa: E743 - integer builder, reads well in the table
    return lambda rng: rng.integers(lo, hi, size=shape).astype(dtype)


def C(values, dtype="float32"):
    return lambda rng: np.asarray(values, dtype=dtype)


def HALVES(dtype="float32"):
    """Values with exact .5 fractions (round vs rint) and random ones."""
    return lambda rng: np.concatenate(
        [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.0, 3.0], dtype), rng.uniform(-4, 4, 56).astype(dtype)]
    ).reshape(8, 8)


SPECIAL = (1e-4, 1e-5)  # transcendental kernels: a few ulp apart between libm and CUDA
BLAS = (1e-4, 1e-4)  # sums in another order (cuBLAS / reductions); TF32 would fail this
CASES = []


def case(cid, fn, inputs, kwargs=None, tol=None):
    CASES.append(pytest.param(fn, inputs, kwargs or {}, tol, id=cid))


# ---- unary math --------------------------------------------------------------------------
S = (5, 7)
for name in ["relu", "abs", "square", "negative", "sign", "floor", "ceil", "trunc", "fix", "logical_not"]:
    case(name, getattr(nd, name), [U(S, -3, 3)])
for name in ["round", "rint"]:
    case(name, getattr(nd, name), [HALVES()])
for name in ["exp", "expm1", "tanh", "sigmoid", "sin", "cos", "arctan", "sinh", "cosh", "arcsinh", "erf", "softsign"]:
    case(name, getattr(nd, name), [U(S, -2, 2)], tol=SPECIAL)
for name in ["log", "log1p", "log2", "log10", "sqrt", "rsqrt", "cbrt", "rcbrt", "reciprocal", "gamma", "gammaln"]:
    case(name, getattr(nd, name), [U(S, 0.2, 4)], tol=SPECIAL)
for name in ["arcsin", "arccos", "arctanh", "erfinv", "tan"]:
    case(name, getattr(nd, name), [U(S, -0.9, 0.9)], tol=SPECIAL)
case("arccosh", nd.arccosh, [U(S, 1.1, 4)], tol=SPECIAL)
case("degrees", nd.degrees, [U(S, -3, 3)], tol=SPECIAL)
case("radians", nd.radians, [U(S, -200, 200)], tol=SPECIAL)
case("log-of-zero-and-negative", nd.log, [C([0.0, -1.0, 1.0, np.inf])])
case("sqrt-negative-nan", nd.sqrt, [C([-1.0, 0.0, 4.0])])
case("relu-large-1d", nd.relu, [N((100_003,))])
case("exp-large", nd.exp, [U((257, 1031), -5, 5)], tol=SPECIAL)
case("ones_like", nd.ones_like, [N(S)])
case("zeros_like", nd.zeros_like, [N(S)])

# ---- binary: elemwise, broadcast, operators, comparisons ---------------------------------
for name in ["elemwise_add", "elemwise_sub", "elemwise_mul"]:
    case(name, getattr(nd, name), [N((4, 6)), N((4, 6))])
case("elemwise_div", nd.elemwise_div, [N((4, 6)), U((4, 6), 0.5, 2)])
BCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1, 5), (1, 4, 5)), ((2, 3, 4), (1, 1, 4)), ((6, 1), (1, 7)), ((1,), (3, 2))]
for sa, sb in BCAST_SHAPES:
    tag = f"{'x'.join(map(str, sa))}-{'x'.join(map(str, sb))}"
    for name in ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_maximum", "broadcast_minimum"]:
        case(f"{name}-{tag}", getattr(nd, name), [N(sa), N(sb)])
    case(f"broadcast_div-{tag}", nd.broadcast_div, [N(sa), U(sb, 0.5, 2)])
    case(f"broadcast_power-{tag}", nd.broadcast_power, [U(sa, 0.1, 3), U(sb, -2, 2)], tol=SPECIAL)
for name in [
    "broadcast_equal",
    "broadcast_not_equal",
    "broadcast_greater",
    "broadcast_greater_equal",
    "broadcast_lesser",
    "broadcast_lesser_equal",
    "broadcast_logical_and",
    "broadcast_logical_or",
    "broadcast_logical_xor",
]:
    # small integers as floats: many ties, so equality is really exercised
    case(name, getattr(nd, name), [I((3, 1, 4), -2, 3, "float32"), I((1, 5, 4), -2, 3, "float32")])
case("broadcast_mod", nd.broadcast_mod, [U((3, 4), -5, 5), U((1, 4), 0.5, 2)], tol=SPECIAL)
case("broadcast_hypot", nd.broadcast_hypot, [N((3, 4)), N((3, 1))], tol=SPECIAL)
case("op-add", lambda a, b: a + b, [N((2, 3, 4)), N((3, 1))])
case("op-sub", lambda a, b: a - b, [N((2, 3, 4)), N((4,))])
case("op-mul", lambda a, b: a * b, [N((5, 1)), N((1, 6))])
case("op-div", lambda a, b: a / b, [N((5, 6)), U((5, 6), 0.5, 2)])
case("op-pow", lambda a, b: a**b, [U((5, 6), 0.1, 2), U((5, 6), -2, 2)], tol=SPECIAL)
case("op-mod", lambda a, b: a % b, [U((5, 6), -4, 4), U((5, 6), 0.5, 2)], tol=SPECIAL)
case("op-eq", lambda a, b: a == b, [I((4, 4), 0, 3, "float32"), I((4, 4), 0, 3, "float32")])
case("op-ne", lambda a, b: a != b, [I((4, 4), 0, 3, "float32"), I((4, 4), 0, 3, "float32")])
case("op-gt", lambda a, b: a > b, [I((4, 4), 0, 3, "float32"), I((1, 4), 0, 3, "float32")])
case("op-le", lambda a, b: a <= b, [I((4, 4), 0, 3, "float32"), I((4, 1), 0, 3, "float32")])
case("maximum", nd.maximum, [N((3, 4)), N((3, 4))])
case("minimum", nd.minimum, [N((3, 4)), N((3, 4))])
case("add_n", lambda a, b, c: nd.add_n(a, b, c), [N((3, 4)), N((3, 4)), N((3, 4))])

# ---- scalar ops, incl. reversed ----------------------------------------------------------
X = U((4, 5), 0.25, 3)
for cid, fn in [
    ("x+2", lambda x: x + 2),
    ("2+x", lambda x: 2 + x),
    ("x-2", lambda x: x - 2),
    ("2-x", lambda x: 2 - x),
    ("x*3", lambda x: x * 3),
    ("3*x", lambda x: 3 * x),
    ("x/4", lambda x: x / 4),
    ("2/x", lambda x: 2 / x),
    ("x**2", lambda x: x**2),
    ("x**0.5", lambda x: x**0.5),
    ("2**x", lambda x: 2**x),
    ("x%0.7", lambda x: x % 0.7),
    ("3%x", lambda x: 3 % x),
    ("-x", lambda x: -x),
    ("x>1", lambda x: x > 1),
    ("x>=1", lambda x: x >= 1),
    ("x<1", lambda x: x < 1),
    ("x<=1", lambda x: x <= 1),
    ("x==1", lambda x: x == 1),
    ("x!=1", lambda x: x != 1),
    ("maximum-scalar", lambda x: nd.maximum(x, 1.5)),
    ("minimum-scalar", lambda x: nd.minimum(x, 1.5)),
]:
    case(f"scalar {cid}", fn, [X], tol=SPECIAL)
case("scalar x==1-exact", lambda x: x == 1, [C([[0.0, 1.0, 2.0, 1.0]])])

# ---- reductions --------------------------------------------------------------------------
R = (4, 5, 6)
for name in ["sum", "mean", "max", "min", "prod", "nansum", "norm"]:
    builder = U(R, 0.5, 1.5) if name == "prod" else N(R)
    for kw in [{}, {"axis": 1}, {"axis": (0, 2)}, {"axis": 1, "keepdims": True}, {"axis": 1, "exclude": True}]:
        if name == "norm" and "exclude" in kw:
            continue
        if name == "norm" and kw.get("axis") == (0, 2):
            continue
        tag = ",".join(f"{k}={v}" for k, v in kw.items()) or "all"
        case(f"{name}[{tag}]", getattr(nd, name), [builder], kw, tol=BLAS)
case("sum-large", nd.sum, [U((1 << 20,), 0, 1)], tol=(1e-4, 0))
case("sum-large-axis0", nd.sum, [N((4096, 33))], {"axis": 0}, tol=BLAS)
case("mean-large-axis1", nd.mean, [N((33, 4096))], {"axis": 1}, tol=BLAS)
case("max-large", nd.max, [N((999_999,))])
case("sum-0-size-axis", nd.sum, [N((0, 4))], {"axis": 0})
case("sum-int32", nd.sum, [I((6, 7), -50, 50)], {"axis": 1})
for name in ["argmax", "argmin"]:
    case(name, getattr(nd, name), [N((4, 9))], {"axis": 1})
    case(f"{name}-axis0", getattr(nd, name), [N((9, 4))], {"axis": 0})
case("argmax_channel", nd.argmax_channel, [N((5, 7))])
case("moments", nd.moments, [N((4, 5, 6))], {"axes": (0, 2)}, tol=BLAS)
case("cumsum", nd.cumsum, [N((4, 50))], {"axis": 1}, tol=BLAS)

# ---- linear algebra ----------------------------------------------------------------------
case("dot", nd.dot, [N((7, 5)), N((5, 9))], tol=BLAS)
case("dot-transpose_a", nd.dot, [N((5, 7)), N((5, 9))], {"transpose_a": True}, tol=BLAS)
case("dot-transpose_b", nd.dot, [N((7, 5)), N((9, 5))], {"transpose_b": True}, tol=BLAS)
case("dot-both", nd.dot, [N((5, 7)), N((9, 5))], {"transpose_a": True, "transpose_b": True}, tol=BLAS)
case("dot-vector", nd.dot, [N((64,)), N((64,))], tol=BLAS)
case("dot-matvec", nd.dot, [N((33, 64)), N((64,))], tol=BLAS)
case("dot-3d", nd.dot, [N((2, 3, 8)), N((8, 5))], tol=BLAS)
case("dot-large", nd.dot, [N((256, 512)), N((512, 384))], tol=(1e-4, 2e-4))
case("dot-odd", nd.dot, [N((129, 257)), N((257, 63))], tol=(1e-4, 2e-4))
case("batch_dot", nd.batch_dot, [N((3, 4, 5)), N((3, 5, 6))], tol=BLAS)
case("batch_dot-ta", nd.batch_dot, [N((3, 5, 4)), N((3, 5, 6))], {"transpose_a": True}, tol=BLAS)
case("batch_dot-tb", nd.batch_dot, [N((3, 4, 5)), N((3, 6, 5))], {"transpose_b": True}, tol=BLAS)
case("linalg_gemm2", nd.linalg_gemm2, [N((2, 4, 5)), N((2, 5, 3))], {"alpha": 0.5}, tol=BLAS)
FC = [N((8, 20)), N((16, 20)), N((16,))]
case("FullyConnected", nd.FullyConnected, FC, {"num_hidden": 16}, tol=BLAS)
case("FullyConnected-no_bias", nd.FullyConnected, FC[:2], {"num_hidden": 16, "no_bias": True}, tol=BLAS)
case("FullyConnected-4d", nd.FullyConnected, [N((8, 2, 5, 2)), N((16, 20)), N((16,))], {"num_hidden": 16}, tol=BLAS)
case(
    "FullyConnected-flatten-false",
    nd.FullyConnected,
    [N((4, 3, 20)), N((16, 20)), N((16,))],
    {"num_hidden": 16, "flatten": False},
    tol=BLAS,
)

# ---- nn ----------------------------------------------------------------------------------
for kw in [{}, {"axis": 0}, {"axis": 1}, {"temperature": 2.0}]:
    tag = ",".join(f"{k}={v}" for k, v in kw.items()) or "default"
    case(f"softmax[{tag}]", nd.softmax, [N((4, 6, 5))], kw, tol=SPECIAL)
    case(f"log_softmax[{tag}]", nd.log_softmax, [N((4, 6, 5))], kw, tol=SPECIAL)
case("softmax-wide", nd.softmax, [N((3, 5000))], tol=SPECIAL)
case("softmax-large-values", nd.softmax, [U((4, 7), 50, 90)], tol=SPECIAL)
case("softmin", nd.softmin, [N((4, 6))], tol=SPECIAL)
case("SoftmaxActivation", nd.SoftmaxActivation, [N((4, 6))], tol=SPECIAL)
for act in ["relu", "sigmoid", "tanh", "softrelu", "softsign"]:
    case(f"Activation-{act}", nd.Activation, [N((4, 6))], {"act_type": act}, tol=SPECIAL)
for act, extra in [("leaky", {"slope": 0.1}), ("elu", {"slope": 0.3})]:
    case(f"LeakyReLU-{act}", nd.LeakyReLU, [N((4, 6))], {"act_type": act, **extra}, tol=SPECIAL)
CONV_X = N((2, 4, 9, 9))
for tag, w_shape, kw in [
    ("3x3", (6, 4, 3, 3), {"kernel": (3, 3), "num_filter": 6, "pad": (1, 1)}),
    ("stride2", (6, 4, 3, 3), {"kernel": (3, 3), "num_filter": 6, "stride": (2, 2)}),
    ("dilate2", (6, 4, 3, 3), {"kernel": (3, 3), "num_filter": 6, "dilate": (2, 2), "pad": (2, 2)}),
    ("group2", (6, 2, 3, 3), {"kernel": (3, 3), "num_filter": 6, "num_group": 2}),
    ("1x1", (8, 4, 1, 1), {"kernel": (1, 1), "num_filter": 8}),
]:
    case(f"Convolution-{tag}", nd.Convolution, [CONV_X, N(w_shape), N((w_shape[0],))], kw, tol=BLAS)
case(
    "Convolution-no_bias",
    nd.Convolution,
    [CONV_X, N((6, 4, 3, 3))],
    {"kernel": (3, 3), "num_filter": 6, "no_bias": True},
    tol=BLAS,
)
case(
    "Convolution-1d",
    nd.Convolution,
    [N((2, 3, 20)), N((5, 3, 4)), N((5,))],
    {"kernel": (4,), "num_filter": 5},
    tol=BLAS,
)
case(
    "Deconvolution",
    nd.Deconvolution,
    [N((2, 4, 5, 5)), N((4, 3, 3, 3))],
    {"kernel": (3, 3), "num_filter": 3, "stride": (2, 2), "no_bias": True},
    tol=BLAS,
)
for tag, kw in [
    ("max", {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"}),
    ("avg", {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg"}),
    ("sum", {"kernel": (2, 2), "pool_type": "sum"}),
    ("max-full", {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max", "pooling_convention": "full"}),
    ("global-avg", {"kernel": (1, 1), "global_pool": True, "pool_type": "avg"}),
    ("global-max", {"kernel": (1, 1), "global_pool": True, "pool_type": "max"}),
]:
    case(f"Pooling-{tag}", nd.Pooling, [N((2, 3, 9, 9))], kw, tol=BLAS)
BN = [N((4, 3, 5, 5)), U((3,), 0.5, 1.5), N((3,)), N((3,)), U((3,), 0.5, 2)]
case("BatchNorm-inference", nd.BatchNorm, BN, {"fix_gamma": False}, tol=SPECIAL)
case("BatchNorm-fix_gamma", nd.BatchNorm, BN, {}, tol=SPECIAL)
case("BatchNorm-global-stats", nd.BatchNorm, BN, {"use_global_stats": True, "fix_gamma": False}, tol=SPECIAL)
case("LayerNorm", nd.LayerNorm, [N((4, 10)), U((10,), 0.5, 1.5), N((10,))], tol=SPECIAL)
case("InstanceNorm", nd.InstanceNorm, [N((2, 3, 8)), U((3,), 0.5, 1.5), N((3,))], tol=SPECIAL)
case("L2Normalization", nd.L2Normalization, [N((4, 10))], tol=SPECIAL)
case("LRN", nd.LRN, [N((2, 6, 4, 4))], {"nsize": 3}, tol=SPECIAL)
case("Dropout-inference", nd.Dropout, [N((4, 10))], {"p": 0.5})
case("Embedding", nd.Embedding, [I((3, 4), 0, 10, "float32"), N((10, 6))], {"input_dim": 10, "output_dim": 6})
case("UpSampling-nearest", nd.UpSampling, [N((2, 3, 4, 4))], {"scale": 2, "sample_type": "nearest"})
case("smooth_l1", nd.smooth_l1, [N((4, 6))], {"scalar": 1.0})
case("hard_sigmoid", nd.hard_sigmoid, [N((4, 6))])
case("SoftmaxOutput", nd.SoftmaxOutput, [N((4, 6)), I((4,), 0, 6, "float32")], tol=SPECIAL)

# ---- shape, indexing, selection ----------------------------------------------------------
case("concat-dim0", lambda a, b: nd.concat(a, b, dim=0), [N((2, 3)), N((4, 3))])
case("concat-dim1", lambda a, b, c: nd.concat(a, b, c, dim=1), [N((2, 3)), N((2, 1)), N((2, 5))])
case("stack", lambda a, b: nd.stack(a, b, axis=1), [N((2, 3)), N((2, 3))])
case("split", nd.split, [N((6, 4))], {"num_outputs": 3, "axis": 0})
case("split-squeeze", nd.split, [N((2, 3))], {"num_outputs": 3, "axis": 1, "squeeze_axis": True})
for shape in [(4, -1), (0, -1), (-2,), (2, -1, 3), (-3, 0)]:
    case(f"reshape{shape}", nd.reshape, [N((4, 6, 1))], {"shape": shape})
case("transpose-default", nd.transpose, [N((2, 3, 4))])
case("transpose-axes", nd.transpose, [N((2, 3, 4, 5))], {"axes": (0, 2, 3, 1)})
case("SwapAxis", nd.SwapAxis, [N((2, 3, 4))], {"dim1": 0, "dim2": 2})
case("slice", nd.slice, [N((5, 6, 7))], {"begin": (1, None, 2), "end": (4, 5, None)})
case("slice-step", nd.slice, [N((8, 9))], {"begin": (None, 7), "end": (None, 0), "step": (2, -2)})
case("slice_axis", nd.slice_axis, [N((5, 6))], {"axis": 1, "begin": 1, "end": -1})
case("slice-getitem", lambda x: x[1:3], [N((5, 6))])
case("take-axis0", nd.take, [N((6, 4)), I((3, 2), 0, 6, "float32")])
case("take-axis1-clip", nd.take, [N((6, 4)), C([-1, 0, 3, 9])], {"axis": 1, "mode": "clip"})
case("take-wrap", nd.take, [N((6, 4)), C([-1, 7, 2])], {"mode": "wrap"})
case("pick", nd.pick, [N((4, 5)), I((4,), 0, 5, "float32")], {"axis": 1})
case("one_hot", nd.one_hot, [I((5,), 0, 4, "float32")], {"depth": 4})
case("one_hot-on-off", nd.one_hot, [C([1, 0, 3])], {"depth": 5, "on_value": 2.0, "off_value": -1.0})
case("where", nd.where, [I((3, 4), 0, 2, "float32"), N((3, 4)), N((3, 4))])
case("where-1d-cond", nd.where, [I((3,), 0, 2, "float32"), N((3, 4)), N((3, 4))])
case("clip", nd.clip, [N((5, 6))], {"a_min": -0.5, "a_max": 0.7})
for src, dst in [
    ("float32", "float16"),
    ("float32", "float64"),
    ("float32", "int32"),
    ("float32", "uint8"),
    ("float32", "int8"),
    ("int32", "float32"),
    ("float64", "float32"),
    ("float16", "float32"),
    ("uint8", "float32"),
    ("int32", "int64"),
]:
    builder = U((4, 5), -100, 100, src) if src.startswith("float") else I((4, 5), 0, 100, src)
    if dst == "uint8" and src.startswith("float"):
        builder = U((4, 5), 0, 200, src)
    case(f"cast-{src}-{dst}", nd.cast, [builder], {"dtype": dst})
case("astype", lambda x: x.astype("float64"), [N((3, 4))])
for kw in [
    {"k": 3},
    {"k": 2, "ret_typ": "value"},
    {"k": 2, "ret_typ": "both", "axis": 0},
    {"k": 4, "is_ascend": True},
    {"k": 1, "axis": None},
]:
    tag = ",".join(f"{k}={v}" for k, v in kw.items())
    case(f"topk[{tag}]", nd.topk, [N((5, 8))], kw)
case("sort", nd.sort, [N((5, 8))])
case("sort-axis0-desc", nd.sort, [N((5, 8))], {"axis": 0, "is_ascend": False})
case("argsort", nd.argsort, [N((5, 8))])
case("sort-large", nd.sort, [N((3, 10_000))])
case("tile", nd.tile, [N((2, 3))], {"reps": (2, 3)})
case("repeat", nd.repeat, [N((2, 3))], {"repeats": 2, "axis": 1})
case("reverse", nd.reverse, [N((3, 4))], {"axis": 1})
case("flip", nd.flip, [N((3, 4))], {"axis": 0})
case("expand_dims", nd.expand_dims, [N((3, 4))], {"axis": 1})
case("squeeze", nd.squeeze, [N((3, 1, 4, 1))])
case("broadcast_to", nd.broadcast_to, [N((3, 1))], {"shape": (3, 5)})
case("broadcast_axis", nd.broadcast_axis, [N((1, 4))], {"axis": 0, "size": 3})
case("broadcast_like", nd.broadcast_like, [N((1, 4)), N((3, 4))])
case("Flatten", nd.Flatten, [N((2, 3, 4))])
case("Pad-constant", nd.Pad, [N((1, 2, 3, 3))], {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1)})
case("Pad-edge", nd.Pad, [N((1, 2, 3, 3))], {"mode": "edge", "pad_width": (0, 0, 0, 0, 1, 1, 1, 1)})
case("depth_to_space", nd.depth_to_space, [N((1, 8, 2, 3))], {"block_size": 2})
case("space_to_depth", nd.space_to_depth, [N((1, 2, 4, 6))], {"block_size": 2})
case("diag", nd.diag, [N((4, 4))])
case("SequenceMask", nd.SequenceMask, [N((5, 3, 2)), C([2, 5, 1])], {"use_sequence_length": True, "value": -1.0})
case("SequenceReverse", nd.SequenceReverse, [N((5, 3, 2)), C([2, 5, 1])], {"use_sequence_length": True})
case("SequenceLast", nd.SequenceLast, [N((5, 3, 2)), C([2, 5, 1])], {"use_sequence_length": True})
case("shape_array", nd.shape_array, [N((2, 3, 4))])
case("size_array", nd.size_array, [N((2, 3, 4))])


# ---- more ops (many run through the host fallback on a GPU: still the right result) -------
def SPD(rng):
    """A symmetric positive definite 4x4 matrix."""
    m = rng.standard_normal((4, 4))
    return (m @ m.T + 4 * np.eye(4)).astype("float32")


case("linalg_potrf", nd.linalg_potrf, [SPD], tol=SPECIAL)
case("linalg_inverse", nd.linalg_inverse, [SPD], tol=SPECIAL)
case("linalg_det", nd.linalg_det, [SPD], tol=SPECIAL)
case("linalg_slogdet", nd.linalg_slogdet, [SPD], tol=SPECIAL)
case("linalg_sumlogdiag", nd.linalg_sumlogdiag, [SPD], tol=SPECIAL)
case("linalg_gemm", nd.linalg_gemm, [N((3, 4)), N((4, 5)), N((3, 5))], {"alpha": 2.0, "beta": 0.5}, tol=BLAS)
case("linalg_syrk", nd.linalg_syrk, [N((3, 4))], {"alpha": 0.5}, tol=BLAS)
case(
    "linalg_trsm",
    lambda a, b: nd.linalg_trsm(nd.linalg_potrf(a), b, alpha=1.0),
    [SPD, N((4, 3))],
    tol=SPECIAL,
)
case("GroupNorm", nd.GroupNorm, [N((2, 4, 3, 3)), U((2,), 0.5, 1.5), N((2,))], {"num_groups": 2}, tol=SPECIAL)
case("BlockGrad", nd.BlockGrad, [N((3, 4))])
case("MakeLoss", nd.MakeLoss, [N((3, 4))])
case("LinearRegressionOutput", nd.LinearRegressionOutput, [N((4, 3)), N((4, 3))])
case("LogisticRegressionOutput", nd.LogisticRegressionOutput, [N((4, 3)), U((4, 3), 0, 1)], tol=SPECIAL)
case("slice_like", nd.slice_like, [N((5, 6)), N((3, 4))])
case("reshape_like", nd.reshape_like, [N((2, 6)), N((3, 4))])
case("CTCLoss", nd.CTCLoss, [N((6, 2, 5)), C([[1, 2, 0], [3, 3, 4]])], tol=SPECIAL)
case("Pad-reflect", nd.Pad, [N((1, 2, 4, 4))], {"mode": "reflect", "pad_width": (0, 0, 0, 0, 1, 1, 2, 2)})
case("UpSampling-nearest-3x", nd.UpSampling, [N((1, 2, 3, 3))], {"scale": 3, "sample_type": "nearest"})


def _ftrl(w, g, z, n):
    nd.ftrl_update(w, g, z, n, lr=0.1, lamda1=0.01, beta=1.0, out=w)
    return [w, z, n]


def _nag(w, g, m):
    nd.nag_mom_update(w, g, m, lr=0.1, momentum=0.9, out=w)
    return [w, m]


def _signum(w, g, m):
    nd.signum_update(w, g, m, lr=0.1, momentum=0.9, out=w)
    return [w, m]


def _mp_sgd_mom(w16, g16, m, w32):
    nd.mp_sgd_mom_update(w16, g16, m, w32, lr=0.1, momentum=0.9, out=w16)
    return [w16, m, w32]


case("ftrl_update", _ftrl, [N((6, 5)), N((6, 5)), N((6, 5)), U((6, 5), 0.1, 1)], tol=SPECIAL)
case("nag_mom_update", _nag, [N((6, 5)), N((6, 5)), N((6, 5))], tol=SPECIAL)
case("signum_update", _signum, [N((6, 5)), N((6, 5)), N((6, 5))], tol=SPECIAL)
case(
    "mp_sgd_mom_update",
    _mp_sgd_mom,
    [N((6, 5), "float16"), N((6, 5), "float16"), N((6, 5)), N((6, 5))],
    tol=(1e-3, 1e-3),
)

case("MAERegressionOutput", nd.MAERegressionOutput, [N((4, 3)), N((4, 3))])
LSTM_SIZE = sum(4 * 6 * ((3 if i == 0 else 6) + 6) for i in range(2)) + 2 * 8 * 6
case(
    "RNN-lstm",
    nd.RNN,
    [N((5, 4, 3)), U((LSTM_SIZE,), -0.5, 0.5), N((2, 4, 6)), N((2, 4, 6))],
    {"mode": "lstm", "state_size": 6, "num_layers": 2},
    tol=BLAS,
)
case("linalg_extractdiag", nd.linalg_extractdiag, [N((2, 4, 4))], {"offset": 1})
case("linalg_makediag", nd.linalg_makediag, [N((2, 4))], {"offset": -1})
case("linalg_extracttrian", nd.linalg_extracttrian, [N((4, 4))])
case("linalg_maketrian", nd.linalg_maketrian, [N((10,))])
case("linalg_potri", lambda a: nd.linalg_potri(nd.linalg_potrf(a)), [SPD], tol=SPECIAL)
case("linalg_trmm", lambda a, b: nd.linalg_trmm(nd.linalg_potrf(a), b), [SPD, N((4, 3))], tol=BLAS)
case("linalg_gelqf", nd.linalg_gelqf, [N((3, 5))], tol=SPECIAL)
case("linalg_syevd-eigenvalues", lambda a: nd.linalg.syevd(a)[1], [SPD], tol=SPECIAL)
for pdf, params in [
    ("normal", [N((3, 4)), N((3,)), U((3,), 0.5, 2)]),
    ("uniform", [U((3, 4), 0, 1), U((3,), -1, 0), U((3,), 1, 2)]),
    ("gamma", [U((3, 4), 0.1, 3), U((3,), 0.5, 2), U((3,), 0.5, 2)]),
    ("exponential", [U((3, 4), 0, 3), U((3,), 0.5, 2)]),
    ("poisson", [I((3, 4), 0, 6, "float32"), U((3,), 0.5, 4)]),
    ("negative_binomial", [I((3, 4), 0, 6, "float32"), I((3,), 1, 5, "float32"), U((3,), 0.2, 0.8)]),
    ("generalized_negative_binomial", [I((3, 4), 0, 6, "float32"), U((3,), 0.5, 3), U((3,), 0.1, 1)]),
    ("dirichlet", [lambda rng: rng.dirichlet([1, 2, 3], size=(3, 4)).astype("float32"), U((3, 3), 0.5, 3)]),
]:
    case(f"random_pdf_{pdf}", getattr(nd, f"random_pdf_{pdf}"), params, tol=(1e-4, 1e-5))
    case(f"random_pdf_{pdf}-log", getattr(nd, f"random_pdf_{pdf}"), params, {"is_log": True}, tol=(1e-4, 1e-5))


def _mp_sgd(w16, g16, w32):
    nd.mp_sgd_update(w16, g16, w32, lr=0.1, wd=0.01, out=w16)
    return [w16, w32]


def _mp_nag(w16, g16, m, w32):
    nd.mp_nag_mom_update(w16, g16, m, w32, lr=0.1, momentum=0.9, out=w16)
    return [w16, m, w32]


def _signsgd(w, g):
    nd.signsgd_update(w, g, lr=0.1, wd=0.01, out=w)
    return w


def _rmspropalex(w, g, n, gs, delta):
    nd.rmspropalex_update(w, g, n, gs, delta, lr=0.01, gamma1=0.9, gamma2=0.9, epsilon=1e-8, out=w)
    return [w, n, gs, delta]


W16 = N((6, 5), "float16")
case("mp_sgd_update", _mp_sgd, [W16, W16, N((6, 5))], tol=(1e-3, 1e-3))
case("mp_nag_mom_update", _mp_nag, [W16, W16, N((6, 5)), N((6, 5))], tol=(1e-3, 1e-3))
case("signsgd_update", _signsgd, [N((6, 5)), N((6, 5))], tol=SPECIAL)
case(
    "rmspropalex_update",
    _rmspropalex,
    [N((6, 5)), N((6, 5)), U((6, 5), 1, 2), U((6, 5), -0.1, 0.1), N((6, 5))],
    tol=SPECIAL,
)

# ---- optimizer updates (in place through out=) -------------------------------------------
W, G = N((6, 5)), N((6, 5))


def _sgd(w, g):
    nd.sgd_update(w, g, lr=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=1.0, out=w)
    return w


def _sgd_mom(w, g, m):
    nd.sgd_mom_update(w, g, m, lr=0.1, momentum=0.9, wd=0.01, out=w)
    return [w, m]


def _adam(w, g, m, v):
    nd.adam_update(w, g, m, v, lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.001, out=w)
    return [w, m, v]


def _rmsprop(w, g, n):
    nd.rmsprop_update(w, g, n, lr=0.01, gamma1=0.9, epsilon=1e-8, out=w)
    return [w, n]


case("sgd_update", _sgd, [W, G], tol=SPECIAL)
case("sgd_mom_update", _sgd_mom, [W, G, N((6, 5))], tol=SPECIAL)
case("adam_update", _adam, [W, G, N((6, 5)), U((6, 5), 0.1, 1)], tol=SPECIAL)
case("rmsprop_update", _rmsprop, [W, G, U((6, 5), 0.1, 1)], tol=SPECIAL)


@pytest.mark.parametrize("fn, inputs, kwargs, tol", CASES)
def test_float32(request, dev, fn, inputs, kwargs, tol):
    cid = request.node.callspec.id
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    arrays = [b(rng) for b in inputs]
    rtol, atol = tol if tol is not None else (None, None)
    check_consistency(fn, arrays, dev, kwargs, rtol=rtol, atol=atol, what=cid)


# ---- other dtypes: a subset --------------------------------------------------------------
DTYPE_CASES = [
    ("add", lambda a, b: a + b, 2, {}),
    ("mul-broadcast", lambda a, b: a * b[:1], 2, {}),
    ("div", lambda a, b: a / (nd.abs(b) + 1), 2, {}),
    ("relu", nd.relu, 1, {}),
    ("exp", nd.exp, 1, {}),
    ("tanh", nd.tanh, 1, {}),
    ("sqrt-abs", lambda a: nd.sqrt(nd.abs(a)), 1, {}),
    ("sum", nd.sum, 1, {"axis": 1}),
    ("mean", nd.mean, 1, {}),
    ("max", nd.max, 1, {"axis": 0}),
    ("dot", lambda a, b: nd.dot(a, b, transpose_b=True), 2, {}),
    ("batch_dot", lambda a, b: nd.batch_dot(a.reshape((2, 4, 8)), b.reshape((2, 4, 8)), transpose_b=True), 2, {}),
    ("FullyConnected", lambda a, b: nd.FullyConnected(a, b, num_hidden=8, no_bias=True), 2, {}),
    ("softmax", nd.softmax, 1, {}),
    ("scalar", lambda a: 2 - a * 3, 1, {}),
    ("transpose", nd.transpose, 1, {}),
    ("cast-float32", lambda a: nd.cast(a, dtype="float32"), 1, {}),
]
TOL_BY_DTYPE = {"float64": (1e-10, 1e-12), "float16": (2e-2, 2e-2)}


@pytest.mark.parametrize("dtype", ["float64", "float16"])
@pytest.mark.parametrize("cid, fn, arity, kwargs", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_other_dtypes(dev, dtype, cid, fn, arity, kwargs):
    if IS_MXNET and dtype == "float16" and cid in ("dot", "batch_dot", "FullyConnected"):
        pytest.skip("MXNet 1.9 has no float16 dot on the CPU")
    rng = np.random.default_rng(zlib.crc32(f"{cid}-{dtype}".encode()))
    arrays = [rng.uniform(-1, 1, (8, 8)).astype(dtype) for _ in range(arity)]
    rtol, atol = TOL_BY_DTYPE[dtype]
    check_consistency(fn, arrays, dev, kwargs, rtol=rtol, atol=atol, what=f"{cid}[{dtype}]")


INT_CASES = [
    ("add", lambda a, b: a + b),
    ("mul", lambda a, b: a * b),
    ("sub-broadcast", lambda a, b: a - b[:1]),
    ("sum", lambda a, b: nd.sum(a, axis=0)),
    ("max", lambda a, b: nd.max(a, axis=1)),
    ("eq", lambda a, b: a == b),
    ("scalar", lambda a, b: a * 3 + 1),
    ("take", lambda a, b: nd.take(a, nd.abs(b) % 6)),
    ("cast", lambda a, b: nd.cast(a, dtype="float32") / 2),
]


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
@pytest.mark.parametrize("cid, fn", INT_CASES, ids=[c[0] for c in INT_CASES])
def test_integer_dtypes(dev, dtype, cid, fn):
    rng = np.random.default_rng(zlib.crc32(f"{cid}-{dtype}".encode()))
    arrays = [rng.integers(0, 20, (6, 6)).astype(dtype) for _ in range(2)]
    check_consistency(fn, arrays, dev, {}, what=f"{cid}[{dtype}]")


@pytest.mark.parametrize(
    "make",
    [
        lambda ctx: nd.zeros((3, 4), ctx=ctx, dtype="int32"),
        lambda ctx: nd.ones((2, 5), ctx=ctx, dtype="float16"),
        lambda ctx: nd.full((3,), 2.5, ctx=ctx, dtype="float64"),
        lambda ctx: nd.arange(2, 11, 3, ctx=ctx),
        lambda ctx: nd.arange(0, 5, repeat=2, ctx=ctx, dtype="int64"),
        lambda ctx: nd.eye(4, 5, k=1, ctx=ctx),
        lambda ctx: nd.linspace(0, 1, 7, ctx=ctx),
        lambda ctx: nd.array([[1, 2], [3, 4]], ctx=ctx, dtype="uint8"),
    ],
    ids=["zeros-int32", "ones-float16", "full-float64", "arange", "arange-repeat", "eye", "linspace", "array-uint8"],
)
def test_creation_ops(dev, make):
    ref = make(CPU)
    got = make(dev)
    assert got.context == dev
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert_close(got.asnumpy(), ref.asnumpy(), 0, 0, "creation")

"""Import translations of ONNX layer ops (Conv, Gemm, BatchNormalization, pooling,
activations, softmax...) to mxrs Symbols; the tensor ops are in ``_import_tensor``."""

import numpy as np

from mxrs import symbol as _sym
from mxrs.onnx import _import_tensor
from mxrs.onnx._import_context import ImportContext, OnnxNode


def _sym_pads(n: OnnxNode, nd: int, in_shape: tuple | None = None) -> list:
    """MXNet's symmetric ``pad`` from ONNX ``pads``/``auto_pad``."""
    auto = n.attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and in_shape is not None:
        pads = []
        for i in range(nd):
            s = n.attrs.get("strides", [1] * nd)[i]
            d = n.attrs.get("dilations", [1] * nd)[i]
            k = (n.attrs["kernel_shape"][i] - 1) * d + 1
            size = in_shape[2 + i]
            total = max((-(-size // s) - 1) * s + k - size, 0)
            if total % 2:
                raise n.fail("asymmetric SAME padding is not supported")
            pads.append(total // 2)
        return pads
    pads = list(n.attrs.get("pads", [0] * (2 * nd)))
    if pads[:nd] != pads[nd:]:
        raise n.fail(f"asymmetric pads {pads} are not supported")
    return pads[:nd]


def _conv_kwargs(ctx: ImportContext, n: OnnxNode, w_shape: tuple) -> dict:
    nd = len(w_shape) - 2
    if "kernel_shape" not in n.attrs:
        n.attrs["kernel_shape"] = list(w_shape[2:])
    in_shape = ctx.shape(n.inputs[0]) if n.attrs.get("auto_pad", "NOTSET").startswith("SAME") else None
    return {
        "kernel": tuple(n.attrs["kernel_shape"]),
        "stride": tuple(n.attrs.get("strides", [1] * nd)),
        "dilate": tuple(n.attrs.get("dilations", [1] * nd)),
        "pad": tuple(_sym_pads(n, nd, in_shape)),
        "num_group": int(n.attrs.get("group", 1)),
    }


def conv(ctx: ImportContext, n: OnnxNode) -> list:
    w_shape = ctx.shape(n.inputs[1])
    kw = _conv_kwargs(ctx, n, w_shape)
    no_bias = len(n.inputs) < 3 or n.inputs[2] == ""
    args = {"data": ctx.sym(n.inputs[0]), "weight": ctx.sym(n.inputs[1])}
    if not no_bias:
        args["bias"] = ctx.sym(n.inputs[2])
    return [_sym.Convolution(**args, num_filter=w_shape[0], no_bias=no_bias, name=n.name, **kw)]


def conv_transpose(ctx: ImportContext, n: OnnxNode) -> list:
    if "output_shape" in n.attrs:
        raise n.fail("output_shape is not supported (give pads and output_padding)")
    w_shape = ctx.shape(n.inputs[1])
    kw = _conv_kwargs(ctx, n, w_shape)
    nd = len(w_shape) - 2
    no_bias = len(n.inputs) < 3 or n.inputs[2] == ""
    args = {"data": ctx.sym(n.inputs[0]), "weight": ctx.sym(n.inputs[1])}
    if not no_bias:
        args["bias"] = ctx.sym(n.inputs[2])
    adj = tuple(n.attrs.get("output_padding", [0] * nd))
    num_filter = w_shape[1] * kw["num_group"]
    return [_sym.Deconvolution(**args, num_filter=num_filter, no_bias=no_bias, adj=adj, name=n.name, **kw)]


def gemm(ctx: ImportContext, n: OnnxNode) -> list:
    alpha, beta = n.attrs.get("alpha", 1.0), n.attrs.get("beta", 1.0)
    trans_a, trans_b = n.attrs.get("transA", 0), n.attrs.get("transB", 0)
    has_c = len(n.inputs) > 2 and n.inputs[2] != ""
    a = ctx.sym(n.inputs[0])
    if trans_a:
        a = _sym.transpose(a)
    if ctx.is_const(n.inputs[1]) and alpha == 1.0 and beta == 1.0:
        w = ctx.const(n.inputs[1])
        w = w if trans_b else w.T
        c = ctx.const(n.inputs[2]) if has_c and ctx.is_const(n.inputs[2]) else None
        row = c is not None and (c.ndim <= 1 or (c.ndim == 2 and c.shape[0] == 1)) and c.size in (1, w.shape[0])
        if not has_c or row:
            args = {"data": a, "weight": ctx.sym(n.inputs[1], np.ascontiguousarray(w))}
            if c is not None:
                bias = np.broadcast_to(c.reshape(-1), (w.shape[0],)).astype(w.dtype)
                args["bias"] = ctx.sym(n.inputs[2], np.ascontiguousarray(bias))
            return [_sym.FullyConnected(**args, num_hidden=w.shape[0], no_bias=not has_c, flatten=False, name=n.name)]
    y = _sym.dot(a, ctx.sym(n.inputs[1]), transpose_b=bool(trans_b))
    if alpha != 1.0:
        y = y * alpha
    if has_c:
        c_sym = ctx.sym(n.inputs[2])
        y = _sym.broadcast_add(y, c_sym * beta if beta != 1.0 else c_sym)
    return [_sym.identity(y, name=n.name)]


def matmul(ctx: ImportContext, n: OnnxNode) -> list:
    sa, sb = ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1])
    a, b = ctx.sym(n.inputs[0]), ctx.sym(n.inputs[1])
    if len(sb) == 2:
        return [_sym.dot(a, b, name=n.name)]
    if len(sa) == len(sb) == 3:
        return [_sym.batch_dot(a, b, name=n.name)]
    if len(sa) == len(sb) and sa[:-2] == sb[:-2]:
        a3 = _sym.reshape(a, shape=(-1,) + tuple(sa[-2:]))
        b3 = _sym.reshape(b, shape=(-1,) + tuple(sb[-2:]))
        y = _sym.batch_dot(a3, b3)
        return [_sym.reshape(y, shape=tuple(sa[:-1]) + (sb[-1],), name=n.name)]
    raise n.fail(f"MatMul of shapes {sa} and {sb} is not supported")


def batch_norm(ctx: ImportContext, n: OnnxNode) -> list:
    keys = ("data", "gamma", "beta", "moving_mean", "moving_var")
    ins = {k: ctx.sym(i) for k, i in zip(keys, n.inputs)}
    eps = float(n.attrs.get("epsilon", 1e-5))
    mom = float(n.attrs.get("momentum", 0.9))
    return [_sym.BatchNorm(**ins, eps=eps, momentum=mom, fix_gamma=False, name=n.name)]


def _pool_common(ctx: ImportContext, n: OnnxNode) -> dict:
    kernel = tuple(n.attrs["kernel_shape"])
    nd = len(kernel)
    in_shape = ctx.shape(n.inputs[0]) if n.attrs.get("auto_pad", "NOTSET").startswith("SAME") else None
    return {
        "kernel": kernel,
        "stride": tuple(n.attrs.get("strides", [1] * nd)),
        "pad": tuple(_sym_pads(n, nd, in_shape)),
        "pooling_convention": "full" if n.attrs.get("ceil_mode", 0) else "valid",
    }


def max_pool(ctx: ImportContext, n: OnnxNode) -> list:
    if any(d != 1 for d in n.attrs.get("dilations", [])):
        raise n.fail("dilated pooling is not supported")
    kw = _pool_common(ctx, n)
    return [_sym.Pooling(ctx.sym(n.inputs[0]), pool_type="max", name=n.name, **kw)]


def average_pool(ctx: ImportContext, n: OnnxNode) -> list:
    kw = _pool_common(ctx, n)
    include = bool(n.attrs.get("count_include_pad", 0))
    return [_sym.Pooling(ctx.sym(n.inputs[0]), pool_type="avg", count_include_pad=include, name=n.name, **kw)]


def lp_pool(ctx: ImportContext, n: OnnxNode) -> list:
    kw = _pool_common(ctx, n)
    return [_sym.Pooling(ctx.sym(n.inputs[0]), pool_type="lp", p_value=n.attrs.get("p", 2), name=n.name, **kw)]


def global_pool(pool_type: str):
    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        nd = len(ctx.shape(n.inputs[0])) - 2 if pool_type == "lp" else 2
        kw = {"p_value": n.attrs.get("p", 2)} if pool_type == "lp" else {}
        x = ctx.sym(n.inputs[0])
        return [_sym.Pooling(x, kernel=(1,) * nd, global_pool=True, pool_type=pool_type, name=n.name, **kw)]

    return translate


def activation(act_type: str):
    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        return [_sym.Activation(ctx.sym(n.inputs[0]), act_type=act_type, name=n.name)]

    return translate


def leaky(act_type: str, key: str | None, default: float):
    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        slope = float(n.attrs.get(key, default)) if key else default
        return [_sym.LeakyReLU(ctx.sym(n.inputs[0]), act_type=act_type, slope=slope, name=n.name)]

    return translate


def selu(ctx: ImportContext, n: OnnxNode) -> list:
    alpha, gamma = n.attrs.get("alpha", 1.67326319217681884765625), n.attrs.get("gamma", 1.05070102214813232421875)
    if abs(alpha - 1.6732632) > 1e-5 or abs(gamma - 1.0507010) > 1e-5:
        raise n.fail("only the standard alpha and gamma are supported")
    return [_sym.LeakyReLU(ctx.sym(n.inputs[0]), act_type="selu", name=n.name)]


def prelu(ctx: ImportContext, n: OnnxNode) -> list:
    slope = ctx.const(n.inputs[1]) if ctx.is_const(n.inputs[1]) else None
    if slope is None:
        raise n.fail("the slope must be a constant")
    gamma = ctx.sym(n.inputs[1], np.ascontiguousarray(slope.reshape(-1)))
    return [_sym.LeakyReLU(ctx.sym(n.inputs[0]), gamma=gamma, act_type="prelu", name=n.name)]


def softmax(op: str):
    def translate(ctx: ImportContext, n: OnnxNode) -> list:
        x = ctx.sym(n.inputs[0])
        f = _sym.log_softmax if op == "log" else _sym.softmax
        if ctx.opset >= 13:
            return [f(x, axis=int(n.attrs.get("axis", -1)), name=n.name)]
        # Before opset 13 the input is flattened to 2-D from ``axis`` (default 1).
        shape = ctx.shape(n.inputs[0])
        axis = int(n.attrs.get("axis", 1)) % len(shape)
        if axis == len(shape) - 1:
            return [f(x, axis=-1, name=n.name)]
        flat = _sym.reshape(x, shape=(int(np.prod(shape[:axis])), -1))
        return [_sym.reshape(f(flat, axis=-1), shape=shape, name=n.name)]

    return translate


def flatten(ctx: ImportContext, n: OnnxNode) -> list:
    axis = int(n.attrs.get("axis", 1))
    x = ctx.sym(n.inputs[0])
    if axis == 1:
        return [_sym.Flatten(x, name=n.name)]
    shape = ctx.shape(n.inputs[0])
    axis %= max(len(shape), 1)
    return [_sym.reshape(x, shape=(int(np.prod(shape[:axis])), -1), name=n.name)]


def identity(ctx: ImportContext, n: OnnxNode) -> list:
    # Dropout at inference is the identity; its optional mask output is not translated.
    return [_sym.identity(ctx.sym(n.inputs[0]), name=n.name)]


def layer_norm(ctx: ImportContext, n: OnnxNode) -> list:
    op = getattr(_sym, "LayerNorm", None)
    if op is None:
        raise n.fail("this mxrs has no LayerNorm op")
    axis = int(n.attrs.get("axis", -1))
    if axis != -1 and axis != len(ctx.shape(n.inputs[0])) - 1:
        raise n.fail("only the last axis is supported")
    ins = [ctx.sym(n.inputs[0]), ctx.sym(n.inputs[1]), ctx.sym(n.inputs[2])]
    return [op(*ins, axis=-1, eps=float(n.attrs.get("epsilon", 1e-5)), name=n.name)]


TABLE = {
    **_import_tensor.TABLE,
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "Gemm": gemm,
    "MatMul": matmul,
    "BatchNormalization": batch_norm,
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "LpPool": lp_pool,
    "GlobalMaxPool": global_pool("max"),
    "GlobalAveragePool": global_pool("avg"),
    "GlobalLpPool": global_pool("lp"),
    "Relu": activation("relu"),
    "Sigmoid": activation("sigmoid"),
    "Tanh": activation("tanh"),
    "Softplus": activation("softrelu"),
    "Softsign": activation("softsign"),
    "LeakyRelu": leaky("leaky", "alpha", 0.01),
    "Elu": leaky("elu", "alpha", 1.0),
    "Selu": selu,
    "PRelu": prelu,
    "Softmax": softmax("softmax"),
    "LogSoftmax": softmax("log"),
    "Flatten": flatten,
    "Identity": identity,
    "Dropout": identity,
    "LayerNormalization": layer_norm,
}

__all__ = ["TABLE"]

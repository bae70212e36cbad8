"""Export translations of MXNet's layer ops (FullyConnected, Convolution, Pooling, BatchNorm,
activations, softmax, Embedding, LayerNorm...) to ONNX opset 13."""

import math

import numpy as np

from mxrs.onnx._common import attr_bool, attr_float, attr_int, attr_str, attr_tuple
from mxrs.onnx._context import ExportContext, ExportNode


def _spatial(n: ExportNode, key: str, default: int) -> list:
    nd = len(n.in_shapes[0]) - 2
    v = attr_tuple(n.attrs, key)
    return [int(a) for a in v] if v else [default] * nd


def fully_connected(ctx: ExportContext, n: ExportNode) -> None:
    x, w = n.inputs[0], n.inputs[1]
    no_bias = attr_bool(n.attrs, "no_bias", False)
    flatten = attr_bool(n.attrs, "flatten", True)
    ndim = len(n.in_shapes[0])
    if flatten or ndim == 2:
        if ndim != 2:
            x = ctx.emit("Flatten", [x], base=n.name + "_flat", axis=1)
        ctx.emit("Gemm", [x, w] + ([] if no_bias else [n.inputs[2]]), n.outputs[0], transB=1)
        return
    wt = ctx.emit("Transpose", [w], base=n.name + "_wT", perm=[1, 0])
    if no_bias:
        ctx.emit("MatMul", [x, wt], n.outputs[0])
    else:
        y = ctx.emit("MatMul", [x, wt], base=n.name + "_mm")
        ctx.emit("Add", [y, n.inputs[2]], n.outputs[0])


def _conv_attrs(n: ExportNode) -> dict:
    kernel = [int(k) for k in attr_tuple(n.attrs, "kernel")]
    pad = _spatial(n, "pad", 0)
    attrs = {
        "kernel_shape": kernel,
        "strides": _spatial(n, "stride", 1),
        "dilations": _spatial(n, "dilate", 1),
        "pads": pad + pad,
        "group": attr_int(n.attrs, "num_group", 1),
    }
    layout = attr_str(n.attrs, "layout", "None")
    if layout not in ("None", "NCW", "NCHW", "NCDHW"):
        raise n.fail(f"layout {layout} is not supported (channels first only)")
    return attrs


def convolution(ctx: ExportContext, n: ExportNode) -> None:
    no_bias = attr_bool(n.attrs, "no_bias", False)
    ctx.emit("Conv", n.inputs[:2] if no_bias else n.inputs[:3], n.outputs[0], **_conv_attrs(n))


def deconvolution(ctx: ExportContext, n: ExportNode) -> None:
    # Deconvolution has no bias unless asked for.
    no_bias = attr_bool(n.attrs, "no_bias", True)
    attrs = _conv_attrs(n)
    adj = _spatial(n, "adj", 0)
    target = attr_tuple(n.attrs, "target_shape")
    if target and any(int(t) > 0 for t in target):
        # MXNet's rule: the total padding that gives target_shape, odd parts go to adj.
        pads, adj = [], []
        for i, t in enumerate(target):
            dk = attrs["dilations"][i] * (attrs["kernel_shape"][i] - 1) + 1
            total = attrs["strides"][i] * (n.in_shapes[0][2 + i] - 1) + dk - int(t)
            adj.append(total % 2)
            pads.append((total + 1) // 2)
        attrs["pads"] = pads + pads
    attrs["output_padding"] = adj
    ctx.emit("ConvTranspose", n.inputs[:2] if no_bias else n.inputs[:3], n.outputs[0], **attrs)


def _pool_pads(n: ExportNode, kernel: list, stride: list, pad: list, convention: str) -> tuple:
    """(pads, ceil_mode) for ONNX giving MXNet's output size."""
    if convention == "same":
        ends = []
        for i, k in enumerate(kernel):
            size = n.in_shapes[0][2 + i]
            out = math.ceil(size / stride[i])
            total = max((out - 1) * stride[i] + k - size, 0)
            ends.append((total // 2, total - total // 2))
        return [b for b, _ in ends] + [e for _, e in ends], 0
    return pad + pad, 1 if convention == "full" else 0


def pooling(ctx: ExportContext, n: ExportNode) -> None:
    pool_type = attr_str(n.attrs, "pool_type", "max")
    x, out = n.inputs[0], n.outputs[0]
    if attr_bool(n.attrs, "global_pool", False):
        if pool_type == "max":
            ctx.emit("GlobalMaxPool", [x], out)
        elif pool_type == "avg":
            ctx.emit("GlobalAveragePool", [x], out)
        elif pool_type == "sum":
            ctx.emit("ReduceSum", [x, ctx.ints(range(2, len(n.in_shapes[0])), n.name + "_axes")], out, keepdims=1)
        else:
            ctx.emit("GlobalLpPool", [x], out, p=attr_int(n.attrs, "p_value", 2))
        return
    kernel = [int(k) for k in attr_tuple(n.attrs, "kernel")]
    stride = _spatial(n, "stride", 1)
    convention = attr_str(n.attrs, "pooling_convention", "valid")
    pads, ceil_mode = _pool_pads(n, kernel, stride, _spatial(n, "pad", 0), convention)
    common = {"kernel_shape": kernel, "strides": stride, "pads": pads}
    if pool_type == "max":
        ctx.emit("MaxPool", [x], out, ceil_mode=ceil_mode, **common)
    elif pool_type in ("avg", "sum"):
        include = 1 if attr_bool(n.attrs, "count_include_pad", True) or pool_type == "sum" else 0
        if pool_type == "avg":
            ctx.emit("AveragePool", [x], out, ceil_mode=ceil_mode, count_include_pad=include, **common)
        else:
            y = ctx.emit("AveragePool", [x], base=n.name + "_avg", ceil_mode=ceil_mode, count_include_pad=1, **common)
            ctx.emit("Mul", [y, ctx.const(float(np.prod(kernel)), n.name + "_k", n.out_dtypes[0])], out)
    else:
        if ceil_mode:
            raise n.fail("lp pooling with the 'full' convention is not supported")
        ctx.emit("LpPool", [x], out, p=attr_int(n.attrs, "p_value", 2), **common)


def batch_norm(ctx: ExportContext, n: ExportNode) -> None:
    axis = attr_int(n.attrs, "axis", 1)
    if axis not in (1, 1 - len(n.in_shapes[0])):
        raise n.fail(f"axis={axis} is not supported (channel axis 1 only)")
    eps = attr_float(n.attrs, "eps", 1e-3)
    gamma = n.inputs[1]
    if attr_bool(n.attrs, "fix_gamma", True):
        if gamma in n.params:
            # The value of a fixed gamma is never read: it is 1.
            ctx.initializers = [t for t in ctx.initializers if t.name != gamma]
            ctx.initializer(gamma, np.ones_like(n.params[gamma]))
        else:
            gamma = ctx.const(np.ones(n.in_shapes[1]), n.name + "_gamma_one", n.in_dtypes[1])
    ctx.emit(
        "BatchNormalization",
        [n.inputs[0], gamma] + n.inputs[2:5],
        n.outputs[0],
        epsilon=eps,
        momentum=attr_float(n.attrs, "momentum", 0.9),
    )


def _gelu(ctx: ExportContext, n: ExportNode, x: str, out: str) -> None:
    dt = n.out_dtypes[0]
    e = ctx.emit("Erf", [ctx.emit("Div", [x, ctx.const(math.sqrt(2.0), n.name + "_sqrt2", dt)])])
    half_x = ctx.emit("Mul", [x, ctx.const(0.5, n.name + "_half", dt)])
    ctx.emit("Mul", [half_x, ctx.emit("Add", [e, ctx.const(1.0, n.name + "_one", dt)])], out)


ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus", "softsign": "Softsign"}


def activation(ctx: ExportContext, n: ExportNode) -> None:
    act = attr_str(n.attrs, "act_type", "relu")
    if act == "log_sigmoid":
        ctx.emit("Log", [ctx.emit("Sigmoid", [n.inputs[0]])], n.outputs[0])
    elif act in ACTIVATIONS:
        ctx.emit(ACTIVATIONS[act], [n.inputs[0]], n.outputs[0])
    else:
        raise n.fail(f"act_type {act} has no ONNX translation")


def leaky_relu(ctx: ExportContext, n: ExportNode) -> None:
    act = attr_str(n.attrs, "act_type", "leaky")
    slope = attr_float(n.attrs, "slope", 0.25)
    x, out = n.inputs[0], n.outputs[0]
    if act == "leaky":
        ctx.emit("LeakyRelu", [x], out, alpha=slope)
    elif act == "rrelu":
        # At inference the slope is the middle of [lower_bound, upper_bound].
        lo, hi = attr_float(n.attrs, "lower_bound", 0.125), attr_float(n.attrs, "upper_bound", 0.334)
        ctx.emit("LeakyRelu", [x], out, alpha=(lo + hi) / 2)  # type: ignore[operator]
    elif act == "elu":
        ctx.emit("Elu", [x], out, alpha=slope)
    elif act == "selu":
        ctx.emit("Selu", [x], out)
    elif act == "gelu":
        _gelu(ctx, n, x, out)
    elif act == "prelu":
        gamma, ndim = n.inputs[1], len(n.in_shapes[0])
        if ndim > 2 and len(n.in_shapes[1]) == 1 and n.in_shapes[1][0] != 1:
            # (C,) slopes apply along axis 1: make them (C, 1, ..., 1) for ONNX's broadcast.
            shape = [n.in_shapes[1][0]] + [1] * (ndim - 2)
            gamma = ctx.emit("Reshape", [gamma, ctx.ints(shape, n.name + "_gshape")], base=n.name + "_gamma")
        ctx.emit("PRelu", [x, gamma], out)
    else:
        raise n.fail(f"act_type {act} has no ONNX translation")


def _scaled(ctx: ExportContext, n: ExportNode) -> str:
    t = attr_float(n.attrs, "temperature", None)
    if t is None or t == 1.0:
        return n.inputs[0]
    return ctx.emit("Div", [n.inputs[0], ctx.const(t, n.name + "_temperature", n.in_dtypes[0])])


def softmax(ctx: ExportContext, n: ExportNode) -> None:
    if attr_bool(n.attrs, "use_length", False):
        raise n.fail("use_length=True is not supported")
    op = "LogSoftmax" if n.op == "log_softmax" else "Softmax"
    ctx.emit(op, [_scaled(ctx, n)], n.outputs[0], axis=attr_int(n.attrs, "axis", -1))


def _flat_softmax(ctx: ExportContext, n: ExportNode, x: str) -> None:
    """Softmax over all axes but the first, as SoftmaxOutput/SoftmaxActivation do."""
    if len(n.in_shapes[0]) == 2:
        ctx.emit("Softmax", [x], n.outputs[0], axis=1)
        return
    y = ctx.emit("Softmax", [ctx.emit("Flatten", [x], axis=1)], axis=1)
    ctx.emit("Reshape", [y, ctx.emit("Shape", [x])], n.outputs[0])


def softmax_output(ctx: ExportContext, n: ExportNode) -> None:
    # At inference SoftmaxOutput is a softmax; the label input is not used.
    x = n.inputs[0]
    if attr_bool(n.attrs, "multi_output", False):
        ctx.emit("Softmax", [x], n.outputs[0], axis=1)
    elif attr_bool(n.attrs, "preserve_shape", False):
        ctx.emit("Softmax", [x], n.outputs[0], axis=-1)
    else:
        _flat_softmax(ctx, n, x)


def softmax_activation(ctx: ExportContext, n: ExportNode) -> None:
    if attr_str(n.attrs, "mode", "instance") == "channel":
        ctx.emit("Softmax", [n.inputs[0]], n.outputs[0], axis=1)
    else:
        _flat_softmax(ctx, n, n.inputs[0])


def regression_output(ctx: ExportContext, n: ExportNode) -> None:
    op = "Sigmoid" if n.op == "LogisticRegressionOutput" else "Identity"
    ctx.emit(op, [n.inputs[0]], n.outputs[0])


def embedding(ctx: ExportContext, n: ExportNode) -> None:
    idx = ctx.emit("Cast", [n.inputs[0]], base=n.name + "_idx", to=ctx.onnx.TensorProto.INT64)
    ctx.emit("Gather", [n.inputs[1], idx], n.outputs[0], axis=0)


def layer_norm(ctx: ExportContext, n: ExportNode) -> None:
    # Opset 13 has no LayerNormalization: mean, variance and the affine part spelled out.
    ndim = len(n.in_shapes[0])
    axis = attr_int(n.attrs, "axis", -1) % ndim  # type: ignore[operator]
    if attr_bool(n.attrs, "output_mean_var", False):
        raise n.fail("output_mean_var=True is not supported")
    eps = attr_float(n.attrs, "eps", 1e-5)
    x, dt = n.inputs[0], n.in_dtypes[0]
    mean = ctx.emit("ReduceMean", [x], axes=[axis], keepdims=1)
    d = ctx.emit("Sub", [x, mean])
    var = ctx.emit("ReduceMean", [ctx.emit("Mul", [d, d])], axes=[axis], keepdims=1)
    std = ctx.emit("Sqrt", [ctx.emit("Add", [var, ctx.const(eps, n.name + "_eps", dt)])])
    y = ctx.emit("Div", [d, std])
    gamma, beta = n.inputs[1], n.inputs[2]
    if axis != ndim - 1:
        shape = [-1] + [1] * (ndim - 1 - axis)
        gamma = ctx.emit("Reshape", [gamma, ctx.ints(shape, n.name + "_gshape")])
        beta = ctx.emit("Reshape", [beta, ctx.ints(shape, n.name + "_bshape")])
    ctx.emit("Add", [ctx.emit("Mul", [y, gamma]), beta], n.outputs[0])


def dropout(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Identity", [n.inputs[0]], n.outputs[0])


def flatten(ctx: ExportContext, n: ExportNode) -> None:
    ctx.emit("Flatten", [n.inputs[0]], n.outputs[0], axis=1)


TABLE = {
    "FullyConnected": fully_connected,
    "Convolution": convolution,
    "Deconvolution": deconvolution,
    "Pooling": pooling,
    "BatchNorm": batch_norm,
    "Activation": activation,
    "LeakyReLU": leaky_relu,
    "softmax": softmax,
    "log_softmax": softmax,
    "SoftmaxOutput": softmax_output,
    "Softmax": softmax_output,
    "SoftmaxActivation": softmax_activation,
    "LinearRegressionOutput": regression_output,
    "MAERegressionOutput": regression_output,
    "LogisticRegressionOutput": regression_output,
    "Embedding": embedding,
    "LayerNorm": layer_norm,
    "Dropout": dropout,
    "Flatten": flatten,
    "flatten": flatten,
}

# Ops whose inputs after the first are labels, not graph inputs.
LOSS_OPS = ("SoftmaxOutput", "Softmax", "LinearRegressionOutput", "MAERegressionOutput", "LogisticRegressionOutput")

__all__ = ["TABLE", "LOSS_OPS"]

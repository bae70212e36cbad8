"""mx.onnx op by op: each op exported alone (or in a tiny graph) runs in onnxruntime as in
mxrs and imports back to the same outputs."""

import mxrs as mx
import pytest
from _onnx_check import check_export

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

S = mx.sym
X = S.var("data")
Y = S.var("y")
IMG = {"data": (2, 3, 9, 9)}
VEC = {"data": (3, 4)}
T3 = {"data": (2, 3, 4)}
TWO = {"data": (3, 4), "y": (3, 4)}

CASES = {
    # layers
    "fc_no_bias": (S.FullyConnected(X, num_hidden=5, no_bias=True), VEC),
    "fc_flatten_4d": (S.FullyConnected(X, num_hidden=5), IMG),
    "fc_no_flatten_3d": (S.FullyConnected(X, num_hidden=5, flatten=False), T3),
    "conv_groups_dilate_pad": (
        S.Convolution(X, kernel=(3, 3), num_filter=6, num_group=3, dilate=(2, 2), pad=(2, 1), stride=(1, 2)),
        IMG,
    ),
    "conv1d": (S.Convolution(X, kernel=(3,), num_filter=4, pad=(1,)), T3),
    "deconv": (S.Deconvolution(X, kernel=(3, 3), num_filter=4, stride=(2, 2), pad=(1, 1), adj=(1, 1)), IMG),
    "deconv_groups_bias": (S.Deconvolution(X, kernel=(2, 2), num_filter=6, num_group=3, no_bias=False), IMG),
    "pool_max_full": (S.Pooling(X, kernel=(2, 2), stride=(2, 2), pool_type="max", pooling_convention="full"), IMG),
    "pool_avg_pad": (S.Pooling(X, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg"), IMG),
    "pool_avg_no_pad_count": (
        S.Pooling(X, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False),
        IMG,
    ),
    "pool_avg_full_pad": (
        S.Pooling(X, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", pooling_convention="full"),
        {"data": (2, 3, 8, 8)},
    ),
    "pool_lp": (S.Pooling(X, kernel=(2, 2), stride=(1, 1), pool_type="lp", p_value=2), IMG),
    "deconv_target_shape": (
        S.Deconvolution(X, kernel=(3, 3), num_filter=2, stride=(2, 2), target_shape=(18, 18)),
        IMG,
    ),
    "pool_sum": (S.Pooling(X, kernel=(2, 2), stride=(2, 2), pool_type="sum"), IMG),
    "pool_global_max": (S.Pooling(X, kernel=(1, 1), global_pool=True, pool_type="max"), IMG),
    "pool_global_avg_1d": (S.Pooling(X, kernel=(1,), global_pool=True, pool_type="avg"), T3),
    "pool_1d": (S.Pooling(X, kernel=(2,), stride=(2,), pool_type="max"), T3),
    "batchnorm_fix_gamma": (S.BatchNorm(X, eps=1e-3), IMG),
    "batchnorm_2d": (S.BatchNorm(X, fix_gamma=False), VEC),
    "relu": (S.Activation(X, act_type="relu"), VEC),
    "sigmoid": (S.Activation(X, act_type="sigmoid"), VEC),
    "tanh": (S.Activation(X, act_type="tanh"), VEC),
    "softrelu": (S.Activation(X, act_type="softrelu"), VEC),
    "softsign": (S.Activation(X, act_type="softsign"), VEC),
    "leaky": (S.LeakyReLU(X, act_type="leaky", slope=0.2), VEC),
    "elu": (S.LeakyReLU(X, act_type="elu", slope=0.7), VEC),
    "selu": (S.LeakyReLU(X, act_type="selu"), VEC),
    "gelu": (S.LeakyReLU(X, act_type="gelu"), VEC),
    "prelu": (S.LeakyReLU(X, act_type="prelu", name="pr"), IMG),
    "softmax_axis": (S.softmax(X, axis=1), T3),
    "softmax_temperature": (S.softmax(X, temperature=2.0), VEC),
    "log_softmax": (S.log_softmax(X), T3),
    "softmax_output_4d": (S.SoftmaxOutput(X, name="so"), IMG),
    "softmax_output_multi": (S.SoftmaxOutput(X, multi_output=True, name="so"), T3),
    "softmax_activation": (S.SoftmaxActivation(X), VEC),
    "flatten": (S.Flatten(X), IMG),
    "dropout": (S.Dropout(X, p=0.3), VEC),
    "embedding": (S.Embedding(S.floor(S.abs(X) * 4.9), input_dim=5, output_dim=3, name="emb"), VEC),
    # shapes
    "reshape_codes": (S.Reshape(X, shape=(0, -1)), IMG),
    "reshape_special": (S.Reshape(X, shape=(-3, -2)), IMG),
    "reshape_split": (S.Reshape(X, shape=(-4, 1, 2, -2)), T3),
    "reshape_reverse": (S.Reshape(X, shape=(-1, 0), reverse=True), T3),
    "transpose": (S.transpose(X, axes=(2, 0, 1)), T3),
    "transpose_default": (S.transpose(X), T3),
    "swapaxes": (S.swapaxes(X, dim1=0, dim2=2), T3),
    "concat": (S.Concat(X, Y, dim=0), TWO),
    "stack": (S.stack(X, Y, axis=1), TWO),
    "slice": (S.slice(X, begin=(0, 1, None), end=(None, 3, -1)), T3),
    "slice_step": (S.slice(X, begin=(None, 3), end=(None, 0), step=(1, -2)), VEC),
    "slice_axis": (S.slice_axis(X, axis=2, begin=1, end=None), T3),
    "expand_dims": (S.expand_dims(X, axis=-1), VEC),
    "squeeze": (S.squeeze(S.expand_dims(X, axis=1), axis=1), VEC),
    "split": (S.Group(list(S.split(X, num_outputs=2, axis=2))), T3),
    "split_squeeze": (S.Group(list(S.split(X, num_outputs=3, axis=1, squeeze_axis=True))), T3),
    "tile": (S.tile(X, reps=(2, 1)), VEC),
    "tile_more_reps": (S.tile(X, reps=(2, 1, 3)), VEC),
    "broadcast_to": (S.broadcast_to(S.expand_dims(X, axis=0), shape=(2, 0, 0)), VEC),
    # arithmetic
    "add_sub_mul_div": ((X + Y) * (X - Y) / (S.abs(Y) + 1), TWO),
    "broadcast": (S.broadcast_add(X, S.sum(Y, axis=1, keepdims=True)), TWO),
    "elemwise": (S.elemwise_mul(S.elemwise_add(X, Y), S.elemwise_sub(X, Y)), TWO),
    "max_min": (S.broadcast_maximum(X, Y) - S.broadcast_minimum(X, Y), TWO),
    "power": (S.broadcast_power(S.abs(X) + 0.5, Y), TWO),
    "scalars": ((((X + 1) * 2 - 3) / 4) ** 2, VEC),
    "rscalars": ((5 - X) + 1 / (S.abs(X) + 1) + 2**X, VEC),
    "scalar_max_min": (S._maximum_scalar(S._minimum_scalar(X, scalar=0.5), scalar=-0.5), VEC),
    "compare": ((X > Y) + (X <= 0.2) + S.broadcast_equal(X, X), TWO),
    "add_n": (S.add_n(X, Y, X), TWO),
    "clip": (S.clip(X, a_min=-0.3, a_max=0.4), VEC),
    "unary": (S.exp(X) + S.log(S.abs(X) + 1) + S.sqrt(S.abs(X)) + S.negative(X), VEC),
    "unary2": (S.square(X) + S.rsqrt(S.abs(X) + 1) + S.sign(X) + S.floor(X) + S.ceil(X), VEC),
    "trig": (S.sin(X) + S.cos(X) + S.tanh(X) + S.erf(X) + S.arctan(X), VEC),
    "where": (S.where(X > Y, X, Y), TWO),
    "cast": (S.cast(S.cast(X * 3, dtype="int32"), dtype="float32"), VEC),
    # reductions
    "sum_all": (S.sum(X), T3),
    "sum_axis": (S.sum(X, axis=(0, 2), keepdims=True), T3),
    "mean_exclude": (S.mean(X, axis=1, exclude=True), T3),
    "max": (S.max(X, axis=1), T3),
    "min": (S.min(X, axis=-1, keepdims=True), T3),
    "prod": (S.prod(X, axis=0), T3),
    "argmax": (S.argmax(X, axis=1), T3),
    # products
    "dot": (S.dot(X, Y, transpose_b=True), TWO),
    "dot_transpose_a": (S.dot(X, Y, transpose_a=True), TWO),
    "dot_3d": (S.dot(X, S.var("w", shape=(4, 2, 3))), {"data": (3, 4), "w": (4, 2, 3)}),
    "batch_dot": (S.batch_dot(X, Y, transpose_b=True), {"data": (2, 3, 4), "y": (2, 5, 4)}),
    "batch_dot_ta": (S.batch_dot(X, Y, transpose_a=True), {"data": (2, 4, 3), "y": (2, 4, 5)}),
}

if hasattr(S, "LayerNorm"):
    CASES["layernorm"] = (S.LayerNorm(X, name="ln"), T3)
    CASES["layernorm_axis1"] = (S.LayerNorm(X, axis=1, name="ln"), T3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_op(tmp_path, case):
    sym, shapes = CASES[case]
    check_export(tmp_path, sym, shapes)

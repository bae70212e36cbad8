"""``mx.sym.Custom``: Python operators inside Symbol graphs, against MXNet 1.9.1's values
(tests/data/sym_custom_golden.json, written by tools/golden/sym_custom.py from the operators
of _sym_custom_ops.py, which this file registers with mxrs)."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from _sym_custom_ops import register_all, softmax_net
from mxrs.base import MXNetError

register_all(mx)
GOLD = json.loads((Path(__file__).resolve().parents[1] / "data" / "sym_custom_golden.json").read_text())


def _nd(v):
    return mx.nd.array(np.asarray(v, dtype=np.float32))


def test_names_shapes_and_json_match_mxnet():
    g = GOLD["softmax"]
    net = softmax_net(mx)
    assert net.list_arguments() == g["arguments"]
    assert net.list_outputs() == g["outputs"]
    assert net.list_auxiliary_states() == g["aux"] == []
    arg_shapes, out_shapes, aux_shapes = net.infer_shape(data=(4, 5))
    assert [list(s) for s in arg_shapes] == g["arg_shapes"]
    assert [list(s) for s in out_shapes] == g["out_shapes"]
    assert aux_shapes == []
    assert net.tojson() == g["json"]
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    ss = mx.sym.Custom(a, b, op_type="t_scalesum", scale=2.5, name="ss")
    assert ss.list_outputs() == GOLD["scalesum"]["outputs"] == ["ss_scaled", "ss_prod"]
    assert ss.tojson() == GOLD["scalesum"]["json"]
    assert ss[0].attr("op_type") == "t_scalesum" and ss[0].list_attr()["scale"] == "2.5"


def test_infer_type_goes_through_the_prop():
    net = softmax_net(mx)
    # The prop gives the label no dtype (its infer_type returns in_type), so, as in MXNet
    # 1.9.1, full inference from the data alone fails...
    assert net.infer_type(data="float64") == (None, None, None)
    # ... and succeeds with the label's.
    arg_types, out_types, _ = net.infer_type(data="float64", softmax_label="float32")
    assert out_types == [np.float64]
    assert dict(zip(net.list_arguments(), arg_types))["softmax_label"] == np.float32
    arg_types, out_types, _ = mx.sym.Custom(mx.sym.Variable("x"), op_type="t_counter").infer_type(x="float16")
    assert arg_types == [np.float16] and out_types == [np.float16]


def _bind_softmax(net, g):
    args = {k: _nd(v) for k, v in g["args"].items()}
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
    return net.bind(mx.cpu(), args, args_grad=grads), grads


@pytest.mark.parametrize("from_json", [False, True])
def test_softmax_forward_backward_match_mxnet(from_json):
    g = GOLD["softmax"]
    net = mx.sym.load_json(g["json"]) if from_json else softmax_net(mx)
    exe, grads = _bind_softmax(net, g)
    exe.forward(is_train=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), g["out"], rtol=1e-5, atol=1e-6)
    exe.backward()
    for k, want in g["grads"].items():
        np.testing.assert_allclose(grads[k].asnumpy(), want, rtol=1e-4, atol=1e-6, err_msg=k)


def test_simple_bind_infers_the_label_shape():
    net = softmax_net(mx)
    exe = net.simple_bind(mx.cpu(), data=(4, 5))
    assert exe.arg_dict["softmax_label"].shape == (4,)
    assert exe.outputs[0].shape == (4, 3)
    for k, v in GOLD["softmax"]["args"].items():
        exe.arg_dict[k][:] = np.asarray(v, dtype=np.float32)
    exe.forward(is_train=False)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), GOLD["softmax"]["out"], rtol=1e-5, atol=1e-6)


def test_two_outputs_kwargs_and_state_between_forward_and_backward():
    g = GOLD["scalesum"]
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    net = mx.sym.Custom(a, b, op_type="t_scalesum", scale=2.5, name="ss")
    ga, gb = mx.nd.zeros((2, 3)), mx.nd.zeros((2, 3))
    exe = net.bind(mx.cpu(), {"a": _nd(g["a"]), "b": _nd(g["b"])}, args_grad={"a": ga, "b": gb})
    exe.forward(is_train=True)
    for o, want in zip(exe.outputs, g["outs"]):
        np.testing.assert_allclose(o.asnumpy(), want, rtol=1e-6)
    exe.backward([_nd(g["g0"]), _nd(g["g1"])])
    np.testing.assert_allclose(ga.asnumpy(), g["grad_a"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb.asnumpy(), g["grad_b"], rtol=1e-5, atol=1e-6)


def test_grad_req_add_accumulates():
    g = GOLD["scalesum"]
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    net = mx.sym.Custom(a, b, op_type="t_scalesum", scale=2.5)
    ga = mx.nd.ones((2, 3))
    exe = net.bind(
        mx.cpu(), {"a": _nd(g["a"]), "b": _nd(g["b"])}, args_grad={"a": ga}, grad_req={"a": "add", "b": "null"}
    )
    exe.forward(is_train=True)
    exe.backward([_nd(g["g0"]), _nd(g["g1"])])
    np.testing.assert_allclose(ga.asnumpy(), np.asarray(g["grad_a"]) + 1, rtol=1e-5, atol=1e-6)


def test_auxiliary_state_is_updated_by_forward():
    g = GOLD["counter"]
    net = mx.sym.Custom(mx.sym.Variable("x"), op_type="t_counter", name="cnt")
    assert net.list_arguments() == g["arguments"]
    assert net.list_auxiliary_states() == g["aux"]
    gx = mx.nd.zeros((3,))
    exe = net.bind(mx.cpu(), {"x": _nd(g["x"])}, args_grad={"x": gx}, aux_states={"cnt_count": mx.nd.zeros((1,))})
    exe.forward(is_train=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), g["first"], rtol=1e-6)
    exe.forward(is_train=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), g["second"], rtol=1e-6)
    np.testing.assert_allclose(exe.aux_dict["cnt_count"].asnumpy(), g["count"])
    exe.backward(mx.nd.ones((3,)))
    np.testing.assert_allclose(gx.asnumpy(), g["grad"])


def test_module_fit_with_a_custom_softmax_converges():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 5)) * 3
    lab = rng.integers(0, 3, size=300)
    x = (centers[lab] + rng.normal(size=(300, 5))).astype(np.float32)
    it = mx.io.NDArrayIter(x, lab.astype(np.float32), batch_size=30, shuffle=True, label_name="softmax_label")
    mod = mx.mod.Module(softmax_net(mx), data_names=["data"], label_names=["softmax_label"])
    mx.random.seed(1)
    mod.fit(it, num_epoch=8, optimizer="sgd", optimizer_params={"learning_rate": 0.1}, initializer=mx.init.Xavier())
    acc = dict(
        mod.score(mx.io.NDArrayIter(x, lab.astype(np.float32), batch_size=30, label_name="softmax_label"), "acc")
    )
    assert acc["accuracy"] > 0.95, acc


def test_check_numeric_gradient_of_a_custom_op():
    g = GOLD["scalesum"]
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    net = mx.sym.Custom(a, b, op_type="t_scalesum", scale=2.5)[1]
    mx.test_utils.check_numeric_gradient(net, {"a": np.asarray(g["a"]), "b": np.asarray(g["b"])}, rtol=1e-2, atol=1e-3)


def test_errors_name_the_op_type_and_the_engine_keeps_working():
    x = mx.sym.Variable("x")
    net = mx.sym.Custom(x, op_type="t_boom", name="bad")
    gx = mx.nd.zeros((2,))
    exe = net.bind(mx.cpu(), {"x": mx.nd.ones((2,))}, args_grad={"x": gx})
    exe.forward(is_train=True)
    with pytest.raises(MXNetError, match=r"t_boom.*boom in forward"):
        exe.outputs[0].asnumpy()
    exe.backward(mx.nd.ones((2,)))
    with pytest.raises(MXNetError, match="t_boom"):
        gx.asnumpy()
    # Other work goes on, and the failed arrays are usable once rewritten.
    np.testing.assert_allclose((mx.nd.ones((2,)) * 3).asnumpy(), [3, 3])
    ok = mx.sym.Custom(x, op_type="t_counter", name="c2")
    exe2 = ok.bind(mx.cpu(), {"x": mx.nd.ones((2,))}, aux_states={"c2_count": mx.nd.zeros((1,))})
    exe2.forward()
    np.testing.assert_allclose(exe2.outputs[0].asnumpy(), [1, 1])
    mx.nd.waitall()


def test_backward_error_is_raised_at_the_next_sync_point():
    @mx.operator.register("t_boom_bwd")
    class _Prop(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            class _Op(mx.operator.CustomOp):
                def forward(self, is_train, req, in_data, out_data, aux):
                    self.assign(out_data[0], req[0], in_data[0] * 2)

                def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
                    raise KeyError("no gradient here")

            return _Op()

    gx = mx.nd.zeros((3,))
    exe = mx.sym.Custom(mx.sym.Variable("x"), op_type="t_boom_bwd").bind(
        mx.cpu(), {"x": mx.nd.ones((3,))}, args_grad={"x": gx}
    )
    exe.forward(is_train=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [2, 2, 2])
    exe.backward(mx.nd.ones((3,)))
    with pytest.raises(MXNetError, match=r"t_boom_bwd.*CustomOp.backward.*KeyError"):
        mx.nd.waitall()


def test_bad_definitions_are_mxnet_errors():
    x = mx.sym.Variable("x")
    with pytest.raises(MXNetError, match="no_such_op"):
        mx.sym.Custom(x, op_type="no_such_op")
    with pytest.raises(MXNetError, match="op_type"):
        mx.sym.Custom(x)

    @mx.operator.register("t_bad_shape")
    class _Prop(mx.operator.CustomOpProp):
        def infer_shape(self, in_shape):
            raise RuntimeError("cannot infer")

    net = mx.sym.Custom(x, op_type="t_bad_shape", name="bs")
    with pytest.raises(MXNetError, match=r"t_bad_shape.*cannot infer"):
        net.infer_shape(x=(2, 3))
    with pytest.raises(MXNetError, match="t_bad_shape"):
        net.simple_bind(mx.cpu(), x=(2, 3))

    @mx.operator.register("t_bad_init")
    class _Prop2(mx.operator.CustomOpProp):
        def __init__(self, k):
            super().__init__()
            self.k = int(k)

    with pytest.raises(MXNetError, match="t_bad_init"):
        mx.sym.Custom(x, op_type="t_bad_init", k="not a number")


def test_many_custom_nodes_run_in_parallel_without_deadlock():
    # Large inputs make the ops run on engine workers; several custom nodes are ready at once.
    x = mx.sym.Variable("x")
    outs = [mx.sym.Custom(x * (i + 1), op_type="t_softmax", name=f"s{i}") for i in range(6)]
    net = mx.sym.Group(outs)
    data = np.random.default_rng(3).normal(size=(200, 100)).astype(np.float32)
    args = {"x": mx.nd.array(data)}
    for i in range(6):
        args[f"s{i}_label"] = mx.nd.zeros((200,))
    exe = net.bind(mx.cpu(), args)
    result = {}

    def run():
        for _ in range(3):
            exe.forward()
        result["outs"] = [o.asnumpy() for o in exe.outputs]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "custom ops deadlocked"
    for i, o in enumerate(result["outs"]):
        z = data * (i + 1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(o, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_naive_engine():
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import mxrs as mx, numpy as np\n"
        "from _sym_custom_ops import register_all, softmax_net\n"
        "register_all(mx)\n"
        "exe = softmax_net(mx).simple_bind(mx.cpu(), data=(4, 5))\n"
        "exe.forward(is_train=True); exe.backward()\n"
        "print(exe.outputs[0].asnumpy().sum(axis=1).round(4).tolist())\n"
    ) % str(Path(__file__).resolve().parent)
    env = dict(os.environ, MXNET_ENGINE_TYPE="NaiveEngine")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[1.0, 1.0, 1.0, 1.0]"


def test_hybridized_gluon_block_with_a_custom_op():
    class Net(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, a, b):
            s, p = F.Custom(a, b, op_type="t_scalesum", scale=2.5)
            return s + p

    net = Net()
    net.hybridize()
    a, b = mx.nd.array([[1.0, 2.0]]), mx.nd.array([[3.0, 4.0]])
    a.attach_grad()
    b.attach_grad()
    with mx.autograd.record():
        y = net(a, b)
    y.backward()
    np.testing.assert_allclose(y.asnumpy(), [[5.5, 13.0]])  # 2.5 a + a b
    np.testing.assert_allclose(a.grad.asnumpy(), [[5.5, 6.5]])  # 2.5 + b
    np.testing.assert_allclose(b.grad.asnumpy(), [[1.0, 2.0]])  # a

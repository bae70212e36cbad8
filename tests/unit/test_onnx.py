"""mx.onnx: exported nets run in onnxruntime as in mxrs, export -> import round trips, and
models written by real MXNet 1.9.1's exporter (tools/golden/onnx_mxnet.py) import into mxrs
with MXNet's outputs."""

import mxrs as mx
import numpy as np
import pytest
from _fixtures import FIXTURES
from _onnx_check import check_export, make_inputs, mxrs_forward, ort_run, random_params

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

ONNX_DATA = FIXTURES.parent / "onnx"


def mlp():
    data = mx.sym.var("data")
    h = mx.sym.FullyConnected(data, num_hidden=32, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=16, name="fc2")
    h = mx.sym.Activation(h, act_type="sigmoid", name="sig")
    h = mx.sym.FullyConnected(h, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def lenet():
    data = mx.sym.var("data")
    c = mx.sym.Convolution(data, kernel=(5, 5), num_filter=6, name="conv1")
    c = mx.sym.Activation(c, act_type="tanh")
    c = mx.sym.Pooling(c, pool_type="max", kernel=(2, 2), stride=(2, 2))
    c = mx.sym.Convolution(c, kernel=(5, 5), num_filter=16, name="conv2")
    c = mx.sym.Activation(c, act_type="tanh")
    c = mx.sym.Pooling(c, pool_type="avg", kernel=(2, 2), stride=(2, 2))
    c = mx.sym.Flatten(c)
    c = mx.sym.FullyConnected(c, num_hidden=120, name="fc1")
    c = mx.sym.Activation(c, act_type="tanh")
    c = mx.sym.FullyConnected(c, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(c, name="softmax")


def _res_block(x, channels, stride, name):
    conv = dict(kernel=(3, 3), pad=(1, 1), num_filter=channels, no_bias=True)
    c = mx.sym.Convolution(x, stride=stride, name=name + "_c1", **conv)
    c = mx.sym.BatchNorm(c, fix_gamma=False, eps=2e-5, name=name + "_bn1")
    c = mx.sym.Activation(c, act_type="relu")
    c = mx.sym.Convolution(c, name=name + "_c2", **conv)
    c = mx.sym.BatchNorm(c, name=name + "_bn2")  # fix_gamma=True: gamma is 1
    if stride != (1, 1):
        x = mx.sym.Convolution(x, kernel=(1, 1), stride=stride, num_filter=channels, no_bias=True, name=name + "_sc")
        x = mx.sym.BatchNorm(x, fix_gamma=False, name=name + "_scbn")
    return mx.sym.Activation(c + x, act_type="relu")


def resnet():
    data = mx.sym.var("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=8, no_bias=True, name="stem")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="stem_bn")
    x = mx.sym.Activation(x, act_type="relu")
    x = _res_block(x, 8, (1, 1), "b1")
    x = _res_block(x, 16, (2, 2), "b2")
    x = mx.sym.Pooling(x, pool_type="avg", global_pool=True, kernel=(1, 1))
    x = mx.sym.Flatten(x)
    x = mx.sym.FullyConnected(x, num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(x, name="softmax")


@pytest.mark.parametrize(
    "build, shape",
    [(mlp, (4, 20)), (lenet, (2, 1, 28, 28)), (resnet, (2, 3, 16, 16))],
    ids=["mlp", "lenet", "resnet"],
)
def test_nets_in_onnxruntime_and_back(tmp_path, build, shape):
    sym = build()
    path = check_export(tmp_path, sym, {"data": shape})
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["data"]  # labels and params are not inputs
    assert [o.name for o in model.graph.output] == ["softmax"]
    assert model.graph.name == "mxnet_converted_model"
    inits = {i.name for i in model.graph.initializer}
    assert set(sym.list_arguments()) - {"data", "softmax_label"} <= inits
    assert set(sym.list_auxiliary_states()) <= inits


@pytest.mark.parametrize("name", ["mlp", "convnet", "ops"])
def test_import_mxnet_exported_model(name):
    sym, arg_params, aux_params = mx.onnx.import_model(str(ONNX_DATA / f"mxnet_{name}.onnx"))
    ref = np.load(ONNX_DATA / f"mxnet_{name}.npz")
    (out,) = mxrs_forward(sym, {**arg_params, **aux_params}, {"data": ref["data"]})
    np.testing.assert_allclose(out, ref["out"], rtol=1e-4, atol=1e-6)
    # The parameters keep MXNet's names; BatchNorm's statistics are auxiliary states.
    assert "fc1_weight" in arg_params or "fc_weight" in arg_params
    if name == "convnet":
        assert sorted(aux_params) == ["bn1_moving_mean", "bn1_moving_var", "bn2_moving_mean", "bn2_moving_var"]
    # MXNet's own ONNX run agrees too.
    ort_out = ort_run(ONNX_DATA / f"mxnet_{name}.onnx", {"data": ref["data"]})[0]
    np.testing.assert_allclose(ort_out, ref["out"], atol=1e-5)


def test_contrib_alias_and_metadata():
    path = str(ONNX_DATA / "mxnet_convnet.onnx")
    sym, _, _ = mx.contrib.onnx.import_model(path)
    assert sym.list_outputs() == ["softmax_output"]
    meta = mx.contrib.onnx.get_model_metadata(path)
    assert meta == {"input_tensor_data": [("data", (2, 3, 12, 12))], "output_tensor_data": [("softmax", (2, 5))]}
    assert "Convolution" in mx.onnx.get_operator_support()


def test_export_from_files(tmp_path):
    sym = lenet()
    params = random_params(sym, {"data": (1, 1, 28, 28)})
    sym.save(str(tmp_path / "lenet-symbol.json"))
    mx.nd.save(str(tmp_path / "lenet-0000.params"), {"arg:" + k: v for k, v in params.items()})
    path = tmp_path / "lenet.onnx"
    mx.onnx.export_model(
        str(tmp_path / "lenet-symbol.json"),
        str(tmp_path / "lenet-0000.params"),
        input_shape=[(1, 1, 28, 28)],
        onnx_file_path=str(path),
        verbose=True,
        run_shape_inference=True,
    )
    # Shape inference filled in the intermediate tensors' shapes.
    value_info = {v.name: v for v in onnx.load(str(path)).graph.value_info}
    assert [d.dim_value for d in value_info["conv1"].type.tensor_type.shape.dim] == [1, 6, 24, 24]
    x = make_inputs({"data": (1, 1, 28, 28)})
    np.testing.assert_allclose(ort_run(path, x)[0], mxrs_forward(sym, params, x)[0], rtol=1e-4, atol=1e-6)


def test_dynamic_batch(tmp_path):
    sym = mlp()
    params = random_params(sym, {"data": (4, 20)})
    path = tmp_path / "dyn.onnx"
    dyn = [(None, 20)]
    mx.onnx.export_model(sym, [params, {}], [(4, 20)], onnx_file_path=str(path), dynamic=True, dynamic_input_shapes=dyn)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and dims[1].dim_value == 20
    x = make_inputs({"data": (7, 20)})
    np.testing.assert_allclose(ort_run(path, x)[0], mxrs_forward(sym, params, x)[0], rtol=1e-4, atol=1e-6)


def test_export_errors(tmp_path):
    data = mx.sym.var("data")
    with pytest.raises(mx.MXNetError, match="in_shapes"):
        mx.onnx.export_model(mx.sym.relu(data), {}, None, onnx_file_path=str(tmp_path / "a.onnx"))
    with pytest.raises(mx.MXNetError, match="topk"):
        mx.onnx.export_model(mx.sym.topk(data, k=2), {}, [(2, 5)], onnx_file_path=str(tmp_path / "b.onnx"))
    with pytest.raises(ValueError, match="dynamic"):
        mx.onnx.export_model(mx.sym.relu(data), {}, [(2, 5)], dynamic_input_shapes=[(None, 5)])
    with pytest.raises(ValueError, match="files or objects"):
        mx.onnx.export_model(mx.sym.relu(data), 3, [(2, 5)])


@pytest.mark.parametrize(
    "shape_codes, reverse",
    [((-3, -2), False), ((0, -4, -1, 2, -2), False), ((-1, 0), True), ((0, 0, -3), False), ((-2,), False)],
)
def test_dynamic_reshape_codes(tmp_path, shape_codes, reverse):
    # With free dimensions MXNet's -2/-3/-4 codes are computed from the input's shape at run time.
    sym = mx.sym.Reshape(mx.sym.var("data"), shape=shape_codes, reverse=reverse)
    path = tmp_path / "r.onnx"
    mx.onnx.export_model(sym, {}, [(2, 4, 3, 5)], onnx_file_path=str(path), dynamic=True)
    for batch in (1, 3):
        x = make_inputs({"data": (batch, 4, 3, 5)})
        got = ort_run(path, x)[0]
        want = mxrs_forward(sym, {}, x)[0]
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_export_gluon_hybrid_block(tmp_path):
    gluon = pytest.importorskip("mxrs.gluon")
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(16, activation="relu"), gluon.nn.BatchNorm(), gluon.nn.Dropout(0.5), gluon.nn.Dense(4))
    net.initialize(mx.init.Xavier())
    # Deferred shapes: export runs the block once on zeros of in_shapes to settle them.
    path = mx.onnx.export_model(net, None, in_shapes=[(2, 10)], onnx_file_path=str(tmp_path / "g.onnx"))
    x = make_inputs({"data": (2, 10)})
    want = net(mx.nd.array(x["data"])).asnumpy()
    np.testing.assert_allclose(ort_run(path, x)[0], want, rtol=1e-4, atol=1e-6)
    sym, arg_params, aux_params = mx.onnx.import_model(path)
    assert sorted({**arg_params, **aux_params}) == sorted(p.name for p in net.collect_params().values())
    np.testing.assert_allclose(mxrs_forward(sym, {**arg_params, **aux_params}, x)[0], want, rtol=1e-4, atol=1e-6)


def _model(nodes, inputs, outputs, inits=(), opset=11):
    h = onnx.helper
    f32 = onnx.TensorProto.FLOAT
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info(n, f32, s) for n, s in inputs],
        [h.make_tensor_value_info(n, f32, None) for n in outputs],
        initializer=[onnx.numpy_helper.from_array(np.asarray(v), n) for n, v in inits],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], ir_version=6)


def test_import_older_opset_forms(tmp_path):
    # Opset 11: axes/split as attributes, Softmax flattening from its axis, Clip bounds as inputs.
    h = onnx.helper
    nodes = [
        h.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
        h.make_node("Squeeze", ["u"], ["s"], axes=[0]),
        h.make_node("Softmax", ["s"], ["sm"], axis=1),
        h.make_node("Clip", ["sm", "lo", "hi"], ["c"]),
        h.make_node("ReduceSum", ["c"], ["r"], axes=[2], keepdims=0),
        h.make_node("Split", ["x"], ["p0", "p1"], axis=2, split=[1, 3]),
        h.make_node("Slice", ["p1", "st", "en", "ax"], ["sl"]),
        h.make_node("Mul", ["sl", "two"], ["y"]),
    ]
    inits = [
        ("lo", np.float32(0.05)),
        ("hi", np.float32(0.2)),
        ("two", np.float32(2.0)),
        ("st", np.array([1], np.int64)),
        ("en", np.array([2**62], np.int64)),
        ("ax", np.array([-1], np.int64)),
    ]
    path = tmp_path / "old.onnx"
    onnx.save(_model(nodes, [("x", (2, 3, 4))], ["r", "p0", "y"], inits), str(path))
    x = make_inputs({"x": (2, 3, 4)})
    want = ort_run(path, x)
    sym, arg_params, aux_params = mx.onnx.import_model(str(path))
    got = mxrs_forward(sym, {**arg_params, **aux_params}, x)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert arg_params == {}  # bounds, scalars and slice arguments are read as values


def test_import_errors(tmp_path):
    h = onnx.helper
    path = tmp_path / "bad.onnx"
    onnx.save(_model([h.make_node("LRN", ["x"], ["y"], size=3)], [("x", (1, 3, 4, 4))], ["y"]), str(path))
    with pytest.raises(mx.MXNetError, match="LRN 'y': no translation"):
        mx.onnx.import_model(str(path))
    pads = h.make_node("Conv", ["x", "w"], ["y"], pads=[0, 0, 1, 1])
    onnx.save(_model([pads], [("x", (1, 3, 4, 4))], ["y"], [("w", np.ones((2, 3, 3, 3), np.float32))]), str(path))
    with pytest.raises(mx.MXNetError, match="asymmetric pads"):
        mx.onnx.import_model(str(path))
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Reshape", ["x", "s"], ["y"])]
    free = _model(nodes, [("x", ("n", 3))], ["y"])
    onnx.save(free, str(path))
    with pytest.raises(mx.MXNetError, match="static shapes"):
        mx.onnx.import_model(str(path))


def test_import_layer_normalization(tmp_path):
    if not hasattr(mx.sym, "LayerNorm"):
        pytest.skip("this mxrs has no LayerNorm op")
    rng = np.random.RandomState(3)
    inits = [("g", rng.uniform(0.5, 1.5, 5).astype(np.float32)), ("b", rng.uniform(-1, 1, 5).astype(np.float32))]
    node = onnx.helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-4)
    path = tmp_path / "ln.onnx"
    onnx.save(_model([node], [("x", (2, 3, 5))], ["y"], inits, opset=17), str(path))
    x = make_inputs({"x": (2, 3, 5)})
    sym, arg_params, aux_params = mx.onnx.import_model(str(path))
    assert sorted(arg_params) == ["b", "g"]
    got = mxrs_forward(sym, {**arg_params, **aux_params}, x)[0]
    np.testing.assert_allclose(got, ort_run(path, x)[0], rtol=1e-4, atol=1e-5)


def test_import_gemm_forms(tmp_path):
    # Gemm as FullyConnected (constant B, row bias) and as dot + bias (alpha, a column bias).
    h = onnx.helper
    rng = np.random.RandomState(5)
    inits = [
        ("w", rng.uniform(-1, 1, (4, 3)).astype(np.float32)),
        ("row", rng.uniform(-1, 1, (1, 3)).astype(np.float32)),
        ("col", rng.uniform(-1, 1, (2, 1)).astype(np.float32)),
    ]
    nodes = [
        h.make_node("Gemm", ["x", "w", "row"], ["fc"]),
        h.make_node("Gemm", ["x", "w", "col"], ["y"], alpha=0.5, beta=2.0),
        h.make_node("Gemm", ["x", "x"], ["xx"], transB=1),
    ]
    path = tmp_path / "gemm.onnx"
    onnx.save(_model(nodes, [("x", (2, 4))], ["fc", "y", "xx"], inits), str(path))
    x = make_inputs({"x": (2, 4)})
    sym, arg_params, aux_params = mx.onnx.import_model(str(path))
    for got, want in zip(mxrs_forward(sym, {**arg_params, **aux_params}, x), ort_run(path, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_import_to_gluon():
    pytest.importorskip("mxrs.gluon")
    ref = np.load(ONNX_DATA / "mxnet_convnet.npz")
    net = mx.contrib.onnx.import_to_gluon(str(ONNX_DATA / "mxnet_convnet.onnx"), mx.cpu())
    out = net(mx.nd.array(ref["data"])).asnumpy()
    np.testing.assert_allclose(out, ref["out"], rtol=1e-4, atol=1e-6)

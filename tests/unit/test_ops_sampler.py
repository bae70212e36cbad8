"""The spatial-transformer ops against real MXNet 1.9.1 (``ops_sampler_golden.json``, from
``tools/golden/cases_v1.py``): GridGenerator (affine, warp), BilinearSampler and
SpatialTransformer, forward and gradients; symbol use and bad inputs."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import mx

CASES = {f"sampler/{name}": case for name, case in load("sampler").items()}
AFFINE = {"transform_type": "affine", "sampler_type": "bilinear"}


@pytest.mark.parametrize("key", sorted(CASES))
def test_forward_matches_mxnet(key):
    check_forward(CASES[key], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", sorted(k for k, c in CASES.items() if c["grads"]))
def test_gradients_match_mxnet(key):
    check_gradients(CASES[key], rtol=1e-4, atol=1e-5)


def test_identity_transform_reproduces_data():
    data = mx.nd.array(np.arange(24, dtype="float32").reshape(1, 2, 3, 4))
    loc = mx.nd.array([[1, 0, 0, 0, 1, 0]])
    out = mx.nd.SpatialTransformer(data, loc, target_shape=(3, 4), **AFFINE)
    np.testing.assert_allclose(out.asnumpy(), data.asnumpy(), rtol=1e-6, atol=1e-5)
    grid = mx.nd.GridGenerator(loc, transform_type="affine", target_shape=(3, 4))
    np.testing.assert_allclose(mx.nd.BilinearSampler(data, grid).asnumpy(), data.asnumpy(), atol=1e-5)
    # A zero flow is the identity grid as well.
    warp = mx.nd.GridGenerator(mx.nd.zeros((1, 2, 3, 4)), transform_type="warp")
    np.testing.assert_allclose(warp.asnumpy(), grid.asnumpy(), atol=1e-6)


def test_sampler_outside_is_zero():
    data = mx.nd.ones((1, 1, 2, 2))
    grid = mx.nd.array(np.full((1, 2, 1, 1), 3.5, "float32"))
    assert mx.nd.BilinearSampler(data, grid).asnumpy().ravel().tolist() == [0.0]


def test_symbol_graph_binds_and_runs_backward():
    data, loc = mx.sym.var("data"), mx.sym.var("loc")
    y = mx.sym.SpatialTransformer(data, loc, target_shape=(4, 3), **AFFINE)
    _, out_shapes, _ = y.infer_shape(data=(2, 3, 5, 6), loc=(2, 6))
    assert out_shapes == [(2, 3, 4, 3)]
    y2 = mx.sym.load_json(y.tojson())
    case = CASES["sampler/spatial_transformer"]
    ins = {n: mx.nd.array(np.array(v["data"], "float32").reshape(v["shape"])) for n, v in case["inputs"].items()}
    exe = y2.bind(mx.cpu(), ins, args_grad={n: mx.nd.zeros(a.shape) for n, a in ins.items()})
    exe.forward(is_train=True)
    np.testing.assert_allclose(exe.outputs[0].asnumpy().ravel(), case["outputs"][0]["data"], rtol=1e-5, atol=1e-5)
    exe.backward(mx.nd.array(np.array(case["heads"][0], "float32").reshape(2, 3, 4, 3)))
    for n in ("data", "loc"):
        np.testing.assert_allclose(exe.grad_dict[n].asnumpy().ravel(), case["grads"][n], rtol=1e-4, atol=1e-5)


def test_bad_inputs_name_op_and_shapes():
    with pytest.raises(mx.base.MXNetError, match=r"GridGenerator.*\(2,5\)"):
        mx.nd.GridGenerator(mx.nd.ones((2, 5)), transform_type="affine", target_shape=(2, 2))
    with pytest.raises(mx.base.MXNetError, match="target_shape"):
        mx.nd.GridGenerator(mx.nd.ones((2, 6)), transform_type="affine")
    with pytest.raises(mx.base.MXNetError, match="transform_type"):
        mx.nd.GridGenerator(mx.nd.ones((2, 6)), transform_type="shear", target_shape=(2, 2))
    with pytest.raises(mx.base.MXNetError, match=r"BilinearSampler.*\(2,2,3,3\)"):
        mx.nd.BilinearSampler(mx.nd.ones((1, 1, 4, 4)), mx.nd.ones((2, 2, 3, 3)))
    with pytest.raises(mx.base.MXNetError, match="SpatialTransformer"):
        mx.nd.SpatialTransformer(mx.nd.ones((1, 1, 4, 4)), mx.nd.ones((1, 4)), target_shape=(2, 2), **AFFINE)


def test_empty_images_give_empty_or_zero_outputs():
    grid = mx.nd.zeros((1, 2, 2, 2))
    assert mx.nd.BilinearSampler(mx.nd.ones((1, 3, 0, 4)), grid).asnumpy().tolist() == np.zeros((1, 3, 2, 2)).tolist()
    assert mx.nd.GridGenerator(mx.nd.ones((1, 2, 0, 3)), transform_type="warp").shape == (1, 2, 0, 3)
    assert mx.nd.BilinearSampler(mx.nd.ones((1, 3, 2, 2)), mx.nd.zeros((1, 2, 0, 5))).shape == (1, 3, 0, 5)

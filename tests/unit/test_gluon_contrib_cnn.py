"""``mx.gluon.contrib.cnn``: ``DeformableConvolution`` and ``ModulatedDeformableConvolution``
against MXNet 1.9.1's layers with set parameters (fixtures in ``ops_deform_golden.json``,
written by ``tools/golden/deform_ops.py``), their parameters, shapes, deferred initialization
and hybridization."""

import json
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

GOLDEN = json.loads((Path(__file__).resolve().parent.parent / "data" / "ops_deform_golden.json").read_text())
LAYERS = {c["name"]: c for c in GOLDEN["gluon"]}
cnn = mx.gluon.contrib.cnn


def _array(v):
    return mx.nd.array(np.array(v["data"]).reshape(v["shape"]))


def _layer(case, hybridize):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}
    layer = getattr(cnn, case["cls"])(**kwargs)
    layer.initialize()
    x = _array(case["data"])
    layer(x)
    params = layer.collect_params()
    assert [n[len(layer.prefix) :] for n in params] == case["param_names"]
    for name, p in params.items():
        p.set_data(_array(case["params"][name[len(layer.prefix) :]]))
    if hybridize:
        layer.hybridize()
    return layer, x


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_mxnet(name, hybridize):
    case = LAYERS[name]
    layer, x = _layer(case, hybridize)
    with mx.autograd.record():
        y = layer(x)
    assert y.shape == tuple(case["output"]["shape"])
    np.testing.assert_allclose(y.asnumpy().ravel(), case["output"]["data"], rtol=1e-4, atol=1e-5)
    if not case["grads"]:
        return
    y.backward(mx.nd.ones_like(y))
    for pname, p in layer.collect_params().items():
        want = case["grads"][pname[len(layer.prefix) :]]
        np.testing.assert_allclose(p.grad().asnumpy().ravel(), want, rtol=1e-4, atol=1e-4, err_msg=pname)


def test_parameters_and_deferred_shapes():
    layer = cnn.DeformableConvolution(8, kernel_size=3, padding=1, num_deformable_group=2, prefix="d_")
    params = layer.collect_params()
    assert list(params) == ["d_offset_weight", "d_offset_bias", "d_deformable_conv_weight", "d_deformable_conv_bias"]
    assert tuple(params["d_offset_weight"].shape) == (36, 0, 3, 3)
    assert tuple(params["d_deformable_conv_weight"].shape) == (8, 0, 3, 3)
    layer.initialize()
    y = layer(mx.nd.ones((2, 4, 6, 5)))
    assert y.shape == (2, 8, 6, 5)
    assert tuple(params["d_offset_weight"].shape) == (36, 4, 3, 3)
    assert tuple(params["d_deformable_conv_weight"].shape) == (8, 4, 3, 3)
    # The offset convolution starts at zero: the layer starts as a plain convolution.
    assert not params["d_offset_weight"].data().asnumpy().any()
    m = cnn.ModulatedDeformableConvolution(4, kernel_size=(3, 3), in_channels=2, use_bias=False, prefix="m_")
    mp = m.collect_params()
    assert list(mp) == ["m_deformable_conv_weight", "m_offset_weight", "m_offset_bias"]
    assert tuple(mp["m_offset_weight"].shape) == (27, 2, 3, 3)
    assert m.offset_split_index == 18
    assert "DeformableConvolution" in repr(layer) and "ModulatedDeformableConvolution" in repr(m)


@pytest.mark.parametrize("cls", ["DeformableConvolution", "ModulatedDeformableConvolution"])
def test_hybridized_equals_imperative_and_trains(cls):
    if IS_MXNET and cls.startswith("Modulated"):
        pytest.skip("MXNet 1.9.1 runs ModulatedDeformableConvolution's backward on GPU only")
    rng = np.random.RandomState(7)
    kw = {"kernel_size": 3, "strides": (2, 1), "padding": 1, "activation": "tanh", "num_deformable_group": 2}
    a = getattr(cnn, cls)(4, offset_weight_initializer=mx.init.Uniform(0.3), **kw)
    b = getattr(cnn, cls)(4, **kw)
    x = mx.nd.array(rng.uniform(-1, 1, (2, 4, 6, 5)))
    a.initialize()
    b.initialize()
    a(x)
    b(x)
    for (_, pa), (_, pb) in zip(a.collect_params().items(), b.collect_params().items(), strict=True):
        pb.set_data(pa.data())
    b.hybridize()
    np.testing.assert_allclose(a(x).asnumpy(), b(x).asnumpy(), rtol=1e-5, atol=1e-6)
    trainer = mx.gluon.Trainer(b.collect_params(), "sgd", {"learning_rate": 0.1})
    before = b.collect_params()[b.prefix + "offset_weight"].data().asnumpy().copy()
    with mx.autograd.record():
        loss = (b(x) ** 2).sum()
    loss.backward()
    trainer.step(1)
    after = b.collect_params()[b.prefix + "offset_weight"].data().asnumpy()
    assert np.abs(after - before).max() > 0


def test_symbol_trace():
    layer = cnn.DeformableConvolution(3, kernel_size=3, prefix="dc_")
    out = layer(mx.sym.Variable("data"))
    assert out.list_arguments() == [
        "data",
        "dc_offset_weight",
        "dc_offset_bias",
        "dc_deformable_conv_weight",
        "dc_deformable_conv_bias",
    ]

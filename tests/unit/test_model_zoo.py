"""gluon.model_zoo.vision against real MXNet 1.9.1.

tests/fixtures/gluon_layers/model_zoo.json (gen_fixtures.py) holds, for every model MXNet's
get_model knows, the parameter names (without the net's prefix) and shapes and the output shape
for a 224x224 (Inception: 299x299) input. Names and shapes are checked for every model through
symbolic shape inference (no compute); forward runs use small inputs.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

vision = mx.gluon.model_zoo.vision
ZOO = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "gluon_layers" / "model_zoo.json").read_text())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_parameter_names_and_shapes_match_mxnet(name):
    want = ZOO[name]
    net = vision.get_model(name, classes=10)
    names = [k[len(net.prefix) :] for k in net.collect_params()]
    assert names == [p[0] for p in want["params"]]
    out = net(mx.sym.var("data"))
    size = want["size"]
    arg_shapes, out_shapes, aux_shapes = out.infer_shape(data=(1, 3, size, size))
    shapes = dict(zip(out.list_arguments(), arg_shapes))
    shapes.update(zip(out.list_auxiliary_states(), aux_shapes))
    assert [list(shapes[net.prefix + n]) for n in names] == [p[1] for p in want["params"]]
    assert list(out_shapes[0]) == want["out"]


# smallest inputs each architecture accepts (fixed-size final pools need 224 / 299)
FORWARD = [
    ("resnet18_v1", 32),
    ("resnet18_v2", 32),
    ("mobilenet0.25", 32),
    ("mobilenetv2_0.25", 32),
    ("squeezenet1.1", 224),
    ("alexnet", 63),
    ("densenet121", 224),
    ("inceptionv3", 299),
]


@pytest.mark.parametrize("name,size", FORWARD)
def test_forward_shape_and_hybridized_equal(name, size):
    net = vision.get_model(name, classes=7)
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 3, size, size)))
    y = net(x)
    assert y.shape == (2, 7)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), y.asnumpy(), rtol=1e-4, atol=1e-5)


def test_thumbnail_resnet_and_get_model_errors():
    net = vision.resnet18_v1(classes=10, thumbnail=True)
    net.initialize()
    assert net(mx.nd.ones((1, 3, 32, 32))).shape == (1, 10)
    with pytest.raises(ValueError):
        vision.get_model("resnet19_v1")
    with pytest.raises((ValueError, AssertionError)):
        vision.get_resnet(3, 18)
    assert vision.get_model("ResNet18_V1").prefix.startswith("resnetv1")


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads the weights; mxrs bundles none")
def test_pretrained_without_a_local_file_says_weights_are_not_bundled(tmp_path):
    with pytest.raises(OSError) as err:
        vision.get_model("mobilenet0.25", pretrained=True, root=str(tmp_path))
    msg = str(err.value)
    assert "not bundle" in msg and "mobilenet0.25" in msg and str(tmp_path) in msg and "load_parameters" in msg


@pytest.mark.skipif(IS_MXNET, reason="MXNet downloads the weights; mxrs bundles none")
def test_pretrained_loads_a_params_file_put_in_root(tmp_path):
    src = vision.mobilenet_v2_0_25(classes=5)
    src.initialize(mx.init.Xavier())
    x = mx.nd.ones((1, 3, 32, 32))
    want = src(x).asnumpy()
    src.save_parameters(str(tmp_path / "mobilenetv2_0.25-0123abcd.params"))
    net = vision.get_model("mobilenetv2_0.25", classes=5, pretrained=True, root=str(tmp_path))
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-6)

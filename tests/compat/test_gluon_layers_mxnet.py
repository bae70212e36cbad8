"""Gluon conv/pool layers and model-zoo networks round-trip with real MXNet 1.9.1.

- A model saved by MXNet's ``save_parameters`` loads into mxrs's definition of the same model
  (same parameter names) and computes the same output.
- A hybridized mxrs network with every kind of conv/pool layer, exported, loads in MXNet with
  ``SymbolBlock.imports`` and computes the same output.

Needs the reference virtualenv (``../mxref`` or ``$MXREF_PYTHON``); skipped without it.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

ROOT = Path(__file__).resolve().parents[2]
MXREF = Path(os.environ.get("MXREF_PYTHON", ROOT.parent / "mxref" / "bin" / "python"))

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(IS_MXNET, reason="compares mxrs with MXNet"),
    pytest.mark.skipif(not MXREF.exists(), reason=f"reference MXNet venv not found at {MXREF}"),
]


def run_mxnet(code, onednn=False):
    """Run ``code`` in MXNet; its own kernels unless ``onednn`` (its CPU RNN needs oneDNN)."""
    env = dict(os.environ, MXNET_MKLDNN_ENABLED="1" if onednn else "0", MXNET_STORAGE_FALLBACK_LOG_VERBOSE="0")
    out = subprocess.run([str(MXREF), "-c", code], capture_output=True, text=True, timeout=300, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name,size", [("resnet18_v2", 32), ("mobilenetv2_0.25", 32), ("squeezenet1.1", 224)])
def test_mxnet_saved_model_zoo_weights_load_in_mxrs(tmp_path, name, size):
    params = tmp_path / "net.params"
    x = np.random.RandomState(1).uniform(-1, 1, (2, 3, size, size)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = run_mxnet(
        "import json, mxnet as mx, numpy as np\n"
        "from mxnet.gluon.model_zoo import vision\n"
        f"net = vision.get_model({name!r}, classes=6)\n"
        "net.initialize(mx.init.Xavier(magnitude=2))\n"
        f"x = mx.nd.array(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "net(x)\n"
        "for p in net.collect_params().values():\n"
        "    if p.name.endswith(('running_mean', 'running_var', 'beta', 'gamma')):\n"
        "        p.set_data(mx.nd.random.uniform(0.5, 1.5, shape=p.shape))\n"
        f"net.save_parameters({str(params)!r})\n"
        "print(json.dumps(net(x).asnumpy().tolist()))\n"
    )
    net = mx.gluon.model_zoo.vision.get_model(name, classes=6)
    net.load_parameters(str(params))
    np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), np.array(want), rtol=1e-4, atol=1e-4)


def test_mxrs_exported_conv_net_runs_in_mxnet(tmp_path):
    nn = mx.gluon.nn
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.MaxPool2D(3, 2, 1, ceil_mode=True))
        net.add(nn.Conv2DTranspose(3, 3, strides=2, padding=1, output_padding=1))
        net.add(nn.AvgPool2D(3, 1, 1, count_include_pad=False), nn.Conv2D(6, 3, groups=3, dilation=2))
        net.add(nn.GlobalMaxPool2D(), nn.Flatten())
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = np.random.RandomState(2).uniform(-1, 1, (2, 3, 9, 9)).astype(np.float32)
    want = net(mx.nd.array(x)).asnumpy()
    prefix = str(tmp_path / "convnet")
    net.export(prefix)
    np.save(tmp_path / "x.npy", x)
    got = run_mxnet(
        "import json, mxnet as mx, numpy as np\n"
        f"net = mx.gluon.SymbolBlock.imports({prefix + '-symbol.json'!r}, ['data'], {prefix + '-0000.params'!r})\n"
        f"print(json.dumps(net(mx.nd.array(np.load({str(tmp_path / 'x.npy')!r}))).asnumpy().tolist()))\n"
    )
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-5)


def test_mxnet_saved_lstm_loads_in_mxrs(tmp_path):
    if not hasattr(mx.nd, "RNN"):
        pytest.skip("the fused RNN op is not in mxrs's registry yet")
    params = tmp_path / "lstm.params"
    x = np.random.RandomState(3).uniform(-1, 1, (5, 2, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = run_mxnet(
        "import json, mxnet as mx, numpy as np\n"
        "layer = mx.gluon.rnn.LSTM(4, num_layers=2, bidirectional=True, input_size=3)\n"
        "layer.initialize(mx.init.Uniform(0.5))\n"
        f"layer.save_parameters({str(params)!r})\n"
        f"print(json.dumps(layer(mx.nd.array(np.load({str(tmp_path / 'x.npy')!r}))).asnumpy().tolist()))\n",
        onednn=True,
    )
    layer = mx.gluon.rnn.LSTM(4, num_layers=2, bidirectional=True)
    layer.load_parameters(str(params))
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), np.array(want), rtol=1e-4, atol=1e-5)

"""Symbol JSON written by mxrs loads in real MXNet 1.9.1 and computes the same thing.

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


def run_mxnet(code):
    out = subprocess.run([str(MXREF), "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_mxrs_json_loads_and_runs_in_mxnet(tmp_path):
    data = mx.sym.Variable("data", shape=(2, 3), lr_mult=2.0)
    h = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    h = mx.sym.BatchNorm(h, fix_gamma=False, eps=1e-3, name="bn1")
    h = mx.sym.Activation(h, act_type="tanh", name="act")
    h = mx.sym.Concat(h, h * 2 + 1, dim=1, name="cat")
    out = mx.sym.SoftmaxOutput(h, name="softmax")
    path = tmp_path / "net-symbol.json"
    out.save(str(path))
    got = run_mxnet(
        "import json, mxnet as mx, numpy as np\n"
        f"s = mx.sym.load({str(path)!r})\n"
        "e = s.simple_bind(mx.cpu(), data=(2, 3), grad_req='null')\n"
        "for k, a in e.arg_dict.items():\n"
        "    a[:] = np.linspace(-1, 1, a.size).reshape(a.shape)\n"
        "for k, a in e.aux_dict.items():\n"
        "    a[:] = 1 if k.endswith('var') else 0\n"
        "o = e.forward()[0].asnumpy()\n"
        "print(json.dumps({'args': s.list_arguments(), 'aux': s.list_auxiliary_states(),\n"
        "   'outs': s.list_outputs(), 'json': s.tojson(), 'o': o.tolist()}))\n"
    )
    assert got["args"] == out.list_arguments()
    assert got["aux"] == out.list_auxiliary_states()
    assert got["outs"] == out.list_outputs()
    assert got["json"] == out.tojson()
    e = out.simple_bind(mx.cpu(), data=(2, 3), grad_req="null")
    for a in e.arg_dict.values():
        a[:] = np.linspace(-1, 1, a.size).reshape(a.shape)
    for k, a in e.aux_dict.items():
        a[:] = 1 if k.endswith("var") else 0
    np.testing.assert_allclose(e.forward()[0].asnumpy(), np.array(got["o"]), rtol=1e-5, atol=1e-7)

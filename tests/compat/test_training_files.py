"""Training files and code against real MXNet 1.9.1.

* checkpoint parameter files written by mxrs load in MXNet's ``mx.model.load_params`` and the
  other way round;
* ``tools/mxnet_hybrid.py``: mxrs's Module/FeedForward/metric/init/callback code, run over
  MXNet's Symbol/Executor/io/optimizer/kvstore, passes the training tests.

Needs the reference virtualenv (``../mxref`` beside the repository, or ``$MXREF_PYTHON``).
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

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


def test_mxrs_checkpoint_params_load_in_mxnet(tmp_path):
    prefix = str(tmp_path / "ck")
    arg = {"fc_weight": mx.nd.array(np.arange(6).reshape(2, 3) / 4), "fc_bias": mx.nd.array([0.5, -1])}
    aux = {"bn_moving_var": mx.nd.array([1.0, 2.0, 3.0])}
    mx.model.save_checkpoint(prefix, 7, None, arg, aux)
    got = run_mxnet(
        "import json, mxnet as mx\n"
        f"arg, aux = mx.model.load_params({prefix!r}, 7)\n"
        "print(json.dumps({k: v.asnumpy().tolist() for k, v in list(arg.items()) + list(aux.items())}))"
    )
    assert got == {
        "fc_weight": (np.arange(6).reshape(2, 3) / 4).tolist(),
        "fc_bias": [0.5, -1.0],
        "bn_moving_var": [1.0, 2.0, 3.0],
    }


def test_mxnet_checkpoint_params_load_in_mxrs(tmp_path):
    prefix = str(tmp_path / "ref")
    run_mxnet(
        "import mxnet as mx\n"
        f"mx.model.save_checkpoint({prefix!r}, 3, None, {{'w': mx.nd.array([[1, 2], [3, 4]])}},"
        " {'m': mx.nd.array([5])})\n"
        "print(1)"
    )
    arg, aux = mx.model.load_params(prefix, 3)
    assert_array_equal(arg["w"].asnumpy(), [[1, 2], [3, 4]])
    assert_array_equal(aux["m"].asnumpy(), [5])


def test_training_code_over_mxnet_executors():
    out = subprocess.run(
        [str(MXREF), str(ROOT / "tools" / "mxnet_hybrid.py"), "-x", "-k", "not seed_linear_regression"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(ROOT),
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]

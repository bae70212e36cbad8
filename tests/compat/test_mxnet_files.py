"""Files written by mxrs load in real MXNet 1.9.1, and the other way round.

Needs the reference virtualenv (``../mxref`` beside the repository, or ``$MXREF_PYTHON``);
skipped without it. Real MXNet runs in its own interpreter through a subprocess.
"""

import json
import os
import pickle
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
    """Run ``code`` under real MXNet; return what it prints as JSON."""
    out = subprocess.run([str(MXREF), "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


ARRAYS = {
    "f32": (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, "float32"),
    "f64": (np.array([1.5, -2.25, 3e300]), "float64"),
    "f16": (np.array([0.5, -1.0, 65504.0], dtype=np.float16), "float16"),
    "u8": (np.array([0, 7, 255], dtype=np.uint8), "uint8"),
    "i8": (np.array([-128, 0, 127], dtype=np.int8), "int8"),
    "i32": (np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32), "int32"),
    "i64": (np.array([2**40, -5], dtype=np.int64), "int64"),
    "big": (np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32), "float32"),
}


def test_mxrs_file_loads_in_mxnet(tmp_path):
    path = tmp_path / "from_mxrs.params"
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=d) for k, (v, d) in ARRAYS.items()})
    got = run_mxnet(
        "import json, mxnet as mx\n"
        f"r = mx.nd.load({str(path)!r})\n"
        "print(json.dumps({k: [str(v.dtype.__name__), list(v.shape), v.asnumpy().ravel().tolist()] "
        "for k, v in r.items()}))"
    )
    assert list(got) == list(ARRAYS)
    for k, (v, d) in ARRAYS.items():
        dtype, shape, values = got[k]
        assert dtype == d and tuple(shape) == v.shape
        assert_array_equal(np.array(values, dtype=d), v.ravel())


def test_mxrs_list_and_single_load_in_mxnet(tmp_path):
    lst, one = tmp_path / "list.params", tmp_path / "one.params"
    mx.nd.save(str(lst), [mx.nd.ones((2, 3)) * 2, mx.nd.arange(3, dtype="int64")])
    mx.nd.save(str(one), mx.nd.ones((4,)))
    got = run_mxnet(
        "import json, mxnet as mx\n"
        f"a = mx.nd.load({str(lst)!r}); b = mx.nd.load({str(one)!r})\n"
        "print(json.dumps([type(a).__name__, [x.asnumpy().tolist() for x in a], b[0].asnumpy().tolist()]))"
    )
    assert got == ["list", [[[2.0] * 3] * 2, [0, 1, 2]], [1.0] * 4]


def test_bytes_identical_to_mxnet(tmp_path):
    mine, theirs = tmp_path / "mine.params", tmp_path / "theirs.params"
    mx.nd.save(str(mine), {"a": mx.nd.ones((2, 3)) * 2, "b": mx.nd.arange(3, dtype="int64")})
    run_mxnet(
        "import json, mxnet as mx\n"
        f"mx.nd.save({str(theirs)!r}, {{'a': mx.nd.ones((2, 3)) * 2, 'b': mx.nd.arange(3, dtype='int64')}})\n"
        "print(json.dumps(0))"
    )
    assert mine.read_bytes() == theirs.read_bytes()


def test_mxnet_file_loads_in_mxrs(tmp_path):
    path = tmp_path / "from_mxnet.params"
    run_mxnet(
        "import json, numpy as np, mxnet as mx\n"
        "x = mx.nd.array(np.arange(24).reshape(2, 3, 4), dtype='float16')\n"
        f"mx.nd.save({str(path)!r}, {{'x': x, 'y': mx.nd.ones((5,), dtype='int32') * 7}})\n"
        "print(json.dumps(0))"
    )
    r = mx.nd.load(str(path))
    assert r["x"].dtype == np.float16 and r["x"].shape == (2, 3, 4)
    assert_array_equal(r["x"].asnumpy(), np.arange(24).reshape(2, 3, 4).astype(np.float16))
    assert_array_equal(r["y"].asnumpy(), [7] * 5)


def test_pickle_payload_matches_mxnet():
    a = mx.nd.array([[1, 2], [3, 4]])
    state = a.__getstate__()["handle"]
    got = run_mxnet(
        "import json, mxnet as mx\n"
        "a = mx.nd.array([[1, 2], [3, 4]])\n"
        "print(json.dumps(list(a.__getstate__()['handle'])))"
    )
    assert list(state) == got
    assert_array_equal(pickle.loads(pickle.dumps(a)).asnumpy(), [[1, 2], [3, 4]])

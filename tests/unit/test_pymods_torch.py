"""mx.th / mx.torch: PyTorch functions on NDArrays through DLPack.

The project's venv has no torch: the checks with torch run in a subprocess that adds the
reference PyTorch venv (``../torchref``, same Python) to ``sys.path``, and are skipped when that
does not import cleanly.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import mxrs as mx
import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH_SITE = os.environ.get(
    "MXRS_TORCHREF_SITE", os.path.join(os.path.dirname(ROOT), "torchref", "lib", "python3.11", "site-packages")
)
if not os.path.isdir(TORCH_SITE):
    TORCH_SITE = "/work/torchref/lib/python3.11/site-packages"


def test_both_names_one_module():
    assert mx.th is mx.torch
    import mxrs.th  # noqa: PLC0415 - the import path is what is tested

    assert mxrs.th is mx.torch
    assert "th" in mx.__all__ and "torch" in mx.__all__


@pytest.mark.skipif(HAVE_TORCH, reason="torch is importable here")
def test_without_torch_says_so():
    assert not hasattr(mx.th, "abs")
    with pytest.raises(mx.th.TorchNotFound, match=r"mx.th.abs runs PyTorch functions.*pip install torch") as info:
        mx.th.abs(mx.nd.ones((2,)))
    assert isinstance(info.value, mx.base.MXNetError) and isinstance(info.value, AttributeError)
    for private in ("__wrapped__", "_private"):
        with pytest.raises(AttributeError) as info:
            getattr(mx.th, private)  # private names never import torch
        assert not isinstance(info.value, mx.base.MXNetError)
    assert "torch" not in sys.modules


CHECKS = textwrap.dedent(
    """
    import json, sys, warnings
    if sys.argv[1]:
        sys.path.append(sys.argv[1])
    import torch
    import mxrs as mx
    import numpy as np

    out = {}
    x = mx.nd.array([[1, -2], [3, -4]])
    out["abs"] = mx.th.abs(x).asnumpy().tolist()
    out["abs_type"] = type(mx.th.abs(x)).__name__
    vals, idx = mx.th.max(x, 1)
    out["max"] = [vals.asnumpy().tolist(), idx.asnumpy().tolist(), np.dtype(idx.dtype).name]
    out["matmul"] = mx.th.matmul(x, mx.nd.array([[1], [1]])).asnumpy().tolist()
    y = mx.nd.zeros((2, 2))
    r = mx.th.mul(x, 2, out=y)
    out["out"] = [r is y, y.asnumpy().tolist()]
    # Inputs are views: an in-place torch function changes the NDArray ...
    z = mx.nd.array([-1.5, 2.0]) * 1  # an engine op still pending is waited for
    mx.th.abs_(z)
    out["inplace"] = z.asnumpy().tolist()
    # ... and a contiguous result that views an input shares its memory.
    v = mx.th.narrow(x, 0, 0, 1)
    v[:] = 9
    out["view"] = x.asnumpy().tolist()
    t = mx.th.t(mx.nd.array([[1, 2, 3]]))  # a transposed view comes back (copied) right
    out["t"] = [t.shape, t.asnumpy().ravel().tolist()]
    out["cat"] = mx.th.cat([x, x], dim=0).shape
    out["sum"] = float(mx.th.sum(x).asnumpy())
    out["gt"] = [np.dtype(mx.th.gt(x, 3).dtype).name, mx.th.gt(x, 3).asnumpy().tolist()]
    out["size"] = mx.th.broadcast_shapes((2, 1), (1, 3))
    out["int"] = [mx.th.numel(x), mx.th.is_tensor(x)]
    errs = {}
    try:
        mx.th.matmul(x, mx.nd.ones((3, 3)))
    except mx.base.MXNetError as e:
        errs["matmul"] = str(e)
    try:
        mx.th.abs(x, nonsense=1)
    except mx.base.MXNetError as e:
        errs["kw"] = [type(e).__name__, isinstance(e, TypeError), str(e)]
    try:
        mx.th.nosuchfn
    except AttributeError as e:
        errs["missing"] = [type(e).__name__, isinstance(e, mx.base.MXNetError), str(e)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mx.th.mul(x, 2, out=mx.nd.zeros((3,)))
        except mx.base.MXNetError as e:
            errs["out"] = str(e)
    out["errors"] = errs
    out["dir"] = "matmul" in dir(mx.th)
    print("RESULT" + json.dumps(out))
    """
)


def _torch_site():
    """'' when torch imports here, the reference venv's site-packages when it imports from
    there under this Python, else None."""
    if HAVE_TORCH:
        return ""
    if not os.path.isdir(TORCH_SITE):
        return None
    code = f"import sys; sys.path.append({TORCH_SITE!r}); import torch; torch.ones(1)"
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return None
    return TORCH_SITE if p.returncode == 0 else None


@pytest.fixture(scope="module")
def torch_results():
    site = _torch_site()
    if site is None:
        pytest.skip("PyTorch is not importable under this Python (not here, not from ../torchref)")
    p = subprocess.run(
        [sys.executable, "-c", CHECKS, site], capture_output=True, text=True, timeout=240, check=False, cwd=ROOT
    )
    assert p.returncode == 0, p.stdout + p.stderr
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT") :])


def test_torch_functions_on_ndarrays(torch_results):
    r = torch_results
    assert r["abs"] == [[1, 2], [3, 4]] and r["abs_type"] == "NDArray"
    assert r["max"] == [[1, 3], [0, 0], "int64"]
    assert r["matmul"] == [[-1], [-1]]
    assert r["out"] == [True, [[2, -4], [6, -8]]]
    assert r["cat"] == [4, 2] and r["sum"] == 17  # x is [[9, 9], [3, -4]] by then
    assert r["gt"] == ["bool", [[True, True], [False, False]]]
    assert r["size"] == [2, 3] and r["int"] == [4, True]
    assert r["t"] == [[3, 1], [1, 2, 3]]
    assert r["dir"]


def test_torch_views_share_memory(torch_results):
    assert torch_results["inplace"] == [1.5, 2.0]
    assert torch_results["view"] == [[9, 9], [3, -4]]


def test_torch_errors(torch_results):
    e = torch_results["errors"]
    assert e["matmul"].startswith("RuntimeError: mx.th.matmul(NDArray(2, 2), NDArray(3, 3)): ")
    assert "cannot be multiplied" in e["matmul"]
    assert e["kw"][:2] == ["MXNetTypeError", True] and "mx.th.abs(NDArray(2, 2), nonsense=1)" in e["kw"][2]
    assert e["missing"] == [
        "MXNetAttributeError",
        True,
        f"mx.th.nosuchfn: PyTorch {e['missing'][2].split()[2]} has no function torch.nosuchfn",
    ]
    assert "mx.th.mul(NDArray(2, 2), 2)" in e["out"]

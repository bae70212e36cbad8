"""The optimizer-family and AMP ops (``ftml_update``, ``lamb_update_phase1/2``, ``multi_sgd_*``,
``preloaded_multi_*``, ``multi_sum_sq``, ``multi_lars``, ``all_finite``, ``reset_arrays``,
``amp_cast``, ``amp_multicast``, ``_adamw_update``...) against real MXNet 1.9.1
(``tests/data/ops_optops_golden.json``, written by ``tools/golden/cases_optops.py``)."""

import json
import math
from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from mxrs.base import MXNetError

CASES = json.loads((Path(__file__).parents[1] / "data" / "ops_optops_golden.json").read_text())


def _np(enc):
    return np.array(enc["values"], dtype=np.float64).reshape(enc["shape"]).astype(enc["dtype"])


def _tol(dtype):
    return {"float16": (2e-3, 2e-3), "float64": (1e-10, 1e-10)}.get(dtype, (2e-5, 1e-6))


def _check(got, want, what):
    assert got.dtype == np.dtype(want["dtype"]), f"{what}: dtype {got.dtype} vs {want['dtype']}"
    assert list(got.shape) == want["shape"], what
    rtol, atol = _tol(want["dtype"])
    np.testing.assert_allclose(got.astype(np.float64), _np(want).astype(np.float64), rtol=rtol, atol=atol, err_msg=what)


def _op(name):
    return getattr(mx.nd, name)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_op_matches_mxnet(case):
    arrs = [mx.nd.array(_np(e), dtype=e["dtype"]) for e in case["inputs"]]
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in case["attrs"].items()}
    kw = {}
    if case["out"]:
        kw["out"] = [mx.nd.zeros(tuple(o["shape"]), dtype=o["dtype"]) for o in case["outputs"]]
    res = _op(case["op"])(*arrs, **attrs, **kw)
    res = res if isinstance(res, (list, tuple)) else [res]
    assert len(res) == len(case["outputs"])
    if case["name"] == "adamw_skip":
        # A skipped update leaves MXNet's fresh output unwritten (garbage); mxrs gives the weight.
        np.testing.assert_array_equal(res[0].asnumpy(), _np(case["inputs"][0]))
    else:
        for i, (r, want) in enumerate(zip(res, case["outputs"], strict=True)):
            _check(r.asnumpy(), want, f"{case['name']} output {i}")
    # Inputs after the call: the states updated in place, the rest unchanged.
    for i, (a, want) in enumerate(zip(arrs, case["after"], strict=True)):
        _check(a.asnumpy(), want, f"{case['name']} input {i} after the call")


def test_update_with_out_weight_is_in_place():
    w = mx.nd.array([1.0, -2.0, 3.0])
    g = mx.nd.array([0.5, 1.0, -1.0])
    d, v, z = (mx.nd.zeros((3,)) for _ in range(3))
    mx.nd.ftml_update(w, g, d, v, z, lr=0.1, t=1, out=w)
    # t=1 and zero states: v = (1-b2) g^2, d = (1-b1)/lr * (|g| + eps), z = (1-b1) g - d w.
    gg = np.array([0.5, 1.0, -1.0])
    w0 = np.array([1.0, -2.0, 3.0])
    dd = (1 - 0.6) / 0.1 * (np.sqrt((1 - 0.999) * gg**2 / (1 - 0.999)) + 1e-8)
    zz = (1 - 0.6) * gg - dd * w0
    np.testing.assert_allclose(w.asnumpy(), -zz / dd, rtol=1e-5)
    np.testing.assert_allclose(d.asnumpy(), dd, rtol=1e-5)
    np.testing.assert_allclose(z.asnumpy(), zz, rtol=1e-5)


def test_multi_sgd_list_out_updates_every_weight():
    ws = [mx.nd.ones((2, 2)), mx.nd.ones((3,))]
    gs = [mx.nd.ones((2, 2)), mx.nd.full((3,), 2.0)]
    moms = [mx.nd.zeros((2, 2)), mx.nd.zeros((3,))]
    data = [x for t in zip(ws, gs, moms, strict=True) for x in t]
    for _ in range(2):
        mx.nd.multi_sgd_mom_update(*data, lrs=(0.1, 0.2), wds=(0.0, 0.0), momentum=0.9, num_weights=2, out=ws)
    # mom1 = -lr g, mom2 = 0.9 mom1 - lr g = -1.9 lr g; w = 1 - 2.9 lr g
    np.testing.assert_allclose(ws[0].asnumpy(), np.full((2, 2), 1 - 0.29), rtol=1e-6)
    np.testing.assert_allclose(ws[1].asnumpy(), np.full((3,), 1 - 2.9 * 0.4), rtol=1e-6)
    np.testing.assert_allclose(moms[1].asnumpy(), np.full((3,), -1.9 * 0.4), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_multi_sgd_mom_update_large_weights_split_over_threads(dtype):
    """Weights long enough to be split over the threads (the kernel works in chunks), an odd
    length with a partial last chunk, clipping and weight decay, against the formula."""
    rng = np.random.default_rng(3)
    n = (1 << 19) + 77
    w0, g0, m0 = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    w1, g1 = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
    m1 = np.zeros(1000, dtype)
    arrs = [mx.nd.array(a, dtype=dtype) for a in (w0, g0, m0, w1, g1, m1)]
    kw = dict(lrs=(0.1, 0.05), wds=(0.01, 0.0), momentum=0.9, rescale_grad=0.5, clip_gradient=0.3, num_weights=2)
    outs = mx.nd.multi_sgd_mom_update(*arrs, out=[arrs[0], arrs[3]], **kw)
    assert len(outs) == 2
    groups = (((w0, g0, m0), 0.1, 0.01, 0, 2), ((w1, g1, m1), 0.05, 0.0, 3, 5))
    for (w, g, m), lr, wd, wa, ma in groups:
        c = w.astype(np.float64 if dtype == "float64" else np.float32)
        g = np.clip(0.5 * g.astype(c.dtype), -0.3, 0.3)
        mom = 0.9 * m.astype(c.dtype) - lr * wd * c - lr * g
        tol = 1e-3 if dtype == "float16" else 1e-6
        np.testing.assert_allclose(arrs[ma].asnumpy().astype(np.float64), mom, rtol=tol, atol=tol)
        np.testing.assert_allclose(arrs[wa].asnumpy().astype(np.float64), c + mom, rtol=tol, atol=tol)


def test_reset_arrays_and_all_finite():
    a, b = mx.nd.ones((2, 3)), mx.nd.full((4,), 5.0, dtype="float64")
    assert mx.nd.reset_arrays(a, b, num_arrays=2) == []
    assert a.asnumpy().sum() == 0 and b.asnumpy().sum() == 0 and b.dtype == np.float64
    assert mx.nd.multi_all_finite(a, b, num_arrays=2).asscalar() == 1.0
    big = mx.nd.array([1e300], dtype="float64")  # not finite as float32, as in MXNet's kernel
    assert mx.nd.all_finite(big).asscalar() == 0.0


def test_amp_cast_dtypes_and_gradient():
    x = mx.nd.array([1.5, -2.25], dtype="float32")
    assert mx.nd.amp_cast(x, dtype="float16").dtype == np.float16
    i = mx.nd.array([1, 2], dtype="int32")
    assert mx.nd.amp_cast(i, dtype="float16").dtype == np.int32
    outs = mx.nd.amp_multicast(mx.nd.ones((2,), dtype="float16"), x, num_outputs=2)
    assert [o.dtype for o in outs] == [np.float32, np.float32]
    outs = mx.nd.amp_multicast(mx.nd.ones((2,), dtype="float16"), x, num_outputs=2, cast_narrow=True)
    assert [o.dtype for o in outs] == [np.float16, np.float16]
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.amp_cast(x, dtype="float16")
    y.backward(mx.nd.array([2.0, 3.0], dtype="float16"))
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.asnumpy(), [2.0, 3.0])


def test_symbols_infer_shapes_and_types():
    w0, g0, w1, g1 = (mx.sym.var(n) for n in ("w0", "g0", "w1", "g1"))
    s = mx.sym.multi_sgd_update(w0, g0, w1, g1, lrs=(0.1, 0.2), wds=(0.0, 0.0), num_weights=2)
    assert len(s.list_outputs()) == 2
    _, out_shapes, _ = s.infer_shape(w0=(2, 3), g0=(2, 3), w1=(4,), g1=(4,))
    assert out_shapes == [(2, 3), (4,)]
    ss = mx.sym.multi_sum_sq(w0, w1, num_arrays=2)
    _, out_shapes, _ = ss.infer_shape(w0=(2, 3), w1=(4,))
    assert out_shapes == [(2,)]
    _, out_types, _ = ss.infer_type(w0=np.float16, w1=np.float16)
    assert out_types == [np.float32]


def _raises(fn, op):
    with pytest.raises(MXNetError) as e:
        fn()
    assert op in str(e.value), str(e.value)
    return str(e.value)


def test_bad_inputs_raise_errors_naming_the_op():
    w, g = mx.nd.ones((2, 3)), mx.nd.ones((2, 3))
    # Wrong number of inputs for num_weights.
    _raises(lambda: mx.nd.multi_sgd_update(w, g, w, lrs=(0.1, 0.1), wds=(0, 0), num_weights=2), "multi_sgd_update")
    # lrs does not match num_weights.
    msg = _raises(lambda: mx.nd.multi_sgd_update(w, g, lrs=(0.1, 0.2), wds=(0,), num_weights=1), "multi_sgd_update")
    assert "lrs" in msg
    # Mismatched shapes inside a group.
    msg = _raises(
        lambda: mx.nd.multi_sgd_mom_update(w, g, mx.nd.ones((3,)), lrs=(0.1,), wds=(0,)), "multi_sgd_mom_update"
    )
    assert "(3,)" in msg or "(3)" in msg
    _raises(lambda: mx.nd.ftml_update(w, g, w, w, mx.nd.ones((3, 2)), lr=0.1, t=1), "ftml_update")
    _raises(lambda: mx.nd.ftml_update(w, g, w, w, w, lr=0.1), "ftml_update")  # t is required
    _raises(lambda: mx.nd.lamb_update_phase2(w, g, mx.nd.ones((2,)), mx.nd.ones((1,)), lr=0.1), "lamb_update_phase2")
    _raises(lambda: mx.nd.lamb_update_phase1(w, g, w, w, t=1), "lamb_update_phase1")  # wd is required
    _raises(
        lambda: mx.nd.mp_lamb_update_phase1(w, g, w, w, mx.nd.ones((2, 3), dtype="float16"), t=1, wd=0),
        "mp_lamb_update_phase1",
    )
    _raises(
        lambda: mx.nd.preloaded_multi_sgd_update(w, g, mx.nd.ones((2,)), mx.nd.ones((1,)), num_weights=1),
        "preloaded_multi_sgd_update",
    )
    _raises(lambda: mx.nd.multi_sum_sq(w, w, num_arrays=3), "multi_sum_sq")
    _raises(lambda: mx.nd.multi_lars(w, w, w, w.astype("float64"), eta=1, eps=0), "multi_lars")
    _raises(lambda: mx.nd.amp_multicast(w, w, num_outputs=3), "amp_multicast")
    _raises(lambda: mx.nd.reset_arrays(w, num_arrays=0), "reset_arrays")
    _raises(lambda: mx.nd._adamw_update(w, g, w, w, mx.nd.ones((2,)), lr=0.1, eta=1), "_adamw_update")


def test_adamw_contrib_aliases():
    w, g = mx.nd.ones((3,)), mx.nd.full((3,), 0.5)
    m, v = mx.nd.zeros((3,)), mx.nd.zeros((3,))
    out = mx.nd._contrib_adamw_update(w, g, m, v, mx.nd.array([1.0]), lr=0.1, eta=1.0)
    # mean = 0.1 g, var = 0.001 g^2: w - lr * mean / sqrt(var) = 1 - 0.1 * 0.1 / sqrt(0.001)
    np.testing.assert_allclose(out.asnumpy(), np.full((3,), 1 - 0.01 / math.sqrt(0.001)), rtol=1e-4)


def test_multi_all_finite_without_init_output_only_clears_out():
    out = mx.nd.ones((1,))
    bad = mx.nd.array([1.0, float("nan")])
    good = mx.nd.ones((3,))
    mx.nd.multi_all_finite(bad, num_arrays=1, init_output=False, out=out)
    assert out.asscalar() == 0.0
    # A later finite chunk keeps the overflow seen before (MXNet's loss scaler checks in chunks).
    mx.nd.multi_all_finite(good, good, num_arrays=2, init_output=False, out=out)
    assert out.asscalar() == 0.0
    out = mx.nd.ones((1,))
    mx.nd.all_finite(good, init_output=False, out=out)
    assert out.asscalar() == 1.0
    assert mx.nd.all_finite(bad).asscalar() == 0.0

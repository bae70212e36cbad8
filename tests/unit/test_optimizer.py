"""Optimizers, fused update ops and learning-rate schedules against real MXNet 1.9.1.

Golden data: tests/data/optimizer_golden.json, made by tools/golden/optimizers.py with the
reference venv (fixed weight and gradients, several steps each).
"""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "optimizer_golden.json").read_text())


def _kwargs(kw):
    kw = dict(kw)
    if "lr_scheduler" in kw:
        kind, skw = kw["lr_scheduler"]
        kw["lr_scheduler"] = {"factor": mx.lr_scheduler.FactorScheduler}[kind](**skw)
    if "param_idx2name" in kw:
        kw["param_idx2name"] = {int(k): v for k, v in kw["param_idx2name"].items()}
    return kw


@pytest.mark.parametrize("case", GOLDEN["optimizers"], ids=lambda c: f"{c['name']}-{sorted(c['kwargs'])}")
def test_optimizer_matches_mxnet(case):
    kw = _kwargs(case["kwargs"])
    dtype = kw.pop("dtype", "float32")
    opt = mx.optimizer.create(case["name"], **kw)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(np.array(GOLDEN["weight0"]), dtype=dtype)
    tol = 2e-3 if dtype == "float16" else 2e-5
    for step, (g, want) in enumerate(zip(GOLDEN["grads"], case["weights"], strict=True)):
        upd(0, mx.nd.array(np.array(g), dtype=dtype), w)
        assert w.dtype == np.dtype(dtype)
        assert_allclose(w.asnumpy().astype(np.float64), np.array(want), rtol=tol, atol=tol, err_msg=f"step {step}")


@pytest.mark.parametrize("case", GOLDEN["ops"], ids=lambda c: c["name"])
def test_fused_update_op_matches_mxnet(case):
    w = mx.nd.array(np.array(GOLDEN["weight0"]))
    states = [mx.nd.array(np.array(s)) for s in case["states0"]]
    op = getattr(mx.nd, case["name"])
    for g, want in zip(GOLDEN["grads3"], case["steps"], strict=True):
        res = op(w, mx.nd.array(np.array(g)), *states, out=w, **case["attrs"])
        assert res is w
        for got, exp in zip([w, *states], want, strict=True):
            assert_allclose(got.asnumpy(), np.array(exp), rtol=1e-5, atol=1e-6)


def test_fused_op_without_out_leaves_weight_and_updates_states():
    w = mx.nd.ones((4,))
    mom = mx.nd.zeros((4,))
    new = mx.nd.sgd_mom_update(w, mx.nd.ones((4,)), mom, lr=0.5, momentum=0.9)
    assert_allclose(new.asnumpy(), np.full(4, 0.5))
    assert_allclose(w.asnumpy(), np.ones(4))
    assert_allclose(mom.asnumpy(), np.full(4, -0.5))


def test_mp_sgd_keeps_float32_master():
    w = mx.nd.ones((5,), dtype="float16")
    w32 = w.astype("float32")
    mom = mx.nd.zeros((5,), dtype="float32")
    for _ in range(3):
        mx.nd.mp_sgd_mom_update(w, mx.nd.ones((5,), dtype="float16") * 1e-3, mom, w32, lr=0.1, momentum=0.9, out=w)
    assert w.dtype == np.float16 and w32.dtype == np.float32
    want = 1 - 1e-4 * (1 + 1.9 + 2.71)
    assert_allclose(w32.asnumpy(), np.full(5, want), rtol=1e-6)
    assert_allclose(w.asnumpy().astype(np.float32), np.full(5, want), rtol=1e-3)


@pytest.mark.skipif(IS_MXNET, reason="mxrs error kinds")
def test_fused_op_bad_input():
    w = mx.nd.ones((3,))
    with pytest.raises(mx.base.ShapeError, match="sgd_mom_update"):
        mx.nd.sgd_mom_update(w, mx.nd.ones((3,)), mx.nd.zeros((4,)), lr=0.1)
    with pytest.raises(mx.base.MXNetValueError, match="lr"):
        mx.nd.sgd_update(w, mx.nd.ones((3,)))
    with pytest.raises(mx.base.DTypeError):
        mx.nd.mp_sgd_update(w, mx.nd.ones((3,)), mx.nd.ones((3,), dtype="float64"), lr=0.1)


@pytest.mark.parametrize("case", GOLDEN["schedulers"], ids=lambda c: f"{c['class']}-{sorted(c['kwargs'])}")
def test_lr_scheduler_matches_mxnet(case):
    s = getattr(mx.lr_scheduler, case["class"])(**case["kwargs"])
    got = [s(n) for n in range(len(case["lrs"]))]
    assert_allclose(got, case["lrs"], rtol=1e-12, atol=1e-15)


def test_lr_scheduler_bad_input():
    with pytest.raises(ValueError):
        mx.lr_scheduler.FactorScheduler(step=0)
    with pytest.raises(ValueError):
        mx.lr_scheduler.FactorScheduler(step=2, factor=1.5)
    with pytest.raises(ValueError):
        mx.lr_scheduler.MultiFactorScheduler(step=[3, 2])
    with pytest.raises(ValueError):
        mx.lr_scheduler.CosineScheduler(max_update=10, base_lr=0.1, warmup_begin_lr=0.5, warmup_steps=2)


def test_kvstore_with_optimizer_matches_mxnet():
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=0.25))
    kv.init("w", mx.nd.array(np.array(GOLDEN["weight0"])))
    for g, want in zip(GOLDEN["grads5"], GOLDEN["kvstore_sgd"], strict=True):
        g = np.array(g, dtype=np.float32)
        kv.push("w", [mx.nd.array(g * (i + 1), ctx=mx.cpu(i)) for i in range(4)])
        res = mx.nd.zeros(tuple(GOLDEN["shape"]))
        kv.pull("w", out=res)
        assert_allclose(res.asnumpy(), np.array(want), rtol=1e-5, atol=1e-6)


def test_registry_and_multipliers():
    assert isinstance(mx.optimizer.create("SGD"), mx.optimizer.SGD)
    assert isinstance(mx.optimizer.create("rmsprop", centered=True), mx.optimizer.RMSProp)
    with pytest.raises(ValueError):
        mx.optimizer.create("no_such_optimizer")

    @mx.optimizer.register
    class MyOpt(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] -= self._get_lr(index) * grad

    opt = mx.optimizer.create("myopt", learning_rate=0.5, param_idx2name={0: "fc_weight", 1: "fc_bias"})
    opt.set_lr_mult({"fc_bias": 2.0})
    opt.wd = 0.1
    assert opt._get_lr(0) == 0.5 and opt._get_lr(1) == 1.0
    assert opt._get_wd(0) == pytest.approx(0.1) and opt._get_wd(1) == 0.0
    w = mx.nd.ones((2,))
    mx.optimizer.get_updater(opt)(1, mx.nd.ones((2,)), w)
    assert_allclose(w.asnumpy(), [0.0, 0.0])


def test_updater_states_roundtrip():
    opt = mx.optimizer.Adam(learning_rate=0.1)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.ones((3,))
    upd(0, mx.nd.ones((3,)), w)
    blob = upd.get_states(dump_optimizer=True)
    states, opt2 = pickle.loads(blob)
    assert isinstance(opt2, mx.optimizer.Adam) and set(states) == {0}
    upd2 = mx.optimizer.get_updater(mx.optimizer.Adam(learning_rate=0.1))
    upd2.set_states(upd.get_states())
    assert_allclose(upd2.states[0][0].asnumpy(), upd.states[0][0].asnumpy())
    w2 = w.copy()
    upd2.optimizer._index_update_count[0] = 1
    upd(0, mx.nd.ones((3,)), w)
    upd2(0, mx.nd.ones((3,)), w2)
    assert_allclose(w.asnumpy(), w2.asnumpy(), rtol=1e-6)

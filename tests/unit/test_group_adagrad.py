"""mx.nd.contrib.group_adagrad_update and mx.optimizer.contrib.GroupAdaGrad against MXNet 1.9.1
(tests/data/group_adagrad_golden.json, written by tools/golden/group_adagrad.py)."""

import json
import pathlib

import mxrs as mx
import numpy as np
import pytest

GOLD = json.loads((pathlib.Path(__file__).parents[1] / "data" / "group_adagrad_golden.json").read_text())
W0, G, H0 = (np.array(GOLD[k], dtype=np.float32) for k in ("w0", "g", "h0"))
ROWS = GOLD["rows"]


@pytest.mark.parametrize("case", GOLD["cases"], ids=lambda c: f"clip{c['clip']}")
def test_group_adagrad_update_row_sparse(case):
    w, h = mx.nd.array(W0), mx.nd.array(H0)
    grad = mx.nd.sparse.row_sparse_array((G[ROWS], ROWS), shape=G.shape)
    mx.nd.contrib.group_adagrad_update(
        w, grad, h, out=w, lr=0.3, rescale_grad=0.7, clip_gradient=case["clip"], epsilon=1e-3
    )
    np.testing.assert_allclose(w.asnumpy(), case["weight"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.asnumpy(), case["history"], rtol=1e-5, atol=1e-6)


def test_group_adagrad_update_dense_matches_formula():
    w, h = mx.nd.array(W0), mx.nd.array(H0)
    mx.nd.contrib.group_adagrad_update(w, mx.nd.array(G), h, out=w, lr=0.3, rescale_grad=0.7, epsilon=1e-3)
    g = G * 0.7
    h_want = H0 + (g * g).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(h.asnumpy(), h_want, rtol=1e-6)
    np.testing.assert_allclose(w.asnumpy(), W0 - 0.3 * g / np.sqrt(h_want + 1e-3), rtol=1e-5)


def test_group_adagrad_optimizer_steps():
    opt = mx.optimizer.contrib.GroupAdaGrad(learning_rate=0.2, eps=1e-4, rescale_grad=0.5)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0)
    for step, want in enumerate(GOLD["optimizer_steps"]):
        grad = mx.nd.array(G * (step + 1))
        if step == 1:
            grad = mx.nd.sparse.row_sparse_array(((G * 2)[ROWS], ROWS), shape=G.shape)
        upd(0, grad, w)
        np.testing.assert_allclose(w.asnumpy(), want, rtol=1e-5, atol=1e-6)
    assert isinstance(mx.optimizer.create("groupadagrad"), mx.optimizer.contrib.GroupAdaGrad)


def test_group_adagrad_bad_input():
    with pytest.raises(mx.base.MXNetError, match="group_adagrad_update.*2-d"):
        mx.nd.contrib.group_adagrad_update(mx.nd.ones((3,)), mx.nd.ones((3,)), mx.nd.ones((3, 1)), lr=0.1)
    with pytest.raises(mx.base.MXNetError, match="gradient shape"):
        mx.nd.contrib.group_adagrad_update(mx.nd.ones((3, 2)), mx.nd.ones((3, 4)), mx.nd.ones((3, 1)), lr=0.1)
    opt = mx.optimizer.contrib.GroupAdaGrad(wd=0.1)
    with pytest.raises(mx.base.MXNetError, match="weight decay"):
        opt.update(0, mx.nd.ones((2, 2)), mx.nd.ones((2, 2)), opt.create_state(0, mx.nd.ones((2, 2))))

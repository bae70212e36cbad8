"""gluon.loss against real MXNet 1.9.1: values and gradients w.r.t. the prediction.

Golden values: tests/fixtures/gluon_layers/loss.npz, written by gen_fixtures.py beside it.
"""

from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx

L = mx.gluon.loss
FIX = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "gluon_layers" / "loss.npz")

CASES = {
    "l1": lambda: L.L1Loss(),
    "l1_w_sw": lambda: L.L1Loss(weight=0.5),
    "l2": lambda: L.L2Loss(),
    "l2_w_sw": lambda: L.L2Loss(weight=3.0),
    "l2_reshape": lambda: L.L2Loss(),
    "sce_sparse": lambda: L.SoftmaxCrossEntropyLoss(),
    "sce_dense": lambda: L.SoftmaxCrossEntropyLoss(sparse_label=False),
    "sce_logits": lambda: L.SoftmaxCrossEntropyLoss(from_logits=True),
    "sce_axis1": lambda: L.SoftmaxCrossEntropyLoss(axis=1),
    "sce_sw": lambda: L.SoftmaxCELoss(),
    "sbce": lambda: L.SigmoidBinaryCrossEntropyLoss(),
    "sbce_fromsig": lambda: L.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True),
    "sbce_posw": lambda: L.SigmoidBCELoss(),
    "sbce_fromsig_posw": lambda: L.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True),
    "kldiv": lambda: L.KLDivLoss(),
    "kldiv_nologits": lambda: L.KLDivLoss(from_logits=False),
    "huber": lambda: L.HuberLoss(),
    "huber_rho": lambda: L.HuberLoss(rho=0.3),
    "hinge": lambda: L.HingeLoss(),
    "hinge_margin": lambda: L.HingeLoss(margin=0.5),
    "sqhinge": lambda: L.SquaredHingeLoss(),
    "logistic": lambda: L.LogisticLoss(),
    "logistic_binary": lambda: L.LogisticLoss(label_format="binary"),
    "triplet": lambda: L.TripletLoss(),
    "triplet_margin": lambda: L.TripletLoss(margin=0.2),
    "poisson": lambda: L.PoissonNLLLoss(),
    "poisson_full": lambda: L.PoissonNLLLoss(from_logits=False, compute_full=True),
    "cosine": lambda: L.CosineEmbeddingLoss(),
    "cosine_margin": lambda: L.CosineEmbeddingLoss(margin=0.1),
    "ctc": lambda: L.CTCLoss(),
    "ctc_tnc_len": lambda: L.CTCLoss(layout="TNC"),
}


def _inputs(case):
    """The case's arguments in call order (None where MXNet got None)."""
    n = max(int(k.split("/in")[1]) for k in FIX.files if k.startswith(case + "/in")) + 1
    return [mx.nd.array(FIX["%s/in%d" % (case, i)]) if "%s/in%d" % (case, i) in FIX.files else None for i in range(n)]


def _needs_ctc(case):
    if case.startswith("ctc") and not hasattr(mx.nd, "CTCLoss"):
        pytest.skip("the CTCLoss op is not in mxrs's registry yet")


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_value_matches_mxnet(case):
    _needs_ctc(case)
    loss = CASES[case]()
    out = loss(*_inputs(case))
    np.testing.assert_allclose(out.asnumpy(), FIX[case + "/out"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(c for c in CASES if c != "poisson_full"))
def test_loss_gradient_matches_mxnet(case):
    _needs_ctc(case)
    if not hasattr(mx, "autograd"):
        pytest.skip("mx.autograd is not merged yet")
    args = _inputs(case)
    args[0].attach_grad()
    with mx.autograd.record():
        out = CASES[case]()(*args)
    out.backward()
    np.testing.assert_allclose(args[0].grad.asnumpy(), FIX[case + "/grad"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "case",
    [
        "l2_w_sw",
        "sce_sparse",
        "sce_dense",
        "sbce",
        "huber",
        "logistic",
        "triplet",
        "cosine",
        "kldiv_nologits",
        "poisson_full",
    ],
)
def test_hybridized_equals_imperative(case):
    if IS_MXNET and case == "poisson_full":
        pytest.skip("MXNet 1.9.1's PoissonNLLLoss(compute_full=True) uses *= and cannot be hybridized")
    loss = CASES[case]()
    args = _inputs(case)
    imperative = loss(*args).asnumpy()
    loss.hybridize()
    np.testing.assert_allclose(loss(*args).asnumpy(), imperative, rtol=1e-6, atol=1e-7)


def test_loss_base_and_arguments():
    loss = L.L2Loss()
    assert repr(loss) == "L2Loss(batch_axis=0, w=1.0)"
    assert isinstance(loss, L.Loss) and isinstance(loss, mx.gluon.HybridBlock)
    with pytest.raises(ValueError):
        L.LogisticLoss(label_format="ternary")
    with pytest.raises((ValueError, AssertionError)):
        L.CTCLoss(layout="CNT")
    # batch_axis=1 averages over every other axis
    pred = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = L.L1Loss(batch_axis=1)(pred, mx.nd.zeros((2, 3)))
    np.testing.assert_allclose(out.asnumpy(), [1.5, 2.5, 3.5])

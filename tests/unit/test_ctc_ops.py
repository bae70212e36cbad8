"""CTCLoss and its aliases against real MXNet 1.9.1 (``ops_ctc_golden.json``): losses and the
gradient of the activations, with blank first or last and explicit data and label lengths."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

CASES = load("ctc")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name])


@pytest.mark.skipif(IS_MXNET, reason="the contrib names are not in MXNet 1.9.1's mx.nd")
def test_aliases():
    case = CASES["first"]
    data = mx.nd.array(np.array(case["inputs"]["data"]["data"]).reshape(case["inputs"]["data"]["shape"]))
    label = mx.nd.array(np.array(case["inputs"]["label"]["data"]).reshape(case["inputs"]["label"]["shape"]))
    want = case["outputs"][0]["data"]
    for name in ["CTCLoss", "ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"]:
        got = getattr(mx.nd, name)(data, label).asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=name)
    sym = mx.sym.ctc_loss(mx.sym.var("data"), mx.sym.var("label"), name="ctc")
    assert sym.list_arguments() == ["data", "label"]
    assert sym.list_outputs() == ["ctc_output"]
    assert sym.infer_shape(data=(6, 3, 5), label=(3, 3))[1] == [(3,)]


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 does not check labels (out-of-range labels read past the row)")
def test_bad_labels():
    data = mx.nd.zeros((4, 2, 3))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.CTCLoss(data, mx.nd.array([[1, 5], [1, 2]])).asnumpy()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.CTCLoss(data, mx.nd.array([[1, 2, 1]])).asnumpy()

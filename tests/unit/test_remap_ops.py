"""Index-map ops against real MXNet 1.9.1 (``ops_remap_golden.json``): reverse/flip,
depth_to_space, space_to_depth, Pad/pad, UpSampling (nearest), slice_like, diag and
SequenceMask/SequenceLast/SequenceReverse, forward and gradient."""

import numpy as np
import pytest
from _op_golden import check_forward, check_gradients, load
from _target import IS_MXNET, mx

CASES = load("remap")


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_mxnet(name):
    check_forward(CASES[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_mxnet(name):
    check_gradients(CASES[name], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1 crashes in SequenceLast's backward without sequence lengths")
def test_sequence_last_without_lengths():
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    np.testing.assert_array_equal(mx.nd.SequenceLast(mx.nd.array(x)).asnumpy(), x[-1])
    np.testing.assert_array_equal(mx.nd.SequenceLast(mx.nd.array(x), axis=1).asnumpy(), x[:, -1])


def test_integer_dtypes_and_symbols():
    x = mx.nd.array(np.arange(12).reshape(3, 4), dtype="int32")
    np.testing.assert_array_equal(mx.nd.flip(x, axis=1).asnumpy(), np.arange(12).reshape(3, 4)[:, ::-1])
    assert mx.nd.reverse(x, axis=0).dtype == np.int32
    np.testing.assert_array_equal(mx.nd.diag(x).asnumpy(), [0, 5, 10])
    sym = mx.sym.SequenceMask(mx.sym.var("x"), mx.sym.var("len"), use_sequence_length=True, name="m")
    assert sym.list_arguments() == ["x", "len"]
    assert sym.infer_shape(x=(5, 2, 3), len=(2,))[1] == [(5, 2, 3)]
    assert mx.sym.SequenceLast(mx.sym.var("x")).infer_shape(x=(5, 2, 3))[1] == [(2, 3)]
    assert mx.sym.depth_to_space(mx.sym.var("x"), block_size=2).infer_shape(x=(1, 8, 2, 3))[1] == [(1, 2, 4, 6)]


def test_bad_inputs():
    x = mx.nd.ones((1, 3, 4, 4))
    with pytest.raises(mx.base.MXNetError):
        mx.nd.depth_to_space(x, block_size=2).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.Pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 4, 4, 1, 1)).wait_to_read()
    with pytest.raises(mx.base.MXNetError):
        mx.nd.Pad(x, mode="constant", pad_width=(1, 1, 0, 0, 1, 1, 1, 1)).wait_to_read()

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


@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8"])
@pytest.mark.parametrize("axes", [0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2), (2, 2)])
def test_flip_matches_numpy(dtype, axes):
    # Rows are copied (reversed where the last axis flips), for any set of axes; an axis named
    # twice is flipped twice (MXNet 1.9.1 returns the data unchanged for axis=(1, 1)).
    if IS_MXNET and np.min(axes) < 0:
        pytest.skip("MXNet 1.9.1's flip rejects negative axes")
    x = np.arange(4 * 5 * 7).reshape(4, 5, 7).astype(dtype)
    got = mx.nd.flip(mx.nd.array(x, dtype=dtype), axis=axes).asnumpy()
    want = x
    for a in np.atleast_1d(axes):
        want = np.flip(want, axis=int(a))
    np.testing.assert_array_equal(got, want)
    # The gradient goes back through the same flips.
    a = mx.nd.array(x, dtype="float32")
    a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.flip(a, axis=axes)
    y.backward(mx.nd.array(np.arange(x.size).reshape(x.shape), dtype="float32"))
    gwant = np.arange(x.size).reshape(x.shape).astype("float32")
    for ax in np.atleast_1d(axes):
        gwant = np.flip(gwant, axis=int(ax))
    np.testing.assert_array_equal(a.grad.asnumpy(), gwant)
    np.testing.assert_array_equal(mx.nd.flip(mx.nd.array(x[0, 0], dtype=dtype), axis=0).asnumpy(), x[0, 0][::-1])

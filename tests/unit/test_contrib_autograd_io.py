"""mx.contrib.autograd (MXNet's first autograd interface) and mx.contrib.io.DataLoaderIter.

``MXRS_TEST_TARGET=mxnet`` runs this file against real MXNet 1.9.1, where it passes too.
"""

import numpy as np
import pytest
from _target import IS_MXNET, mx

cag = mx.contrib.autograd


def test_grad_and_loss_all_arguments():
    x = mx.nd.array([[1.0, -2.0], [0.5, 3.0]])
    y = mx.nd.array([[2.0, 1.0], [-1.0, 0.25]])

    def f(a, b):
        return mx.nd.sum(a * b + mx.nd.exp(a))

    grads, loss = cag.grad_and_loss(f)(x, y)
    xn, yn = x.asnumpy(), y.asnumpy()
    np.testing.assert_allclose(grads[0].asnumpy(), yn + np.exp(xn), rtol=1e-5)
    np.testing.assert_allclose(grads[1].asnumpy(), xn, rtol=1e-6)
    np.testing.assert_allclose(loss.asnumpy(), (xn * yn + np.exp(xn)).sum(), rtol=1e-5)


def test_grad_with_argnum():
    x = mx.nd.array([1.0, 2.0, 3.0])
    y = mx.nd.array([4.0, 5.0, 6.0])
    g = cag.grad(lambda a, b: a * a * b, argnum=[1])(x, y)
    assert len(g) == 1
    np.testing.assert_allclose(g[0].asnumpy(), [1.0, 4.0, 9.0])
    g0 = cag.grad(lambda a, b: a * a * b, argnum=0)(x, y)
    np.testing.assert_allclose(g0[0].asnumpy(), 2 * x.asnumpy() * y.asnumpy())


def test_sections_mark_variables_and_backward():
    x = mx.nd.array([1.0, 2.0])
    gx = mx.nd.zeros((2,))
    cag.mark_variables([x], [gx])
    with cag.train_section():
        assert mx.autograd.is_recording() and mx.autograd.is_training()
        y = x * x
        with cag.test_section():
            assert not mx.autograd.is_recording() and not mx.autograd.is_training()
    assert not mx.autograd.is_recording()
    cag.backward([y], [mx.nd.array([1.0, 10.0])])
    np.testing.assert_allclose(gx.asnumpy(), [2.0, 40.0])
    with cag.train_section():
        z = x * 3
    cag.compute_gradient([z])
    np.testing.assert_allclose(gx.asnumpy(), [3.0, 3.0])
    assert cag.set_is_training(False) is False


def test_dropout_runs_in_training_mode_inside_train_section():
    x = mx.nd.ones((200,))
    with cag.train_section():
        y = mx.nd.Dropout(x, p=0.5)
    assert (y.asnumpy() == 0).any()
    with cag.test_section():
        y = mx.nd.Dropout(x, p=0.5)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())


def test_bad_input():
    with pytest.raises(AssertionError if IS_MXNET else mx.base.MXNetError):
        cag.backward(mx.nd.ones((1,)))
    if not IS_MXNET:
        with pytest.raises(mx.base.MXNetError, match="NDArray"):
            cag.grad(lambda a: a)(3.0)


def test_dataloader_iter_pads_last_batch_and_trains_module():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (10, 4)).astype(np.float32)
    Y = (X.sum(axis=1) > 0).astype(np.float32)
    loader = mx.gluon.data.DataLoader(mx.gluon.data.ArrayDataset(X, Y), batch_size=4)
    it = mx.contrib.io.DataLoaderIter(loader)
    assert it.provide_data[0].shape == (4, 4) and it.provide_label[0].shape == (4,)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    np.testing.assert_allclose(batches[2].data[0].asnumpy()[:2], X[8:])
    np.testing.assert_allclose(batches[0].label[0].asnumpy(), Y[:4])
    it.reset()
    assert len(list(it)) == 3
    it.reset()
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2, name="fc"), name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(it, num_epoch=2, optimizer_params={"learning_rate": 0.1})
    assert mod.get_params()[0]["fc_weight"].shape == (2, 4)

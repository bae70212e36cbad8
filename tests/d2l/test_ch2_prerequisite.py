"""Chapter 2 (prerequisite): ndarray, autograd, lookup-api."""

from mxnet import autograd, nd


def test_ndarray():
    x = nd.arange(12)
    assert x.shape == (12,) and x.size == 12
    X = x.reshape((3, 4))
    assert nd.zeros((2, 3, 4)).shape == (2, 3, 4)
    assert nd.ones((3, 4)).sum().asscalar() == 12
    Y = nd.array([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    R = nd.random.normal(0, 1, shape=(3, 4))
    assert R.shape == (3, 4)
    assert (X + Y).asnumpy()[0].tolist() == [2, 2, 6, 6]
    assert (X * Y).asnumpy()[1].tolist() == [4, 10, 18, 28]
    assert abs((X / Y).asnumpy()[2, 3] - 11.0) < 1e-6
    assert abs(Y.exp().asnumpy()[0, 0] - 7.389056) < 1e-4
    assert nd.dot(X, Y.T).shape == (3, 3)
    assert nd.concat(X, Y, dim=0).shape == (6, 4) and nd.concat(X, Y, dim=1).shape == (3, 8)
    assert (X == Y).asnumpy().sum() == 2
    assert X.sum().asscalar() == 66
    assert abs(X.norm().asscalar() - 22.494444) < 1e-4
    # broadcasting
    A = nd.arange(3).reshape((3, 1))
    B = nd.arange(2).reshape((1, 2))
    assert (A + B).asnumpy().tolist() == [[0, 1], [1, 2], [2, 3]]
    # indexing
    assert X[1:3].shape == (2, 4)
    X[1, 2] = 9
    assert X[1, 2].asscalar() == 9
    X[1:2, :] = 12
    assert X[1].asnumpy().tolist() == [12] * 4
    # memory
    before = id(Y)
    Y = Y + X
    assert id(Y) != before
    Z = Y.zeros_like()
    before = id(Z)
    Z[:] = X + Y
    assert id(Z) == before
    nd.elemwise_add(X, Y, out=Z)
    assert id(Z) == before
    before = id(X)
    X += Y
    assert id(X) == before
    # numpy
    import numpy as np

    P = np.ones((2, 3))
    D = nd.array(P)
    assert isinstance(D.asnumpy(), np.ndarray) and D.asnumpy().sum() == 6


def test_autograd():
    x = nd.arange(4).reshape((4, 1))
    x.attach_grad()
    with autograd.record():
        y = 2 * nd.dot(x.T, x)
    y.backward()
    assert (x.grad - 4 * x).norm().asscalar() == 0
    assert not autograd.is_training()
    with autograd.record():
        assert autograd.is_training()

    def f(a):
        b = a * 2
        while b.norm().asscalar() < 1000:
            b = b * 2
        if b.sum().asscalar() > 0:
            c = b
        else:
            c = 100 * b
        return c

    a = nd.random.normal(shape=1)
    a.attach_grad()
    with autograd.record():
        c = f(a)
    c.backward()
    assert abs((a.grad - c / a).asscalar()) < 1e-4


def test_lookup_api(capsys):
    print(dir(nd.random))
    help(nd.ones_like)
    out = capsys.readouterr().out
    assert "uniform" in out and "normal" in out and "ones_like" in out

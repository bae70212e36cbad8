"""Chapter 3 (deep-learning basics), linear models: linear-regression, linear-regression-scratch,
linear-regression-gluon, fashion-mnist, softmax-regression-scratch, softmax-regression-gluon."""

import random
import sys
import time

import numpy as np
import pytest
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import data as gdata
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)


def test_linear_regression():
    a = nd.ones(shape=1000)
    b = nd.ones(shape=1000)
    start = time.time()
    c = nd.zeros(shape=1000)
    for i in range(1000):
        c[i] = a[i] + b[i]
    elapsed_loop = time.time() - start
    start = time.time()
    d = a + b
    assert elapsed_loop >= 0 and time.time() - start >= 0
    assert (c == d).sum().asscalar() == 1000
    a = nd.ones(shape=3)
    b = 10
    assert (a + b).asnumpy().tolist() == [11, 11, 11]


def synthetic_data(num_examples=1000):
    num_inputs = 2
    true_w = [2, -3.4]
    true_b = 4.2
    features = nd.random.normal(scale=1, shape=(num_examples, num_inputs))
    labels = true_w[0] * features[:, 0] + true_w[1] * features[:, 1] + true_b
    labels += nd.random.normal(scale=0.01, shape=labels.shape)
    return true_w, true_b, features, labels


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        j = nd.array(indices[i : min(i + batch_size, num_examples)])
        yield features.take(j), labels.take(j)


def test_linear_regression_scratch():
    true_w, true_b, features, labels = synthetic_data()
    d2l.set_figsize()
    d2l.plt.scatter(features[:, 1].asnumpy(), labels.asnumpy(), 1)
    batch_size = 10
    for X, y in data_iter(batch_size, features, labels):
        assert X.shape == (10, 2) and y.shape == (10,)
        break
    w = nd.random.normal(scale=0.01, shape=(2, 1))
    b = nd.zeros(shape=(1,))
    w.attach_grad()
    b.attach_grad()

    def linreg(X, w, b):
        return nd.dot(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        for param in params:
            param[:] = param - lr * param.grad / batch_size

    lr, num_epochs = 0.03, 3
    net, loss = linreg, squared_loss
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            with autograd.record():
                batch_loss = loss(net(X, w, b), y)
            batch_loss.backward()
            sgd([w, b], lr, batch_size)
        train_l = loss(net(features, w, b), labels)
        print(f"epoch {epoch + 1}, loss {train_l.mean().asnumpy()}")
    assert train_l.mean().asscalar() < 1e-3
    assert abs(w[0].asscalar() - true_w[0]) < 0.01 and abs(b.asscalar() - true_b) < 0.01


def test_linear_regression_gluon():
    true_w, true_b, features, labels = synthetic_data()
    batch_size = 10
    dataset = gdata.ArrayDataset(features, labels)
    data_iter = gdata.DataLoader(dataset, batch_size, shuffle=True)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    loss = gloss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.03})
    for epoch in range(1, 4):
        for X, y in data_iter:
            with autograd.record():
                batch_loss = loss(net(X), y)
            batch_loss.backward()
            trainer.step(batch_size)
        epoch_loss = loss(net(features), labels)
        print(f"epoch {epoch}, loss: {epoch_loss.mean().asnumpy()}")
    dense = net[0]
    assert abs(dense.weight.data()[0, 1].asscalar() - true_w[1]) < 0.01
    assert abs(dense.bias.data().asscalar() - true_b) < 0.01


def test_fashion_mnist():
    mnist_train = gdata.vision.FashionMNIST(train=True)
    mnist_test = gdata.vision.FashionMNIST(train=False)
    assert len(mnist_train) == 2000 and len(mnist_test) == 500
    feature, label = mnist_train[0]
    assert feature.shape == (28, 28, 1) and feature.dtype == np.uint8
    assert type(label).__name__ == "int32" and label.dtype == "int32"
    X, y = mnist_train[0:9]
    d2l.show_fashion_mnist(X, d2l.get_fashion_mnist_labels(y))
    batch_size = 256
    transformer = gdata.vision.transforms.ToTensor()
    num_workers = 0 if sys.platform.startswith("win32") else 4
    train_iter = gdata.DataLoader(
        mnist_train.transform_first(transformer), batch_size, shuffle=True, num_workers=num_workers
    )
    start = time.time()
    n = 0
    for X, _y in train_iter:
        assert X.shape[1:] == (1, 28, 28) and X.dtype == np.float32
        assert float(X.max().asscalar()) <= 1.0
        n += X.shape[0]
    print(f"{time.time() - start:.2f} sec")
    assert n == 2000


def test_softmax_regression_scratch():
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    num_inputs, num_outputs = 784, 10
    W = nd.random.normal(scale=0.01, shape=(num_inputs, num_outputs))
    b = nd.zeros(num_outputs)
    W.attach_grad()
    b.attach_grad()
    X = nd.array([[1, 2, 3], [4, 5, 6]])
    assert X.sum(axis=0, keepdims=True).shape == (1, 3)

    def softmax(X):
        X_exp = X.exp()
        partition = X_exp.sum(axis=1, keepdims=True)
        return X_exp / partition

    X_prob = softmax(nd.random.normal(shape=(2, 5)))
    assert abs(X_prob.sum(axis=1).asnumpy() - 1).max() < 1e-5

    def net(X):
        return softmax(nd.dot(X.reshape((-1, num_inputs)), W) + b)

    y_hat = nd.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = nd.array([0, 2], dtype="int32")
    assert nd.pick(y_hat, y).asnumpy().tolist() == [0.10000000149011612, 0.5]

    def cross_entropy(y_hat, y):
        return -nd.pick(y_hat, y).log()

    def accuracy(y_hat, y):
        return (y_hat.argmax(axis=1) == y.astype("float32")).mean().asscalar()

    assert accuracy(y_hat, y) == 0.5
    assert 0 <= d2l.evaluate_accuracy(test_iter, net) <= 1
    num_epochs, lr = 3, 0.1
    d2l.train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, batch_size, [W, b], lr)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.6
    X, y = next(iter(test_iter))
    true_labels = d2l.get_fashion_mnist_labels(y.asnumpy())
    pred_labels = d2l.get_fashion_mnist_labels(net(X).argmax(axis=1).asnumpy())
    titles = [true + "\n" + pred for true, pred in zip(true_labels, pred_labels)]
    d2l.show_fashion_mnist(X[0:9], titles[0:9])


def test_softmax_regression_gluon():
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    loss = gloss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    num_epochs = 3
    d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, None, None, trainer)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.6

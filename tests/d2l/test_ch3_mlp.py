"""Chapter 3 (deep-learning basics), multilayer perceptrons: mlp, mlp-scratch, mlp-gluon,
underfit-overfit, weight-decay, dropout, kaggle-house-price."""

import numpy as np
import pytest
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import data as gdata
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)
pd = pytest.importorskip("pandas")


def xyplot(x_vals, y_vals, name):
    d2l.set_figsize(figsize=(5, 2.5))
    d2l.plt.plot(x_vals.asnumpy(), y_vals.asnumpy())
    d2l.plt.xlabel("x")
    d2l.plt.ylabel(name + "(x)")


def test_mlp():
    x = nd.arange(-8.0, 8.0, 0.1)
    x.attach_grad()
    with autograd.record():
        y = x.relu()
    xyplot(x, y, "relu")
    y.backward()
    xyplot(x, x.grad, "grad of relu")
    assert x.grad.asnumpy().tolist() == (x.asnumpy() > 0).astype("float32").tolist()
    with autograd.record():
        y = x.sigmoid()
    y.backward()
    s = 1 / (1 + np.exp(-x.asnumpy()))
    np.testing.assert_allclose(x.grad.asnumpy(), s * (1 - s), rtol=1e-4, atol=1e-6)
    with autograd.record():
        y = x.tanh()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 1 - np.tanh(x.asnumpy()) ** 2, rtol=1e-4, atol=1e-6)
    xyplot(x, x.grad, "grad of tanh")


def test_mlp_scratch():
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    num_inputs, num_outputs, num_hiddens = 784, 10, 256
    W1 = nd.random.normal(scale=0.01, shape=(num_inputs, num_hiddens))
    b1 = nd.zeros(num_hiddens)
    W2 = nd.random.normal(scale=0.01, shape=(num_hiddens, num_outputs))
    b2 = nd.zeros(num_outputs)
    params = [W1, b1, W2, b2]
    for param in params:
        param.attach_grad()

    def relu(X):
        return nd.maximum(X, 0)

    def net(X):
        X = X.reshape((-1, num_inputs))
        H = relu(nd.dot(X, W1) + b1)
        return nd.dot(H, W2) + b2

    loss = gloss.SoftmaxCrossEntropyLoss()
    num_epochs, lr = 3, 0.5
    d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, params, lr)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.6


def test_mlp_gluon():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    loss = gloss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    num_epochs = 3
    d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, None, None, trainer)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.6


def test_underfit_overfit():
    n_train, n_test, true_w, true_b = 100, 100, [1.2, -3.4, 5.6], 5
    features = nd.random.normal(shape=(n_train + n_test, 1))
    poly_features = nd.concat(features, nd.power(features, 2), nd.power(features, 3))
    labels = (
        true_w[0] * poly_features[:, 0] + true_w[1] * poly_features[:, 1] + true_w[2] * poly_features[:, 2] + true_b
    )
    labels += nd.random.normal(scale=0.1, shape=labels.shape)

    num_epochs, loss = 40, gloss.L2Loss()

    def fit_and_plot(train_features, test_features, train_labels, test_labels):
        net = nn.Sequential()
        net.add(nn.Dense(1))
        net.initialize()
        batch_size = min(10, train_labels.shape[0])
        train_iter = gdata.DataLoader(gdata.ArrayDataset(train_features, train_labels), batch_size, shuffle=True)
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
        train_ls, test_ls = [], []
        for _ in range(num_epochs):
            for X, y in train_iter:
                with autograd.record():
                    batch_loss = loss(net(X), y)
                batch_loss.backward()
                trainer.step(batch_size)
            train_ls.append(loss(net(train_features), train_labels).mean().asscalar())
            test_ls.append(loss(net(test_features), test_labels).mean().asscalar())
        d2l.semilogy(
            range(1, num_epochs + 1), train_ls, "epochs", "loss", range(1, num_epochs + 1), test_ls, ["train", "test"]
        )
        return train_ls[-1], test_ls[-1], net[0].weight.data().asnumpy()

    normal = fit_and_plot(poly_features[:n_train, :], poly_features[n_train:, :], labels[:n_train], labels[n_train:])
    linear = fit_and_plot(features[:n_train, :], features[n_train:, :], labels[:n_train], labels[n_train:])
    few = fit_and_plot(poly_features[0:2, :], poly_features[n_train:, :], labels[0:2], labels[n_train:])
    assert normal[1] < 0.5 < linear[1]  # the cubic fits, the line underfits
    assert few[1] > normal[1]  # two samples overfit


def test_weight_decay():
    n_train, n_test, num_inputs = 20, 100, 200
    true_w, true_b = nd.ones((num_inputs, 1)) * 0.01, 0.05
    features = nd.random.normal(shape=(n_train + n_test, num_inputs))
    labels = nd.dot(features, true_w) + true_b
    labels += nd.random.normal(scale=0.01, shape=labels.shape)
    train_features, test_features = features[:n_train, :], features[n_train:, :]
    train_labels, test_labels = labels[:n_train], labels[n_train:]

    def init_params():
        w = nd.random.normal(scale=1, shape=(num_inputs, 1))
        b = nd.zeros(shape=(1,))
        w.attach_grad()
        b.attach_grad()
        return [w, b]

    def l2_penalty(w):
        return (w**2).sum() / 2

    batch_size, num_epochs, lr = 1, 30, 0.003
    net, loss = d2l.linreg, d2l.squared_loss
    train_iter = gdata.DataLoader(gdata.ArrayDataset(train_features, train_labels), batch_size, shuffle=True)

    def fit_and_plot(lambd):
        w, b = init_params()
        train_ls, test_ls = [], []
        for _ in range(num_epochs):
            for X, y in train_iter:
                with autograd.record():
                    batch_loss = loss(net(X, w, b), y) + lambd * l2_penalty(w)
                batch_loss.backward()
                d2l.sgd([w, b], lr, batch_size)
            train_ls.append(loss(net(train_features, w, b), train_labels).mean().asscalar())
            test_ls.append(loss(net(test_features, w, b), test_labels).mean().asscalar())
        d2l.semilogy(
            range(1, num_epochs + 1), train_ls, "epochs", "loss", range(1, num_epochs + 1), test_ls, ["train", "test"]
        )
        return test_ls[-1], w.norm().asscalar()

    no_decay = fit_and_plot(lambd=0)
    decay = fit_and_plot(lambd=3)
    assert decay[1] < no_decay[1] and decay[0] < no_decay[0]

    def fit_and_plot_gluon(wd):
        net = nn.Sequential()
        net.add(nn.Dense(1))
        net.initialize(init.Normal(sigma=1))
        trainer_w = gluon.Trainer(net.collect_params(".*weight"), "sgd", {"learning_rate": lr, "wd": wd})
        trainer_b = gluon.Trainer(net.collect_params(".*bias"), "sgd", {"learning_rate": lr})
        train_ls, test_ls = [], []
        for _ in range(num_epochs):
            for X, y in train_iter:
                with autograd.record():
                    batch_loss = loss(net(X), y)
                batch_loss.backward()
                trainer_w.step(batch_size)
                trainer_b.step(batch_size)
            train_ls.append(loss(net(train_features), train_labels).mean().asscalar())
            test_ls.append(loss(net(test_features), test_labels).mean().asscalar())
        return test_ls[-1], net[0].weight.data().norm().asscalar()

    g_no_decay = fit_and_plot_gluon(0)
    g_decay = fit_and_plot_gluon(3)
    assert g_decay[1] < g_no_decay[1] and g_decay[0] < g_no_decay[0]


def test_dropout():
    def dropout(X, drop_prob):
        assert 0 <= drop_prob <= 1
        keep_prob = 1 - drop_prob
        if keep_prob == 0:
            return X.zeros_like()
        mask = nd.random.uniform(0, 1, X.shape) < keep_prob
        return mask * X / keep_prob

    X = nd.arange(16).reshape((2, 8))
    assert (dropout(X, 0) == X).sum().asscalar() == 16
    assert dropout(X, 1).sum().asscalar() == 0
    kept = dropout(X, 0.5).asnumpy()
    assert set(np.unique(kept / np.maximum(X.asnumpy(), 1))) <= {0.0, 2.0}

    num_inputs, num_outputs, num_hiddens1, num_hiddens2 = 784, 10, 256, 256
    W1 = nd.random.normal(scale=0.01, shape=(num_inputs, num_hiddens1))
    b1 = nd.zeros(num_hiddens1)
    W2 = nd.random.normal(scale=0.01, shape=(num_hiddens1, num_hiddens2))
    b2 = nd.zeros(num_hiddens2)
    W3 = nd.random.normal(scale=0.01, shape=(num_hiddens2, num_outputs))
    b3 = nd.zeros(num_outputs)
    params = [W1, b1, W2, b2, W3, b3]
    for param in params:
        param.attach_grad()
    drop_prob1, drop_prob2 = 0.2, 0.5

    def net(X):
        X = X.reshape((-1, num_inputs))
        H1 = (nd.dot(X, W1) + b1).relu()
        if autograd.is_training():
            H1 = dropout(H1, drop_prob1)
        H2 = (nd.dot(H1, W2) + b2).relu()
        if autograd.is_training():
            H2 = dropout(H2, drop_prob2)
        return nd.dot(H2, W3) + b3

    num_epochs, lr, batch_size = 3, 0.5, 64
    loss = gloss.SoftmaxCrossEntropyLoss()
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, params, lr)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.5

    net = nn.Sequential()
    net.add(
        nn.Dense(256, activation="relu"),
        nn.Dropout(drop_prob1),
        nn.Dense(256, activation="relu"),
        nn.Dropout(drop_prob2),
        nn.Dense(10),
    )
    net.initialize(init.Normal(sigma=0.01))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, None, None, trainer)
    assert d2l.evaluate_accuracy(test_iter, net) > 0.5


def get_k_fold_data(k, i, X, y):
    assert k > 1
    fold_size = X.shape[0] // k
    X_train, y_train = None, None
    for j in range(k):
        idx = slice(j * fold_size, (j + 1) * fold_size)
        X_part, y_part = X[idx, :], y[idx]
        if j == i:
            X_valid, y_valid = X_part, y_part
        elif X_train is None:
            X_train, y_train = X_part, y_part
        else:
            X_train = nd.concat(X_train, X_part, dim=0)
            y_train = nd.concat(y_train, y_part, dim=0)
    return X_train, y_train, X_valid, y_valid


def test_kaggle_house_price():
    train_data = pd.read_csv("../data/kaggle_house_pred_train.csv")
    test_data = pd.read_csv("../data/kaggle_house_pred_test.csv")
    assert train_data.shape[1] == test_data.shape[1] + 1
    all_features = pd.concat((train_data.iloc[:, 1:-1], test_data.iloc[:, 1:]))
    numeric_features = all_features.dtypes[all_features.dtypes != "object"].index
    all_features[numeric_features] = all_features[numeric_features].apply(lambda x: (x - x.mean()) / (x.std()))
    all_features[numeric_features] = all_features[numeric_features].fillna(0)
    all_features = pd.get_dummies(all_features, dummy_na=True)
    n_train = train_data.shape[0]
    train_features = nd.array(all_features[:n_train].values.astype("float32"))
    test_features = nd.array(all_features[n_train:].values.astype("float32"))
    train_labels = nd.array(train_data.SalePrice.values).reshape((-1, 1))
    loss = gloss.L2Loss()

    def get_net():
        net = nn.Sequential()
        net.add(nn.Dense(1))
        net.initialize()
        return net

    def log_rmse(net, features, labels):
        clipped_preds = nd.clip(net(features), 1, float("inf"))
        rmse = nd.sqrt(2 * loss(clipped_preds.log(), labels.log()).mean())
        return rmse.asscalar()

    def train(
        net,
        train_features,
        train_labels,
        test_features,
        test_labels,
        num_epochs,
        learning_rate,
        weight_decay,
        batch_size,
    ):
        train_ls, test_ls = [], []
        train_iter = gdata.DataLoader(gdata.ArrayDataset(train_features, train_labels), batch_size, shuffle=True)
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": learning_rate, "wd": weight_decay})
        for _ in range(num_epochs):
            for X, y in train_iter:
                with autograd.record():
                    batch_loss = loss(net(X), y)
                batch_loss.backward()
                trainer.step(batch_size)
            train_ls.append(log_rmse(net, train_features, train_labels))
            if test_labels is not None:
                test_ls.append(log_rmse(net, test_features, test_labels))
        return train_ls, test_ls

    def k_fold(k, X_train, y_train, num_epochs, learning_rate, weight_decay, batch_size):
        train_l_sum, valid_l_sum = 0, 0
        for i in range(k):
            data = get_k_fold_data(k, i, X_train, y_train)
            net = get_net()
            train_ls, valid_ls = train(net, *data, num_epochs, learning_rate, weight_decay, batch_size)
            train_l_sum += train_ls[-1]
            valid_l_sum += valid_ls[-1]
            if i == 0:
                d2l.semilogy(
                    range(1, num_epochs + 1),
                    train_ls,
                    "epochs",
                    "rmse",
                    range(1, num_epochs + 1),
                    valid_ls,
                    ["train", "valid"],
                )
        return train_l_sum / k, valid_l_sum / k

    k, num_epochs, lr, weight_decay, batch_size = 5, 100, 5, 0, 64
    train_l, valid_l = k_fold(k, train_features, train_labels, num_epochs, lr, weight_decay, batch_size)
    print(f"{k}-fold validation: avg train rmse {train_l:f}, avg valid rmse {valid_l:f}")
    constant_guess = np.log(train_data.SalePrice).std()  # the log-rmse of predicting the mean
    assert valid_l < 0.75 * constant_guess

    def train_and_pred(
        train_features, test_features, train_labels, test_data, num_epochs, lr, weight_decay, batch_size
    ):
        net = get_net()
        train_ls, _ = train(net, train_features, train_labels, None, None, num_epochs, lr, weight_decay, batch_size)
        preds = net(test_features).asnumpy()
        test_data["SalePrice"] = pd.Series(preds.reshape(1, -1)[0])
        submission = pd.concat([test_data["Id"], test_data["SalePrice"]], axis=1)
        submission.to_csv("submission.csv", index=False)
        return train_ls[-1]

    assert (
        train_and_pred(train_features, test_features, train_labels, test_data, num_epochs, lr, weight_decay, batch_size)
        < 0.75 * constant_guess
    )
    assert pd.read_csv("submission.csv").shape == (200, 2)

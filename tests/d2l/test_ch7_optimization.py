"""Chapter 7 (optimization): optimization-intro, gd-sgd, minibatch-sgd, momentum, adagrad,
rmsprop, adadelta, adam. ``d2l.get_data_ch7`` reads ``../data/airfoil_self_noise.dat``."""

import math

import numpy as np
import pytest
from mpl_toolkits import mplot3d  # noqa: F401  (the book's import for 3-D plots)
from mxnet import nd

d2l = pytest.importorskip(
    "d2lzh", reason="tests/d2l run the d2l book's helper package d2lzh 1.0 (make venv installs it)"
)


def test_optimization_intro():
    def f(x):
        return x * np.cos(np.pi * x)

    d2l.set_figsize((4.5, 2.5))
    x = np.arange(-1.0, 2.0, 0.1)
    fig = d2l.plt.plot(x, f(x))
    fig[0].axes.annotate("local minimum", xy=(-0.3, -0.25), xytext=(-0.77, -1.0), arrowprops=dict(arrowstyle="->"))
    fig[0].axes.annotate("global minimum", xy=(1.1, -0.95), xytext=(0.6, 0.8), arrowprops=dict(arrowstyle="->"))
    x = np.arange(-2.0, 2.0, 0.1)
    fig = d2l.plt.plot(x, x**3)
    x, y = np.mgrid[-1:1:31j, -1:1:31j]
    z = x**2 - y**2
    ax = d2l.plt.figure().add_subplot(111, projection="3d")
    ax.plot_wireframe(x, y, z, **{"rstride": 2, "cstride": 2})
    ax.plot([0], [0], [0], "rx")
    x = np.arange(-2.0, 5.0, 0.01)
    fig = d2l.plt.plot(x, np.tanh(x))
    assert f(1.0) == -1.0


def gd(eta):
    x = 10
    results = [x]
    for _ in range(10):
        x -= eta * 2 * x
        results.append(x)
    print(f"epoch 10, x: {x}")
    return results


def show_trace(res):
    n = max(abs(min(res)), abs(max(res)), 10)
    f_line = np.arange(-n, n, 0.1)
    d2l.set_figsize()
    d2l.plt.plot(f_line, [x * x for x in f_line])
    d2l.plt.plot(res, [x * x for x in res], "-o")


def f_2d(x1, x2):
    return x1**2 + 2 * x2**2


def test_gd_sgd():
    res = gd(0.2)
    show_trace(res)
    assert abs(res[-1] - 10 * 0.6**10) < 1e-9
    assert abs(gd(1.1)[-1]) > 10
    eta = 0.1

    def gd_2d(x1, x2, s1, s2):
        return (x1 - eta * 2 * x1, x2 - eta * 4 * x2, 0, 0)

    res = d2l.train_2d(gd_2d)
    d2l.show_trace_2d(f_2d, res)
    assert abs(res[-1][0]) < 0.1

    def sgd_2d(x1, x2, s1, s2):
        return (x1 - eta * (2 * x1 + np.random.normal(0.1)), x2 - eta * (4 * x2 + np.random.normal(0.1)), 0, 0)

    d2l.show_trace_2d(f_2d, d2l.train_2d(sgd_2d))


def features_labels():
    features, labels = d2l.get_data_ch7()
    assert features.shape == (1503, 5)
    return features[:1500], labels[:1500]


def final_loss(features, labels):
    """The loss d2l.train_ch7 plotted last (the book reads it off the plot)."""
    return d2l.plt.gca().get_lines()[-1].get_ydata()[-1]


def test_minibatch_sgd():
    features, labels = features_labels()

    def sgd(params, states, hyperparams):
        for p in params:
            p[:] -= hyperparams["lr"] * p.grad

    def train_sgd(lr, batch_size, num_epochs=2):
        d2l.train_ch7(sgd, None, {"lr": lr}, features, labels, batch_size, num_epochs)
        return final_loss(features, labels)

    assert train_sgd(1, 1500, 6) < 1.0
    assert train_sgd(0.005, 1) < 0.35
    assert train_sgd(0.05, 10) < 0.35
    d2l.train_gluon_ch7("sgd", {"learning_rate": 0.05}, features, labels, 10)
    assert final_loss(features, labels) < 0.35


def test_momentum():
    eta, gamma = 0.4, 0.5

    def momentum_2d(x1, x2, v1, v2):
        v1 = gamma * v1 + eta * 0.2 * x1
        v2 = gamma * v2 + eta * 4 * x2
        return x1 - v1, x2 - v2, v1, v2

    d2l.show_trace_2d(lambda x1, x2: 0.1 * x1**2 + 2 * x2**2, d2l.train_2d(momentum_2d))
    features, labels = features_labels()

    def init_momentum_states():
        v_w = nd.zeros((features.shape[1], 1))
        v_b = nd.zeros(1)
        return (v_w, v_b)

    def sgd_momentum(params, states, hyperparams):
        for p, v in zip(params, states):
            v[:] = hyperparams["momentum"] * v + hyperparams["lr"] * p.grad
            p[:] -= v

    d2l.train_ch7(sgd_momentum, init_momentum_states(), {"lr": 0.02, "momentum": 0.5}, features, labels)
    assert final_loss(features, labels) < 0.35
    d2l.train_gluon_ch7("sgd", {"learning_rate": 0.004, "momentum": 0.9}, features, labels)
    assert final_loss(features, labels) < 0.35


def test_adagrad():
    def adagrad_2d(x1, x2, s1, s2):
        g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
        s1 += g1**2
        s2 += g2**2
        x1 -= eta / math.sqrt(s1 + eps) * g1
        x2 -= eta / math.sqrt(s2 + eps) * g2
        return x1, x2, s1, s2

    eta = 2
    d2l.show_trace_2d(lambda x1, x2: 0.1 * x1**2 + 2 * x2**2, d2l.train_2d(adagrad_2d))
    features, labels = features_labels()

    def init_adagrad_states():
        return (nd.zeros((features.shape[1], 1)), nd.zeros(1))

    def adagrad(params, states, hyperparams):
        eps = 1e-6
        for p, s in zip(params, states):
            s[:] += p.grad.square()
            p[:] -= hyperparams["lr"] * p.grad / (s + eps).sqrt()

    d2l.train_ch7(adagrad, init_adagrad_states(), {"lr": 0.1}, features, labels)
    assert final_loss(features, labels) < 0.35
    d2l.train_gluon_ch7("adagrad", {"learning_rate": 0.1}, features, labels)
    assert final_loss(features, labels) < 0.35


def test_rmsprop():
    eta, gamma = 0.4, 0.9

    def rmsprop_2d(x1, x2, s1, s2):
        g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
        s1 = gamma * s1 + (1 - gamma) * g1**2
        s2 = gamma * s2 + (1 - gamma) * g2**2
        x1 -= eta / math.sqrt(s1 + eps) * g1
        x2 -= eta / math.sqrt(s2 + eps) * g2
        return x1, x2, s1, s2

    d2l.show_trace_2d(lambda x1, x2: 0.1 * x1**2 + 2 * x2**2, d2l.train_2d(rmsprop_2d))
    features, labels = features_labels()

    def init_rmsprop_states():
        return (nd.zeros((features.shape[1], 1)), nd.zeros(1))

    def rmsprop(params, states, hyperparams):
        gamma, eps = hyperparams["gamma"], 1e-6
        for p, s in zip(params, states):
            s[:] = gamma * s + (1 - gamma) * p.grad.square()
            p[:] -= hyperparams["lr"] * p.grad / (s + eps).sqrt()

    d2l.train_ch7(rmsprop, init_rmsprop_states(), {"lr": 0.01, "gamma": 0.9}, features, labels)
    assert final_loss(features, labels) < 0.35
    d2l.train_gluon_ch7("rmsprop", {"learning_rate": 0.01, "gamma1": 0.9}, features, labels)
    assert final_loss(features, labels) < 0.35


def test_adadelta():
    features, labels = features_labels()

    def init_adadelta_states():
        s_w, s_b = nd.zeros((features.shape[1], 1)), nd.zeros(1)
        delta_w, delta_b = nd.zeros((features.shape[1], 1)), nd.zeros(1)
        return ((s_w, delta_w), (s_b, delta_b))

    def adadelta(params, states, hyperparams):
        rho, eps = hyperparams["rho"], 1e-5
        for p, (s, delta) in zip(params, states):
            s[:] = rho * s + (1 - rho) * p.grad.square()
            g = ((delta + eps).sqrt() / (s + eps).sqrt()) * p.grad
            p[:] -= g
            delta[:] = rho * delta + (1 - rho) * g * g

    d2l.train_ch7(adadelta, init_adadelta_states(), {"rho": 0.9}, features, labels)
    assert final_loss(features, labels) < 0.35
    d2l.train_gluon_ch7("adadelta", {"rho": 0.9}, features, labels)
    assert final_loss(features, labels) < 0.35


def test_adam():
    features, labels = features_labels()

    def init_adam_states():
        v_w, v_b = nd.zeros((features.shape[1], 1)), nd.zeros(1)
        s_w, s_b = nd.zeros((features.shape[1], 1)), nd.zeros(1)
        return ((v_w, s_w), (v_b, s_b))

    def adam(params, states, hyperparams):
        beta1, beta2, eps = 0.9, 0.999, 1e-6
        for p, (v, s) in zip(params, states):
            v[:] = beta1 * v + (1 - beta1) * p.grad
            s[:] = beta2 * s + (1 - beta2) * p.grad.square()
            v_bias_corr = v / (1 - beta1 ** hyperparams["t"])
            s_bias_corr = s / (1 - beta2 ** hyperparams["t"])
            p[:] -= hyperparams["lr"] * v_bias_corr / (s_bias_corr.sqrt() + eps)
        hyperparams["t"] += 1

    d2l.train_ch7(adam, init_adam_states(), {"lr": 0.01, "t": 1}, features, labels)
    assert final_loss(features, labels) < 0.35
    d2l.train_gluon_ch7("adam", {"learning_rate": 0.01}, features, labels)
    assert final_loss(features, labels) < 0.35

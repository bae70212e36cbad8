"""Golden values and files of MXNet 1.9.1's Gluon, for the mxrs Gluon tests.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/gluon.py

It writes ``tests/data/gluon/``:

- ``golden.params``: named arrays (inputs, weights, MXNet's outputs and gradients) read by
  ``tests/unit/test_gluon_*.py``; each key is described where it is made below.
- ``net.params``: ``save_parameters`` of the nested net built by ``nested_net()``.
- ``net-symbol.json`` / ``net-0000.params``: that net's ``export`` after a hybridized forward
  with deferred shapes.
- ``trainer.states``: not written (pickles are MXNet-specific); Trainer values are in golden.params.
"""

import os
from pathlib import Path

os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon, init  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "gluon"


def arr(shape, seed, scale=1.0):
    rng = np.random.RandomState(seed)
    return mx.nd.array(rng.uniform(-1, 1, size=shape) * scale, dtype="float32")


def nested_net():
    """HybridSequential(prefix='net_'): Dense(5, relu), BatchNorm, [Dense(4, tanh), Dense(3)]."""
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(5, activation="relu"))
        net.add(nn.BatchNorm())
        inner = nn.HybridSequential()
        with inner.name_scope():
            inner.add(nn.Dense(4, activation="tanh"), nn.Dense(3))
        net.add(inner)
    return net


def set_params(net, seed):
    for i, (_, p) in enumerate(sorted(net.collect_params().items())):
        if p.name.endswith("running_var"):
            p.set_data(mx.nd.array(np.random.RandomState(seed + i).uniform(0.5, 1.5, p.shape)))
        else:
            p.set_data(arr(p.shape, seed + i, 0.5))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    g = {}
    x = arr((4, 6), 1)
    g["x"] = x

    # nested net: deferred init, fixed parameters, inference output, training output and grads.
    net = nested_net()
    net.initialize()
    net(x)
    set_params(net, 100)
    net.save_parameters(str(OUT / "net.params"))
    g["net_infer"] = net(x)
    for k, v in net._collect_params_with_prefix().items():
        g[f"net_param:{k}"] = v.data().copy()
    with autograd.record():
        y = net(x)
        loss = (y * y).sum()
    loss.backward()
    g["net_train"] = y
    for k, v in net._collect_params_with_prefix().items():
        if v.grad_req != "null":
            g[f"net_grad:{k}"] = v.grad().copy()
        else:
            g[f"net_after:{k}"] = v.data().copy()
    # export of the same net (the running stats changed in the training forward above).
    net.hybridize()
    g["net_export_out"] = net(x)
    net.export(str(OUT / "net"), epoch=0)

    # Dense / activations / norms / embedding on fixed data.
    d = nn.Dense(3, in_units=6, use_bias=True, flatten=True)
    d.initialize()
    d.weight.set_data(arr((3, 6), 2))
    d.bias.set_data(arr((3,), 3))
    g["dense_out"] = d(x)
    x3 = arr((2, 3, 4), 4, 2.0)
    d2 = nn.Dense(2, flatten=False, in_units=4)
    d2.initialize()
    d2.weight.set_data(arr((2, 4), 5))
    d2.bias.set_data(arr((2,), 6))
    g["x3"] = x3
    g["dense_noflat_out"] = d2(x3)
    for name, layer in [
        ("leaky", nn.LeakyReLU(0.1)),
        ("prelu", nn.PReLU()),
        ("elu", nn.ELU(0.7)),
        ("selu", nn.SELU()),
        ("gelu", nn.GELU()),
        ("swish", nn.Swish(1.5)),
        ("layernorm", nn.LayerNorm()),
        ("instancenorm", nn.InstanceNorm()),
        ("groupnorm", nn.GroupNorm(num_groups=3)),
    ]:
        layer.initialize()
        g[f"{name}_out"] = layer(x3)
    bn = nn.BatchNorm(in_channels=3, momentum=0.8)
    bn.initialize()
    bn.gamma.set_data(arr((3,), 7))
    bn.beta.set_data(arr((3,), 8))
    with autograd.record():
        g["bn_train_out"] = bn(x3)
    g["bn_running_mean"] = bn.running_mean.data()
    g["bn_running_var"] = bn.running_var.data()
    g["bn_infer_out"] = bn(x3)
    emb = nn.Embedding(10, 3)
    emb.initialize()
    emb.weight.set_data(arr((10, 3), 9))
    idx = mx.nd.array([[1, 2, 9], [0, 0, 4]])
    g["emb_idx"] = idx
    g["emb_out"] = emb(idx)

    # Trainer: SGD with momentum and wd, 3 steps of a Dense on a fixed loss.
    tnet = nn.Dense(2, in_units=6)
    tnet.initialize()
    tnet.weight.set_data(arr((2, 6), 10))
    tnet.bias.set_data(arr((2,), 11))
    tr = gluon.Trainer(tnet.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})
    for _ in range(3):
        with autograd.record():
            out = tnet(x)
            loss = (out * out).sum()
        loss.backward()
        tr.step(4)
    g["trainer_sgd_weight"] = tnet.weight.data()
    g["trainer_sgd_bias"] = tnet.bias.data()
    anet = nn.Dense(2, in_units=6)
    anet.initialize()
    anet.weight.set_data(arr((2, 6), 10))
    anet.bias.set_data(arr((2,), 11))
    tr = gluon.Trainer(anet.collect_params(), mx.optimizer.Adam(learning_rate=0.05))
    for _ in range(3):
        with autograd.record():
            out = anet(x)
            loss = (out * out).sum()
        loss.backward()
        tr.step(2)
    g["trainer_adam_weight"] = anet.weight.data()

    # clip_global_norm
    a, b = arr((3, 4), 12, 3.0), arr((5,), 13, 3.0)
    g["clip_a_in"], g["clip_b_in"] = a.copy(), b.copy()
    norm = gluon.utils.clip_global_norm([a, b], 1.5)
    g["clip_norm"] = mx.nd.array([norm])
    g["clip_a_out"], g["clip_b_out"] = a, b

    mx.nd.save(str(OUT / "golden.params"), g)
    # A Dense with init=Constant via mx.init subclass: just check the standard initializer path.
    print(f"wrote {len(g)} arrays to {OUT}")


if __name__ == "__main__":
    init.Uniform()
    main()

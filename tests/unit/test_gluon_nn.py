"""gluon.nn basic layers against real MXNet 1.9.1's outputs (tests/data/gluon/golden.params)."""

from pathlib import Path

import numpy as np
import pytest
from _target import mx

nn = mx.gluon.nn
DATA = Path(__file__).resolve().parents[1] / "data" / "gluon"
GOLDEN = mx.nd.load(str(DATA / "golden.params"))


def rnd(shape, seed, scale=1.0):
    """tools/golden/gluon.py's ``arr``."""
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, size=shape) * scale, dtype="float32")


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=rtol, atol=atol)


def test_dense_flatten_and_not():
    d = nn.Dense(3, in_units=6)
    d.initialize()
    d.weight.set_data(rnd((3, 6), 2))
    d.bias.set_data(rnd((3,), 3))
    close(d(GOLDEN["x"]), GOLDEN["dense_out"])
    d2 = nn.Dense(2, flatten=False, in_units=4)
    d2.initialize()
    d2.weight.set_data(rnd((2, 4), 5))
    d2.bias.set_data(rnd((2,), 6))
    close(d2(GOLDEN["x3"]), GOLDEN["dense_noflat_out"])
    d2.hybridize()
    close(d2(GOLDEN["x3"]), GOLDEN["dense_noflat_out"])
    nb = nn.Dense(2, use_bias=False, in_units=3)
    nb.initialize(mx.init.One())
    assert nb.bias is None
    np.testing.assert_allclose(nb(mx.nd.ones((1, 3))).asnumpy(), [[3, 3]])
    assert list(nb.collect_params().keys()) == [nb.prefix + "weight"]


@pytest.mark.parametrize(
    "name,make",
    [
        ("leaky", lambda: nn.LeakyReLU(0.1)),
        ("prelu", lambda: nn.PReLU()),
        ("elu", lambda: nn.ELU(0.7)),
        ("selu", lambda: nn.SELU()),
        ("gelu", lambda: nn.GELU()),
        ("swish", lambda: nn.Swish(1.5)),
    ],
)
def test_activations(name, make):
    layer = make()
    layer.initialize()
    close(layer(GOLDEN["x3"]), GOLDEN[f"{name}_out"], rtol=1e-4, atol=1e-5)
    layer.hybridize()
    close(layer(GOLDEN["x3"]), GOLDEN[f"{name}_out"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "name,make,op",
    [
        ("layernorm", lambda: nn.LayerNorm(), "LayerNorm"),
        ("instancenorm", lambda: nn.InstanceNorm(), "InstanceNorm"),
        ("groupnorm", lambda: nn.GroupNorm(num_groups=3), "GroupNorm"),
    ],
)
def test_norms(name, make, op):
    if not hasattr(mx.nd, op):
        pytest.skip(f"the {op} op is not in this build")
    layer = make()
    layer.initialize()
    close(layer(GOLDEN["x3"]), GOLDEN[f"{name}_out"], rtol=1e-4, atol=1e-5)
    layer.hybridize()
    close(layer(GOLDEN["x3"]), GOLDEN[f"{name}_out"], rtol=1e-4, atol=1e-5)


def test_batchnorm_inference_and_repr():
    bn = nn.BatchNorm(in_channels=3)
    bn.initialize()
    assert repr(bn) == (
        "BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, use_global_stats=False, in_channels=3)"
    )
    x = GOLDEN["x3"]
    # Fresh statistics (mean 0, var 1): inference output is x / sqrt(1 + eps).
    close(bn(x), x / np.sqrt(1 + 1e-5))
    assert bn.running_mean.grad_req == "null"
    assert [p.name[len(bn.prefix) :] for p in bn.collect_params().values()] == [
        "gamma",
        "beta",
        "running_mean",
        "running_var",
    ]


def test_embedding_flatten_dropout_lambda():
    emb = nn.Embedding(10, 3)
    emb.initialize()
    emb.weight.set_data(rnd((10, 3), 9))
    close(emb(GOLDEN["emb_idx"]), GOLDEN["emb_out"])
    assert repr(emb) == "Embedding(10 -> 3, float32)"
    assert nn.Flatten()(mx.nd.ones((2, 3, 4))).shape == (2, 12)
    drop = nn.Dropout(0.5)
    x = mx.nd.ones((4, 4))
    close(drop(x), x)  # not training: identity
    assert repr(drop) == "Dropout(p = 0.5, axes=())"
    lam = nn.Lambda("tanh")
    close(lam(x), mx.nd.tanh(x))
    hl = nn.HybridLambda(lambda F, a: F.relu(a) + 1)
    hl.hybridize()
    close(hl(mx.nd.array([-1.0, 2.0])), mx.nd.array([1.0, 3.0]))
    assert repr(nn.HybridLambda("relu")) == "HybridLambda(relu)"
    act = nn.Activation("sigmoid")
    assert act.prefix.startswith("sigmoid")
    close(act(x), mx.nd.sigmoid(x))

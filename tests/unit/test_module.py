"""``mx.mod.Module`` and ``mx.model`` checkpoints, checked against MXNet 1.9.1's behaviour.

Needs ``mx.sym`` (Symbol/Executor) and ``mx.io`` (NDArrayIter); skipped until they exist.
``MXRS_TEST_TARGET=mxnet`` runs the file against real MXNet, and
``tools/mxnet_hybrid.py`` runs it with mxrs's Python training code over MXNet's executors.
"""

import logging
import os
import re
import shutil

import numpy as np
import pytest
from _fixtures import FIXTURES as _FIXTURES
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal


def _training_ready():
    """True when Symbol, the NN layers with their gradients, the optimizers and NDArrayIter exist."""
    if not all(hasattr(mx, name) for name in ("sym", "io", "optimizer")):
        return False
    try:
        net = mx.sym.FullyConnected(data=mx.sym.Variable("data"), num_hidden=2, name="probe")
        net = mx.sym.SoftmaxOutput(data=net, name="softmax")
        net.simple_bind(mx.cpu(), data=(1, 2))
    except (AttributeError, NotImplementedError, mx.base.MXNetError):
        return False
    return hasattr(mx.io, "NDArrayIter") and hasattr(mx.optimizer, "get_updater")


pytestmark = pytest.mark.skipif(
    not _training_ready(), reason="needs mx.sym with NN layers and gradients, mx.io, mx.optimizer"
)
needs_kv = pytest.mark.skipif(not hasattr(mx, "kv"), reason="needs mx.kv")

FIXTURES = str(_FIXTURES)


def mlp(num_classes=3, hidden=16):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, num_hidden=hidden, name="fc1")
    act = mx.sym.Activation(data=fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(data=act, num_hidden=num_classes, name="fc2")
    return mx.sym.SoftmaxOutput(data=fc2, name="softmax")


def blobs(n=300, dim=4, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(classes, dim) * 4
    label = rng.randint(0, classes, n)
    data = centers[label] + rng.randn(n, dim)
    return data.astype(np.float32), label.astype(np.float32)


def iters(batch=30, n=300, seed=0):
    x, y = blobs(n=n, seed=seed)
    cut = n * 2 // 3
    train = mx.io.NDArrayIter(x[:cut], y[:cut], batch, shuffle=True)
    val = mx.io.NDArrayIter(x[cut:], y[cut:], batch)
    return train, val


def trained_module(num_epoch=8, **fit_kwargs):
    np.random.seed(1)
    mx.random.seed(1)
    train, val = iters()
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(
        train,
        eval_data=val,
        num_epoch=num_epoch,
        optimizer="sgd",
        optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
        initializer=mx.init.Xavier(),
        **fit_kwargs,
    )
    return mod, train, val


def test_fit_logs_and_learns(caplog):
    seen = []
    with caplog.at_level(logging.INFO):
        mod, _, val = trained_module(batch_end_callback=lambda p: seen.append((p.epoch, p.nbatch)))
    msgs = [r.getMessage() for r in caplog.records]
    epoch0 = [m for m in msgs if m.startswith("Epoch[0]")]
    assert re.fullmatch(r"Epoch\[0\] Train-accuracy=\d\.\d{6}", epoch0[0])
    assert re.fullmatch(r"Epoch\[0\] Time cost=\d+\.\d{3}", epoch0[1])
    assert re.fullmatch(r"Epoch\[0\] Validation-accuracy=\d\.\d{6}", epoch0[2])
    assert len(epoch0) == 3
    assert seen[:7] == [(0, i) for i in range(7)]  # 0-based nbatch, 7 batches of 30 (200 padded)
    assert seen[7] == (1, 0)
    ((name, value),) = mod.score(val, "acc")
    assert name == "accuracy" and value >= 0.95
    last = [m for m in msgs if m.startswith("Epoch[7] Validation-accuracy=")][0]
    assert float(last.split("=")[1]) >= 0.95


def test_shapes_and_names():
    mod, train, _ = trained_module(num_epoch=1)
    assert mod.data_names == ["data"] and mod.label_names == ["softmax_label"]
    assert mod.output_names == ["softmax_output"]
    assert [tuple(d) for d in mod.data_shapes] == [("data", (30, 4))]
    assert [tuple(d) for d in mod.label_shapes] == [("softmax_label", (30,))]
    assert mod.output_shapes == [("softmax_output", (30, 3))]
    arg, aux = mod.get_params()
    assert sorted(arg) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"] and aux == {}
    assert arg["fc1_weight"].shape == (16, 4)


def test_predict_iter_predict_and_reshape():
    mod, _, _ = trained_module(num_epoch=2)
    x, _ = blobs(n=47, seed=3)
    it = mx.io.NDArrayIter(x, np.zeros(47), batch_size=10)  # last batch padded by 3
    out = mod.predict(it)
    if not IS_MXNET:  # MXNet 1.9.1 cannot re-bind a module trained with labels for unlabeled data
        unlabeled = mod.predict(mx.io.NDArrayIter(x, None, batch_size=12))
        assert_allclose(unlabeled.asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    assert out.shape == (47, 3)
    assert_allclose(out.asnumpy().sum(axis=1), np.ones(47), rtol=1e-5)
    one = mod.predict(mx.nd.array(x[:10]))  # a plain array: one batch
    assert one.shape == (10, 3)
    assert_allclose(one.asnumpy(), out.asnumpy()[:10], rtol=1e-5, atol=1e-6)
    if not IS_MXNET:  # MXNet 1.9.1 fails to reshape when the batch has no label; mxrs infers it
        one = mod.predict(mx.nd.array(x[:5]))
        assert one.shape == (5, 3)
        assert_allclose(one.asnumpy(), out.asnumpy()[:5], rtol=1e-5, atol=1e-6)
    pieces = list(mod.iter_predict(it))
    assert [p[1] for p in pieces] == [0, 1, 2, 3, 4]
    assert pieces[-1][0][0].shape == (7, 3)
    lists = mod.predict(it, merge_batches=False)
    assert len(lists) == 5 and lists[0][0].shape == (10, 3)
    assert isinstance(mod.predict(it, always_output_list=True), list)


def test_manual_steps_match_fit_semantics():
    x, y = blobs(n=8)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=[("data", (8, 4))], label_shapes=[("softmax_label", (8,))])
    mod.init_params(initializer=mx.init.Uniform(0.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.5),))
    before = {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}
    batch = mx.io.DataBatch(data=[mx.nd.array(x)], label=[mx.nd.array(y)])
    mod.forward(batch, is_train=True)
    probs = mod.get_outputs()[0].asnumpy()
    mod.backward()
    mod.update()
    after = mod.get_params()[0]
    # SoftmaxOutput's gradient: (p - onehot) / batch (rescale_grad = 1/8) through fc2
    hidden = np.maximum(x @ before["fc1_weight"].T + before["fc1_bias"], 0)
    dout = probs - np.eye(3)[y.astype(int)]
    want_w2 = before["fc2_weight"] - 0.5 * (dout.T @ hidden) / 8
    assert_allclose(after["fc2_weight"].asnumpy(), want_w2, rtol=1e-4, atol=1e-5)
    metric = mx.metric.Accuracy()
    mod.update_metric(metric, batch.label)
    assert metric.num_inst == 8


def test_fixed_params_and_input_grads():
    x, y = blobs(n=6)
    mod = mx.mod.Module(mlp(), context=mx.cpu(), fixed_param_names=["fc1_weight"])
    mod.bind(data_shapes=[("data", (6, 4))], label_shapes=[("softmax_label", (6,))], inputs_need_grad=True)
    mod.init_params(initializer=mx.init.Uniform(0.1))
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    w1 = mod.get_params()[0]["fc1_weight"].asnumpy().copy()
    w2 = mod.get_params()[0]["fc2_weight"].asnumpy().copy()
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    mod.update()
    arg = mod.get_params()[0]
    assert_array_equal(arg["fc1_weight"].asnumpy(), w1)
    assert not np.allclose(arg["fc2_weight"].asnumpy(), w2)
    (grad,) = mod.get_input_grads()
    assert grad.shape == (6, 4) and np.abs(grad.asnumpy()).sum() > 0


def test_checkpoint_round_trip(tmp_path, caplog):
    mod, _, val = trained_module(num_epoch=2)
    prefix = str(tmp_path / "mlp")
    with caplog.at_level(logging.INFO):
        mod.save_checkpoint(prefix, 3, save_optimizer_states=True)
    assert f'Saved checkpoint to "{prefix}-0003.params"' in [r.getMessage() for r in caplog.records]
    assert os.path.exists(prefix + "-symbol.json") and os.path.exists(prefix + "-0003.states")
    saved = mx.nd.load(prefix + "-0003.params")
    assert sorted(saved) == ["arg:fc1_bias", "arg:fc1_weight", "arg:fc2_bias", "arg:fc2_weight"]
    sym, arg, aux = mx.model.load_checkpoint(prefix, 3)
    assert sym.list_arguments() == mod.symbol.list_arguments() and aux == {}
    loaded = mx.mod.Module.load(prefix, 3, load_optimizer_states=True, context=mx.cpu())
    loaded.bind(data_shapes=val.provide_data, label_shapes=val.provide_label)
    loaded.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    assert_allclose(loaded.predict(val).asnumpy(), mod.predict(val).asnumpy(), rtol=1e-6)
    assert loaded.score(val, "acc") == mod.score(val, "acc")
    other = mx.mod.Module(mlp(), context=mx.cpu())
    other.bind(data_shapes=val.provide_data, label_shapes=val.provide_label, for_training=False)
    other.load_params(prefix + "-0003.params")
    assert_allclose(other.predict(val).asnumpy(), mod.predict(val).asnumpy(), rtol=1e-6)
    mod.save_params(str(tmp_path / "p.params"))
    assert sorted(mx.nd.load(str(tmp_path / "p.params"))) == sorted(saved)


def test_optimizer_states_round_trip(tmp_path):
    mod, train, _ = trained_module(num_epoch=1)
    fname = str(tmp_path / "opt.states")
    mod.save_optimizer_states(fname)
    mod.load_optimizer_states(fname)
    batch = next(iter(train))
    mod.forward_backward(batch)
    mod.update()


def test_fixture_checkpoint_from_real_mxnet():
    """ckpt-symbol.json + ckpt-0001.params were written by MXNet 1.9.1 (see fixtures/README.md)."""
    expected = mx.nd.load(os.path.join(FIXTURES, "ckpt_expected.params"))
    work = os.path.join(FIXTURES, "ckpt")
    mod = mx.mod.Module.load(work, 1, context=mx.cpu())
    mod.bind(data_shapes=[("data", (2, 3))], label_shapes=[("softmax_label", (2,))], grad_req="write")
    batch = mx.io.DataBatch([expected["data"]], [expected["label"]])
    mod.forward(batch, is_train=False)
    assert_allclose(mod.get_outputs()[0].asnumpy(), expected["prob_inference"].asnumpy(), rtol=1e-5, atol=1e-6)
    mod.forward(batch, is_train=True)
    assert_allclose(mod.get_outputs()[0].asnumpy(), expected["prob_train"].asnumpy(), rtol=1e-5, atol=1e-6)
    mod.backward()
    grads = dict(zip(mod._exec_group.param_names, mod._exec_group.grad_arrays))
    for name in ["fc1_weight", "fc1_bias", "bn1_gamma", "bn1_beta", "fc2_weight", "fc2_bias"]:
        assert_allclose(grads[name][0].asnumpy(), expected["grad:" + name].asnumpy(), rtol=1e-5, atol=1e-6)
    # get_params() only syncs after update(); the executors hold the updated aux states
    aux = dict(zip(mod._exec_group.aux_names, mod._exec_group.aux_arrays))
    for name in ["bn1_moving_mean", "bn1_moving_var"]:
        want = expected[name + "_after_train_fwd"].asnumpy()
        assert_allclose(aux[name][0].asnumpy(), want, rtol=1e-5)


def test_fixture_checkpoint_save_is_byte_compatible(tmp_path):
    sym, arg, aux = mx.model.load_checkpoint(os.path.join(FIXTURES, "ckpt"), 1)
    prefix = str(tmp_path / "again")
    mx.model.save_checkpoint(prefix, 1, sym, arg, aux)
    with open(os.path.join(FIXTURES, "ckpt-0001.params"), "rb") as a, open(prefix + "-0001.params", "rb") as b:
        assert a.read() == b.read()
    sym2, _, _ = mx.model.load_checkpoint(prefix, 1)
    assert sym2.list_arguments() == sym.list_arguments()
    assert sym2.list_auxiliary_states() == ["bn1_moving_mean", "bn1_moving_var"]


def test_name_mismatch_errors_before_training():
    with pytest.raises(ValueError, match="not found in symbol.list_arguments"):
        mx.mod.Module(mlp(), data_names=["pixels"])
    x, y = blobs(n=30)
    seen = []
    bad_data = mx.io.NDArrayIter({"pixels": x}, {"softmax_label": y}, 10)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    with pytest.raises(ValueError):
        mod.fit(bad_data, num_epoch=1, batch_end_callback=lambda p: seen.append(p))
    bad_label = mx.io.NDArrayIter(x, {"wrong_label": y}, 10)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    errors = (ValueError, KeyError) if IS_MXNET else ValueError  # MXNet: a bare KeyError
    with pytest.raises(errors):
        with pytest.warns(UserWarning):
            mod.fit(bad_label, num_epoch=1, batch_end_callback=lambda p: seen.append(p))
    assert seen == []


def test_shape_mismatch_errors_before_training():
    x, y = blobs(n=30)
    seen = []
    bad = mx.io.NDArrayIter(x, np.stack([y, y, y], axis=1), 10)  # label (10, 3) for 3 classes
    mod = mx.mod.Module(mlp(num_classes=2), context=mx.cpu())
    with pytest.raises(RuntimeError, match="softmax") as err:  # MXNet: a RuntimeError from simple_bind
        mod.fit(bad, num_epoch=1, batch_end_callback=lambda p: seen.append(p))
    assert seen == []
    if not IS_MXNET:
        assert isinstance(err.value, mx.base.MXNetError)


def test_set_params_and_missing():
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=[("data", (5, 4))], label_shapes=[("softmax_label", (5,))])
    arg = {
        "fc1_weight": mx.nd.ones((16, 4)),
        "fc1_bias": mx.nd.zeros((16,)),
        "fc2_weight": mx.nd.ones((3, 16)),
    }
    with pytest.raises(RuntimeError, match="fc2_bias is not presented"):
        mod.set_params(arg, {})
    mod.init_params(mx.init.Zero(), arg_params=arg, allow_missing=True)
    got = mod.get_params()[0]
    assert_array_equal(got["fc1_weight"].asnumpy(), np.ones((16, 4)))
    assert_array_equal(got["fc2_bias"].asnumpy(), np.zeros(3))
    with pytest.warns(UserWarning, match="already initialized"):
        mod.init_params()


@needs_kv
def test_multi_context_data_parallel():
    np.random.seed(4)
    mx.random.seed(4)
    train, val = iters(batch=30)
    mod = mx.mod.Module(mlp(), context=[mx.cpu(0), mx.cpu(1)])
    mod.fit(
        train,
        num_epoch=8,
        optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
        initializer=mx.init.Xavier(),
        kvstore="local",
    )
    assert mod.score(val, "acc")[0][1] >= 0.95
    single = mx.mod.Module(mlp(), context=mx.cpu())
    single.bind(data_shapes=val.provide_data, label_shapes=val.provide_label, for_training=False)
    arg, aux = mod.get_params()
    single.set_params(arg, aux)
    assert_allclose(single.predict(val).asnumpy(), mod.predict(val).asnumpy(), rtol=1e-5, atol=1e-6)


@needs_kv
def test_fit_with_kvstore_object_and_composite_metric(caplog):
    with caplog.at_level(logging.INFO):
        mod, _, _ = trained_module(num_epoch=2, kvstore=mx.kv.create("local"), eval_metric=["acc", "ce"])
    msgs = [r.getMessage() for r in caplog.records]
    assert any(re.fullmatch(r"Epoch\[1\] Train-cross-entropy=\d+\.\d{6}", m) for m in msgs)
    assert any(re.fullmatch(r"Epoch\[1\] Validation-cross-entropy=\d+\.\d{6}", m) for m in msgs)


def test_copy_fixture_files_for_reference(tmp_path):
    # Module.load takes any prefix: the fixture copied under another name loads the same.
    for suffix in ("-symbol.json", "-0001.params"):
        shutil.copy(os.path.join(FIXTURES, "ckpt" + suffix), str(tmp_path / ("copy" + suffix)))
    mod = mx.mod.Module.load(str(tmp_path / "copy"), 1)
    mod.bind(data_shapes=[("data", (1, 3))], for_training=False, label_shapes=None)
    out = mod.predict(mx.nd.array([[1, 2, 3]]))
    expected = mx.nd.load(os.path.join(FIXTURES, "ckpt_expected.params"))["prob_inference"].asnumpy()[0]
    assert_allclose(out.asnumpy()[0], expected, rtol=1e-5)

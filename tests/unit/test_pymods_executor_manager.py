"""mx.executor_manager: FeedForward's data-parallel executors, compared with MXNet 1.9.1."""

import importlib.util
import json
import os

import mxrs as mx
import numpy as np
import pytest
from mxrs import executor_manager as em

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
_spec = importlib.util.spec_from_file_location(
    "pymods_executor_manager", os.path.join(ROOT, "tools", "golden", "pymods_executor_manager.py")
)
loop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loop)
with open(os.path.join(ROOT, "tests", "data", "pymods_executor_manager.json")) as _f:
    GOLDEN = json.load(_f)


@pytest.mark.parametrize("case,kwargs", [("equal", {}), ("work_load_2_1", {"work_load_list": [2, 1], "epochs": 1})])
def test_training_over_two_cpu_contexts_matches_mxnet(case, kwargs):
    got, want = loop.train(mx, **kwargs), GOLDEN[case]
    assert got["slices"] == want["slices"]
    np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-6)
    for name, value in want["params"].items():
        np.testing.assert_allclose(np.array(got["params"][name]), np.array(value), rtol=1e-4, atol=1e-5)
    # The monitor saw both executors' arguments and forward outputs (MXNet's also lists the
    # backward outputs).
    assert set(got["monitor"]) <= set(want["monitor"])
    assert {"fc1_output", "relu1_output", "fc2_output", "softmax_output", "fc1_weight", "data"} <= set(got["monitor"])


def test_training_matches_module_on_the_same_data():
    # Module over the same two contexts with the same optimizer ends with the same weights.
    got = loop.train(mx, epochs=2)
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (48, 10)).astype(np.float32)
    y = (x[:, :3].argmax(axis=1)).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=12, shuffle=False, label_name="softmax_label")
    sym = loop.net(mx)
    arg_shapes, _, _ = sym.infer_shape(data=(12, 10))
    prs = np.random.RandomState(1)
    params = {
        n: mx.nd.array(prs.normal(0, 0.3, s).astype(np.float32))
        for n, s in zip(sym.list_arguments(), arg_shapes)
        if n not in ("data", "softmax_label")
    }
    mod = mx.mod.Module(sym, context=[mx.cpu(0), mx.cpu(1)])
    mod.fit(
        it,
        num_epoch=2,
        kvstore="local",
        arg_params=params,
        optimizer="sgd",
        optimizer_params={"learning_rate": 0.5, "momentum": 0.9, "rescale_grad": 1.0 / 12},
    )
    args, _ = mod.get_params()
    for name, value in got["params"].items():
        np.testing.assert_allclose(args[name].asnumpy(), np.array(value), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "batch,work,want",
    # MXNet 1.9.1's slices.
    [
        (10, [1, 1, 1], [(0, 3), (3, 6), (6, 10)]),
        (12, [2, 1], [(0, 8), (8, 12)]),
        (7, [1, 1], [(0, 4), (4, 7)]),
        (5, [0.3, 0.3, 0.4], [(0, 2), (2, 4), (4, 5)]),
        (100, [1, 2, 3, 4], [(0, 10), (10, 30), (30, 60), (60, 100)]),
    ],
)
def test_split_input_slice(batch, work, want):
    assert [(s.start, s.stop) for s in em._split_input_slice(batch, work)] == want


def test_split_input_slice_too_many():
    with pytest.raises(ValueError, match="Too many slices. Some splits are empty."):
        em._split_input_slice(2, [1, 1, 1])


def test_check_arguments_duplicates():
    a = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="fc")
    em._check_arguments(a)
    b = mx.sym.FullyConnected(a, num_hidden=2, name="fc")
    with pytest.raises(ValueError, match='duplicated argument name "fc_weight"'):
        em._check_arguments(b)


def test_load_general_slices_and_whole():
    src = mx.nd.array(np.arange(12, dtype=np.float32).reshape(6, 2))
    whole = mx.nd.zeros((6, 2))
    parts = [(slice(0, 2), mx.nd.zeros((2, 2), ctx=mx.cpu(0))), (slice(2, 6), mx.nd.zeros((4, 2), ctx=mx.cpu(1)))]
    em._load_general([src, src], [whole, parts])
    np.testing.assert_array_equal(whole.asnumpy(), src.asnumpy())
    np.testing.assert_array_equal(parts[1][1].asnumpy(), src.asnumpy()[2:])
    assert parts[1][1].context == mx.cpu(1)
    batch = mx.io.DataBatch(data=[src], label=[src * 2])
    em._load_label(batch, [parts])
    np.testing.assert_array_equal(parts[0][1].asnumpy(), src.asnumpy()[:2] * 2)
    with pytest.raises(AssertionError, match="Batch size miss match. Expected 6, got 3"):
        em._load_data(mx.io.DataBatch(data=[src[:3]]), [parts])


def test_bind_exec_shares_with_base_exec():
    sym = loop.net(mx)
    shapes = {"data": (4, 10), "softmax_label": (4,)}
    params = ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"]
    shared = {}
    base = em._bind_exec(sym, mx.cpu(), shapes, params, need_grad=True, shared_data_arrays=shared)
    assert sorted(base.grad_dict) == sorted(params)
    assert sorted(shared) == ["data", "softmax_label"]
    small = em._bind_exec(
        sym,
        mx.cpu(),
        {"data": (2, 10), "softmax_label": (2,)},
        params,
        need_grad=True,
        base_exec=base,
        shared_data_arrays=shared,
    )
    assert small.arg_dict["fc1_weight"] is base.arg_dict["fc1_weight"]
    assert small.grad_dict["fc2_bias"] is base.grad_dict["fc2_bias"]
    assert small.arg_dict["data"].shape == (2, 10)
    small.arg_dict["data"][:] = 3  # the first 20 elements of the shared (4, 10) array
    np.testing.assert_array_equal(shared["data"].asnumpy()[:, 0], [3, 3, 0, 0])
    frozen = em._bind_exec(sym, mx.cpu(), shapes, params, need_grad={"fc2_weight"})
    assert sorted(frozen.grad_dict) == ["fc2_weight"]
    with pytest.raises(AssertionError, match="need_grad must be boolean or set"):
        em._bind_exec(sym, mx.cpu(), shapes, params, need_grad=["fc2_weight"])


def test_bucketing_groups_share_parameters():
    sym = loop.net(mx)
    x = np.ones((8, 10), np.float32)
    it = mx.io.NDArrayIter(x, np.zeros(8, np.float32), batch_size=8, label_name="softmax_label")
    it.default_bucket_key = 10
    names = sym.list_arguments()
    params = [n for n in names if n not in ("data", "softmax_label")]
    made = []

    def sym_gen(key):
        made.append(key)
        return loop.net(mx)

    mgr = em.DataParallelExecutorManager(sym, [mx.cpu(0), mx.cpu(1)], it, names, params, [], sym_gen=sym_gen)
    with pytest.raises(NotImplementedError, match="bucketing"):
        mgr.install_monitor(mx.mon.Monitor(1))
    batch = next(iter(it))
    batch.bucket_key = 5
    batch.provide_data, batch.provide_label = it.provide_data, it.provide_label
    mgr.load_data_batch(batch)
    assert made == [5] and mgr.curr_execgrp is not mgr.execgrp
    for a, b in zip(mgr.curr_execgrp.train_execs, mgr.execgrp.train_execs):
        assert a.arg_dict["fc1_weight"] is b.arg_dict["fc1_weight"]
    mgr.forward(is_train=True)
    mgr.backward()
    assert mgr.curr_execgrp.train_execs[1].outputs[0].shape == (4, 3)


def test_copy_to_averages_aux_states_over_devices():
    data = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    h = mx.sym.BatchNorm(h, name="bn")
    sym = mx.sym.SoftmaxOutput(h, name="softmax")
    x = np.random.RandomState(3).rand(8, 5).astype(np.float32)
    x[4:] += 2  # the two devices see different batch statistics
    it = mx.io.NDArrayIter(x, np.zeros(8, np.float32), batch_size=8, label_name="softmax_label")
    names = sym.list_arguments()
    params = [n for n in names if n not in ("data", "softmax_label")]
    aux_names = sym.list_auxiliary_states()
    mgr = em.DataParallelExecutorManager(sym, [mx.cpu(0), mx.cpu(1)], it, names, params, aux_names)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=(8, 5))
    arg_params = {n: mx.nd.ones(s) * 0.1 for n, s in zip(names, arg_shapes) if n in params}
    aux_params = {n: mx.nd.zeros(s) for n, s in zip(aux_names, aux_shapes)}
    mgr.set_params(arg_params, aux_params)
    mgr.load_data_batch(next(iter(it)))
    mgr.forward(is_train=True)
    per_dev = [[a.asnumpy() for a in block] for block in mgr.aux_arrays]
    assert not np.allclose(per_dev[0][0], per_dev[0][1])
    mgr.copy_to(arg_params, aux_params)
    for name, block in zip(aux_names, per_dev):
        np.testing.assert_allclose(aux_params[name].asnumpy(), (block[0] + block[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(arg_params["fc_weight"].asnumpy(), np.full((4, 5), 0.1), rtol=1e-6)
    assert [len(b) for b in mgr.param_arrays] == [2] * len(params)
    assert mgr.grad_arrays[0][1].context == mx.cpu(1)

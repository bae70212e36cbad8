"""Small MXNet 1.9.1 names: mx.visualization, mx.rnd, metric.PCC, gluon.loss.SDMLLoss,
gluon.nn.BatchNormReLU, kv.KVStoreBase, the profiler's Domain/Task/Frame/Event/Counter/Marker.

Expected values were produced by MXNet 1.9.1; ``MXRS_TEST_TARGET=mxnet`` runs this file
against it.
"""

import json
import time
import warnings

import numpy as np
import pytest
from _target import IS_MXNET, mx


def test_visualization_and_rnd_aliases():
    assert mx.visualization is mx.viz
    assert mx.rnd is mx.random
    import importlib

    assert importlib.import_module(mx.__name__ + ".visualization") is mx.viz
    assert callable(mx.visualization.plot_network) and callable(mx.visualization.print_summary)


def _pcc_example():
    fp, fn, tp, tn = 1000, 1, 10000, 1
    preds = [mx.nd.array([[0.3, 0.7]] * fp + [[0.7, 0.3]] * tn + [[0.7, 0.3]] * fn + [[0.3, 0.7]] * tp)]
    labels = [mx.nd.array([0] * (fp + tn) + [1] * (fn + tp))]
    return labels, preds


def test_pcc_binary_equals_mcc():
    labels, preds = _pcc_example()
    pcc = mx.metric.PCC()
    pcc.update(labels=labels, preds=preds)
    mcc = mx.metric.MCC()
    mcc.update(labels=labels, preds=preds)
    assert pcc.get()[0] == "pcc"
    assert pcc.get()[1] == pytest.approx(0.01917751877733392, rel=1e-12)
    assert pcc.get()[1] == pytest.approx(mcc.get()[1], rel=1e-12)


def test_pcc_multiclass_grows_and_resets():
    m = mx.metric.create("pcc")
    assert isinstance(m, mx.metric.PCC)
    m.update([mx.nd.array([0, 1, 2, 2, 1])], [mx.nd.array([0, 2, 2, 1, 1])])  # class indices
    assert m.k == 3 and m.get()[1] == pytest.approx(0.375)
    m.update([mx.nd.array([3, 1])], [mx.nd.array(np.eye(4)[[3, 0]])])  # class scores
    assert m.k == 4
    assert m.get()[1] == pytest.approx(0.4287464628562721) == m.get_global()[1]
    m.reset_local()
    assert np.isnan(m.get()[1]) and m.get_global()[1] == pytest.approx(0.4287464628562721)
    m.reset()
    assert np.isnan(m.get_global()[1])
    assert m.get_config() == {"metric": "PCC", "name": "pcc", "output_names": None, "label_names": None}


def _sdml_inputs():
    rng = np.random.RandomState(0)
    return mx.nd.array(rng.randn(4, 5)), mx.nd.array(rng.randn(4, 5))


def test_sdml_loss_values_and_gradient():
    x1, x2 = _sdml_inputs()
    loss = mx.gluon.loss.SDMLLoss()
    want = [11.707158088684082, 0.7920079827308655, 6.401193141937256, 2.2586328983306885]
    np.testing.assert_allclose(loss(x1, x2).asnumpy(), want, rtol=1e-5)
    weighted = mx.gluon.loss.SDMLLoss(smoothing_parameter=0.1, weight=2.0)
    want = [14.017744064331055, 1.0993809700012207, 7.255000114440918, 0.639739990234375]
    np.testing.assert_allclose(weighted(x1, x2).asnumpy(), want, rtol=1e-5)
    x1.attach_grad()
    with mx.autograd.record():
        out = loss(x1, x2)
    out.backward()
    np.testing.assert_allclose(
        x1.grad.asnumpy()[0],
        [1.1531529426574707, -0.9638469815254211, -1.3865389823913574, 3.9627809524536133, -0.687762975692749],
        rtol=1e-4,
    )


def test_batchnorm_relu():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 4, 4).astype(np.float32)
    net = mx.gluon.nn.BatchNormReLU(in_channels=3)
    net.initialize()
    assert net.name.startswith("batchnormrelu")
    assert sorted(k.split("_", 1)[1] for k in net.collect_params().keys()) == [
        "beta",
        "gamma",
        "running_mean",
        "running_var",
    ]
    assert repr(net) == (
        "BatchNormReLU(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, use_global_stats=False, in_channels=3)"
    )
    assert not isinstance(net, mx.gluon.nn.BatchNorm)
    xx = mx.nd.array(x)
    xx.attach_grad()
    with mx.autograd.record():
        y = net(xx)
    y.backward(mx.nd.array(np.arange(96, dtype=np.float32).reshape(x.shape)))
    np.testing.assert_allclose(
        y.asnumpy().ravel()[:6], [1.79562, 0.33451, 0.95433, 2.30645, 1.90651, 0.0], rtol=1e-4, atol=1e-5
    )
    assert y.asnumpy().min() == 0.0
    np.testing.assert_allclose(
        xx.grad.asnumpy().ravel()[:6], [-15.4202, -8.9657, -10.1781, -14.0884, -11.5436, -4.6004], rtol=1e-3
    )
    np.testing.assert_allclose(net.running_mean.data().asnumpy(), [0.00879, -0.00091, 0.00355], atol=1e-5)
    net.hybridize()
    want = np.maximum(0, (x - x.mean((0, 2, 3), keepdims=True)) / np.sqrt(x.var((0, 2, 3), keepdims=True) + 1e-5))
    with mx.autograd.record():
        np.testing.assert_allclose(net(xx).asnumpy(), want, rtol=1e-4, atol=1e-4)


def test_kvstore_base_and_registry():
    kv = mx.kv.create("TestStore")
    assert type(kv).__name__ == "TestStore" and isinstance(kv, mx.kv.KVStoreBase)
    assert (kv.type, kv.rank, kv.num_workers) == ("teststore", 0, 1)
    assert kv.is_capable("optimizer") is False
    with pytest.raises(ValueError, match="Unknown capability"):
        kv.is_capable("x")
    vals = [mx.nd.ones((2,)) * i for i in (1, 2, 3)]
    out = mx.nd.zeros((2,))
    kv.pushpull(0, vals, out=out)
    assert out.asnumpy().tolist() == [6.0, 6.0]
    kv.pushpull(0, vals)
    assert vals[0].asnumpy().tolist() == [6.0, 6.0]
    kv.broadcast(0, mx.nd.ones((2,)) * 7, out=[out])
    assert out.asnumpy().tolist() == [7.0, 7.0]
    local = mx.kv.create("Local")
    assert isinstance(local, mx.kv.KVStoreBase) and local.type == "local"

    @mx.kv.KVStoreBase.register
    class MyTestStoreForCoverage(mx.kv.KVStoreBase):
        pass

    assert type(mx.kv.create("mYtEsTsToReFoRcOvErAgE")) is MyTestStoreForCoverage
    with pytest.raises(NotImplementedError):
        MyTestStoreForCoverage().rank  # noqa: B018
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mx.kv.KVStoreBase.register(type("MyTestStoreForCoverage", (mx.kv.KVStoreBase,), {}))
    assert any("overriding" in str(w.message) for w in caught)


def test_profiler_objects(tmp_path):
    fname = str(tmp_path / "trace.json")
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=fname)
    domain = mx.profiler.Domain("covdom")
    task = domain.new_task("covtask")
    mx.profiler.set_state("run")
    try:
        task.start()
        time.sleep(0.005)
        task.stop()
        frame = domain.new_frame("covframe")
        frame.start()
        frame.stop()
        event = mx.profiler.Event("covevent")
        event.start()
        event.stop()
        counter = domain.new_counter("covcounter", 5)
        counter += 3
        counter -= 1
        counter.set_value(10)
        counter.increment(2)
        counter.decrement()
        marker = domain.new_marker("covmark")
        marker.mark()
        marker.mark("thread")
        if not IS_MXNET:  # MXNet 1.9.1's pause() fails here (dmlc thread group check)
            mx.profiler.pause()
            task.start()  # not recorded while paused
            task.stop()
            mx.profiler.resume()
    finally:
        mx.profiler.set_state("stop")
    assert (str(domain), str(task), str(counter), str(event)) == ("covdom", "covtask", "covcounter", "covevent")
    table = mx.profiler.dumps(reset=True)
    for header in ("covdom\n=================", "covdom,frame\n=================", "event\n================="):
        assert header in table
    task_row = next(line for line in table.splitlines() if line.startswith("covtask"))
    assert task_row.split()[1] == "1" and float(task_row.split()[2]) >= 5.0
    mx.profiler.dump()
    with open(fname) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("name", "").startswith("cov")]
    phases = [(e["name"], e["cat"], e["ph"]) for e in events]
    assert phases[:6] == [
        ("covtask", "covdom", "b"),
        ("covtask", "covdom", "e"),
        ("covframe", "covdom,frame", "("),
        ("covframe", "covdom,frame", ")"),
        ("covevent", "event", "B"),
        ("covevent", "event", "E"),
    ]
    counts = [e["args"]["covcounter"] for e in events if e["ph"] == "C"]
    assert counts == [5, 8, 7, 10, 12, 11]
    marks = [(e["cat"], e["s"]) for e in events if e["ph"] == "n"]
    assert marks == [("covdom,instant_marker", "p"), ("covdom,instant_marker", "t")]
    if not IS_MXNET:  # MXNet 1.9.1 refuses set_config after a dump here
        mx.profiler.set_config(filename="profile.json")

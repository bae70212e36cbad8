"""``mx.metric``: values, names and bookkeeping as in MXNet 1.9.1.

Expected numbers are closed-form (numpy) or the examples of MXNet's docs;
``MXRS_TEST_TARGET=mxnet`` runs the same file against real MXNet.
"""

import math

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_allclose

PRED = [[0.3, 0.7], [0, 1.0], [0.4, 0.6]]
LABEL = [0, 1, 1]


def nd(x):
    return mx.nd.array(np.asarray(x, dtype=np.float32))


def test_accuracy_doc_example():
    acc = mx.metric.Accuracy()
    assert math.isnan(acc.get()[1])
    acc.update(preds=[nd(PRED)], labels=[nd(LABEL)])
    assert acc.get() == ("accuracy", pytest.approx(2 / 3))
    assert acc.num_inst == 3 and acc.sum_metric == 2
    acc.update([nd([1, 0])], [nd([[0.9, 0.1], [0.2, 0.8]])])
    assert acc.get()[1] == pytest.approx(2 / 5)
    assert str(acc) == "EvalMetric: {'accuracy': 0.4}"


def test_accuracy_class_indices_axis_and_single_arrays():
    acc = mx.metric.Accuracy()
    acc.update(nd([1, 2, 3]), nd([1, 2, 0]))  # same shape: predictions are class indices
    assert acc.get()[1] == pytest.approx(2 / 3)
    acc = mx.metric.Accuracy(axis=0)
    acc.update([nd([0, 1])], [nd([[0.9, 0.1], [0.1, 0.9]]).T])
    assert acc.get()[1] == 1.0
    with pytest.raises(ValueError, match="does not match"):
        mx.metric.Accuracy().update([nd(LABEL)], [nd(PRED), nd(PRED)])


def test_local_and_global_statistics():
    acc = mx.metric.Accuracy()
    acc.update([nd(LABEL)], [nd(PRED)])
    acc.reset_local()
    assert math.isnan(acc.get()[1])
    assert acc.get_global()[1] == pytest.approx(2 / 3)
    assert acc.get_global_name_value() == [("accuracy", pytest.approx(2 / 3))]
    acc.reset()
    assert math.isnan(acc.get_global()[1])


def test_top_k_accuracy_doc_example():
    np.random.seed(999)
    labels = [nd([2, 6, 9, 2, 3, 4, 7, 8, 9, 6])]
    preds = [nd(np.random.rand(10, 10))]
    acc = mx.metric.TopKAccuracy(top_k=3)
    acc.update(labels, preds)
    assert acc.get() == ("top_k_accuracy_3", pytest.approx(0.3))
    with pytest.raises(AssertionError):
        mx.metric.TopKAccuracy(top_k=1)


def test_top_k_matches_numpy():
    rng = np.random.RandomState(0)
    pred = rng.rand(50, 7).astype(np.float32)
    label = rng.randint(0, 7, 50)
    acc = mx.metric.create("top_k_acc", top_k=2)
    acc.update([nd(label)], [nd(pred)])
    top2 = np.argsort(-pred, axis=1)[:, :2]
    assert acc.get()[1] == pytest.approx(np.mean([label[i] in top2[i] for i in range(50)]))


def test_f1_macro_and_micro():
    f1 = mx.metric.F1()
    f1.update([nd(LABEL)], [nd(PRED)])
    assert f1.get() == ("f1", pytest.approx(0.8))
    # second batch: tp=0, fp=1, fn=1 -> f1 0; macro averages the two batches
    f1.update([nd([1, 0])], [nd([[0.9, 0.1], [0.2, 0.8]])])
    assert f1.get()[1] == pytest.approx(0.4)
    micro = mx.metric.F1(average="micro")
    micro.update([nd(LABEL)], [nd(PRED)])
    micro.update([nd([1, 0])], [nd([[0.9, 0.1], [0.2, 0.8]])])
    # overall tp=2, fp=2, fn=1 -> precision 1/2, recall 2/3
    assert micro.get()[1] == pytest.approx(4 / 7)
    assert micro.num_inst == 5
    with pytest.raises(ValueError, match="binary"):
        mx.metric.F1().update([nd([0, 1, 2])], [nd(PRED)])


def test_mcc():
    mcc = mx.metric.MCC()
    mcc.update([nd([0, 1, 1, 0])], [nd([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])])
    tp, tn, fp, fn = 1, 1, 1, 1
    want = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert mcc.get() == ("mcc", pytest.approx(want))


def test_regression_metrics():
    label = np.array([2.5, 0.0, 2, 8], dtype=np.float32)
    pred = np.array([3, -0.5, 2, 7], dtype=np.float32)
    label2 = np.array([1.0, 2.0], dtype=np.float32)
    pred2 = np.array([[1.5], [2.0]], dtype=np.float32)
    for name, fn in [
        ("mae", lambda d: np.abs(d).mean()),
        ("mse", lambda d: (d**2).mean()),
        ("rmse", lambda d: np.sqrt((d**2).mean())),
    ]:
        m = mx.metric.create(name)
        m.update([nd(label)], [nd(pred)])
        m.update([nd(label2)], [nd(pred2)])
        want = (fn(label - pred) + fn(label2 - pred2.ravel())) / 2  # one instance per batch
        assert m.get() == (name, pytest.approx(want, rel=1e-6))
        assert m.num_inst == 2


def test_cross_entropy_and_nll():
    ce = mx.metric.create("ce")
    ce.update([nd(LABEL)], [nd(PRED)])
    want = -(np.log(0.3 + 1e-12) + np.log(1.0 + 1e-12) + np.log(0.6 + 1e-12)) / 3
    assert ce.get() == ("cross-entropy", pytest.approx(want, rel=1e-6))
    assert isinstance(ce.get()[1], float)
    nll = mx.metric.create("nll_loss")
    nll.update([nd(LABEL)], [nd(PRED)])
    assert nll.get() == ("nll-loss", pytest.approx(want, rel=1e-6))
    assert mx.metric.CrossEntropy(eps=0.5).eps == 0.5


def test_perplexity():
    label = nd([0, 1, 1, 2])
    pred = nd([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
    p = mx.metric.Perplexity(ignore_label=None)
    p.update([label], [pred])
    want = math.exp(-(math.log(0.5) + math.log(0.8) + math.log(0.2) + math.log(0.4)) / 4)
    assert p.get() == ("perplexity", pytest.approx(want, rel=1e-5))
    p = mx.metric.Perplexity(ignore_label=1)
    p.update([label], [pred])
    assert p.get()[1] == pytest.approx(math.exp(-(math.log(0.5) + math.log(0.4)) / 2), rel=1e-5)
    assert math.isnan(mx.metric.Perplexity(None).get()[1])


def test_loss_metric():
    loss = mx.metric.Loss()
    loss.update(None, [nd([1.0, 2.0, 3.0])])
    loss.update(None, nd([[4.0]]))
    assert loss.get() == ("loss", pytest.approx(10 / 4))
    assert mx.metric.create("torch").name == "torch"
    assert mx.metric.create("caffe").name == "caffe"


def test_pearson():
    rng = np.random.RandomState(1)
    a, b = rng.rand(20).astype(np.float32), rng.rand(20).astype(np.float32)
    m = mx.metric.create("pearsonr")
    m.update([nd(a)], [nd(b)])
    assert m.get()[1] == pytest.approx(np.corrcoef(b, a)[0, 1], rel=1e-5)


def test_custom_metric_and_np_helper():
    preds = [nd(np.array([3, -0.5, 2, 7]).reshape(4, 1))]
    labels = [nd(np.array([2.5, 0.0, 2, 8]).reshape(4, 1))]
    m = mx.metric.CustomMetric(feval=lambda x, y: (x + y).mean())
    m.update(labels, preds)
    assert m.get() == ("custom(<lambda>)", pytest.approx(6.0))

    def mean_abs(label, pred):
        assert isinstance(label, np.ndarray) and isinstance(pred, np.ndarray)
        return np.abs(label - pred).sum(), label.size

    m = mx.metric.np(mean_abs)
    m.update(labels, preds)
    assert m.get() == ("mean_abs", pytest.approx(0.5))
    assert m.num_inst == 4
    m = mx.metric.create(mean_abs, name="mine")
    assert m.name == "mine"
    with pytest.raises(NotImplementedError):
        m.get_config()


def test_composite_and_create_list():
    m = mx.metric.create(["acc", "f1", mx.metric.MSE()])
    assert isinstance(m, mx.metric.CompositeEvalMetric)
    m.update([nd(LABEL)], [nd(PRED)])
    names, values = m.get()
    assert names == ["accuracy", "f1", "mse"]
    assert values[:2] == [pytest.approx(2 / 3), pytest.approx(0.8)]
    assert [n for n, _ in m.get_name_value()] == names
    comp = mx.metric.CompositeEvalMetric()
    comp.add(mx.metric.Accuracy())
    comp.add(mx.metric.TopKAccuracy(top_k=2))
    comp.update([nd(LABEL)], [nd(PRED)])
    assert comp.get() == (["accuracy", "top_k_accuracy_2"], [pytest.approx(2 / 3), 1.0])
    assert isinstance(comp.get_metric(0), mx.metric.Accuracy)
    assert isinstance(comp.get_metric(5), ValueError)  # MXNet returns, not raises
    comp.reset()
    assert all(math.isnan(v) for v in comp.get()[1])


def test_create_by_name_and_aliases():
    for name, cls in [
        ("acc", "Accuracy"),
        ("accuracy", "Accuracy"),
        ("ce", "CrossEntropy"),
        ("top_k_accuracy", "TopKAccuracy"),
        ("composite", "CompositeEvalMetric"),
        ("F1", "F1"),
        ("rmse", "RMSE"),
    ]:
        kwargs = {"top_k": 5} if cls == "TopKAccuracy" else {}
        assert type(mx.metric.create(name, **kwargs)).__name__ == cls
    acc = mx.metric.Accuracy()
    assert mx.metric.create(acc) is acc
    with pytest.raises(AssertionError):
        mx.metric.create("nope")


def test_get_config_round_trip():
    acc = mx.metric.Accuracy(axis=0, name="a0", label_names=["softmax_label"])
    config = acc.get_config()
    assert config == {
        "axis": 0,
        "metric": "Accuracy",
        "name": "a0",
        "output_names": None,
        "label_names": ["softmax_label"],
    }
    again = mx.metric.create(**config)
    assert again.axis == 0 and again.name == "a0"
    comp = mx.metric.create(["acc", "mse"])
    assert [c["metric"] for c in comp.get_config()["metrics"]] == ["Accuracy", "MSE"]


def test_update_dict_picks_names():
    acc = mx.metric.Accuracy(output_names=["out1"], label_names=["lab1"])
    labels = {"lab0": nd([0, 0, 0]), "lab1": nd(LABEL)}
    preds = {"out0": nd([[1, 0], [1, 0], [1, 0]]), "out1": nd(PRED)}
    acc.update_dict(labels, preds)
    assert acc.get()[1] == pytest.approx(2 / 3)
    plain = mx.metric.Accuracy()
    plain.update_dict({"l": nd(LABEL)}, {"o": nd(PRED)})
    assert plain.get()[1] == pytest.approx(2 / 3)
    comp = mx.metric.CompositeEvalMetric([mx.metric.Accuracy()], label_names=["lab1"], output_names=["out1"])
    comp.update_dict(labels, preds)
    assert comp.get()[1][0] == pytest.approx(2 / 3)


def test_register_custom_metric():
    @mx.metric.register
    class Always42(mx.metric.EvalMetric):
        def __init__(self, name="always42", **kwargs):
            super().__init__(name, **kwargs)

        def update(self, labels, preds):
            self.sum_metric += 42
            self.num_inst += 1

    m = mx.metric.create("always42")
    m.update([], [])
    assert m.get() == ("always42", 42.0)


def test_check_label_shapes():
    labels, preds = mx.metric.check_label_shapes(nd([1]), nd([2]), wrap=True)
    assert isinstance(labels, list) and isinstance(preds, list)
    with pytest.raises(ValueError):
        mx.metric.check_label_shapes(nd([1, 2]), nd([1]), shape=True)


def test_accuracy_is_exact_over_many_batches():
    rng = np.random.RandomState(7)
    acc = mx.metric.Accuracy()
    correct = 0
    for _ in range(100):  # more than the 64 batches mxrs keeps pending
        pred = rng.rand(128, 10).astype(np.float32)
        label = rng.randint(0, 10, 128)
        correct += int((pred.argmax(1) == label).sum())
        acc.update([nd(label)], [nd(pred)])
    assert acc.get()[1] == pytest.approx(correct / 12800)
    assert_allclose(acc.num_inst, 12800)
    assert acc.sum_metric == correct and acc.global_sum_metric == correct


def test_accuracy_truncates_like_int32_casts():
    acc = mx.metric.Accuracy()
    acc.update([nd([0.9, 1.2, -0.5, 1.99])], [nd([[1, 0], [0, 1], [1, 0], [1, 0]])])  # labels -> 0, 1, 0, 1
    assert acc.get()[1] == pytest.approx(3 / 4)
    acc = mx.metric.Accuracy()
    acc.update([nd([1, 0, 2])], [nd([1.9, 0.2, 1.99])])  # class indices -> 1, 0, 1
    assert acc.get()[1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        mx.metric.Accuracy().update([nd([1, 0, 2])], [nd([[1.0, 0.0], [0.0, 1.0]])])

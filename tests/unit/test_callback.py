"""``mx.callback``: the exact log lines of MXNet 1.9.1's callbacks, and checkpoint files."""

import logging
import re

import numpy as np
import pytest
from _target import mx
from numpy.testing import assert_array_equal

SPEED = r"\d+\.\d{2}"


def batch(epoch, nbatch, metric):
    return mx.model.BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=metric, locals=None)


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def acc_metric(correct, total):
    m = mx.metric.Accuracy()
    m.sum_metric, m.num_inst = correct, total
    return m


def test_batch_end_param_is_a_namedtuple():
    p = batch(1, 2, None)
    assert p.epoch == 1 and p.nbatch == 2 and p.eval_metric is None and p.locals is None
    assert type(p).__name__ == "BatchEndParams"


def test_speedometer_auto_reset(caplog):
    sp = mx.callback.Speedometer(batch_size=25, frequent=2)
    metric = acc_metric(16, 25)
    with caplog.at_level(logging.INFO):
        sp(batch(0, 0, metric))  # starts the timer only
        sp(batch(0, 1, metric))
        sp(batch(0, 2, metric))
    msgs = messages(caplog)
    assert len(msgs) == 1
    assert re.fullmatch(rf"Epoch\[0\] Batch \[0-2\]\tSpeed: {SPEED} samples/sec\taccuracy=0\.640000", msgs[0])
    assert metric.num_inst == 0  # reset_local
    assert metric.global_num_inst == 0 or metric.get_global()[1] is not None


def test_speedometer_no_reset_and_several_metrics(caplog):
    sp = mx.callback.Speedometer(batch_size=10, frequent=3, auto_reset=False)
    metric = mx.metric.create(["acc", "mse"])
    metric.update([mx.nd.array([0, 1])], [mx.nd.array([[1, 0], [1, 0]])])
    with caplog.at_level(logging.INFO):
        for n in range(7):
            sp(batch(2, n, metric))
    msgs = messages(caplog)
    assert len(msgs) == 2
    for msg, end in zip(msgs, (3, 6)):
        pattern = rf"Epoch\[2\] Batch \[0-{end}\]\tSpeed: {SPEED} samples/sec\taccuracy=0\.500000\tmse=0\.500000"
        assert re.fullmatch(pattern, msg)


def test_speedometer_without_metric_and_new_epoch(caplog):
    sp = mx.callback.Speedometer(batch_size=4, frequent=1)
    with caplog.at_level(logging.INFO):
        sp(batch(0, 0, None))
        sp(batch(0, 1, None))
        sp(batch(1, 0, None))  # nbatch went down: timer restarts, no line
        sp(batch(1, 1, None))
    msgs = messages(caplog)
    assert len(msgs) == 2
    assert re.fullmatch(rf"Iter\[0\] Batch \[1\]\tSpeed: {SPEED} samples/sec", msgs[0])
    assert re.fullmatch(rf"Iter\[1\] Batch \[1\]\tSpeed: {SPEED} samples/sec", msgs[1])


def test_log_train_metric(caplog):
    cb = mx.callback.log_train_metric(2, auto_reset=True)
    metric = acc_metric(3, 4)
    with caplog.at_level(logging.INFO):
        cb(batch(1, 3, metric))
        cb(batch(1, 4, metric))
    assert messages(caplog) == ["Iter[1] Batch[4] Train-accuracy=0.750000"]
    assert metric.num_inst == 0


def test_progress_bar(caplog):
    bar = mx.callback.ProgressBar(total=4, length=8)
    with caplog.at_level(logging.INFO):
        bar(batch(0, 1, None))
        bar(batch(0, 3, None))
    assert messages(caplog) == ["[==------] 25%\r", "[======--] 75%\r"]


def test_log_validation_metrics(caplog):
    cb = mx.callback.LogValidationMetricsCallback()
    with caplog.at_level(logging.INFO):
        cb(batch(3, 10, acc_metric(1, 2)))
        cb(batch(3, 10, None))
    assert messages(caplog) == ["Epoch[3] Validation-accuracy=0.500000"]


def test_do_checkpoint_writes_mxnet_params(tmp_path, caplog):
    prefix = str(tmp_path / "ck")
    cb = mx.callback.do_checkpoint(prefix, period=2)
    arg = {"fc_weight": mx.nd.ones((2, 3)), "fc_bias": mx.nd.zeros((2,))}
    aux = {"bn_moving_var": mx.nd.ones((2,)) * 2}
    with caplog.at_level(logging.INFO):
        cb(0, None, arg, aux)
        cb(1, None, arg, aux)
    assert messages(caplog) == [f'Saved checkpoint to "{prefix}-0002.params"']
    assert not (tmp_path / "ck-0001.params").exists()
    assert not (tmp_path / "ck-symbol.json").exists()  # symbol=None skips the json
    loaded = mx.nd.load(f"{prefix}-0002.params")
    assert sorted(loaded) == ["arg:fc_bias", "arg:fc_weight", "aux:bn_moving_var"]
    assert_array_equal(loaded["aux:bn_moving_var"].asnumpy(), [2, 2])
    arg2, aux2 = mx.model.load_params(prefix, 2)
    assert sorted(arg2) == ["fc_bias", "fc_weight"] and list(aux2) == ["bn_moving_var"]


def test_load_params_drops_other_prefixes_and_needs_colons(tmp_path):
    prefix = str(tmp_path / "m")
    mx.nd.save(f"{prefix}-0012.params", {"arg:a": mx.nd.ones((1,)), "foo:b": mx.nd.ones((1,))})
    arg, aux = mx.model.load_params(prefix, 12)
    assert list(arg) == ["a"] and aux == {}
    mx.nd.save(f"{prefix}-0013.params", {"nocolon": mx.nd.ones((1,))})
    with pytest.raises(ValueError):
        mx.model.load_params(prefix, 13)


def test_module_checkpoint_calls_the_module():
    calls = []

    class FakeModule:
        def save_checkpoint(self, prefix, epoch, save_optimizer_states):
            calls.append((prefix, epoch, save_optimizer_states))

    cb = mx.callback.module_checkpoint(FakeModule(), "p", period=3, save_optimizer_states=True)
    for epoch in range(6):
        cb(epoch)
    assert calls == [("p", 3, True), ("p", 6, True)]


def test_checkpoint_name_for_large_epochs(tmp_path):
    prefix = str(tmp_path / "big")
    mx.model.save_checkpoint(prefix, 12345, None, {"w": mx.nd.array(np.arange(3))}, {})
    assert (tmp_path / "big-12345.params").exists()

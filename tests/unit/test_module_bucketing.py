"""``mx.mod.BucketingModule``, ``SequentialModule`` and ``PythonLossModule`` against MXNet 1.9.1
(``tests/data/legacy_rnn_golden.npz``, from ``tools/golden/legacy_rnn.py``), and a bucketed
LSTM language model trained end to end on ``BucketSentenceIter``."""

import logging
import math
import random
from pathlib import Path

import _legacy_rnn_cases as cases
import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "data" / "legacy_rnn_golden.npz")


def _check(prefix, got):
    for key, value in got.items():
        assert_allclose(value, GOLDEN[f"{prefix}/{key}"], rtol=1e-4, atol=2e-5, err_msg=f"{prefix}/{key}")


def test_bucketing_forward_and_updates_match_mxnet():
    _check("bucketing", cases.run_bucketing(mx))


def test_sequential_module_matches_mxnet():
    _check("seqmod", cases.run_sequential(mx))


def test_python_loss_module_matches_mxnet():
    _check("pyloss", cases.run_python_loss(mx))


def _lm_module():
    mod = mx.mod.BucketingModule(cases.lm_sym_gen(mx), default_bucket_key=5, context=mx.cpu())
    mod.bind(data_shapes=[("data", (3, 5))], label_shapes=[("softmax_label", (3, 5))])
    mod.init_params(arg_params=cases.lm_params(mx), aux_params={})
    return mod


def test_buckets_share_parameter_arrays():
    mod = _lm_module()
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    batches = cases.lm_batches(mx)
    mod.forward(batches[1], is_train=True)  # bucket 3: bound now, sharing bucket 5's arrays
    assert mod._curr_bucket_key == 3
    assert sorted(mod._buckets) == [3, 5]
    short, long_ = mod._buckets[3], mod._buckets[5]
    assert short.symbol.list_arguments() == long_.symbol.list_arguments()
    exe_s = short._exec_group.execs[0]
    exe_l = long_._exec_group.execs[0]
    for k, name in enumerate(sorted(cases.LM_PARAM_SHAPES)):
        exe_l.arg_dict[name][:] = float(k)
        assert (exe_s.arg_dict[name].asnumpy() == k).all(), name
    mod.set_params(cases.lm_params(mx), {})
    assert short.optimizer_initialized and short._optimizer is long_._optimizer
    assert mod.get_outputs()[0].shape == (9, cases.VOCAB)
    # As MXNet: the batch axis of output shapes is given the batch size (3), not 3 * 3 rows.
    assert mod.output_shapes == [("softmax_output", (3, cases.VOCAB))]
    assert mod.data_names == ["data"] and mod.output_names == ["softmax_output"]
    # An update through bucket 3 changes what bucket 5 computes.
    mod.forward(batches[0], is_train=False)
    before = mod.get_outputs()[0].asnumpy()
    mod.forward(batches[1], is_train=True)
    mod.backward()
    mod.update()
    mod.forward(batches[0], is_train=False)
    assert np.abs(mod.get_outputs()[0].asnumpy() - before).max() > 1e-4


def _corpus(rng, n):
    """Sentences of a tiny deterministic grammar: 'a' then repeated 'b c' pairs, then 'd'."""
    sents = []
    for _ in range(n):
        k = rng.randint(1, 4)
        sents.append(["a"] + ["b", "c"] * k + ["d"])
    return sents


def test_bucketing_lstm_language_model_learns():
    random.seed(1)
    np.random.seed(1)
    mx.random.seed(1)
    rng = np.random.RandomState(0)
    coded, vocab = mx.rnn.encode_sentences(_corpus(rng, 96), invalid_label=0, start_label=1)
    train = mx.rnn.BucketSentenceIter(coded, batch_size=8, buckets=[4, 6, 8], invalid_label=0)
    assert sorted(train.buckets) == [4, 6, 8]
    num_hidden, vocab_size = 16, len(vocab) + 1

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=vocab_size, output_dim=8, name="embed")
        stack = mx.rnn.SequentialRNNCell()
        stack.add(mx.rnn.LSTMCell(num_hidden=num_hidden, prefix="lstm_l0_"))
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=vocab_size, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax", use_ignore=True, ignore_label=0)
        return pred, ("data",), ("softmax_label",)

    model = mx.mod.BucketingModule(sym_gen, default_bucket_key=train.default_bucket_key, context=mx.cpu())
    metric = mx.metric.Perplexity(ignore_label=0)
    history = []

    def epoch_end(epoch, symbol, arg, aux):
        history.append(metric.get()[1])

    logging.getLogger().setLevel(logging.WARNING)
    model.fit(
        train_data=train,
        eval_metric=metric,
        optimizer="adam",
        optimizer_params={"learning_rate": 0.02},
        initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
        num_epoch=8,
        epoch_end_callback=epoch_end,
    )
    assert len(history) == 8
    assert history[-1] < 0.5 * history[0], history
    # The grammar is nearly deterministic after 'a': perplexity must get close to 1-2.
    assert history[-1] < 2.5, history
    assert sorted(model._buckets) == [4, 6, 8]
    score = dict(model.score(train, mx.metric.Perplexity(ignore_label=0)))
    assert math.isfinite(score["perplexity"]) and score["perplexity"] < 2.5


def test_bucketing_checkpoint_round_trip(tmp_path):
    mod = _lm_module()
    batches = cases.lm_batches(mx)
    mod.forward(batches[1], is_train=False)
    expected = mod.get_outputs()[0].asnumpy()
    prefix = str(tmp_path / "lm")
    mod.save_checkpoint(prefix, 2)
    assert (tmp_path / "lm-0002.params").exists()
    assert (tmp_path / "lm-3-symbol.json").exists() and (tmp_path / "lm-5-symbol.json").exists()
    loaded = mx.mod.BucketingModule.load(prefix, 2, sym_gen=cases.lm_sym_gen(mx), default_bucket_key=5)
    loaded.bind(data_shapes=[("data", (3, 5))], label_shapes=[("softmax_label", (3, 5))], for_training=False)
    loaded.forward(batches[1], is_train=False)
    assert_allclose(loaded.get_outputs()[0].asnumpy(), expected, rtol=1e-6)


def test_bucketing_rebind_keeps_parameters():
    mod = _lm_module()
    arg, _ = mod.get_params()
    want = {k: v.asnumpy() for k, v in arg.items()}
    mod.bind(data_shapes=[("data", (3, 5))], label_shapes=[("softmax_label", (3, 5))], force_rebind=True)
    got, _ = mod.get_params()
    for k, v in want.items():
        assert_allclose(got[k].asnumpy(), v)


def test_sequential_module_shapes_and_meta():
    mod1, mod2 = cases._mlp_modules(mx)
    seq = mx.mod.SequentialModule()
    assert seq.add(mod1) is seq
    seq.add(mod2, take_labels=True, auto_wiring=True)
    seq.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))])
    assert seq.data_names == ["data"]
    assert seq.output_names == ["softmax_output"]
    assert seq.output_shapes == [("softmax_output", (4, 3))]
    assert [tuple(x) for x in seq.label_shapes] == [("softmax_label", (4,))]
    seq.init_params(initializer=mx.init.Uniform(0.1))
    arg, _ = seq.get_params()
    assert sorted(arg) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]


@pytest.mark.skipif(IS_MXNET, reason="mxrs raises MXNetError where MXNet asserts")
def test_bad_input_errors():
    err = mx.base.MXNetError
    with pytest.raises(err, match="default_bucket_key is required"):
        mx.mod.BucketingModule(cases.lm_sym_gen(mx))
    with pytest.raises(err, match="must return"):
        mx.mod.BucketingModule(lambda key: mx.sym.Variable("x"), default_bucket_key=1)
    mod = mx.mod.BucketingModule(cases.lm_sym_gen(mx), default_bucket_key=5)
    with pytest.raises(err, match="call bind"):
        mod.switch_bucket(3, [("data", (3, 3))])
    with pytest.raises(err, match="call bind"):
        mod.init_params()
    with pytest.raises(err, match="not supported"):
        mod.bind([("data", (3, 5))], [("softmax_label", (3, 5))], shared_module=mod)
    seq = mx.mod.SequentialModule()
    with pytest.raises(err, match="Unknown meta"):
        seq.add(mx.mod.PythonLossModule(), take_label=True)
    with pytest.raises(err, match="empty SequentialModule"):
        seq.bind([("data", (2, 2))])
    loss = mx.mod.PythonLossModule()
    with pytest.raises(err, match="do not match data_names"):
        loss.bind([("x", (2, 2))], [("softmax_label", (2,))])
    with pytest.raises(err, match="one data name"):
        mx.mod.PythonLossModule(data_names=("a", "b"))
    with pytest.raises(err, match="Duplicated parameter names"):
        d = mx.sym.Variable("data")
        a = mx.mod.Module(mx.sym.FullyConnected(d, num_hidden=2, name="fc"), label_names=None)
        b = mx.mod.Module(mx.sym.FullyConnected(d, num_hidden=2, name="fc"), label_names=None)
        s = mx.mod.SequentialModule().add(a).add(b, auto_wiring=True)
        s.bind([("data", (1, 2))])
        s.init_params()

"""``mx.rnn``'s symbolic cells against MXNet 1.9.1: names, outputs and gradients of unrolled
cells bound with fixed weights (``tests/data/legacy_rnn_golden.npz``, written by
``tools/golden/legacy_rnn.py`` from the networks in ``tests/_legacy_rnn_cases.py``)."""

import json
import warnings
from pathlib import Path

import _legacy_rnn_cases as cases
import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "data" / "legacy_rnn_golden.npz")
META = json.loads(str(GOLDEN["meta"]))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FusedRNNCell's NTC-layout hint
        yield


def test_public_names_match_mxnet():
    expected = {
        "BaseConvRNNCell", "BaseRNNCell", "BidirectionalCell", "BucketSentenceIter", "ConvGRUCell",
        "ConvLSTMCell", "ConvRNNCell", "DataBatch", "DataDesc", "DataIter", "DropoutCell",
        "FusedRNNCell", "GRUCell", "LSTMCell", "ModifierCell", "RNNCell", "RNNParams", "ResidualCell",
        "SequentialRNNCell", "ZoneoutCell", "bisect", "do_rnn_checkpoint", "encode_sentences",
        "functools", "init", "io", "load_checkpoint", "load_rnn_checkpoint", "ndarray", "np",
        "numeric_types", "random", "rnn", "rnn_cell", "rnn_unroll", "save_checkpoint",
        "save_rnn_checkpoint", "string_types", "symbol", "warnings",
    }  # fmt: skip
    assert len(expected) == 40
    assert expected <= set(dir(mx.rnn))


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_unrolled_cell_matches_mxnet(name):
    res = cases.run_case(mx, name)
    assert res["arguments"] == META[name]["arguments"]
    assert res["outputs_names"] == META[name]["outputs"]
    graph = json.loads(res["json"])
    assert {k: graph[k] for k in ("nodes", "arg_nodes", "heads")} == META[name]["graph"]
    for k, out in enumerate(res["outputs"]):
        assert_allclose(out, GOLDEN[f"{name}/out{k}"], rtol=1e-4, atol=2e-5, err_msg=f"{name} output {k}")
    for arg, grad in res.get("grads", {}).items():
        assert_allclose(grad, GOLDEN[f"{name}/grad/{arg}"], rtol=1e-4, atol=2e-5, err_msg=f"{name} grad {arg}")


def test_rnn_cell_names_and_shapes():
    cell = mx.rnn.RNNCell(100, prefix="rnn_")
    inputs = [mx.sym.Variable(f"rnn_t{i}_data") for i in range(3)]
    outputs, _ = cell.unroll(3, inputs)
    outputs = mx.sym.Group(outputs)
    assert sorted(cell.params._params.keys()) == ["rnn_h2h_bias", "rnn_h2h_weight", "rnn_i2h_bias", "rnn_i2h_weight"]
    assert outputs.list_outputs() == ["rnn_t0_out_output", "rnn_t1_out_output", "rnn_t2_out_output"]
    _, outs, _ = outputs.infer_shape(rnn_t0_data=(10, 50), rnn_t1_data=(10, 50), rnn_t2_data=(10, 50))
    assert outs == [(10, 100), (10, 100), (10, 100)]


def test_lstm_begin_state_and_state_info():
    cell = mx.rnn.LSTMCell(7, prefix="lstm_")
    assert cell.state_info == [{"shape": (0, 7), "__layout__": "NC"}] * 2
    assert cell.state_shape == [(0, 7), (0, 7)]
    states = cell.begin_state()
    assert [s.name for s in states] == ["lstm_begin_state_0", "lstm_begin_state_1"]
    # i2h_bias carries the LSTMBias initializer (forget gate 1.0).
    attrs = cell.params.get("i2h_bias").attr_dict()["lstm_i2h_bias"]
    assert json.loads(attrs["__init__"]) == ["lstmbias", {"forget_bias": 1.0}]


def test_unroll_length_one_infers_the_batch_of_zero_states():
    # The h2h weight is used only by the state's FullyConnected: the zero state's batch size is
    # taken from the other addend of the gates.
    cell = mx.rnn.GRUCell(6, prefix="g_")
    out, states = cell.unroll(1, mx.sym.Variable("data"), layout="NTC", merge_outputs=True)
    arg, outs, _ = mx.sym.Group([out] + states).infer_shape(data=(3, 1, 2))
    assert outs == [(3, 1, 6), (3, 6)]
    assert dict(zip(out.list_arguments(), arg))["g_h2h_weight"] == (18, 6)


def test_sequential_stepping():
    cell = mx.rnn.SequentialRNNCell()
    cell.add(mx.rnn.LSTMCell(4, prefix="a_"))
    cell.add(mx.rnn.LSTMCell(4, prefix="b_"))
    assert len(cell.state_info) == 4
    x = mx.sym.Variable("x")
    out, states = cell(x, cell.begin_state())
    assert len(states) == 4
    args = out.list_arguments()
    assert "a_i2h_weight" in args and "b_h2h_bias" in args
    assert sorted(cell.params._params) == sorted(
        f"{p}_{g}_{w}" for p in "ab" for g in ("i2h", "h2h") for w in ("weight", "bias")
    )


def test_shared_params_container():
    params = mx.rnn.RNNParams("shared_")
    a = mx.rnn.GRUCell(3, prefix="a_", params=params)
    b = mx.rnn.GRUCell(3, prefix="b_", params=params)
    out_a, _ = a.unroll(2, mx.sym.Variable("x"), layout="NTC", merge_outputs=True)
    out_b, _ = b.unroll(2, out_a, layout="NTC", merge_outputs=True)
    assert sorted(set(out_b.list_arguments()) - {"x"}) == [
        "shared_h2h_bias", "shared_h2h_weight", "shared_i2h_bias", "shared_i2h_weight"
    ]  # fmt: skip
    # MXNet: a SequentialRNNCell given params= rejects every child (their params were read).
    with pytest.raises((AssertionError, mx.base.MXNetError), match="not both"):
        mx.rnn.SequentialRNNCell(params=mx.rnn.RNNParams("s_")).add(mx.rnn.LSTMCell(2))


def test_bidirectional_states_and_output_names():
    cell = mx.rnn.BidirectionalCell(mx.rnn.GRUCell(3, prefix="l_"), mx.rnn.GRUCell(3, prefix="r_"))
    outputs, states = cell.unroll(2, mx.sym.Variable("d"), layout="NTC", merge_outputs=False)
    assert [o.name for o in outputs] == ["bi_t0", "bi_t1"]
    assert len(states) == 2 and len(states[0]) == 1
    merged, _ = cell.unroll(2, mx.sym.Variable("d"), layout="NTC", merge_outputs=True)
    _, outs, _ = merged.infer_shape(d=(5, 2, 7))
    assert outs == [(5, 2, 6)]


def test_dropout_and_zoneout_in_training_keep_shapes():
    cell = mx.rnn.SequentialRNNCell()
    cell.add(mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(4, prefix="z_"), zoneout_outputs=0.3, zoneout_states=0.3))
    cell.add(mx.rnn.DropoutCell(0.5))
    out, _ = cell.unroll(3, mx.sym.Variable("data"), layout="NTC", merge_outputs=True)
    exe = out.simple_bind(mx.cpu(), data=(2, 3, 5))
    for arr in exe.arg_arrays:
        arr[:] = 0.1
    exe.forward(is_train=True)
    assert exe.outputs[0].shape == (2, 3, 4)
    assert np.isfinite(exe.outputs[0].asnumpy()).all()


def test_modifier_cell_guards_base_cell():
    base = mx.rnn.RNNCell(3, prefix="m_")
    mod = mx.rnn.ResidualCell(base)
    with pytest.raises(mx.base.MXNetError if not IS_MXNET else AssertionError, match="modifier"):
        base.begin_state()
    assert len(mod.begin_state()) == 1
    assert mod.params is base.params


def test_unpack_fused_weights_matches_mxnet():
    for key, names in META["unpack"].items():
        spec = {
            "lstm_bi2": dict(num_hidden=3, num_layers=2, mode="lstm", bidirectional=True),
            "gru1": dict(num_hidden=4, num_layers=1, mode="gru"),
            "tanh3": dict(num_hidden=2, num_layers=3, mode="rnn_tanh"),
        }[key]
        cell = mx.rnn.FusedRNNCell(prefix=f"{key}_", **spec)
        vec = GOLDEN[f"unpack/{key}/vec"]
        args = cell.unpack_weights({f"{key}_parameters": mx.nd.array(vec), "other": mx.nd.ones((2,))})
        assert sorted(k for k in args if k != "other") == names
        for name in names:
            assert_allclose(args[name].asnumpy(), GOLDEN[f"unpack/{key}/{name}"], err_msg=name)
        packed = cell.pack_weights(args)
        assert sorted(packed) == sorted([f"{key}_parameters", "other"])
        assert_allclose(packed[f"{key}_parameters"].asnumpy(), vec)


def test_pack_unpack_round_trip_of_plain_cells():
    cell = mx.rnn.SequentialRNNCell()
    cell.add(mx.rnn.LSTMCell(3, prefix="l0_"))
    cell.add(mx.rnn.GRUCell(2, prefix="l1_"))
    rng = np.random.RandomState(0)
    args = {
        "l0_i2h_weight": rng.rand(12, 5), "l0_i2h_bias": rng.rand(12), "l0_h2h_weight": rng.rand(12, 3),
        "l0_h2h_bias": rng.rand(12), "l1_i2h_weight": rng.rand(6, 3), "l1_i2h_bias": rng.rand(6),
        "l1_h2h_weight": rng.rand(6, 2), "l1_h2h_bias": rng.rand(6),
    }  # fmt: skip
    args = {k: mx.nd.array(v) for k, v in args.items()}
    unpacked = cell.unpack_weights(args)
    assert "l0_i2h_f_weight" in unpacked and "l1_h2h_z_bias" in unpacked
    assert "l0_i2h_weight" not in unpacked
    assert_allclose(unpacked["l0_i2h_f_weight"].asnumpy(), args["l0_i2h_weight"].asnumpy()[3:6])
    assert_allclose(unpacked["l1_h2h_o_bias"].asnumpy(), args["l1_h2h_bias"].asnumpy()[4:6])
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == sorted(args)
    for k, v in args.items():
        assert_allclose(packed[k].asnumpy(), v.asnumpy())


def test_fused_and_unfused_cells_agree():
    """The fused network and its unfused stack give the same outputs for the same weights."""
    fused = mx.rnn.FusedRNNCell(4, num_layers=2, mode="gru", bidirectional=True, prefix="f_")
    stack = fused.unfuse()
    data = mx.sym.Variable("data")
    f_out, _ = fused.unroll(3, data, layout="TNC", merge_outputs=True)
    u_out, _ = stack.unroll(3, data, layout="TNC", merge_outputs=True)
    x = np.random.RandomState(3).uniform(-1, 1, size=(3, 2, 5)).astype(np.float32)
    f_exe = f_out.simple_bind(mx.cpu(), data=x.shape, grad_req="null")
    n = f_exe.arg_dict["f_parameters"].size
    f_exe.arg_dict["f_parameters"][:] = np.random.RandomState(4).uniform(-0.5, 0.5, size=n).astype(np.float32)
    f_exe.arg_dict["data"][:] = x
    f_exe.forward()
    unpacked = fused.unpack_weights({"f_parameters": f_exe.arg_dict["f_parameters"]})
    args = stack.pack_weights(unpacked)
    args["data"] = mx.nd.array(x)
    u_exe = u_out.bind(mx.cpu(), args=args)
    u_exe.forward()
    assert_allclose(u_exe.outputs[0].asnumpy(), f_exe.outputs[0].asnumpy(), rtol=1e-5, atol=1e-6)


def test_fused_rnn_initializer_matches_mxnet():
    got = cases.fused_init_values(mx)
    for key, value in got.items():
        assert_allclose(value, GOLDEN[f"fused_init/{key}"], err_msg=key)
    assert "FusedRNN" in dir(mx.init) and "load" in dir(mx.init)
    init = mx.init.FusedRNN(mx.init.Xavier(), 4, 1, "lstm")
    assert json.loads(init.dumps())[0] == "fusedrnn"


def test_rnn_checkpoint_round_trip(tmp_path):
    cell = mx.rnn.FusedRNNCell(3, num_layers=1, mode="lstm", prefix="ck_")
    out, _ = cell.unroll(2, mx.sym.Variable("data"), layout="TNC", merge_outputs=True)
    n = (4 + 3 + 2) * 3 * 4
    vec = np.arange(n, dtype=np.float32) / n
    arg = {"ck_parameters": mx.nd.array(vec)}
    prefix = str(tmp_path / "ck")
    mx.rnn.save_rnn_checkpoint(cell, prefix, 3, out, arg, {})
    raw = mx.nd.load(f"{prefix}-0003.params")
    assert "arg:ck_l0_i2h_f_weight" in raw and "arg:ck_parameters" not in raw
    sym, arg2, aux2 = mx.rnn.load_rnn_checkpoint([cell], prefix, 3)
    assert sym.list_arguments() == out.list_arguments()
    assert list(arg2) == ["ck_parameters"] and aux2 == {}
    assert_allclose(arg2["ck_parameters"].asnumpy(), vec)
    callback = mx.rnn.do_rnn_checkpoint(cell, prefix, period=2)
    callback(0, out, arg, {})
    assert not (tmp_path / "ck-0001.params").exists()
    callback(1, out, arg, {})
    assert (tmp_path / "ck-0002.params").exists()


def test_encode_sentences_matches_mxnet():
    coded, vocab = mx.rnn.encode_sentences(cases.SENTENCES, invalid_label=0, start_label=1)
    assert coded == META["encode"]["coded"]
    assert vocab == META["encode"]["vocab"]
    coded2, vocab2 = mx.rnn.encode_sentences([["the", "zebra"], ["dog"]], vocab=dict(vocab), unknown_token="<unk>")
    assert coded2 == META["encode_unk"]["coded"] and vocab2 == META["encode_unk"]["vocab"]


def test_bucket_sentence_iter_matches_mxnet():
    import random  # noqa: PLC0415

    random.seed(5)
    np.random.seed(5)
    it = mx.rnn.BucketSentenceIter(META["encode"]["coded"], batch_size=2, buckets=[3, 6], invalid_label=0)
    assert it.buckets == META["iter"]["buckets"]
    assert it.default_bucket_key == META["iter"]["default_bucket_key"]
    assert it.provide_data[0].shape == (2, 6) and it.provide_data[0].layout == "NT"
    keys = []
    for i, batch in enumerate(it):
        keys.append(batch.bucket_key)
        assert_allclose(batch.data[0].asnumpy(), GOLDEN[f"iter/data{i}"])
        assert_allclose(batch.label[0].asnumpy(), GOLDEN[f"iter/label{i}"])
        assert batch.provide_data[0].shape == batch.data[0].shape
    assert keys == META["iter"]["keys"]


def test_bucket_sentence_iter_time_major():
    sents = [[1, 2, 3], [4, 5, 6], [7, 8], [9, 1]]
    it = mx.rnn.BucketSentenceIter(sents, batch_size=2, buckets=[3], layout="TN", invalid_label=0)
    batch = next(iter(it))
    assert batch.data[0].shape == (3, 2) and batch.bucket_key == 3
    assert it.provide_label[0].shape == (3, 2)


@pytest.mark.skipif(IS_MXNET, reason="mxrs raises MXNetError where MXNet asserts")
def test_bad_input_errors():
    err = mx.base.MXNetError
    cell = mx.rnn.LSTMCell(3)
    with pytest.raises(err, match="takes 2 state"):
        cell(mx.sym.Variable("x"), [mx.sym.Variable("h")])
    with pytest.raises(err, match="one per time step"):
        cell.unroll(3, [mx.sym.Variable("x")])
    with pytest.raises(err, match="deprecated"):
        cell.unroll(3, None)
    with pytest.raises(err, match="mode must be one of"):
        mx.rnn.FusedRNNCell(3, mode="tanh")
    fused = mx.rnn.FusedRNNCell(3, mode="lstm", prefix="e_")
    with pytest.raises(err, match="cannot be stepped"):
        fused(mx.sym.Variable("x"), [])
    with pytest.raises(err, match="'e_parameters' is missing"):
        fused.unpack_weights({})
    with pytest.raises(err, match="packed parameters have 50 elements"):
        fused.unpack_weights({"e_parameters": mx.nd.zeros((4 * 3 * 2 + 50,))[:50]})
    with pytest.raises(err, match="is missing"):
        cell.pack_weights({"lstm_i2h_i_weight": mx.nd.zeros((3, 2))})
    with pytest.raises(err, match="Unknown token 'zebra'"):
        mx.rnn.encode_sentences([["zebra"]], vocab={"a": 1})
    with pytest.raises(err, match="no sentence length occurs"):
        mx.rnn.BucketSentenceIter([[1, 2]], batch_size=4)
    with pytest.raises(err, match="Invalid layout"):
        mx.rnn.BucketSentenceIter([[1, 2]] * 4, batch_size=2, layout="NTC")
    with pytest.raises(err, match="dropout probability must be a number"):
        mx.rnn.DropoutCell("0.5")
    with pytest.raises(err, match="FusedRNNCell doesn't support zoneout"):
        mx.rnn.ZoneoutCell(fused)
    with pytest.raises(err, match="Only support odd number"):
        mx.rnn.ConvRNNCell((1, 2, 4, 4), 2, h2h_kernel=(2, 2))

"""``mx.gluon.contrib``: values against MXNet 1.9.1 (tests/data/gluon_contrib_golden.npz, from
tools/golden/gluon_contrib.py), hybridized == imperative, and clear errors on bad input."""

from pathlib import Path

import mxrs as mx
import numpy as np
import pytest
from mxrs import autograd, gluon
from mxrs.base import MXNetError
from mxrs.gluon.contrib import data as cdata
from mxrs.gluon.contrib import nn as cnn
from mxrs.gluon.contrib import rnn as crnn

GOLD = np.load(Path(__file__).resolve().parents[1] / "data" / "gluon_contrib_golden.npz")


def nd(a):
    return mx.nd.array(a)


def set_params(block, key):
    for name, p in block.collect_params().items():
        p.set_data(nd(GOLD[f"{key}/{name[len(block.prefix) :]}"]))


@pytest.mark.parametrize(
    "key,make",
    [
        ("ps1", lambda: cnn.PixelShuffle1D(2)),
        ("ps2", lambda: cnn.PixelShuffle2D((2, 3))),
        ("ps3", lambda: cnn.PixelShuffle3D((2, 1, 3))),
    ],
)
def test_pixel_shuffle_matches_mxnet(key, make):
    blk = make()
    x = nd(GOLD[f"{key}/x"])
    np.testing.assert_array_equal(blk(x).asnumpy(), GOLD[f"{key}/y"])
    blk.hybridize()
    np.testing.assert_array_equal(blk(x).asnumpy(), GOLD[f"{key}/y"])
    np.testing.assert_array_equal(blk(x).asnumpy(), GOLD[f"{key}/y"])


def test_pixel_shuffle_shapes_and_repr():
    assert cnn.PixelShuffle1D(2)(mx.nd.zeros((1, 8, 3))).shape == (1, 4, 6)
    assert cnn.PixelShuffle2D((2, 3))(mx.nd.zeros((1, 12, 3, 5))).shape == (1, 2, 6, 15)
    assert cnn.PixelShuffle3D((2, 3, 4))(mx.nd.zeros((1, 48, 3, 5, 7))).shape == (1, 2, 6, 15, 28)
    assert cnn.PixelShuffle2D(2)._factors == (2, 2)
    assert repr(cnn.PixelShuffle1D(2)) == "PixelShuffle1D(2)"
    assert repr(cnn.PixelShuffle2D((2, 3))) == "PixelShuffle2D((2, 3))"


def test_pixel_shuffle_bad_input():
    with pytest.raises(MXNetError, match=r"PixelShuffle2D.*\(1, 10, 3, 5\)"):
        cnn.PixelShuffle2D((2, 3))(mx.nd.zeros((1, 10, 3, 5)))
    blk = cnn.PixelShuffle1D(2)
    blk.hybridize()
    with pytest.raises(MXNetError, match=r"PixelShuffle1D.*\(1, 8\)"):
        blk(mx.nd.zeros((1, 8)))
    with pytest.raises(MXNetError, match="PixelShuffle3D"):
        cnn.PixelShuffle3D((2, 3))


@pytest.mark.parametrize("key,cls", [("conc", cnn.Concurrent), ("hconc", cnn.HybridConcurrent)])
def test_concurrent_matches_mxnet(key, cls):
    net = cls(axis=1, prefix=key + "_")
    with net.name_scope():
        net.add(gluon.nn.Dense(3, in_units=4))
        net.add(gluon.nn.Dense(2, in_units=4, activation="tanh"))
        net.add(cnn.Identity())
    net.initialize()
    set_params(net, key)
    x = nd(GOLD[f"{key}/x"])
    y = net(x).asnumpy()
    assert y.shape == (2, 9)
    np.testing.assert_allclose(y, GOLD[f"{key}/y"], rtol=1e-5, atol=1e-6)
    if cls is cnn.HybridConcurrent:
        net.hybridize()
        np.testing.assert_allclose(net(x).asnumpy(), y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [cnn.Concurrent, cnn.HybridConcurrent])
def test_concurrent_bad_shapes(cls):
    net = cls(axis=1)
    net.add(gluon.nn.Dense(3, in_units=4, flatten=False))
    net.add(cnn.Identity())
    net.initialize()
    with pytest.raises(MXNetError, match=rf"{cls.__name__}.*\(2, 2, 3\).*\(2, 2, 4\)"):
        net(mx.nd.zeros((2, 2, 4)))


def test_sparse_embedding_matches_mxnet():
    emb = cnn.SparseEmbedding(6, 3, prefix="semb_")
    emb.initialize()
    set_params(emb, "semb")
    with autograd.record():
        y = emb(nd(GOLD["semb/idx"]))
    y.backward(nd(GOLD["semb/head"]))
    np.testing.assert_array_equal(y.asnumpy(), GOLD["semb/y"])
    np.testing.assert_allclose(emb.weight.grad().asnumpy(), GOLD["semb/grad"], rtol=1e-6, atol=1e-7)
    assert repr(emb) == "SparseEmbedding(6 -> 3, float32)"


def test_sync_batch_norm_matches_mxnet():
    bn = cnn.SyncBatchNorm(in_channels=3, num_devices=1, momentum=0.8, prefix="sbn_")
    bn.initialize()
    set_params(bn, "sbn")
    xa = nd(GOLD["sbn/x"])
    xa.attach_grad()
    with autograd.record():
        y = bn(xa)
    y.backward(nd(GOLD["sbn/head"]))
    tol = {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(y.asnumpy(), GOLD["sbn/y"], **tol)
    np.testing.assert_allclose(xa.grad.asnumpy(), GOLD["sbn/dx"], **tol)
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), GOLD["sbn/new_mean"], **tol)
    np.testing.assert_allclose(bn.running_var.data().asnumpy(), GOLD["sbn/new_var"], **tol)
    np.testing.assert_allclose(bn(xa).asnumpy(), GOLD["sbn/y_infer"], **tol)
    bn.hybridize()
    np.testing.assert_allclose(bn(xa).asnumpy(), GOLD["sbn/y_infer"], **tol)


def test_sync_batch_norm_devices_and_bad_input():
    assert cnn.SyncBatchNorm(num_devices=4).num_devices == 4
    assert cnn.SyncBatchNorm().num_devices == 1
    with pytest.raises(MXNetError, match="num_devices"):
        cnn.SyncBatchNorm(num_devices=0)
    bn = cnn.SyncBatchNorm(in_channels=3)
    bn.initialize()
    with pytest.raises(MXNetError, match="BatchNorm"):
        bn(mx.nd.zeros((2, 4, 2)))


def _lstmp():
    cell = crnn.LSTMPCell(5, 3, input_size=4, prefix="lstmp_")
    cell.initialize()
    set_params(cell, "lstmp")
    return cell


@pytest.mark.parametrize("hybrid", [False, True])
def test_lstmp_cell_matches_mxnet(hybrid):
    cell = _lstmp()
    if hybrid:
        cell.hybridize()
    xa = nd(GOLD["lstmp/x"])
    xa.attach_grad()
    with autograd.record():
        outs, states = cell.unroll(
            3, xa, [nd(GOLD["lstmp/h0"]), nd(GOLD["lstmp/c0"])], layout="NTC", merge_outputs=True
        )
        loss = (outs * outs).sum() + states[1].sum()
    loss.backward()
    tol = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(outs.asnumpy(), GOLD["lstmp/y"], **tol)
    np.testing.assert_allclose(states[0].asnumpy(), GOLD["lstmp/r"], **tol)
    np.testing.assert_allclose(states[1].asnumpy(), GOLD["lstmp/c"], **tol)
    np.testing.assert_allclose(xa.grad.asnumpy(), GOLD["lstmp/dx"], **tol)
    for name in ("i2h_weight", "h2r_weight"):
        got = cell.collect_params()["lstmp_" + name].grad().asnumpy()
        np.testing.assert_allclose(got, GOLD[f"lstmp/d_{name}"], **tol)


def test_lstmp_cell_states_repr_and_bad_input():
    cell = _lstmp()
    assert [s.shape for s in cell.begin_state(batch_size=2)] == [(2, 3), (2, 5)]
    assert repr(cell) == "LSTMPCell(4 -> 20 -> 3)"
    with pytest.raises(MXNetError, match=r"LSTMPCell.*\(2, 4\).*\(2, 5\)"):
        cell(mx.nd.zeros((2, 4)), [mx.nd.zeros((2, 5)), mx.nd.zeros((2, 5))])
    with pytest.raises(MXNetError, match=r"LSTMPCell.*\(2, 7\)"):
        cell(mx.nd.zeros((2, 7)), cell.begin_state(batch_size=2))


def _vardrop_nets(**drops):
    base = gluon.rnn.LSTMCell(4, input_size=3, prefix="vd_")
    base.initialize(mx.init.Uniform(0.5))
    ref = gluon.rnn.LSTMCell(4, input_size=3, prefix="vd_", params=base.collect_params())
    return crnn.VariationalDropoutCell(base, **drops), ref


@pytest.mark.parametrize("drop_states", [0.0, 0.5])
def test_variational_dropout_identity_outside_training(drop_states):
    cell, ref = _vardrop_nets(drop_inputs=0.5, drop_states=drop_states, drop_outputs=0.5)
    x = mx.nd.random.uniform(shape=(2, 5, 3))
    out, st = cell.unroll(5, x, layout="NTC", merge_outputs=True)
    want, want_st = ref.unroll(5, x, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), want.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(st[1].asnumpy(), want_st[1].asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("drop_states", [0.0, 0.5])
def test_variational_dropout_mask_shared_over_time(drop_states):
    mx.random.seed(3)
    cell, ref = _vardrop_nets(drop_states=drop_states, drop_outputs=0.5)
    x = mx.nd.random.uniform(0.5, 1.0, shape=(4, 6, 3))
    with autograd.record():
        out, _ = cell.unroll(6, x, layout="NTC", merge_outputs=True)
    o = out.asnumpy()
    dropped = o == 0
    assert dropped.any() and not dropped.all()
    # the same units are dropped at every time step
    assert (dropped == dropped[:, :1, :]).all()
    if not drop_states:
        want = ref.unroll(6, x, layout="NTC", merge_outputs=True)[0].asnumpy()
        np.testing.assert_allclose(o[~dropped], 2 * want[~dropped], rtol=1e-5)


def test_variational_dropout_step_masks_and_reset():
    cell, _ = _vardrop_nets(drop_inputs=0.5, drop_outputs=0.5)
    states = cell.begin_state(batch_size=2)
    with autograd.record():
        cell(mx.nd.ones((2, 3)), states)
    m = cell.drop_inputs_mask.asnumpy()
    assert set(np.unique(m)) <= {0.0, 2.0}
    with autograd.record():
        cell(mx.nd.ones((2, 3)), states)
    np.testing.assert_array_equal(cell.drop_inputs_mask.asnumpy(), m)
    cell.reset()
    assert cell.drop_inputs_mask is None and cell.drop_outputs_mask is None
    assert repr(cell) == "VariationalDropoutCell(p_out = 0.5, p_state = 0.0)"
    with pytest.raises(MXNetError, match="BidirectionalCell"):
        crnn.VariationalDropoutCell(
            gluon.rnn.BidirectionalCell(gluon.rnn.LSTMCell(2), gluon.rnn.LSTMCell(2)), drop_states=0.5
        )


def test_interval_sampler_matches_mxnet():
    assert list(cdata.IntervalSampler(13, 3)) == GOLD["interval/13_3"].tolist()
    assert list(cdata.IntervalSampler(13, 3, rollover=False)) == GOLD["interval/13_3_norollover"].tolist()
    assert list(cdata.IntervalSampler(10, 4)) == GOLD["interval/10_4"].tolist()
    assert len(cdata.IntervalSampler(13, 3, rollover=False)) == int(GOLD["interval/len_norollover"])
    with pytest.raises(MXNetError, match="IntervalSampler"):
        cdata.IntervalSampler(3, 5)


def test_namespace():
    assert mx.gluon.contrib.nn.Identity is cnn.Identity
    assert {"nn", "rnn", "cnn", "data", "estimator"} <= set(dir(mx.gluon.contrib))


CONV_CELLS = {
    "cgru1": (
        "Conv1DGRUCell",
        dict(input_shape=(2, 6), hidden_channels=3, i2h_kernel=3, h2h_kernel=(3,), i2h_dilate=2),
    ),
    "clstm2": (
        "Conv2DLSTMCell",
        dict(input_shape=(2, 4, 5), hidden_channels=3, i2h_kernel=3, h2h_kernel=3, i2h_pad=1),
    ),
    "crnn3": (
        "Conv3DRNNCell",
        dict(input_shape=(1, 3, 3, 3), hidden_channels=2, i2h_kernel=(1, 2, 2), h2h_kernel=3, activation="relu"),
    ),
}


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize("key", sorted(CONV_CELLS))
def test_conv_rnn_cells_match_mxnet(key, hybrid):
    cls, kw = CONV_CELLS[key]
    cell = getattr(crnn, cls)(prefix=key + "_", **kw)
    cell.initialize()
    set_params(cell, key)
    if hybrid:
        cell.hybridize()
    xa = nd(GOLD[f"{key}/x"])
    xa.attach_grad()
    with autograd.record():
        outs, states = cell.unroll(3, xa, layout="NTC", merge_outputs=True)
        loss = (outs * outs).sum() + sum(s.sum() for s in states)
    loss.backward()
    tol = {"rtol": 1e-5, "atol": 1e-5}
    np.testing.assert_allclose(outs.asnumpy(), GOLD[f"{key}/y"], **tol)
    np.testing.assert_allclose(xa.grad.asnumpy(), GOLD[f"{key}/dx"], **tol)
    for i, st in enumerate(states):
        np.testing.assert_allclose(st.asnumpy(), GOLD[f"{key}/state{i}"], **tol)


def test_conv_rnn_cell_shapes_repr_and_bad_input():
    cell = crnn.Conv2DLSTMCell((2, 4, 5), 3, i2h_kernel=3, h2h_kernel=3)
    assert [s.shape for s in cell.begin_state(batch_size=2)] == [(2, 3, 2, 3), (2, 3, 2, 3)]
    assert cell.i2h_weight.shape == (12, 2, 3, 3) and cell.h2h_weight.shape == (12, 3, 3, 3)
    assert repr(cell) == "Conv2DLSTMCell(2 -> 12, tanh, NCHW)"
    cell.initialize()
    with pytest.raises(MXNetError, match=r"Conv2DLSTMCell.*\(2, 3, 4, 5\)"):
        cell(mx.nd.zeros((2, 3, 4, 5)), cell.begin_state(batch_size=2))
    with pytest.raises(MXNetError, match="odd h2h_kernel"):
        crnn.Conv1DRNNCell((2, 6), 3, i2h_kernel=3, h2h_kernel=2)
    with pytest.raises(MXNetError, match="Conv3DGRUCell.*i2h_kernel"):
        crnn.Conv3DGRUCell((1, 3, 3, 3), 2, i2h_kernel=(1, 2), h2h_kernel=3)


@pytest.mark.parametrize("key", ["dyn", "dynvl"])
def test_dynamic_unroll_matches_mxnet(key):
    cell = _lstmp()
    vl = nd(GOLD["dyn/valid"]) if key == "dynvl" else None
    begin = [nd(GOLD["lstmp/h0"]), nd(GOLD["lstmp/c0"])]
    y, states = crnn.dynamic_unroll(cell, nd(GOLD["lstmp/x"]), begin, layout="NTC", valid_length=vl)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(y.asnumpy(), GOLD[f"{key}/y"], **tol)
    np.testing.assert_allclose(states[0].asnumpy(), GOLD[f"{key}/r"], **tol)
    np.testing.assert_allclose(states[1].asnumpy(), GOLD[f"{key}/c"], **tol)
    if vl is None:
        np.testing.assert_allclose(y.asnumpy(), GOLD["lstmp/y"], **tol)


def _wiki_archive(tmp_path):
    import zipfile

    archive = tmp_path / "wikitext-2-v1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("wikitext-2/wiki.train.tokens", GOLD["wiki/train_bytes"].tobytes())
        zf.writestr("wikitext-2/wiki.valid.tokens", GOLD["wiki/valid_bytes"].tobytes())
    return archive


def test_wikitext2_matches_mxnet(tmp_path, monkeypatch):
    from mxrs.gluon.contrib.data import text

    archive = _wiki_archive(tmp_path)
    calls = []

    def fake_download(url, path=None, sha1_hash=None, **kw):
        calls.append((url, sha1_hash))
        return str(archive)

    monkeypatch.setattr(text, "download", fake_download)
    root = tmp_path / "root"
    train = text.WikiText2(root=str(root), segment="train", seq_len=5)
    valid = text.WikiText2(root=str(root), segment="validation", vocab=train.vocabulary, seq_len=3)
    assert calls[0][0].endswith("gluon/dataset/wikitext-2/wikitext-2-v1.zip")
    assert calls[0][1] == "3c914d17d80b1459be871a5039ac23e752a53cbe"
    assert (root / "wiki.train.tokens").read_bytes() == GOLD["wiki/train_bytes"].tobytes()
    assert train.vocabulary.idx_to_token == GOLD["wiki/idx_to_token"].tolist()
    assert train.frequencies["the"] == 6
    np.testing.assert_array_equal(train._data.asnumpy(), GOLD["wiki/train_data"])
    np.testing.assert_array_equal(train._label.asnumpy(), GOLD["wiki/train_label"])
    np.testing.assert_array_equal(valid._data.asnumpy(), GOLD["wiki/valid_data"])
    np.testing.assert_array_equal(valid._label.asnumpy(), GOLD["wiki/valid_label"])
    assert [len(train), len(valid)] == GOLD["wiki/len"].tolist()
    np.testing.assert_array_equal(np.stack([a.asnumpy() for a in train[3]]), GOLD["wiki/item3"])
    assert train._data.dtype == np.int32


def test_wikitext_bad_arguments(tmp_path):
    from mxrs.gluon.contrib.data import text

    with pytest.raises(MXNetError, match="WikiText103.*segment"):
        text.WikiText103(root=str(tmp_path), segment="dev")
    with pytest.raises(MXNetError, match="WikiText2.*seq_len"):
        text.WikiText2(root=str(tmp_path), seq_len=0)


def _estimator(**kw):
    from mxrs.gluon.contrib import estimator as est_mod

    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    net.weight.set_data(nd(GOLD["est/w"]))
    net.bias.set_data(nd(GOLD["est/b"]))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(nd(GOLD["est/x"]), nd(GOLD["est/y"])), batch_size=4)
    est = est_mod.Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer, **kw)
    return est, net, loader


@pytest.mark.parametrize("key,kw", [("ep", {"epochs": 2}), ("bt", {"batches": 5})])
def test_estimator_fit_matches_mxnet(key, kw, capsys):
    est, net, loader = _estimator()
    est.fit(loader, val_data=loader, **kw)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(net.weight.data().asnumpy(), GOLD[f"est/{key}_w"], **tol)
    np.testing.assert_allclose(net.bias.data().asnumpy(), GOLD[f"est/{key}_b"], **tol)
    assert [m.get()[0] for m in est.train_metrics] == GOLD["est/train_names"].tolist()
    assert [m.get()[0] for m in est.val_metrics] == GOLD["est/val_names"].tolist()
    np.testing.assert_allclose([m.get()[1] for m in est.train_metrics], GOLD[f"est/{key}_train"], **tol)
    np.testing.assert_allclose([m.get()[1] for m in est.val_metrics], GOLD[f"est/{key}_val"], **tol)
    assert "Training begin: using optimizer SGD" in capsys.readouterr().out


def test_estimator_handlers_and_errors(tmp_path):
    from mxrs.gluon.contrib import estimator as est_mod

    est, net, loader = _estimator()
    acc = est.train_metrics[0]
    stopper = est_mod.EarlyStoppingHandler(monitor=acc, patience=0, mode="min", baseline=-1.0)
    ckpt = est_mod.CheckpointHandler(str(tmp_path), model_prefix="m", epoch_period=1, max_checkpoints=2)
    est.fit(loader, epochs=5, event_handlers=[stopper, ckpt])
    # accuracy never drops below the baseline -1 in 'min' mode: stops after the first epoch
    assert stopper.stop_training and stopper.current_epoch == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-epoch0batch3.params", "m-epoch0batch3.states"]
    with pytest.raises(ValueError, match="exactly one type of iteration"):
        est.fit(loader, epochs=1, batches=1)
    with pytest.raises(ValueError, match="DataLoader"):
        est.fit([1, 2], epochs=1)
    with pytest.raises(ValueError, match="loss must be a Loss"):
        est_mod.Estimator(net, loss="l2")
    with pytest.raises(ValueError, match="outside of the known"):
        est.fit(loader, epochs=1, event_handlers=[est_mod.MetricHandler(metrics=[mx.metric.Accuracy()])])


def test_estimator_checkpoint_resume_and_symbol(tmp_path):
    from mxrs.gluon.contrib import estimator as est_mod

    full, full_net, loader = _estimator()
    full.fit(loader, epochs=3)
    est, net, _ = _estimator()
    net.hybridize()
    ckpt = est_mod.CheckpointHandler(str(tmp_path), model_prefix="m", epoch_period=1)
    est.fit(loader, epochs=2, event_handlers=[ckpt])
    assert (tmp_path / "m-symbol.json").exists() and (tmp_path / "m-epoch1batch6.params").exists()
    resumed, resumed_net, _ = _estimator()
    ckpt2 = est_mod.CheckpointHandler(str(tmp_path), model_prefix="m", epoch_period=1, resume_from_checkpoint=True)
    resumed.fit(loader, epochs=3, event_handlers=[ckpt2])
    assert ckpt2.trained_epoch == 1 and resumed.max_epoch == 1
    np.testing.assert_allclose(resumed_net.weight.data().asnumpy(), full_net.weight.data().asnumpy(), rtol=1e-5)
    assert (tmp_path / "m-epoch2batch9.params").exists()  # epoch and batch counted on, as MXNet

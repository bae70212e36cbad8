"""Generate ``tests/data/gluon_contrib_golden.npz``: MXNet 1.9.1's ``gluon.contrib`` values.

Run with the reference MXNet 1.9.1 environment::

    /work/mxref/bin/python tools/golden/gluon_contrib.py

Inputs and weights come from ``np.random.RandomState`` and are stored next to the outputs, so
the tests set the same weights with ``set_data``: the pixel shuffles, (Hybrid)Concurrent of two
Dense layers and an Identity, SparseEmbedding (output and its gradient, made dense),
SyncBatchNorm in training (output, gradient of the input, updated running statistics),
LSTMPCell unrolled over 3 steps (outputs, states, gradients) and IntervalSampler's orders.
"""

from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon.contrib import data as cdata
from mxnet.gluon.contrib import nn as cnn
from mxnet.gluon.contrib import rnn as crnn

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "gluon_contrib_golden.npz"


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def set_params(block, out, key, rng):
    """Random values for every parameter of ``block``, stored as ``key/param_suffix``."""
    for name, p in sorted(block.collect_params().items()):
        v = rand(rng, *p.shape)
        p.set_data(mx.nd.array(v))
        out[f"{key}/{name[len(block.prefix) :]}"] = v


def pixel_shuffle(out, rng):
    for key, blk, shape in [
        ("ps1", cnn.PixelShuffle1D(2), (2, 6, 3)),
        ("ps2", cnn.PixelShuffle2D((2, 3)), (1, 12, 3, 2)),
        ("ps3", cnn.PixelShuffle3D((2, 1, 3)), (1, 12, 2, 3, 2)),
    ]:
        x = rand(rng, *shape)
        out[f"{key}/x"] = x
        out[f"{key}/y"] = blk(mx.nd.array(x)).asnumpy()


def concurrent(out, rng):
    for key, cls in [("conc", cnn.Concurrent), ("hconc", cnn.HybridConcurrent)]:
        net = cls(axis=1, prefix=key + "_")
        with net.name_scope():
            net.add(gluon.nn.Dense(3, in_units=4))
            net.add(gluon.nn.Dense(2, in_units=4, activation="tanh"))
            net.add(cnn.Identity())
        net.initialize()
        set_params(net, out, key, rng)
        x = rand(rng, 2, 4)
        out[f"{key}/x"] = x
        out[f"{key}/y"] = net(mx.nd.array(x)).asnumpy()


def sparse_embedding(out, rng):
    emb = cnn.SparseEmbedding(6, 3, prefix="semb_")
    emb.initialize()
    set_params(emb, out, "semb", rng)
    gluon.Trainer(emb.collect_params(), "sgd", {"learning_rate": 0.0})  # row_sparse_data needs one
    idx = np.array([[0, 2, 2], [5, 1, 0]], dtype=np.float32)
    head = rand(rng, 2, 3, 3)
    with autograd.record():
        y = emb(mx.nd.array(idx))
    y.backward(mx.nd.array(head))
    out["semb/idx"], out["semb/head"], out["semb/y"] = idx, head, y.asnumpy()
    out["semb/grad"] = emb.weight.grad().tostype("default").asnumpy()


def sync_batch_norm(out, rng):
    bn = cnn.SyncBatchNorm(in_channels=3, num_devices=1, momentum=0.8, prefix="sbn_")
    bn.initialize()
    set_params(bn, out, "sbn", rng)
    bn.running_var.set_data(mx.nd.array(np.abs(out["sbn/running_var"]) + 0.5))
    out["sbn/running_var"] = bn.running_var.data().asnumpy()
    x = rand(rng, 4, 3, 2, 2)
    head = rand(rng, 4, 3, 2, 2)
    xa = mx.nd.array(x)
    xa.attach_grad()
    with autograd.record():
        y = bn(xa)
    y.backward(mx.nd.array(head))
    out["sbn/x"], out["sbn/head"], out["sbn/y"], out["sbn/dx"] = x, head, y.asnumpy(), xa.grad.asnumpy()
    out["sbn/new_mean"] = bn.running_mean.data().asnumpy()
    out["sbn/new_var"] = bn.running_var.data().asnumpy()
    out["sbn/y_infer"] = bn(xa).asnumpy()


def lstmp(out, rng):
    cell = crnn.LSTMPCell(5, 3, input_size=4, prefix="lstmp_")
    cell.initialize()
    set_params(cell, out, "lstmp", rng)
    x = rand(rng, 2, 3, 4)
    h0, c0 = rand(rng, 2, 3), rand(rng, 2, 5)
    xa = mx.nd.array(x)
    xa.attach_grad()
    with autograd.record():
        outs, states = cell.unroll(3, xa, [mx.nd.array(h0), mx.nd.array(c0)], layout="NTC", merge_outputs=True)
        loss = (outs * outs).sum() + states[1].sum()
    loss.backward()
    out["lstmp/x"], out["lstmp/h0"], out["lstmp/c0"] = x, h0, c0
    out["lstmp/y"], out["lstmp/r"], out["lstmp/c"] = outs.asnumpy(), states[0].asnumpy(), states[1].asnumpy()
    out["lstmp/dx"] = xa.grad.asnumpy()
    for name in ("i2h_weight", "h2r_weight"):
        out[f"lstmp/d_{name}"] = cell.collect_params()["lstmp_" + name].grad().asnumpy()
    # dynamic_unroll of the same cell, NTC layout, with and without valid_length
    valid = np.array([2, 3], dtype=np.float32)
    out["dyn/valid"] = valid
    begin = [mx.nd.array(h0), mx.nd.array(c0)]
    for key, vl in [("dyn", None), ("dynvl", mx.nd.array(valid))]:
        y, states = crnn.rnn_cell.dynamic_unroll(cell, mx.nd.array(x), begin, layout="NTC", valid_length=vl)
        out[f"{key}/y"], out[f"{key}/r"], out[f"{key}/c"] = y.asnumpy(), states[0].asnumpy(), states[1].asnumpy()


CONV_CELLS = {
    "cgru1": (
        "Conv1DGRUCell",
        dict(input_shape=(2, 6), hidden_channels=3, i2h_kernel=3, h2h_kernel=(3,), i2h_dilate=2),
    ),
    "clstm2": ("Conv2DLSTMCell", dict(input_shape=(2, 4, 5), hidden_channels=3, i2h_kernel=3, h2h_kernel=3, i2h_pad=1)),
    "crnn3": (
        "Conv3DRNNCell",
        dict(input_shape=(1, 3, 3, 3), hidden_channels=2, i2h_kernel=(1, 2, 2), h2h_kernel=3, activation="relu"),
    ),
}


def conv_cells(out, rng):
    for key, (cls, kw) in CONV_CELLS.items():
        cell = getattr(crnn, cls)(prefix=key + "_", **kw)
        cell.initialize()
        set_params(cell, out, key, rng)
        x = rand(rng, 2, 3, *kw["input_shape"])
        xa = mx.nd.array(x)
        xa.attach_grad()
        with autograd.record():
            outs, states = cell.unroll(3, xa, layout="NTC", merge_outputs=True)
            loss = (outs * outs).sum() + sum(s.sum() for s in states)
        loss.backward()
        out[f"{key}/x"], out[f"{key}/y"], out[f"{key}/dx"] = x, outs.asnumpy(), xa.grad.asnumpy()
        for i, st in enumerate(states):
            out[f"{key}/state{i}"] = st.asnumpy()


def samplers(out):
    out["interval/13_3"] = np.array(list(cdata.IntervalSampler(13, 3)))
    out["interval/13_3_norollover"] = np.array(list(cdata.IntervalSampler(13, 3, rollover=False)))
    out["interval/10_4"] = np.array(list(cdata.IntervalSampler(10, 4)))
    out["interval/len_norollover"] = np.array(len(cdata.IntervalSampler(13, 3, rollover=False)))


WIKI_TRAIN = (
    " \n = Valkyria Chronicles = \n \n The game began development in 2010 , carrying over a large portion of"
    " the work done on Valkyria Chronicles II .\n\n While it retained the standard features of the series"
    " , it also underwent multiple adjustments , such as making the game more forgiving for series"
    " newcomers .\n the the game game ,\ttab @-@ token\n"
)
WIKI_VALID = " = Other = \n The game and the series , unseen words here .\n"


def wikitext(out):
    import tempfile
    import zipfile
    from unittest import mock

    from mxnet.gluon.contrib.data import text

    out["wiki/train_bytes"] = np.frombuffer(WIKI_TRAIN.encode(), dtype=np.uint8)
    out["wiki/valid_bytes"] = np.frombuffer(WIKI_VALID.encode(), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "wikitext-2-v1.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("wikitext-2/wiki.train.tokens", WIKI_TRAIN)
            zf.writestr("wikitext-2/wiki.valid.tokens", WIKI_VALID)
        root = Path(tmp) / "root"
        with mock.patch.object(text, "download", lambda *a, **k: str(archive)):
            train = text.WikiText2(root=str(root), segment="train", seq_len=5)
            valid = text.WikiText2(root=str(root), segment="validation", vocab=train.vocabulary, seq_len=3)
    out["wiki/train_data"], out["wiki/train_label"] = train._data.asnumpy(), train._label.asnumpy()
    out["wiki/valid_data"], out["wiki/valid_label"] = valid._data.asnumpy(), valid._label.asnumpy()
    out["wiki/idx_to_token"] = np.array(train.vocabulary.idx_to_token)
    out["wiki/len"] = np.array([len(train), len(valid)])
    out["wiki/item3"] = np.stack([a.asnumpy() for a in train[3]])


def estimator_fit(out, rng):
    from mxnet.gluon.contrib import estimator as est_mod

    x, y = rand(rng, 12, 4), rng.randint(0, 3, size=12).astype(np.float32)
    w, b = rand(rng, 3, 4), rand(rng, 3)
    out["est/x"], out["est/y"], out["est/w"], out["est/b"] = x, y, w, b
    for key, kw in [("ep", {"epochs": 2}), ("bt", {"batches": 5})]:
        net = gluon.nn.Dense(3, in_units=4)
        net.initialize()
        net.weight.set_data(mx.nd.array(w))
        net.bias.set_data(mx.nd.array(b))
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
        loader = gluon.data.DataLoader(gluon.data.ArrayDataset(mx.nd.array(x), mx.nd.array(y)), batch_size=4)
        est = est_mod.Estimator(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer)
        est.fit(loader, val_data=loader, **kw)
        out[f"est/{key}_w"], out[f"est/{key}_b"] = net.weight.data().asnumpy(), net.bias.data().asnumpy()
        out[f"est/{key}_train"] = np.array([m.get()[1] for m in est.train_metrics])
        out[f"est/{key}_val"] = np.array([m.get()[1] for m in est.val_metrics])
        out["est/train_names"] = np.array([m.get()[0] for m in est.train_metrics])
        out["est/val_names"] = np.array([m.get()[0] for m in est.val_metrics])


def main():
    rng = np.random.RandomState(0)
    out = {}
    pixel_shuffle(out, rng)
    concurrent(out, rng)
    sparse_embedding(out, rng)
    sync_batch_norm(out, rng)
    lstmp(out, rng)
    conv_cells(out, rng)
    samplers(out)
    wikitext(out)
    estimator_fit(out, rng)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({len(out)} arrays)")


if __name__ == "__main__":
    main()

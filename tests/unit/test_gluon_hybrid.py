"""HybridBlock.hybridize (traced Symbol run by the executor), export and SymbolBlock.imports,
against files and values from real MXNet 1.9.1; exported files are also loaded by real MXNet
when it is installed (/work/mxref)."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _fixtures import FIXTURES
from _target import IS_MXNET, mx

gluon = mx.gluon
nn = gluon.nn
DATA = Path(__file__).resolve().parents[1] / "data" / "gluon"
GOLDEN = mx.nd.load(str(DATA / "golden.params"))
MXREF = Path(os.environ.get("MXRS_MXREF", "/work/mxref")) / "bin" / "python"


def nested_net():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(5, activation="relu"))
        net.add(nn.BatchNorm())
        inner = nn.HybridSequential()
        with inner.name_scope():
            inner.add(nn.Dense(4, activation="tanh"), nn.Dense(3))
        net.add(inner)
    return net


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a.asnumpy()), np.asarray(b.asnumpy()), rtol=rtol, atol=atol)


def loaded_net():
    net = nested_net()
    net.load_parameters(str(DATA / "net.params"))
    return net


def test_hybridized_equals_imperative_and_mxnet():
    net = loaded_net()
    x = GOLDEN["x"]
    imperative = net(x)
    net.hybridize()
    hybrid = net(x)
    close(hybrid, imperative)
    close(hybrid, GOLDEN["net_infer"])
    # A second call reuses the bound executor; a new batch size binds another.
    close(net(x), imperative)
    assert net(mx.nd.ones((7, 6))).shape == (7, 3)
    close(net(x), imperative)


def test_hybridize_deferred_init_and_static_flags():
    net = nested_net()
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    y = net(mx.nd.ones((2, 6)))
    assert y.shape == (2, 3)
    assert net[0].weight.shape == (5, 6)
    assert net[2][0].weight.shape == (4, 5)
    net.hybridize(False)
    close(net(mx.nd.ones((2, 6))), y)


def test_outputs_do_not_alias_executor_buffers():
    net = loaded_net()
    net.hybridize()
    a = net(GOLDEN["x"])
    first = a.asnumpy().copy()
    net(mx.nd.ones((4, 6)))
    np.testing.assert_array_equal(a.asnumpy(), first)


class TwoIO(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense = nn.Dense(3, in_units=2)

    def hybrid_forward(self, F, x, y):
        h = self.dense(x) + y
        return h, F.relu(h) * 2


def test_multiple_inputs_and_outputs():
    blk = TwoIO(prefix="two_")
    blk.initialize(mx.init.One())
    x, y = mx.nd.array([[1, 2], [3, -4]]), mx.nd.array([[0.5, -10, 1], [0, 0, 0]])
    a1, b1 = blk(x, y)
    blk.hybridize()
    a2, b2 = blk(x, y)
    close(a1, a2)
    close(b1, b2)
    inputs, out = blk._cached_graph
    assert [i.name for i in inputs] == ["data0", "data1"]
    assert len(out.list_outputs()) == 2


def test_trace_symbol_names_match_mxnet_export():
    net = loaded_net()
    net.hybridize()
    net(GOLDEN["x"])
    ours = net._cached_graph[1]
    theirs = mx.sym.load(str(DATA / "net-symbol.json"))
    assert ours.list_arguments() == theirs.list_arguments()
    assert ours.list_auxiliary_states() == theirs.list_auxiliary_states()
    assert ours.list_outputs() == theirs.list_outputs()


def test_export_files_match_mxnet(tmp_path):
    # As in tools/golden/gluon.py: deferred shapes, so the variables keep __shape__ (5, 0).
    net = nested_net()
    net.initialize()
    net(GOLDEN["x"])
    net.load_parameters(str(DATA / "net.params"))
    net.hybridize()
    net(GOLDEN["x"])
    path = str(tmp_path / "net")
    net.export(path)
    sym_file, params_file = path + "-symbol.json", path + "-0000.params"
    mine = json.loads(Path(sym_file).read_text())
    ref = json.loads((DATA / "net-symbol.json").read_text())
    assert [(n["op"], n["name"]) for n in mine["nodes"]] == [(n["op"], n["name"]) for n in ref["nodes"]]
    for a, b in zip(mine["nodes"], ref["nodes"]):
        assert a.get("attrs", {}) == b.get("attrs", {}), a["name"]
        # (node, output) pairs; the third field (a version MXNet bumps on mutated aux states) is ignored on load.
        assert [i[:2] for i in a["inputs"]] == [i[:2] for i in b["inputs"]]
    assert mine["heads"] == ref["heads"]
    keys = set(mx.nd.load(params_file))
    assert keys == set(mx.nd.load(str(DATA / "net-0000.params")))
    net.export(path, epoch=7)
    assert Path(path + "-0007.params").exists()


def test_export_before_forward_raises():
    net = nested_net()
    with pytest.raises(RuntimeError, match="Please first call block.hybridize"):
        net.export("nowhere")


def test_imports_mxnet_export():
    blk = gluon.SymbolBlock.imports(
        str(DATA / "net-symbol.json"), ["data"], str(DATA / "net-0000.params"), ctx=mx.cpu()
    )
    close(blk(GOLDEN["x"]), GOLDEN["net_export_out"])
    names = sorted(blk.collect_params().keys())
    assert "net_batchnorm0_running_mean" in names
    assert blk.collect_params()["net_batchnorm0_running_mean"].grad_req == "null"


def test_imports_shared_fixture():
    blk = gluon.SymbolBlock.imports(
        str(FIXTURES / "gluon_export-symbol.json"), "data", str(FIXTURES / "gluon_export-0000.params")
    )
    out = blk(mx.nd.ones((2, 3)))
    # Dense(2) with weights 0.5, bias 0 -> 1.5; BatchNorm with mean 0 var 1 (eps 1e-5).
    np.testing.assert_allclose(out.asnumpy(), np.full((2, 2), 1.5 / np.sqrt(1 + 1e-5)), rtol=1e-6)


def test_symbol_block_from_symbols_and_internals():
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=2, name="fc2")
    blk = gluon.SymbolBlock(fc2, data)
    blk.initialize(mx.init.One())
    x = mx.nd.ones((3, 5))
    np.testing.assert_allclose(blk(x).asnumpy(), np.full((3, 2), 25.0))
    assert blk.collect_params()["fc1_weight"].shape == (4, 5)
    feat = gluon.SymbolBlock(fc2.get_internals()["relu1_output"], data, params=blk.collect_params())
    np.testing.assert_allclose(feat(x).asnumpy(), np.full((3, 4), 6.0))
    # composing a SymbolBlock symbolically
    out = blk(mx.sym.var("other"))
    assert "other" in out.list_arguments()


def test_symbol_block_in_hybrid_sequential_and_export_roundtrip(tmp_path):
    net = loaded_net()
    net.hybridize()
    ref = net(GOLDEN["x"])
    path = str(tmp_path / "rt")
    net.export(path)
    blk = gluon.SymbolBlock.imports(path + "-symbol.json", ["data"], path + "-0000.params")
    close(blk(GOLDEN["x"]), ref)


@pytest.mark.skipif(IS_MXNET or not MXREF.exists(), reason="needs real MXNet 1.9.1 at /work/mxref")
def test_real_mxnet_loads_our_export(tmp_path):
    net = loaded_net()
    net.hybridize()
    ref = net(GOLDEN["x"])
    path = str(tmp_path / "ours")
    net.export(path)
    mx.nd.save(str(tmp_path / "x.params"), {"x": GOLDEN["x"]})
    net.save_parameters(str(tmp_path / "ours.params"))
    script = f"""
import os
os.environ["MXNET_STORAGE_FALLBACK_LOG_VERBOSE"] = "0"
import mxnet as mx
from mxnet import gluon
x = mx.nd.load({str(tmp_path / "x.params")!r})["x"]
blk = gluon.SymbolBlock.imports({path + "-symbol.json"!r}, ["data"], {path + "-0000.params"!r})
out = {{"imports": blk(x)}}
sym, args, aux = mx.model.load_checkpoint({path!r}, 0)
mod = mx.mod.Module(sym, data_names=["data"], label_names=None)
mod.bind(data_shapes=[("data", x.shape)], for_training=False)
mod.set_params(args, aux)
mod.forward(mx.io.DataBatch([x]), is_train=False)
out["module"] = mod.get_outputs()[0]
net = gluon.nn.HybridSequential(prefix="net_")
with net.name_scope():
    net.add(gluon.nn.Dense(5, activation="relu"), gluon.nn.BatchNorm())
    inner = gluon.nn.HybridSequential()
    with inner.name_scope():
        inner.add(gluon.nn.Dense(4, activation="tanh"), gluon.nn.Dense(3))
    net.add(inner)
net.load_parameters({str(tmp_path / "ours.params")!r})
out["load_parameters"] = net(x)
mx.nd.save({str(tmp_path / "out.params")!r}, out)
"""
    subprocess.run([str(MXREF), "-c", script], check=True, capture_output=True, timeout=120)
    got = mx.nd.load(str(tmp_path / "out.params"))
    close(got["imports"], ref)
    close(got["module"], ref)
    close(got["load_parameters"], ref)


def test_two_input_two_output_export_imports(tmp_path):
    blk = TwoIO(prefix="two_")
    blk.initialize(mx.init.Xavier())
    blk.hybridize()
    x, y = mx.nd.array([[1, 2], [3, -4]]), mx.nd.array([[0.5, -10, 1], [0, 0, 0]])
    a, b = blk(x, y)
    path = str(tmp_path / "two")
    blk.export(path)
    back = gluon.SymbolBlock.imports(path + "-symbol.json", ["data0", "data1"], path + "-0000.params")
    a2, b2 = back(x, y)
    close(a2, a)
    close(b2, b)

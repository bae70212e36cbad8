"""Networks of ``mx.rnn`` cells and legacy modules, built and run the same way by the tests
(with mxrs) and by ``tools/golden/legacy_rnn.py`` (with MXNet 1.9.1, writing the fixture
``tests/data/legacy_rnn_golden.npz``). Every function takes the framework as ``mx``.

Values are deterministic: each argument is filled from a RandomState seeded by its position
in ``list_arguments()``, each head gradient from one seeded by its output's position.
"""

import numpy as np

N, T, C = 2, 3, 4  # batch, time steps, input features

SENTENCES = [
    "the cat sat on the mat".split(),
    "a dog ran".split(),
    "the dog sat".split(),
    "a cat ran on a mat".split(),
    "cats and dogs".split(),
    "the end".split(),
    "dogs ran".split(),
    "on the mat".split(),
]


def _inputs(mx, layout="NTC", name="data"):
    return mx.sym.Variable(name)


def _data_shape(layout):
    return (N, T, C) if layout == "NTC" else (T, N, C)


def case_rnn(mx):
    cell = mx.rnn.RNNCell(5, prefix="rnn_")
    inputs = [mx.sym.Variable(f"rnn_t{i}_data") for i in range(T)]
    outputs, states = cell.unroll(T, inputs, merge_outputs=False)
    return mx.sym.Group(outputs), {f"rnn_t{i}_data": (N, C) for i in range(T)}


def case_rnn_relu_step(mx):
    cell = mx.rnn.RNNCell(3, activation="relu", prefix="relu_")
    x = mx.sym.Variable("x")
    out, _ = cell.unroll(1, [x])
    return mx.sym.Group(out), {"x": (N, C)}


def case_lstm(mx):
    cell = mx.rnn.LSTMCell(5, prefix="lstm_")
    outputs, states = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=True)
    return mx.sym.Group([outputs, states[1]]), {"data": _data_shape("NTC")}


def case_lstm_var_state(mx):
    cell = mx.rnn.LSTMCell(4, prefix="vs_")
    begin = cell.begin_state(func=mx.sym.Variable)
    outputs, states = cell.unroll(T, _inputs(mx), begin_state=begin, layout="NTC", merge_outputs=True)
    shapes = {"data": _data_shape("NTC"), "vs_begin_state_0": (N, 4), "vs_begin_state_1": (N, 4)}
    return mx.sym.Group([outputs, states[1]]), shapes


def case_gru(mx):
    cell = mx.rnn.GRUCell(5, prefix="gru_")
    outputs, _ = cell.unroll(T, _inputs(mx), layout="TNC", merge_outputs=True)
    return outputs, {"data": _data_shape("TNC")}


def case_sequential(mx):
    cell = mx.rnn.SequentialRNNCell()
    cell.add(mx.rnn.LSTMCell(5, prefix="l0_"))
    cell.add(mx.rnn.DropoutCell(0.0, prefix="d0_"))
    cell.add(mx.rnn.GRUCell(4, prefix="l1_"))
    outputs, states = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=True)
    return mx.sym.Group([outputs, states[1]]), {"data": _data_shape("NTC")}


def case_bidirectional(mx):
    cell = mx.rnn.BidirectionalCell(
        mx.rnn.LSTMCell(3, prefix="bl_"), mx.rnn.GRUCell(3, prefix="br_"), output_prefix="bi_"
    )
    outputs, _ = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=False)
    return mx.sym.Group(outputs), {"data": _data_shape("NTC")}


def case_bidirectional_merged(mx):
    cell = mx.rnn.BidirectionalCell(mx.rnn.RNNCell(3, prefix="ml_"), mx.rnn.RNNCell(3, prefix="mr_"))
    outputs, _ = cell.unroll(T, _inputs(mx), layout="TNC", merge_outputs=True)
    return outputs, {"data": _data_shape("TNC")}


def case_residual(mx):
    cell = mx.rnn.ResidualCell(mx.rnn.GRUCell(C, prefix="res_"))
    outputs, _ = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=True)
    return outputs, {"data": _data_shape("NTC")}


def case_zoneout_eval(mx):
    cell = mx.rnn.ZoneoutCell(mx.rnn.RNNCell(3, prefix="zo_"), zoneout_outputs=0.5, zoneout_states=0.5)
    outputs, _ = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=True)
    return outputs, {"data": _data_shape("NTC")}


def case_fused_lstm(mx):
    cell = mx.rnn.FusedRNNCell(5, num_layers=2, mode="lstm", bidirectional=True, get_next_state=True, prefix="fl_")
    outputs, states = cell.unroll(T, _inputs(mx), layout="TNC", merge_outputs=True)
    return mx.sym.Group([outputs] + states), {"data": _data_shape("TNC")}


def case_fused_gru(mx):
    cell = mx.rnn.FusedRNNCell(4, mode="gru", get_next_state=True, prefix="fg_")
    outputs, states = cell.unroll(T, _inputs(mx), layout="NTC", merge_outputs=True)
    return mx.sym.Group([outputs] + states), {"data": _data_shape("NTC")}


def case_fused_relu(mx):
    cell = mx.rnn.FusedRNNCell(3, num_layers=2, mode="rnn_relu", prefix="fr_")
    outputs, _ = cell.unroll(T, _inputs(mx), layout="TNC", merge_outputs=False)
    return mx.sym.Group(outputs), {"data": _data_shape("TNC")}


def case_unfused_lstm(mx):
    cell = mx.rnn.FusedRNNCell(5, num_layers=2, mode="lstm", bidirectional=True, prefix="fl_").unfuse()
    outputs, _ = cell.unroll(T, _inputs(mx), layout="TNC", merge_outputs=True)
    return outputs, {"data": _data_shape("TNC")}


def case_conv_lstm(mx):
    cell = mx.rnn.ConvLSTMCell(input_shape=(N, 2, 5, 5), num_hidden=3, prefix="cl_")
    inputs = [mx.sym.Variable(f"x{i}") for i in range(2)]
    outputs, states = cell.unroll(2, inputs, merge_outputs=False)
    return mx.sym.Group(outputs + [states[1]]), {"x0": (N, 2, 5, 5), "x1": (N, 2, 5, 5)}


def case_conv_gru(mx):
    cell = mx.rnn.ConvGRUCell(input_shape=(N, 2, 4, 4), num_hidden=2, activation="tanh", prefix="cg_")
    inputs = [mx.sym.Variable(f"x{i}") for i in range(2)]
    outputs, _ = cell.unroll(2, inputs, merge_outputs=False)
    return mx.sym.Group(outputs), {"x0": (N, 2, 4, 4), "x1": (N, 2, 4, 4)}


def case_conv_rnn(mx):
    cell = mx.rnn.ConvRNNCell(input_shape=(N, 1, 4, 4), num_hidden=2, i2h_kernel=(3, 3), prefix="cr_")
    inputs = [mx.sym.Variable(f"x{i}") for i in range(2)]
    outputs, _ = cell.unroll(2, inputs, merge_outputs=False)
    return mx.sym.Group(outputs), {"x0": (N, 1, 4, 4), "x1": (N, 1, 4, 4)}


CASES = {
    name[len("case_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("case_") and callable(fn)
}
# Cases run for training (is_train) with a backward; zoneout is random in training mode.
EVAL_ONLY = {"zoneout_eval"}


def arg_values(sym, shapes):
    """Deterministic values for every argument of ``sym``."""
    arg_shapes, _, _ = sym.infer_shape(**shapes)
    values = {}
    for k, (name, shape) in enumerate(zip(sym.list_arguments(), arg_shapes)):
        rng = np.random.RandomState(1000 + k)
        values[name] = rng.uniform(-0.6, 0.6, size=shape).astype(np.float32)
    return values


def run_case(mx, name):
    """Names, shapes, outputs and (unless eval-only) gradients of case ``name``."""
    with mx.name.NameManager():  # auto-named nodes (concat0...) independent of earlier cases
        sym, shapes = CASES[name](mx)
    values = arg_values(sym, shapes)
    train = name not in EVAL_ONLY
    exe = sym.simple_bind(mx.cpu(), grad_req="write" if train else "null", **shapes)
    for k, v in values.items():
        exe.arg_dict[k][:] = v
    exe.forward(is_train=train)
    res = {
        "arguments": list(sym.list_arguments()),
        "outputs_names": list(sym.list_outputs()),
        "outputs": [o.asnumpy() for o in exe.outputs],
        "json": sym.tojson(),
    }
    if train:
        heads = []
        for k, o in enumerate(exe.outputs):
            heads.append(np.random.RandomState(50 + k).uniform(-1, 1, size=o.shape).astype(np.float32))
        exe.backward([mx.nd.array(h) for h in heads])
        res["grads"] = {k: exe.grad_dict[k].asnumpy() for k in sym.list_arguments()}
    return res


# ---------------------------------------------------------------------------- modules
VOCAB, EMBED, HIDDEN = 12, 6, 8


def lm_sym_gen(mx):
    """A bucketed LSTM language model: embedding, LSTM, per-step softmax over the vocabulary."""

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=VOCAB, output_dim=EMBED, name="embed")
        cell = mx.rnn.LSTMCell(HIDDEN, prefix="lstm_")
        outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, HIDDEN))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=VOCAB, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)

    return sym_gen


LM_PARAM_SHAPES = {
    "embed_weight": (VOCAB, EMBED),
    "lstm_i2h_weight": (4 * HIDDEN, EMBED),
    "lstm_i2h_bias": (4 * HIDDEN,),
    "lstm_h2h_weight": (4 * HIDDEN, HIDDEN),
    "lstm_h2h_bias": (4 * HIDDEN,),
    "pred_weight": (VOCAB, HIDDEN),
    "pred_bias": (VOCAB,),
}


def lm_params(mx):
    """Fixed parameter values of the language model."""
    out = {}
    for k, (name, shape) in enumerate(sorted(LM_PARAM_SHAPES.items())):
        out[name] = mx.nd.array(np.random.RandomState(200 + k).uniform(-0.5, 0.5, size=shape).astype(np.float32))
    return out


def lm_batches(mx):
    """Two batches of token ids: bucket 5 (the default) and bucket 3."""
    rng = np.random.RandomState(7)
    batches = []
    for seq_len in (5, 3, 5):
        data = rng.randint(0, VOCAB, size=(N + 1, seq_len)).astype(np.float32)
        label = np.concatenate([data[:, 1:], np.zeros((N + 1, 1), np.float32)], axis=1)
        batches.append(
            mx.io.DataBatch(
                [mx.nd.array(data)],
                [mx.nd.array(label)],
                bucket_key=seq_len,
                provide_data=[mx.io.DataDesc("data", data.shape)],
                provide_label=[mx.io.DataDesc("softmax_label", label.shape)],
            )
        )
    return batches


def run_bucketing(mx):
    """Outputs of each batch after a forward/backward/update (SGD, lr 0.5) of the previous ones,
    and the final parameters."""
    mod = mx.mod.BucketingModule(lm_sym_gen(mx), default_bucket_key=5, context=mx.cpu())
    mod.bind(data_shapes=[("data", (N + 1, 5))], label_shapes=[("softmax_label", (N + 1, 5))])
    mod.init_params(arg_params=lm_params(mx), aux_params={})
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5, "rescale_grad": 1.0})
    res = {}
    for i, batch in enumerate(lm_batches(mx)):
        mod.forward(batch, is_train=True)
        res[f"out{i}"] = mod.get_outputs()[0].asnumpy()
        mod.backward()
        mod.update()
    args, _ = mod.get_params()
    for k, v in args.items():
        res[f"param_{k}"] = v.asnumpy()
    return res


def _mlp_modules(mx):
    d = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(d, num_hidden=6, name="fc1"), act_type="tanh", name="act1")
    mod1 = mx.mod.Module(h, data_names=["data"], label_names=None, context=mx.cpu())
    d2 = mx.sym.Variable("data")
    o = mx.sym.FullyConnected(d2, num_hidden=3, name="fc2")
    o = mx.sym.SoftmaxOutput(o, name="softmax")
    mod2 = mx.mod.Module(o, data_names=["data"], label_names=["softmax_label"], context=mx.cpu())
    return mod1, mod2


def _mlp_params(mx):
    shapes = {"fc1_weight": (6, 5), "fc1_bias": (6,), "fc2_weight": (3, 6), "fc2_bias": (3,)}
    return {
        k: mx.nd.array(np.random.RandomState(300 + i).uniform(-0.7, 0.7, size=s).astype(np.float32))
        for i, (k, s) in enumerate(sorted(shapes.items()))
    }


def _mlp_batch(mx):
    rng = np.random.RandomState(11)
    x = rng.uniform(-1, 1, size=(4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.float32)
    return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])


def run_sequential(mx):
    """Two chained modules: outputs, input gradients and parameters after two SGD steps."""
    mod1, mod2 = _mlp_modules(mx)
    seq = mx.mod.SequentialModule()
    seq.add(mod1).add(mod2, take_labels=True, auto_wiring=True)
    seq.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))], inputs_need_grad=True)
    params = _mlp_params(mx)
    seq.init_params(arg_params=params, aux_params={}, allow_missing=False)
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.3, "momentum": 0.9})
    res = {}
    batch = _mlp_batch(mx)
    for i in range(2):
        seq.forward(batch, is_train=True)
        res[f"out{i}"] = seq.get_outputs()[0].asnumpy()
        seq.backward()
        res[f"in_grad{i}"] = mod1.get_input_grads()[0].asnumpy()
        seq.update()
    args, _ = seq.get_params()
    for k, v in args.items():
        res[f"param_{k}"] = v.asnumpy()
    return res


def _square_loss_grad(scores, labels):
    s = scores.asnumpy()
    onehot = np.zeros_like(s)
    onehot[np.arange(s.shape[0]), labels.asnumpy().astype(int)] = 1.0
    return 2.0 * (s - onehot)


def run_python_loss(mx):
    """A Module followed by a PythonLossModule (squared error against one-hot labels)."""
    d = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(d, num_hidden=3, name="fc2")
    mod = mx.mod.Module(net, data_names=["data"], label_names=None, context=mx.cpu())
    loss = mx.mod.PythonLossModule(grad_func=_square_loss_grad)
    seq = mx.mod.SequentialModule()
    seq.add(mod).add(loss, take_labels=True, auto_wiring=True)
    seq.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))])
    params = {k: v for k, v in _mlp_params(mx).items() if k.startswith("fc2")}
    rng = np.random.RandomState(12)
    params["fc2_weight"] = mx.nd.array(rng.uniform(-0.5, 0.5, size=(3, 5)).astype(np.float32))
    seq.init_params(arg_params=params, aux_params={})
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    batch = _mlp_batch(mx)
    res = {}
    for i in range(3):
        seq.forward(batch, is_train=True)
        res[f"out{i}"] = seq.get_outputs()[0].asnumpy()
        seq.backward()
        seq.update()
    args, _ = seq.get_params()
    for k, v in args.items():
        res[f"param_{k}"] = v.asnumpy()
    return res


def fused_init_values(mx):
    """``mx.init.FusedRNN``: through Module (the cell's ``parameters`` variable, global
    initializer for the unpacked weights) and called directly with an inner initializer."""
    res = {}
    specs = {
        "lstm_bi": (mx.init.Constant(0.125), 3, 2, "lstm", True, 0.5),
        "gru": (mx.init.One(), 4, 1, "gru", False, 1.0),
        "relu": (mx.init.Constant(-0.5), 3, 2, "rnn_relu", False, 1.0),
    }
    for key, (glob, hidden, layers, mode, bidir, fb) in specs.items():
        cell = mx.rnn.FusedRNNCell(
            hidden, num_layers=layers, mode=mode, bidirectional=bidir, forget_bias=fb, prefix=f"{key}_"
        )
        out, _ = cell.unroll(2, mx.sym.Variable("data"), layout="TNC", merge_outputs=True)
        mod = mx.mod.Module(out, data_names=["data"], label_names=None, context=mx.cpu())
        mod.bind(data_shapes=[("data", (2, 2, 3))], for_training=False)
        mod.init_params(initializer=glob)
        args, _ = mod.get_params()
        res[key] = args[f"{key}_parameters"].asnumpy()
    arr = mx.nd.zeros(((3 + 4 + 2) * 4 * 4,))
    init = mx.init.FusedRNN(mx.init.Constant(0.25), 4, 1, "lstm", forget_bias=2.0)
    init._init_weight(mx.init.InitDesc("direct_parameters", global_init=mx.init.One()), arr)
    res["direct"] = arr.asnumpy()
    return res

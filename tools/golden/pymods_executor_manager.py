"""The training loop of MXNet's FeedForward (``model._train_multi_device``) over
``mx.executor_manager.DataParallelExecutorManager`` on two CPU contexts, as a function of the
``mx`` module, so that mxrs and MXNet 1.9.1 run the same code.

``/work/mxref/bin/python tools/golden/pymods_executor_manager.py`` writes
``tests/data/pymods_executor_manager.json`` (what MXNet 1.9.1 gives); the test
``tests/unit/test_pymods_executor_manager.py`` runs :func:`train` with mxrs and compares.
"""

import json
import os
import sys

import numpy as np


def net(mx):
    """A two-layer MLP with a softmax output."""
    data = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def train(mx, work_load_list=None, epochs=3):
    """Train the MLP as FeedForward did with a local kvstore updating the weights (SGD with
    momentum); returns the final parameters, each epoch's accuracy and the monitor's names."""
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (48, 10)).astype(np.float32)
    y = (x[:, :3].argmax(axis=1)).astype(np.float32)
    train_data = mx.io.NDArrayIter(x, y, batch_size=12, shuffle=False, label_name="softmax_label")
    sym = net(mx)
    arg_names = sym.list_arguments()
    param_names = [n for n in arg_names if n not in ("data", "softmax_label")]
    aux_names = sym.list_auxiliary_states()
    arg_shapes, _, _ = sym.infer_shape(data=(12, 10))
    prs = np.random.RandomState(1)
    arg_params = {
        n: mx.nd.array(prs.normal(0, 0.3, s).astype(np.float32))
        for n, s in zip(arg_names, arg_shapes)
        if n in param_names
    }
    ctx = [mx.cpu(0), mx.cpu(1)]
    mgr = mx.executor_manager.DataParallelExecutorManager(
        symbol=sym,
        ctx=ctx,
        train_data=train_data,
        arg_names=arg_names,
        param_names=param_names,
        aux_names=aux_names,
        work_load_list=work_load_list,
    )
    mon = mx.mon.Monitor(1, pattern=".*")
    mgr.install_monitor(mon)
    mgr.set_params(arg_params, {})
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, momentum=0.9, rescale_grad=1.0 / 12))
    for idx, name in enumerate(mgr.param_names):
        kv.init(name, arg_params[name])
        kv.pull(name, mgr.param_arrays[idx], priority=-idx)
    metric = mx.metric.Accuracy()
    accs, mon_names = [], None
    for _epoch in range(epochs):
        metric.reset()
        train_data.reset()
        for batch in train_data:
            mgr.load_data_batch(batch)
            mon.tic()
            mgr.forward(is_train=True)
            mgr.backward()
            for idx, name in enumerate(mgr.param_names):
                kv.push(name, mgr.grad_arrays[idx], priority=-idx)
                kv.pull(name, mgr.param_arrays[idx], priority=-idx)
            stats = mon.toc()
            if mon_names is None:
                mon_names = sorted({s[1] for s in stats})
            mgr.update_metric(metric, batch.label)
        accs.append(metric.get()[1])
    out_params = {n: mx.nd.zeros(arg_params[n].shape) for n in param_names}
    mgr.copy_to(out_params, {})
    return {
        "params": {n: v.asnumpy().tolist() for n, v in out_params.items()},
        "acc": accs,
        "monitor": mon_names,
        "slices": [[s.start, s.stop] for s in mgr.slices],
    }


if __name__ == "__main__":
    import mxnet

    res = {"equal": train(mxnet), "work_load_2_1": train(mxnet, work_load_list=[2, 1], epochs=1)}
    res["_about"] = "MXNet 1.9.1: tools/golden/pymods_executor_manager.py"
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "data", "pymods_executor_manager.json")
    with open(path, "w") as f:
        json.dump(res, f)
    print("wrote", path, file=sys.stderr)

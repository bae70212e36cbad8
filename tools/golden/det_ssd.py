"""Golden values of a tiny SSD training graph (MultiBoxPrior + MultiBoxTarget + MultiBoxDetection
with MXNet's SSD example's losses), from real MXNet 1.9.1.

Run with MXNet's interpreter (mxnet is never a dependency of mxrs)::

    /work/mxref/bin/python tools/golden/det_ssd.py

Writes ``tests/data/ops_det_ssd_golden.json``: the arguments, the outputs of one training
forward pass and the gradients of every argument after ``backward()``.
``tests/unit/test_det_ops.py`` builds the same graph with ``ssd_symbol`` (this module imports
mxnet only in ``main``, so that the tests can import it).
"""

import json
import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "ops_det_ssd_golden.json"


def ssd_symbol(mx):
    """A one-scale SSD: a conv trunk, class and box heads over 2 anchors a position, 2 classes."""
    data, label = mx.sym.var("data"), mx.sym.var("label")
    body = mx.sym.Activation(mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="c1"), "relu")
    anchors = mx.sym.contrib.MultiBoxPrior(body, sizes=(0.5, 0.3), ratios=(1,), name="prior")
    cls = mx.sym.Convolution(body, num_filter=2 * 3, kernel=(3, 3), pad=(1, 1), name="cls")
    cls = mx.sym.transpose(mx.sym.reshape(mx.sym.transpose(cls, axes=(0, 2, 3, 1)), shape=(0, -1, 3)), axes=(0, 2, 1))
    loc = mx.sym.Convolution(body, num_filter=2 * 4, kernel=(3, 3), pad=(1, 1), name="loc")
    loc = mx.sym.Flatten(mx.sym.transpose(loc, axes=(0, 2, 3, 1)))
    loc_target, loc_mask, cls_target = mx.sym.contrib.MultiBoxTarget(
        anchors, label, cls, overlap_threshold=0.5, negative_mining_ratio=3, negative_mining_thresh=0.5, name="target"
    )
    cls_prob = mx.sym.SoftmaxOutput(
        cls, cls_target, ignore_label=-1, use_ignore=True, multi_output=True, normalization="valid", name="cls_prob"
    )
    loc_diff = loc_mask * (loc - loc_target)
    loc_loss = mx.sym.MakeLoss(mx.sym.smooth_l1(loc_diff, scalar=1.0), normalization="valid", name="loc_loss")
    cls_label = mx.sym.MakeLoss(cls_target, grad_scale=0, name="cls_label")
    det = mx.sym.contrib.MultiBoxDetection(cls_prob, loc, anchors, nms_threshold=0.45, name="detection")
    det = mx.sym.MakeLoss(det, grad_scale=0, name="det_out")
    return mx.sym.Group([cls_prob, loc_loss, cls_label, det])


def ssd_args():
    """Deterministic arguments: a batch of 2 images of 4x4 and 2 padded ground truths each."""
    rng = np.random.RandomState(42)
    label = np.array(
        [[[0, 0.1, 0.1, 0.5, 0.6], [1, 0.4, 0.3, 0.9, 0.8]], [[1, 0.2, 0.5, 0.7, 0.9], [-1, -1, -1, -1, -1]]],
        np.float32,
    )
    shapes = {"c1_weight": (4, 3, 3, 3), "cls_weight": (6, 4, 3, 3), "loc_weight": (8, 4, 3, 3)}
    args = {"data": rng.uniform(-1, 1, (2, 3, 4, 4)).astype(np.float32), "label": label}
    for name, shape in shapes.items():
        args[name] = (rng.uniform(-1, 1, shape) * 0.5).astype(np.float32)
        args[name.replace("weight", "bias")] = (rng.uniform(-1, 1, shape[0]) * 0.1).astype(np.float32)
    return args


def main():
    os.environ["MXNET_MKLDNN_ENABLED"] = "0"
    import mxnet as mx

    sym = ssd_symbol(mx)
    args = {k: mx.nd.array(v) for k, v in ssd_args().items()}
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req="write")
    outs = exe.forward(is_train=True)
    exe.backward()

    def enc(a):
        return {"shape": list(a.shape), "data": [float(f"{v:.8g}") for v in a.asnumpy().ravel()]}

    doc = {
        "mxnet": mx.__version__,
        "args": {k: enc(v) for k, v in args.items()},
        "outputs": {n: enc(o) for n, o in zip(sym.list_outputs(), outs)},
        "grads": {k: enc(v) for k, v in grads.items()},
    }
    OUT.write_text(json.dumps(doc) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

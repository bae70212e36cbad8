"""Helpers of the ONNX tests: random parameters, mxrs's forward pass, onnxruntime's, and the
export -> onnxruntime -> import round trip."""

import mxrs as mx
import numpy as np


def random_params(sym, shapes, seed=0):
    """Random parameters for every argument of ``sym`` that is not an input in ``shapes``."""
    rng = np.random.RandomState(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    params = {}
    for n, s in zip(sym.list_arguments(), arg_shapes):
        if n not in shapes and not n.endswith("_label"):
            params[n] = mx.nd.array(rng.uniform(-0.5, 0.5, s).astype(np.float32))
    for n, s in zip(sym.list_auxiliary_states(), aux_shapes):
        lo = 0.5 if n.endswith("_var") else -0.5
        params[n] = mx.nd.array(rng.uniform(lo, lo + 1.0, s).astype(np.float32))
    return params


def make_inputs(shapes, seed=1, low=-1.0, high=1.0):
    rng = np.random.RandomState(seed)
    return {k: rng.uniform(low, high, s).astype(np.float32) for k, s in shapes.items()}


def mxrs_forward(sym, params, inputs):
    args = {k: v for k, v in params.items() if k in sym.list_arguments()}
    args.update({k: mx.nd.array(v) for k, v in inputs.items()})
    arg_shapes, _, _ = sym.infer_shape(**{k: v.shape for k, v in inputs.items()})
    for n, s in zip(sym.list_arguments(), arg_shapes):
        if n not in args:  # labels
            args[n] = mx.nd.zeros(s)
    aux = {k: v for k, v in params.items() if k in sym.list_auxiliary_states()}
    exe = sym.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
    return [o.asnumpy() for o in exe.forward(is_train=False)]


def ort_run(path, inputs):
    import onnxruntime as ort  # optional: the tests that call this skip without it

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)


def check_export(tmp_path, sym, shapes, rtol=1e-4, atol=1e-5, seed=0, low=-1.0, high=1.0):
    """Export ``sym``, run it in onnxruntime, import it back: all three agree."""
    params = random_params(sym, shapes, seed)
    inputs = make_inputs(shapes, seed + 1, low, high)
    want = mxrs_forward(sym, params, inputs)
    path = tmp_path / "model.onnx"
    out = mx.onnx.export_model(sym, params, [shapes[k] for k in shapes], np.float32, str(path))
    assert out == str(path)
    got = ort_run(path, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.reshape(w.shape), w, rtol=rtol, atol=atol)
    sym2, arg2, aux2 = mx.onnx.import_model(str(path))
    back = mxrs_forward(sym2, {**arg2, **aux2}, inputs)
    for b, w in zip(back, want):
        np.testing.assert_allclose(b.reshape(w.shape), w, rtol=rtol, atol=atol)
    return path


__all__ = ["random_params", "make_inputs", "mxrs_forward", "ort_run", "check_export"]

"""MXNet's ``check_consistency`` idea: run the same computation on the CPU and on the device
context and compare. Written once; every table in tests/gpu runs through it.
"""

import numpy as np
from _target import mx

CPU = mx.cpu(0)

# Default tolerances by dtype (as MXNet's check_consistency, tighter for float32 where the
# device has no reason to differ by more than rounding).
TOL = {
    "float16": (1e-2, 1e-2),
    "float32": (1e-5, 1e-6),
    "float64": (1e-12, 1e-14),
}


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def to_nd(arrays, ctx):
    """NumPy arrays to NDArrays on ``ctx`` keeping their dtypes."""
    return [mx.nd.array(a, ctx=ctx, dtype=a.dtype) for a in arrays]


def assert_close(actual, expected, rtol, atol, what=""):
    """``allclose`` with a message naming the worst element, the shapes and the dtypes."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != cpu {expected.shape}"
    if actual.size == 0:
        return
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        bad = actual != expected
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), actual.shape)
            raise AssertionError(
                f"{what}: {int(bad.sum())}/{actual.size} integer elements differ; first at {i}: "
                f"device {actual[i]} vs cpu {expected[i]}"
            )
        return
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(a) & np.isinf(e) & (np.sign(a) == np.sign(e))
    with np.errstate(invalid="ignore"):
        err = np.abs(a - e)
    err[both_nan | same_inf] = 0.0
    bound = atol + rtol * np.abs(e)
    bound[both_nan | same_inf] = 1.0
    bad = ~(err <= bound)
    if bad.any():
        ratio = np.where(bad, err / np.maximum(bound, 1e-300), 0.0)
        ratio[np.isnan(ratio)] = np.inf
        i = np.unravel_index(int(np.argmax(ratio)), a.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{a.size} elements outside rtol={rtol} atol={atol}; worst at {i}: "
            f"device {actual[i]!r} vs cpu {expected[i]!r} (abs err {err[i]:.3g}); dtype {actual.dtype}, "
            f"shape {actual.shape}"
        )


def run_on(fn, np_inputs, ctx, kwargs):
    out = fn(*to_nd(np_inputs, ctx), **kwargs)
    return as_list(out)


def check_consistency(fn, np_inputs, dev, kwargs=None, rtol=None, atol=None, what="op"):
    """Run ``fn(*inputs, **kwargs)`` on cpu(0) and on ``dev``; compare every output.

    Checks that each output stays on ``dev``, has the CPU's shape and dtype and agrees within
    ``rtol``/``atol`` (by default from :data:`TOL` for the output dtype). Returns the device
    outputs as NumPy arrays.
    """
    kwargs = kwargs or {}
    ref = [o.asnumpy() for o in run_on(fn, np_inputs, CPU, kwargs)]
    outs = run_on(fn, np_inputs, dev, kwargs)
    assert len(outs) == len(ref), f"{what}: {len(outs)} outputs on {dev}, {len(ref)} on cpu"
    got = []
    for k, (o, r) in enumerate(zip(outs, ref)):
        label = f"{what} output {k} on {dev}"
        assert o.context == dev, f"{label}: result landed on {o.context}"
        g = o.asnumpy()
        assert g.dtype == r.dtype, f"{label}: dtype {g.dtype} != cpu {r.dtype}"
        d_rtol, d_atol = TOL.get(str(r.dtype), (0.0, 0.0))
        assert_close(g, r, d_rtol if rtol is None else rtol, d_atol if atol is None else atol, label)
        got.append(g)
    return got


def grads_on(fn, np_inputs, ctx, kwargs, head_grad_seed=0, train_mode=True):
    """Forward ``fn`` under ``autograd.record`` on ``ctx``, backward a fixed random head
    gradient; returns (outputs, input gradients) as NumPy arrays."""
    xs = to_nd(np_inputs, ctx)
    for x in xs:
        x.attach_grad()
    with mx.autograd.record(train_mode=train_mode):
        outs = as_list(fn(*xs, **kwargs))
    rng = np.random.default_rng(head_grad_seed)
    heads = [mx.nd.array(rng.standard_normal(o.shape).astype(o.dtype), ctx=ctx, dtype=o.dtype) for o in outs]
    mx.autograd.backward(outs, heads)
    return [o.asnumpy() for o in outs], [x.grad.asnumpy() for x in xs]


def check_grad_consistency(fn, np_inputs, dev, kwargs=None, rtol=1e-4, atol=1e-5, what="op", train_mode=True):
    """Outputs and input gradients under autograd agree between cpu(0) and ``dev``."""
    kwargs = kwargs or {}
    ref_out, ref_grad = grads_on(fn, np_inputs, CPU, kwargs, train_mode=train_mode)
    out, grad = grads_on(fn, np_inputs, dev, kwargs, train_mode=train_mode)
    for k, (g, r) in enumerate(zip(out, ref_out)):
        assert_close(g, r, rtol, atol, f"{what} output {k} on {dev}")
    for k, (g, r) in enumerate(zip(grad, ref_grad)):
        assert_close(g, r, rtol, atol, f"{what} grad of input {k} on {dev}")

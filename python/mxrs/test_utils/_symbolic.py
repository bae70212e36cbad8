"""Checks of symbols through executors: forward, backward, finite differences, consistency
across contexts and dtypes, speed (``mx.test_utils``, MXNet 1.9.1's semantics)."""

import time
import traceback

import numpy as np

from mxrs import ndarray as nd
from mxrs import symbol as _sym
from mxrs.context import current_context
from mxrs.test_utils._compare import assert_almost_equal, get_tolerance, get_tols
from mxrs.test_utils._compare import default_dtype as _default_dtype
from mxrs.test_utils._compare import default_numeric_eps as _default_numeric_eps

__all__ = [
    "simple_forward",
    "numeric_grad",
    "check_numeric_gradient",
    "check_symbolic_forward",
    "check_symbolic_backward",
    "check_speed",
    "check_consistency",
]

_FLOATS = (np.float16, np.float32, np.float64)
_DTYPE = _default_dtype()


def _default_context():
    return current_context()


def _sorted_items(d):
    return sorted(d.items(), key=lambda t: t[0])


def _stype(arr):
    return getattr(arr, "stype", "default")


def _as_stype(value, stype, dtype):
    arr = nd.array(value, dtype=dtype)
    if stype == "default":
        return arr
    return nd.cast_storage(arr, stype=stype)


def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """Bind ``sym`` to the NumPy ``inputs`` (by argument name), run forward and return the
    output as NumPy (a list when there are several)."""
    ctx = ctx or _default_context()
    inputs = {k: nd.array(v) for k, v in inputs.items()}
    exe = sym.bind(ctx, args=inputs)
    exe.forward(is_train=is_train)
    outputs = [x.asnumpy() for x in exe.outputs]
    if len(outputs) == 1:
        return outputs[0]
    return outputs


def _to_nd(v, ctx, dtype):
    if isinstance(v, np.ndarray):
        return nd.array(v, ctx=ctx, dtype=v.dtype if dtype == "asnumpy" else dtype)
    return v


def _parse_location(sym, location, ctx, dtype=_DTYPE):
    """``location`` (list in ``list_arguments()`` order, or dict by name) as a sorted dict of
    NDArrays on ``ctx``."""
    assert isinstance(location, (dict, list, tuple))
    assert dtype == "asnumpy" or dtype in _FLOATS
    if isinstance(location, dict):
        if set(location.keys()) != set(sym.list_arguments()):
            raise ValueError(
                "Symbol arguments and keys of the given location do not match."
                f"symbol args:{set(sym.list_arguments())!s}, location.keys():{set(location.keys())!s}"
            )
    else:
        location = dict(zip(sym.list_arguments(), location, strict=False))
    location = {k: _to_nd(v, ctx, dtype) for k, v in location.items()}
    return dict(_sorted_items(location))


def _parse_aux_states(sym, aux_states, ctx, dtype=_DTYPE):
    """``aux_states`` (list in ``list_auxiliary_states()`` order, or dict) as NDArrays."""
    assert dtype == "asnumpy" or dtype in _FLOATS
    if aux_states is None:
        return None
    if isinstance(aux_states, dict):
        if set(aux_states.keys()) != set(sym.list_auxiliary_states()):
            raise ValueError(
                "Symbol aux_states names and given aux_states do not match."
                f"symbol aux_names:{set(sym.list_auxiliary_states())!s}, "
                f"aux_states.keys:{set(aux_states.keys())!s}"
            )
    elif isinstance(aux_states, (list, tuple)):
        aux_states = dict(zip(sym.list_auxiliary_states(), aux_states, strict=False))
    return {k: nd.array(v, ctx=ctx, dtype=v.dtype if dtype == "asnumpy" else dtype) for k, v in aux_states.items()}


def _set_aux(executor, aux_states, dtype):
    if aux_states is not None:
        for key, val in aux_states.items():
            executor.aux_dict[key][:] = _as_stype(val, _stype(executor.aux_dict[key]), dtype)


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True, dtype=_DTYPE):
    """Central finite differences of the sum of ``executor.outputs[0]`` with respect to each
    float argument in ``location`` (dict of name to NumPy array), as a dict of NumPy arrays."""
    assert dtype in _FLOATS
    approx_grads = {k: np.zeros(v.shape, dtype=dtype) for k, v in location.items()}
    for k, v in location.items():
        stype = _stype(executor.arg_dict[k])
        if stype == "default":
            executor.arg_dict[k][:] = _as_stype(v, stype, dtype=dtype)
    for k in location:
        location[k] = np.asarray(location[k], order="C")
    for k, v in location.items():
        if v.dtype.kind != "f":
            continue
        stype = _stype(executor.arg_dict[k])
        old_value = v.copy()
        for i in range(int(np.prod(v.shape))):
            v.ravel()[i] += eps / 2.0
            executor.arg_dict[k][:] = _as_stype(v, stype, dtype=dtype)
            _set_aux(executor, aux_states, dtype)
            executor.forward(is_train=use_forward_train)
            f_peps = executor.outputs[0].asnumpy()

            v.ravel()[i] -= eps
            executor.arg_dict[k][:] = _as_stype(v, stype, dtype=dtype)
            _set_aux(executor, aux_states, dtype)
            executor.forward(is_train=use_forward_train)
            f_neps = executor.outputs[0].asnumpy()

            approx_grads[k].ravel()[i] = (f_peps - f_neps).sum() / eps
            v.ravel()[i] = old_value.ravel()[i]
        executor.arg_dict[k][:] = _as_stype(old_value, stype, dtype=dtype)
    return approx_grads


def _grad_nodes_and_req(sym, grad_nodes):
    if grad_nodes is None:
        grad_nodes = sym.list_arguments()
        return grad_nodes, {k: "write" for k in grad_nodes}
    if isinstance(grad_nodes, (list, tuple)):
        grad_nodes = list(grad_nodes)
        return grad_nodes, {k: "write" for k in grad_nodes}
    if isinstance(grad_nodes, dict):
        return list(grad_nodes.keys()), grad_nodes.copy()
    raise ValueError(f"grad_nodes must be None, a list, a tuple or a dict, got {type(grad_nodes).__name__}")


def _make_loss(out):
    make_loss = getattr(_sym, "make_loss", None) or _sym.MakeLoss
    return make_loss(out)


def check_numeric_gradient(
    sym,
    location,
    aux_states=None,
    numeric_eps=None,
    rtol=None,
    atol=None,
    grad_nodes=None,
    use_forward_train=True,
    ctx=None,
    grad_stype_dict=None,
    dtype=_DTYPE,
):
    """Check ``sym``'s backward pass against finite differences at ``location``.

    The output is multiplied by a fixed random projection and summed; the gradients of that
    scalar from ``backward()`` must match central differences (step ``numeric_eps``, by
    default 2^-9 for float32) within ``rtol``/``atol``, else ``AssertionError`` names the
    argument (``NUMERICAL_x`` vs ``BACKWARD_x``). ``grad_nodes`` picks the arguments (a list,
    or a dict of name to grad_req ``write``/``add``/``null``).
    """
    assert dtype in _FLOATS
    if ctx is None:
        ctx = _default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    location_npy = {k: v.asnumpy() for k, v in location.items()}
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    aux_states_npy = None if aux_states is None else {k: v.asnumpy() for k, v in aux_states.items()}
    grad_nodes, grad_req = _grad_nodes_and_req(sym, grad_nodes)

    input_shape = {k: v.shape for k, v in location.items()}
    _, out_shape, _ = sym.infer_shape(**input_shape)
    proj = _sym.Variable("__random_proj")
    out = _make_loss(sym * proj)

    # The projection must not have tiny elements, or the finite differences lose precision.
    projection = np.random.rand(*out_shape[0]) + 0.1
    location = dict(list(location.items()) + [("__random_proj", nd.array(projection, ctx=ctx, dtype=dtype))])
    args_grad_npy = dict(
        [(k, np.random.normal(0, 0.01, size=location[k].shape)) for k in grad_nodes]
        + [("__random_proj", np.random.normal(0, 0.01, size=out_shape[0]))]
    )
    args_grad = {k: nd.array(v, ctx=ctx, dtype=dtype) for k, v in args_grad_npy.items()}
    if grad_stype_dict is not None:
        assert isinstance(grad_stype_dict, dict), "grad_stype_dict must be a dict"
        for k, v in grad_stype_dict.items():
            if k in args_grad and v != "default":
                args_grad[k] = nd.zeros(args_grad[k].shape, args_grad[k].context, args_grad[k].dtype, v)

    executor = out.bind(ctx, grad_req=grad_req, args=location, args_grad=args_grad, aux_states=aux_states)
    if len(executor.arg_arrays) != len(location):
        raise ValueError(
            "Executor arg_arrays and and location len do not match."
            f"Got {len(executor.arg_arrays)} inputs and {len(location)} locations"
        )
    assert len(executor.outputs) == 1
    executor.forward(is_train=True)
    eps = get_tolerance(executor.outputs[0], numeric_eps, _default_numeric_eps())
    # Finite differences with a small step need high precision.
    if dtype in (np.float32, np.float16):
        assert eps >= 1e-5
    executor.backward()
    symbolic_grads = executor.grad_dict

    numeric_gradients = numeric_grad(
        executor, location_npy, aux_states_npy, eps=eps, use_forward_train=use_forward_train, dtype=dtype
    )
    for name in grad_nodes:
        fd_grad = numeric_gradients[name]
        orig_grad = args_grad_npy[name]
        sym_grad = symbolic_grads[name]
        names = (f"NUMERICAL_{name}", f"BACKWARD_{name}")
        if grad_req[name] == "write":
            assert_almost_equal(fd_grad, sym_grad, rtol, atol, names)
        elif grad_req[name] == "add":
            assert_almost_equal(fd_grad, sym_grad.asnumpy() - orig_grad, rtol, atol, names)
        elif grad_req[name] == "null":
            assert_almost_equal(orig_grad, sym_grad, rtol, atol, names)
        else:
            raise ValueError(f"Invalid grad_req {grad_req[name]} for argument {name}")


def check_symbolic_forward(
    sym, location, expected, rtol=None, atol=None, aux_states=None, ctx=None, equal_nan=False, dtype=_DTYPE
):
    """Run ``sym`` forward (inference) at ``location`` and compare each output with
    ``expected`` (a list in output order, or a dict by output name); returns the outputs."""
    assert dtype == "asnumpy" or dtype in _FLOATS
    if ctx is None:
        ctx = _default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    args_grad_data = {
        k: nd.zeros(v.shape, ctx=ctx, dtype=v.dtype if dtype == "asnumpy" else dtype) for k, v in location.items()
    }
    executor = sym.bind(ctx=ctx, args=location, args_grad=args_grad_data, aux_states=aux_states)
    executor.forward(is_train=False)
    for output_name, expect, output in zip(sym.list_outputs(), expected, executor.outputs, strict=False):
        assert_almost_equal(
            expect, output, rtol, atol, (f"EXPECTED_{output_name}", f"FORWARD_{output_name}"), equal_nan=equal_nan
        )
    return executor.outputs


def _out_grads_nd(out_grads, ctx, dtype):
    if isinstance(out_grads, (tuple, list)):
        return [_to_nd(arr, ctx, dtype) for arr in out_grads]
    if isinstance(out_grads, dict):
        return {k: _to_nd(v, ctx, dtype) for k, v in out_grads.items()}
    assert out_grads is None
    return None


def check_symbolic_backward(
    sym,
    location,
    out_grads,
    expected,
    rtol=None,
    atol=None,
    aux_states=None,
    grad_req="write",
    ctx=None,
    grad_stypes=None,
    equal_nan=False,
    dtype=_DTYPE,
):
    """Run ``sym`` forward (training) and backward with head gradients ``out_grads`` and
    compare the argument gradients with ``expected`` (a list in argument order, or a dict).

    ``grad_req`` (a string, list or dict) may be ``write``, ``add`` (the gradient buffers start
    from random values, which are subtracted before comparing) or ``null`` (the buffers must
    keep those values). Returns the gradient arrays by name.
    """
    assert dtype == "asnumpy" or dtype in _FLOATS
    if ctx is None:
        ctx = _default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(sym.list_arguments(), expected, strict=False))
    # Dirty the gradient buffers deterministically, for reproducibility.
    args_grad_npy = {k: np.random.normal(size=v.shape) for k, v in _sorted_items(expected)}
    args_grad_data = {}
    for k, v in args_grad_npy.items():
        arr = nd.array(v, ctx=ctx, dtype=expected[k].dtype if dtype == "asnumpy" else dtype)
        stype = None if grad_stypes is None else grad_stypes.get(k)
        if stype is not None and stype != "default":
            raise NotImplementedError(f"check_symbolic_backward: grad_stypes {stype!r} needs sparse arrays")
        args_grad_data[k] = arr
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in sym.list_arguments()}
    elif isinstance(grad_req, (list, tuple)):
        grad_req = dict(zip(sym.list_arguments(), grad_req, strict=False))

    executor = sym.bind(ctx=ctx, args=location, args_grad=args_grad_data, aux_states=aux_states, grad_req=grad_req)
    executor.forward(is_train=True)
    executor.backward(_out_grads_nd(out_grads, ctx, dtype))

    grads = args_grad_data
    for name in expected:
        names = (f"EXPECTED_{name}", f"BACKWARD_{name}")
        if grad_req[name] == "write":
            assert_almost_equal(expected[name], grads[name], rtol, atol, names, equal_nan=equal_nan)
        elif grad_req[name] == "add":
            grad = grads[name].asnumpy()
            assert_almost_equal(expected[name], grad - args_grad_npy[name], rtol, atol, names, equal_nan=equal_nan)
        elif grad_req[name] == "null":
            assert_almost_equal(args_grad_npy[name], grads[name], rtol, atol, names, equal_nan=equal_nan)
        else:
            raise ValueError(f"Invalid grad_req {grad_req[name]} for argument {name}")
    return args_grad_data


def check_speed(sym, location=None, ctx=None, N=20, grad_req=None, typ="whole", **kwargs):  # noqa: N803
    """Seconds per run of ``sym``: forward and backward (``typ="whole"``) or forward only
    (``"forward"``), averaged over ``N`` runs after one warm-up. ``location`` (dict of NumPy
    arrays) or shapes in ``kwargs`` give the inputs (random normal without ``location``)."""
    if ctx is None:
        ctx = _default_context()
    if grad_req is None:
        grad_req = "write"
    if location is None:
        exe = sym.simple_bind(grad_req=grad_req, ctx=ctx, **kwargs)
        location = {k: np.random.normal(size=arr.shape, scale=1.0) for k, arr in exe.arg_dict.items()}
    else:
        assert isinstance(location, dict), f'Expect dict, get "location"={location!s}'
        exe = sym.simple_bind(grad_req=grad_req, ctx=ctx, **{k: v.shape for k, v in location.items()})
    for name, iarr in location.items():
        exe.arg_dict[name][:] = iarr.astype(exe.arg_dict[name].dtype)
    if typ not in ("whole", "forward"):
        raise ValueError('typ can only be "whole" or "forward".')
    train = typ == "whole"

    def run():
        exe.forward(is_train=train)
        if train:
            exe.backward(out_grads=exe.outputs)

    run()
    for output in exe.outputs:
        output.wait_to_read()
    tic = time.time()
    for _ in range(N):
        run()
    nd.waitall()
    return (time.time() - tic) * 1.0 / N


def _smaller_dtype(dt1, dt2):
    """The less precise of two dtypes."""
    return dt1 if dt2 is None or np.dtype(dt1).itemsize < np.dtype(dt2).itemsize else dt2


def _report(kind, err, raise_on_err):
    print(kind)
    traceback.print_exc()
    if raise_on_err:
        raise err
    print(str(err))


def _init_consistency_inputs(exe_list, arg_params, aux_params, scale, use_uniform, rand_type, grad_req):
    # Random inputs are drawn in a deterministic (sorted) order, for reproducibility.
    for n, arr in _sorted_items(exe_list[0].arg_dict):
        if n not in arg_params:
            if use_uniform:
                arg_params[n] = np.random.uniform(low=-0.92 * scale, high=0.92 * scale, size=arr.shape).astype(
                    rand_type
                )
            else:
                arg_params[n] = np.random.normal(size=arr.shape, scale=scale).astype(rand_type)
    for n in exe_list[0].aux_dict:
        aux_params.setdefault(n, 0)
    for exe in exe_list:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        if grad_req == "add":
            for arr in exe.grad_arrays:
                if arr is not None:
                    arr[:] = np.zeros(arr.shape, dtype=arr.dtype)


def _check_consistency_train(exe_list, gt, gt_idx, dtypes, names, rtol, atol, equal_nan, raise_on_err):
    for exe in exe_list:
        exe.forward(is_train=True)
    # The first executor's outputs, cast to the least precise dtype, are every executor's
    # head gradients.
    least = [out.dtype for out in exe_list[0].outputs]
    for exe in exe_list:
        least = [_smaller_dtype(out.dtype, dt) for out, dt in zip(exe.outputs, least, strict=False)]
    golden = [out.astype(dt).asnumpy() for out, dt in zip(exe_list[0].outputs, least, strict=False)]
    for exe in exe_list:
        ctx = exe.outputs[0].context
        exe.backward([nd.array(g, ctx=ctx, dtype=out.dtype) for g, out in zip(golden, exe.outputs, strict=False)])
    for i, exe in enumerate(exe_list):
        if i == gt_idx:
            continue
        for name, arr in zip(names, exe.outputs + exe.grad_arrays, strict=False):
            if gt[name] is None:
                assert arr is None
                continue
            gtarr = gt[name]
            try:
                rt, at = rtol, atol
                # With float16 data, a float32 gradient (BatchNorm's gamma) gets float16's tolerance.
                small_arr = _smaller_dtype(arr.dtype, dtypes[i])
                small_gt = _smaller_dtype(gtarr.dtype, dtypes[gt_idx])
                if small_arr != arr.dtype or small_gt != gtarr.dtype:
                    rt, at = get_tols(arr.astype(small_arr), gtarr.astype(small_gt), rtol, atol)
                assert_almost_equal(arr, gtarr, rtol=rt, atol=at, equal_nan=equal_nan)
            except AssertionError as e:
                kind = (
                    f"Train Err: {np.dtype(arr.dtype).name} {arr.context} ctx {i} vs "
                    f"{np.dtype(gtarr.dtype).name} {gtarr.context} ctx {gt_idx} at {name}"
                )
                _report(kind, e, raise_on_err)


def check_consistency(
    sym,
    ctx_list,
    scale=1.0,
    grad_req="write",
    arg_params=None,
    aux_params=None,
    rtol=None,
    atol=None,
    raise_on_err=True,
    ground_truth=None,
    equal_nan=False,
    use_uniform=False,
    rand_type=np.float64,
):
    """Check that ``sym`` (or one symbol per entry) gives the same outputs and gradients in
    every entry of ``ctx_list``: dicts of ``simple_bind`` arguments, e.g.
    ``{'ctx': mx.gpu(0), 'data': (2, 3), 'type_dict': {'data': np.float16}}``.

    The most precise entry (or ``ground_truth``) is the reference; tolerances follow each
    dtype unless given. Returns the reference outputs and gradients by name.
    """
    assert len(ctx_list) > 1
    syms = [sym] * len(ctx_list) if isinstance(sym, _sym.Symbol) else list(sym)
    assert len(syms) == len(ctx_list)
    output_names = syms[0].list_outputs()
    arg_names = syms[0].list_arguments()
    exe_list = []
    for s, ctx in zip(syms, ctx_list, strict=False):
        assert s.list_arguments() == arg_names
        assert s.list_outputs() == output_names
        exe_list.append(s.simple_bind(grad_req=grad_req, **ctx))
    arg_params = {} if arg_params is None else arg_params
    aux_params = {} if aux_params is None else aux_params
    _init_consistency_inputs(exe_list, arg_params, aux_params, scale, use_uniform, rand_type, grad_req)

    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exe_list]
    # The reference is the first executor with the most precise first output.
    gt_idx = int(np.argmax([d.itemsize for d in dtypes]))
    gt = ground_truth
    if gt is None:
        gt = dict(exe_list[gt_idx].output_dict)
        if grad_req != "null":
            gt.update(exe_list[gt_idx].grad_dict)

    for exe in exe_list:
        exe.forward(is_train=False)
    for i, exe in enumerate(exe_list):
        if i == gt_idx:
            continue
        for name, arr in zip(output_names, exe.outputs, strict=False):
            try:
                assert_almost_equal(arr, gt[name], rtol=rtol, atol=atol, equal_nan=equal_nan)
            except AssertionError as e:
                _report(f"Predict Err: ctx {i} vs ctx {gt_idx} at {name}", e, raise_on_err)

    if grad_req != "null":
        _check_consistency_train(
            exe_list, gt, gt_idx, dtypes, output_names + arg_names, rtol, atol, equal_nan, raise_on_err
        )
    return gt

"""Golden values of the contrib ops added on branch h-cmisc (FFTs, count sketch, Hawkes log
likelihood, the exposed gradient ops, BatchNormWithReLU / SyncBatchNorm / SparseEmbedding,
getnnz and the DGL graph ops, the symbolic group_adagrad_update).

Run with real MXNet 1.9.1: ``/work/mxref/bin/python tools/golden/cases_cmisc.py``; writes
``tests/data/ops_cmisc_golden.json``. MXNet 1.9.1 runs ``fft``, ``ifft`` and ``count_sketch``
on GPU only and ``BatchNormWithReLU`` with MKL-DNN only: their references are MXNet's kernels
(``src/operator/contrib/fft-inl.h``, ``ifft-inl.h``, ``count_sketch.cu``) transcribed to NumPy
below, and BatchNorm followed by relu for ``BatchNormWithReLU``. Everything else is MXNet's
CPU output. MXNet registers ``backward_quadratic`` and ``backward_index_copy`` without argument
names (its Python wrappers cannot pass them arrays): their references are the gradients MXNet's
autograd computes with them.
"""

import json
import pathlib

import mxnet as mx
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "ops_cmisc_golden.json"


def _l(a):
    return np.asarray(a.asnumpy() if hasattr(a, "asnumpy") else a).tolist()


# --- NumPy transcriptions of MXNet's GPU kernels -------------------------------------------


def np_fft(x):
    """fft-inl.h: cufftExecC2C(CUFFT_FORWARD) of the real rows, interleaved (re, im)."""
    c = np.fft.fft(x.astype(np.float64), axis=-1)
    return np.stack([c.real, c.imag], axis=-1).reshape(x.shape[:-1] + (2 * x.shape[-1],))


def np_ifft(x):
    """ifft-inl.h: the real part of cufftExecC2C(CUFFT_INVERSE), not divided by d."""
    d = x.shape[-1] // 2
    c = x[..., 0::2].astype(np.float64) + 1j * x[..., 1::2]
    return (np.fft.ifft(c, axis=-1) * d).real


def np_count_sketch(x, h, s, out_dim):
    """count_sketch.cu sketch_forward_kernel: out[i, h[j]] += s[j] * in[i, j]."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.zeros((flat.shape[0], out_dim))
    for j in range(flat.shape[1]):
        out[:, int(h.flat[j])] += s.flat[j] * flat[:, j]
    return out.reshape(x.shape[:-1] + (out_dim,))


def np_count_sketch_grad(og, h, s, in_dim):
    """count_sketch.cu sketch_backward_kernel: in_grad[i, j] = out_grad[i, h[j]] * s[j]."""
    flat = og.reshape(-1, og.shape[-1])
    g = np.stack([flat[:, int(h.flat[j])] * s.flat[j] for j in range(in_dim)], axis=1)
    return g.reshape(og.shape[:-1] + (in_dim,))


def fft_cases(rng):
    cases = []
    for shape in [(3, 5), (2, 1, 2, 4)]:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        og = rng.uniform(-1, 1, shape[:-1] + (2 * shape[-1],)).astype(np.float32)
        cases.append(
            {
                "x": x.tolist(),
                "fft": np_fft(x).tolist(),
                "og": og.tolist(),
                # The gradient of fft is ifft of the output gradient (fft-inl.h Backward).
                "fft_grad": np_ifft(og).tolist(),
                "ifft_of_og": np_ifft(og).tolist(),
                # The gradient of ifft is fft of the output gradient (ifft-inl.h Backward).
                "ifft_grad_of_x": np_fft(x).tolist(),
            }
        )
    return cases


def sketch_cases(rng):
    cases = []
    for shape, out_dim in [((3, 6), 4), ((2, 1, 2, 5), 3)]:
        in_dim = shape[-1]
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        h = rng.randint(0, out_dim, (1, in_dim)).astype(np.float32)
        s = rng.choice([-1.0, 1.0], (1, in_dim)).astype(np.float32)
        og = rng.uniform(-1, 1, shape[:-1] + (out_dim,)).astype(np.float32)
        cases.append(
            {
                "x": x.tolist(),
                "h": h.tolist(),
                "s": s.tolist(),
                "out_dim": out_dim,
                "out": np_count_sketch(x, h, s, out_dim).tolist(),
                "og": og.tolist(),
                "grad": np_count_sketch_grad(og, h, s, in_dim).tolist(),
            }
        )
    return cases


# --- MXNet CPU ------------------------------------------------------------------------------


def hawkes_case(rng):
    n, t, k = 3, 6, 2
    mu = rng.uniform(0.5, 1.5, (n, k)).astype(np.float32)
    alpha = np.array([0.2, 0.4], np.float32)
    beta = np.array([1.0, 2.0], np.float32)
    state = rng.uniform(0, 0.5, (n, k)).astype(np.float32)
    lags = rng.uniform(0.1, 1.0, (n, t)).astype(np.float32)
    marks = rng.randint(0, k, (n, t)).astype(np.int32)
    valid = np.array([6, 3, 0], np.float32)
    max_time = lags.sum(axis=1).astype(np.float32) + 0.5
    og = np.array([1.0, -0.5, 2.0], np.float32)
    nd = [mx.nd.array(a, dtype=a.dtype) for a in (mu, alpha, beta, state, lags, marks, valid, max_time)]
    for a in nd[:3]:
        a.attach_grad()
    with mx.autograd.record():
        ll, st = mx.nd.contrib.hawkesll(*nd)
    mx.autograd.backward([ll], [mx.nd.array(og)])
    return {
        "inputs": [a.tolist() for a in (mu, alpha, beta, state, lags, marks, valid, max_time)],
        "og": og.tolist(),
        "ll": _l(ll),
        "states": _l(st),
        "grads": [_l(a.grad) for a in nd[:3]],
    }


def backward_op_cases(rng):
    x = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    og = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    a = mx.nd.array(x)
    a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.quadratic(a, a=0.5, b=-2.0, c=1.0)
    y.backward(mx.nd.array(og))
    quad = {"x": x.tolist(), "og": og.tolist(), "grad": _l(a.grad)}
    gm = {"og": og.tolist(), "out": _l(mx.nd.contrib.backward_gradientmultiplier(mx.nd.array(og), scalar=2.5))}
    old = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    new = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    idx = np.array([4, 1], np.int64)
    og2 = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    o, nw = mx.nd.array(old), mx.nd.array(new)
    o.attach_grad()
    nw.attach_grad()
    with mx.autograd.record():
        y = mx.nd.contrib.index_copy(o, mx.nd.array(idx, dtype="int64"), nw)
    y.backward(mx.nd.array(og2))
    ic = {"old": old.tolist(), "new": new.tolist(), "idx": idx.tolist(), "og": og2.tolist()}
    ic.update(d_old=_l(o.grad), d_new=_l(nw.grad))
    return {"quadratic": quad, "gradientmultiplier": gm, "index_copy": ic}


def _bn_inputs(rng):
    x = rng.normal(0, 1, (2, 3, 4)).astype(np.float32)
    gamma = np.array([1.0, 2.0, 0.5], np.float32)
    beta = np.array([0.1, -0.2, 0.3], np.float32)
    og = rng.uniform(-1, 1, x.shape).astype(np.float32)
    return x, gamma, beta, og


def _bn_run(fn, x, gamma, beta, og, relu=False, **kw):
    ins = [mx.nd.array(a) for a in (x, gamma, beta)]
    for a in ins:
        a.attach_grad()
    mm, mv = mx.nd.zeros(3), mx.nd.ones(3)
    with mx.autograd.record():
        outs = fn(*ins, mm, mv, output_mean_var=True, fix_gamma=False, **kw)
        y = mx.nd.relu(outs[0]) if relu else outs[0]
    y.backward(mx.nd.array(og))
    return {"out": _l(y), "mean": _l(outs[1]), "var": _l(outs[2]), "grads": [_l(a.grad) for a in ins]}


def layer_cases(rng):
    x, gamma, beta, og = _bn_inputs(rng)
    base = {"x": x.tolist(), "gamma": gamma.tolist(), "beta": beta.tolist(), "og": og.tolist()}
    bn_relu = dict(base, **_bn_run(mx.nd.BatchNorm, x, gamma, beta, og, relu=True))
    sync = dict(base, **_bn_run(mx.nd.contrib.SyncBatchNorm, x, gamma, beta, og, key="k", ndev=1))
    idx = np.array([[0, 3], [3, 1]], np.float32)
    w = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
    og_e = rng.uniform(-1, 1, (2, 2, 2)).astype(np.float32)
    wn = mx.nd.array(w)
    wn.attach_grad(stype="row_sparse")
    with mx.autograd.record():
        y = mx.nd.contrib.SparseEmbedding(mx.nd.array(idx), wn, input_dim=5, output_dim=2)
    y.backward(mx.nd.array(og_e))
    emb = {"idx": idx.tolist(), "w": w.tolist(), "og": og_e.tolist(), "out": _l(y)}
    emb["grad"] = _l(wn.grad.tostype("default"))
    return {"BatchNormWithReLU": bn_relu, "SyncBatchNorm": sync, "SparseEmbedding": emb}


def _csr_dict(c):
    return {"shape": list(c.shape), "data": _l(c.data), "indices": _l(c.indices), "indptr": _l(c.indptr)}


def graph_cases():
    data = np.arange(1, 21, dtype=np.int64)
    indices = np.array([1, 2, 3, 4, 0, 2, 3, 4, 0, 1, 3, 4, 0, 1, 2, 4, 0, 1, 2, 3], np.int64)
    indptr = np.array([0, 4, 8, 12, 16, 20], np.int64)
    g = mx.nd.sparse.csr_matrix((data, indices, indptr), shape=(5, 5))
    # A sparser graph whose vertices have at most 2 neighbours (deterministic sampling).
    d2 = np.array([0, 1, 2, 3, 4, 5, 6], np.int64)
    i2 = np.array([1, 2, 3, 0, 4, 2, 0], np.int64)
    p2 = np.array([0, 2, 3, 5, 6, 7], np.int64)
    g2 = mx.nd.sparse.csr_matrix((d2, i2, p2), shape=(5, 5))
    res = {"g": _csr_dict(g), "g2": _csr_dict(g2)}
    res["getnnz"] = {"none": _l(mx.nd.contrib.getnnz(g)), "axis1": _l(mx.nd.contrib.getnnz(g2, axis=1))}
    adj = mx.nd.contrib.dgl_adjacency(g2)
    res["adjacency"] = dict(_csr_dict(adj), stype=adj.stype, dtype=np.dtype(adj.dtype).name)
    u, v = [0, 0, 1, 2, 3, 4, 4], [1, 4, 2, 3, 0, 0, 1]
    res["edge_id"] = {"u": u, "v": v, "out": _l(mx.nd.contrib.edge_id(g2, mx.nd.array(u), mx.nd.array(v)))}
    sub = mx.nd.contrib.dgl_subgraph(g, mx.nd.array([0, 2, 3], dtype="int64"), return_mapping=True)
    res["subgraph"] = {"v": [0, 2, 3], "sub": _csr_dict(sub[0]), "map": _csr_dict(sub[1])}
    samples = []
    for seeds, hops, mnv in [([0], 1, 6), ([1, 4], 2, 5), ([0], 3, 3)]:
        out = mx.nd.contrib.dgl_csr_neighbor_uniform_sample(
            g2, mx.nd.array(seeds, dtype="int64"), num_args=2, num_hops=hops, num_neighbor=3, max_num_vertices=mnv
        )
        prob = mx.nd.array([0.1, 0.2, 0.3, 0.2, 0.2])
        nu = mx.nd.contrib.dgl_csr_neighbor_non_uniform_sample(
            g2, prob, mx.nd.array(seeds, dtype="int64"), num_args=3, num_hops=hops, num_neighbor=3, max_num_vertices=mnv
        )
        n = int(out[0].asnumpy()[-1])
        comp = mx.nd.contrib.dgl_graph_compact(out[1], out[0], graph_sizes=(n,), return_mapping=True)
        samples.append(
            {
                "seeds": seeds,
                "num_hops": hops,
                "max_num_vertices": mnv,
                "ids": _l(out[0]),
                "sub": _csr_dict(out[1]),
                "layer": _l(out[2]),
                "nu_ids": _l(nu[0]),
                "nu_sub": _csr_dict(nu[1]),
                "nu_prob": _l(nu[2])[:n],
                "nu_layer": _l(nu[3]),
                "compact": _csr_dict(comp[0]),
                "compact_map": _csr_dict(comp[1]),
            }
        )
    res["samples"] = samples
    return res


def group_adagrad_case(rng):
    w = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    g = rng.uniform(-2, 2, (4, 3)).astype(np.float32)
    h = rng.uniform(0, 1, (4, 1)).astype(np.float32)
    # MXNet 1.9.1 cannot compose mx.sym.contrib.group_adagrad_update ("Not enough argument to
    # call operator"): the reference is the NDArray op with every row of the gradient stored.
    wn, hn = mx.nd.array(w), mx.nd.array(h)
    grad = mx.nd.sparse.row_sparse_array((g, np.arange(4)), shape=g.shape)
    mx.nd.contrib.group_adagrad_update(wn, grad, hn, out=wn, lr=0.3, rescale_grad=0.7, clip_gradient=0.5, epsilon=1e-3)
    out, args = wn, {"h": hn}
    return {"w": w.tolist(), "g": g.tolist(), "h": h.tolist(), "out": _l(out), "history": _l(args["h"])}


def main():
    rng = np.random.RandomState(42)
    data = {
        "mxnet": mx.__version__,
        "fft": fft_cases(rng),
        "count_sketch": sketch_cases(rng),
        "hawkesll": hawkes_case(rng),
        "backward_ops": backward_op_cases(rng),
        "layers": layer_cases(rng),
        "graph": graph_cases(),
        "group_adagrad": group_adagrad_case(rng),
    }
    OUT.write_text(json.dumps(data) + "\n")


if __name__ == "__main__":
    main()

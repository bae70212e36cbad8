"""Golden values and MXNet-written files for ``mx.nd.sparse`` (csr and row_sparse arrays).

Run with real MXNet 1.9.1:

    /work/mxref/bin/python tools/golden/sparse.py

Writes ``tests/data/ops_sparse_golden.json`` (inputs and MXNet's results: dense values, storage
types and the sparse components) and ``tests/data/mxnet_fixtures/sparse_mx.params`` (an
``mx.nd.save`` file of sparse and dense arrays; its expected content is in the JSON under
``file``). ``tests/unit/test_sparse*.py`` read both and need no MXNet.
"""

import json
import os
import sys

import mxnet as mx
import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT_JSON = os.path.join(ROOT, "tests", "data", "ops_sparse_golden.json")
OUT_FILE = os.path.join(ROOT, "tests", "data", "mxnet_fixtures", "sparse_mx.params")


def enc(x):
    """An NDArray (any stype) -> JSON: stype, shape, dtype, dense values and components."""
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    d = {"stype": x.stype, "shape": list(x.shape), "dtype": np.dtype(x.dtype).name, "dense": x.asnumpy().tolist()}
    if x.stype == "csr":
        d["data"] = x.data.asnumpy().tolist()
        d["indices"] = x.indices.asnumpy().tolist()
        d["indptr"] = x.indptr.asnumpy().tolist()
    elif x.stype == "row_sparse":
        d["data"] = x.data.asnumpy().tolist()
        d["indices"] = x.indices.asnumpy().tolist()
    return d


RNG = np.random.RandomState(7)


def sparse_dense(shape, density=0.4):
    """Random values in [-2, 2) with about ``density`` of them non-zero (float32)."""
    v = RNG.uniform(-2, 2, shape).astype(np.float32)
    v[RNG.uniform(0, 1, shape) > density] = 0
    return v


def main():
    nd = mx.nd
    inputs = {
        "A": sparse_dense((4, 5)),
        "A2": sparse_dense((4, 5)),
        "B": RNG.uniform(-1, 1, (5, 3)).astype(np.float32),
        "C": RNG.uniform(-1, 1, (4, 3)).astype(np.float32),
        "D": RNG.uniform(-1, 1, (2, 4)).astype(np.float32),
        "E": RNG.uniform(-1, 1, (3, 2)).astype(np.float32),
        "W": RNG.uniform(-1, 1, (6, 3)).astype(np.float32),
        "M": RNG.uniform(-0.5, 0.5, (6, 3)).astype(np.float32),
        "V": RNG.uniform(0.1, 0.5, (6, 3)).astype(np.float32),
    }
    r = np.zeros((6, 3), np.float32)
    r[[0, 2, 5]] = RNG.uniform(-1, 1, (3, 3)).astype(np.float32)
    r2 = np.zeros((6, 3), np.float32)
    r2[[1, 2]] = RNG.uniform(-1, 1, (2, 3)).astype(np.float32)
    inputs["R"], inputs["R2"] = r, r2
    inputs["R3"] = np.zeros((5, 3), np.float32)
    inputs["R3"][[1, 4]] = RNG.uniform(-1, 1, (2, 3)).astype(np.float32)
    A = nd.array(inputs["A"]).tostype("csr")
    A2 = nd.array(inputs["A2"]).tostype("csr")
    R = nd.array(inputs["R"]).tostype("row_sparse")
    R2 = nd.array(inputs["R2"]).tostype("row_sparse")
    R3 = nd.array(inputs["R3"]).tostype("row_sparse")
    B, C, D, E = (nd.array(inputs[k]) for k in "BCDE")
    sp = nd.sparse
    out = {}
    out["tostype_csr"] = enc(A)
    out["tostype_rsp"] = enc(R)
    out["tostype_back"] = enc(A.tostype("default"))
    out["cast_storage_rsp"] = enc(nd.cast_storage(nd.array(inputs["R"]), stype="row_sparse"))
    out["csr_to_rsp"] = enc(A.tostype("row_sparse")) if False else None
    out["dot_csr_dense"] = enc(sp.dot(A, B))
    out["dot_csrT_dense"] = enc(sp.dot(A, C, transpose_a=True))
    out["dot_dense_csr"] = enc(sp.dot(D, A))
    out["dot_rsp_dense"] = enc(sp.dot(R3, E))
    out["add_csr"] = enc(A + A2)
    out["sub_csr"] = enc(A - A2)
    out["mul_csr"] = enc(A * A2)
    out["add_rsp"] = enc(R + R2)
    out["sub_rsp"] = enc(R - R2)
    out["mul_rsp"] = enc(R * R2)
    out["elemwise_add_rsp"] = enc(sp.elemwise_add(R, R2))
    out["scalar_mul_csr"] = enc(A * 2.5)
    out["scalar_div_rsp"] = enc(R / 4.0)
    for name in ("sqrt", "square", "abs", "sign", "relu", "tanh", "negative", "expm1", "floor"):
        src = sp.abs(A) if name == "sqrt" else A
        out[f"unary_{name}_csr"] = enc(getattr(sp, name)(src))
        src = sp.abs(R) if name == "sqrt" else R
        out[f"unary_{name}_rsp"] = enc(getattr(sp, name)(src))
    out["unary_exp_csr"] = enc(sp.exp(A))
    out["retain"] = enc(sp.retain(R, nd.array([0, 3, 5], dtype="int64")))
    out["slice_csr"] = enc(sp.slice(A, begin=(1,), end=(3,)))
    out["sum_csr_0"] = enc(sp.sum(A, axis=0))
    out["sum_csr_1"] = enc(sp.sum(A, axis=1))
    out["mean_csr_0"] = enc(sp.mean(A, axis=0))
    out["sum_rsp_0"] = enc(sp.sum(R, axis=0))
    out["zeros_csr"] = enc(sp.zeros("csr", (3, 4)))
    out["zeros_rsp"] = enc(sp.zeros("row_sparse", (3, 4)))
    out["csr_from_def"] = enc(sp.csr_matrix(([1.0, 2.0, 3.0], [1, 0, 2], [0, 1, 1, 3]), shape=(3, 4)))
    out["rsp_from_def"] = enc(sp.row_sparse_array(([[1.0, 2.0], [3.0, 4.0]], [0, 2]), shape=(4, 2)))
    out["rsp_astype"] = enc(R.astype("float64"))
    del out["csr_to_rsp"]
    lazy = optimizer_cases(inputs, R)
    mxf = file_fixture(A, R, B)
    json.dump(
        {"inputs": {k: v.tolist() for k, v in inputs.items()}, "ops": out, "lazy": lazy, "file": mxf},
        open(OUT_JSON, "w"),
        indent=None,
    )
    print("wrote", OUT_JSON, OUT_FILE, file=sys.stderr)


def optimizer_cases(inputs, R):
    """Lazy (row_sparse gradient) updates: the weight and states after one call."""
    nd, sp = mx.nd, mx.nd.sparse
    res = {}

    def arrs(*keys):
        return [nd.array(inputs[k]) for k in keys]

    (w,) = arrs("W")
    sp.sgd_update(w, R, lr=0.1, wd=0.01, rescale_grad=0.5, out=w)
    res["sgd"] = enc(w)
    w, m = arrs("W", "M")
    sp.sgd_mom_update(w, R, m, lr=0.1, momentum=0.9, wd=0.01, out=w)
    res["sgd_mom"] = enc([w, m])
    w, m, v = arrs("W", "M", "V")
    sp.adam_update(w, R, m, v, lr=0.01, beta1=0.9, beta2=0.99, epsilon=1e-6, wd=0.01, out=w)
    res["adam"] = enc([w, m, v])
    w, h = arrs("W", "V")
    sp.adagrad_update(w, R, h, lr=0.1, epsilon=1e-7, wd=0.0, out=w)
    res["adagrad"] = enc([w, h])
    w, h = arrs("W", "V")
    sp.adagrad_update(w, R, h, lr=0.1, epsilon=0.5, rescale_grad=2.0, clip_gradient=0.8, out=w)
    res["adagrad_eps_clip"] = enc([w, h])
    w, z, n = arrs("W", "M", "V")
    sp.ftrl_update(w, R, z, n, lr=0.1, lamda1=0.01, beta=1.0, wd=0.01, out=w)
    res["ftrl"] = enc([w, z, n])
    # mx.optimizer with a row_sparse gradient (lazy_update=True is the default), two steps.
    for name, kw in (("sgd", {"momentum": 0.9}), ("adam", {}), ("adagrad", {"wd": 0.0})):
        opt = mx.optimizer.create(name, learning_rate=0.1, **{"wd": 0.01, **kw})
        upd = mx.optimizer.get_updater(opt)
        (w,) = arrs("W")
        upd(0, R, w)
        upd(0, R, w)
        res[f"optimizer_{name}"] = enc(w)
    # KVStore.row_sparse_pull of rows [0, 3, 5] of a stored row_sparse value.
    kv = mx.kv.create("local")
    kv.init("w", R)
    out = nd.sparse.zeros("row_sparse", R.shape)
    kv.row_sparse_pull("w", out=out, row_ids=nd.array([5, 0, 3, 0], dtype="int64"))
    res["row_sparse_pull"] = enc(out)
    return res


def file_fixture(A, R, B):
    """Write the MXNet file of sparse arrays; return its expected content."""
    nd = mx.nd
    arrays = {
        "csr": A,
        "rsp": R,
        "dense": B,
        "csr_f64": A.astype("float64"),
        "rsp_3d": nd.array(
            np.arange(24, dtype=np.float32).reshape(4, 3, 2) * (np.arange(4) % 2)[:, None, None]
        ).tostype("row_sparse"),
        "csr_zero": nd.sparse.zeros("csr", (2, 3)),
        "rsp_zero": nd.sparse.zeros("row_sparse", (3, 2)),
    }
    # MXNet writes a sparse record's storage shape before waiting for the array: saved right
    # after tostype, a stale storage shape can land in the file (its loader ignores it and
    # derives the values' shape from the indices). This file keeps whatever MXNet wrote; the
    # "sync" file is saved after waiting and is what mxrs must write byte for byte.
    if not os.path.exists(OUT_FILE):
        nd.save(OUT_FILE, arrays)
    for v in arrays.values():
        v.wait_to_read()
    nd.waitall()
    nd.save(OUT_FILE.replace(".params", "_sync.params"), arrays)
    back = nd.load(OUT_FILE)
    return {k: enc(v) for k, v in back.items()}


if __name__ == "__main__":
    main()

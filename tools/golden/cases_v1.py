"""Cases of ``extra_ops.py`` for the sampler ops of issue 18 (family ``sampler``):
GridGenerator (affine, warp), BilinearSampler and SpatialTransformer, forward and gradients;
and the deprecated ``_v1`` layers (family ``legacy_v1``): Convolution_v1, Pooling_v1, BatchNorm_v1."""

import numpy as np

F32 = "float32"


def _case(name, op, inputs, attrs=None, **extra):
    return {"name": name, "op": op, "inputs": inputs, "attrs": attrs or {}, **extra}


def _grid(n, h, w, seed):
    """A sampling grid reaching a little past [-1, 1], so border pixels are partly outside."""
    return np.random.RandomState(seed).uniform(-1.15, 1.15, (n, 2, h, w)).astype(F32)


def _sampler_cases():
    theta = np.array([[0.9, 0.2, 0.1, -0.15, 1.1, -0.05], [1.2, -0.3, 0.0, 0.25, 0.8, 0.2]], F32)
    flow = np.random.RandomState(7).uniform(-1.5, 1.5, (2, 2, 3, 4)).astype(F32)
    return [
        _case("grid_affine", "GridGenerator", [("data", theta)], {"transform_type": "affine", "target_shape": (3, 4)}),
        _case(
            "grid_affine_wide",
            "GridGenerator",
            [("data", theta[:1])],
            {"transform_type": "affine", "target_shape": (2, 5)},
        ),
        _case("grid_warp", "GridGenerator", [("data", flow)], {"transform_type": "warp"}),
        _case("bilinear", "BilinearSampler", [("data", (2, 3, 4, 5), "u"), ("grid", _grid(2, 3, 4, 1))]),
        _case("bilinear_upsample", "BilinearSampler", [("data", (1, 2, 3, 3), "u"), ("grid", _grid(1, 5, 6, 2))]),
        _case(
            "spatial_transformer",
            "SpatialTransformer",
            [("data", (2, 3, 5, 6), "u"), ("loc", theta)],
            {"transform_type": "affine", "sampler_type": "bilinear", "target_shape": (4, 3)},
        ),
    ]


def _v1_cases():
    return [
        _case(
            "conv_2d",
            "Convolution_v1",
            [("data", (2, 3, 6, 5), "u"), ("weight", (4, 3, 3, 3), "u"), ("bias", (4,), "u")],
            {"kernel": (3, 3), "num_filter": 4, "pad": (1, 0), "stride": (1, 2)},
        ),
        _case(
            "conv_group_dilate_nobias",
            "Convolution_v1",
            [("data", (1, 4, 5, 6), "u"), ("weight", (2, 2, 2, 3), "u")],
            {"kernel": (2, 3), "num_filter": 2, "num_group": 2, "no_bias": True, "dilate": (2, 1)},
        ),
        _case(
            "pool_max", "Pooling_v1", [("data", (2, 2, 5, 6), "u")], {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}
        ),
        _case(
            "pool_avg_full",
            "Pooling_v1",
            [("data", (1, 2, 5, 6), "u")],
            {"kernel": (3, 2), "stride": (2, 2), "pool_type": "avg", "pooling_convention": "full"},
        ),
        _case("pool_sum", "Pooling_v1", [("data", (1, 2, 4, 4), "u")], {"kernel": (2, 2), "pool_type": "sum"}),
        _case(
            "pool_global_avg",
            "Pooling_v1",
            [("data", (2, 3, 3, 4), "u")],
            {"kernel": (1, 1), "global_pool": True, "pool_type": "avg"},
        ),
    ]


FAMILIES = {"sampler": _sampler_cases(), "legacy_v1": _v1_cases()}


BN_CASES = [
    ("bn_train", {"fix_gamma": False}, True),
    ("bn_fix_gamma", {"eps": 0.01}, True),
    ("bn_global_stats", {"use_global_stats": True, "fix_gamma": False}, True),
    ("bn_inference", {"fix_gamma": False}, False),
]


def bn_v1_main():
    """``tests/data/ops_legacy_v1_bn_golden.json``: BatchNorm_v1 through a bound Symbol (its
    ndarray function cannot take the moving statistics), in the format of ``extra_ops.py``."""
    import json
    import os
    from pathlib import Path

    os.environ["MXNET_MKLDNN_ENABLED"] = "0"
    import mxnet as mx
    from extra_ops import flat

    cases = []
    for seed, (name, attrs, train) in enumerate(BN_CASES):
        rng = np.random.RandomState(seed)
        ins = {
            "data": rng.uniform(-1, 1, (3, 4, 2, 3)),
            "gamma": rng.uniform(0.5, 2, 4),
            "beta": rng.uniform(-1, 1, 4),
            "moving_mean": rng.uniform(-1, 1, 4),
            "moving_var": rng.uniform(0.5, 2, 4),
        }
        ins = {k: v.astype(F32) for k, v in ins.items()}
        y = mx.sym.BatchNorm_v1(mx.sym.var("data"), mx.sym.var("gamma"), mx.sym.var("beta"), name="bn", **attrs)
        args = {k: mx.nd.array(ins[k]) for k in ("data", "gamma", "beta")}
        grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
        aux = {"bn_moving_mean": mx.nd.array(ins["moving_mean"]), "bn_moving_var": mx.nd.array(ins["moving_var"])}
        exe = y.bind(mx.cpu(), args, args_grad=grads, aux_states=aux)
        exe.forward(is_train=train)
        out = exe.outputs[0].asnumpy()
        head = rng.uniform(-1, 1, out.shape).astype(F32)
        if train:
            exe.backward(mx.nd.array(head))
        cases.append(
            {
                "name": name,
                "op": "BatchNorm_v1",
                "attrs": attrs,
                "train": train,
                "positional": False,
                "inputs": {k: {"shape": list(v.shape), "dtype": "float32", "data": flat(v)} for k, v in ins.items()},
                "heads": [flat(head)],
                "outputs": [{"shape": list(out.shape), "dtype": "float32", "data": flat(out)}],
                "grads": {k: flat(v.asnumpy()) for k, v in grads.items()} if train else {},
                "moving": {k: flat(v.asnumpy()) for k, v in aux.items()},
            }
        )
    path = Path(__file__).resolve().parents[2] / "tests" / "data" / "ops_legacy_v1_bn_golden.json"
    path.write_text(json.dumps({"mxnet": mx.__version__, "cases": cases}) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    bn_v1_main()

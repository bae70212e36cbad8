"""Generate ``tests/data/gluon_data_golden.npz``: MXNet 1.9.1's gluon.data behaviour.

Run with the reference MXNet 1.9.1 environment::

    /work/mxref/bin/python tools/golden/gluon_data.py

Stores, as arrays of one ``.npz``: the image operators behind the vision transforms
(``to_tensor``, ``normalize``, ``resize``, the colour adjustments with a fixed factor,
``adjust_lighting``, ``center_crop``, ``random_size_crop`` under ``random.seed``), the samples
MNIST and CIFAR-10/100 read from small files of the official formats (the files' bytes are
stored too), and what ``default_batchify_fn`` and ``BatchSampler`` give.
"""

import gzip
import json
import os
import random
import struct
import tempfile
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet.gluon.data import BatchSampler, SequentialSampler
from mxnet.gluon.data.dataloader import default_batchify_fn
from mxnet.gluon.data.vision import datasets as mx_datasets

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "gluon_data_golden.npz"


def image(shape, seed, dtype=np.uint8):
    rng = np.random.RandomState(seed)
    if dtype == np.uint8:
        return rng.randint(0, 256, size=shape).astype(np.uint8)
    return rng.uniform(0, 255, size=shape).astype(dtype)


def image_ops(out):
    u = image((7, 9, 3), 1)
    f = image((7, 9, 3), 2, np.float32)
    g = image((6, 5, 1), 3)
    nhwc = image((2, 6, 8, 3), 4)
    out["img_u8"], out["img_f32"], out["img_gray"], out["img_nhwc"] = u, f, g, nhwc
    nd = mx.nd
    out["to_tensor_u8"] = nd.image.to_tensor(nd.array(u, dtype=np.uint8)).asnumpy()
    out["to_tensor_nhwc"] = nd.image.to_tensor(nd.array(nhwc, dtype=np.uint8)).asnumpy()
    chw = out["to_tensor_u8"]
    out["normalize_chw"] = nd.image.normalize(nd.array(chw), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0)).asnumpy()
    out["normalize_scalar"] = nd.image.normalize(nd.array(chw), mean=0.4, std=0.2).asnumpy()
    resizes = {
        "resize_u8_5": (u, 5, False, 1),
        "resize_u8_wh": (u, (12, 4), False, 1),
        "resize_u8_keep": (u, 4, True, 1),
        "resize_f32_wh": (f, (5, 11), False, 1),
        "resize_u8_nearest": (u, (13, 5), False, 0),
        "resize_nhwc": (nhwc, (4, 3), False, 1),
        "resize_gray": (g, 9, False, 1),
    }
    for key, (x, size, keep, interp) in resizes.items():
        out[key] = nd.image.resize(nd.array(x, dtype=x.dtype), size=size, keep_ratio=keep, interp=interp).asnumpy()
    for kind in ("brightness", "contrast", "saturation", "hue"):
        op = getattr(nd.image, "random_" + kind)
        for tag, x in (("u8", u), ("f32", f)):
            for factor in (0.6, 1.3):
                arr = nd.array(x, dtype=x.dtype)
                out[f"{kind}_{tag}_{factor}"] = op(arr, min_factor=factor, max_factor=factor).asnumpy()
    for tag, x in (("u8", u), ("f32", f)):
        out[f"lighting_{tag}"] = nd.image.adjust_lighting(nd.array(x, dtype=x.dtype), alpha=(0.3, -0.2, 0.1)).asnumpy()
    big = image((20, 30, 3), 5)
    out["img_big"] = big
    out["center_crop_10x8"] = mx.image.center_crop(nd.array(big, dtype=np.uint8), (10, 8), interp=1)[0].asnumpy()
    out["center_crop_up"] = mx.image.center_crop(nd.array(big, dtype=np.uint8), (40, 36), interp=1)[0].asnumpy()
    crops = []
    for seed in range(5):
        random.seed(seed)
        crops.append(
            mx.image.random_size_crop(nd.array(big, dtype=np.uint8), (12, 10), (0.08, 1.0), (0.75, 4 / 3), interp=1)[0]
        )
    out["random_size_crop"] = np.stack([c.asnumpy() for c in crops])


def idx_bytes(arr):
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def datasets(out):
    rng = np.random.RandomState(7)
    imgs = rng.randint(0, 256, size=(6, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=6).astype(np.uint8)
    out["mnist_images_idx_gz"] = np.frombuffer(gzip.compress(idx_bytes(imgs), mtime=0), dtype=np.uint8)
    out["mnist_labels_idx_gz"] = np.frombuffer(gzip.compress(idx_bytes(labels), mtime=0), dtype=np.uint8)
    cifar = np.concatenate([labels[:, None], rng.randint(0, 256, size=(6, 3072))], axis=1).astype(np.uint8)
    cifar100 = np.concatenate(
        [rng.randint(0, 20, (6, 1)), rng.randint(0, 100, (6, 1)), rng.randint(0, 256, (6, 3072))], 1
    )
    out["cifar10_bin"], out["cifar100_bin"] = cifar.ravel(), cifar100.astype(np.uint8).ravel()
    # MXNet downloads unless the official file (by SHA-1) is there: hand it the small files.
    mx_datasets.download = lambda url, path=None, sha1_hash=None, **kw: os.path.join(path, url.rsplit("/", 1)[1])
    mx_datasets.check_sha1 = lambda path, sha1: True
    with tempfile.TemporaryDirectory() as root:
        for name, key in (
            ("train-images-idx3-ubyte.gz", "mnist_images_idx_gz"),
            ("train-labels-idx1-ubyte.gz", "mnist_labels_idx_gz"),
        ):
            Path(root, name).write_bytes(out[key].tobytes())
        ds = mx_datasets.MNIST(root=root, train=True)
        out["mnist_x"] = np.stack([ds[i][0].asnumpy() for i in range(len(ds))])
        out["mnist_y"] = np.array([ds[i][1] for i in range(len(ds))])
        out["mnist_label_dtype"] = np.array(str(ds[0][1].dtype))
        for name in ["test_batch.bin"] + [f"data_batch_{i}.bin" for i in range(1, 6)]:
            Path(root, name).write_bytes(out["cifar10_bin"].tobytes())
        ds = mx_datasets.CIFAR10(root=root, train=False)
        out["cifar10_x"] = np.stack([ds[i][0].asnumpy() for i in range(len(ds))])
        out["cifar10_y"] = np.array([ds[i][1] for i in range(len(ds))])
        for name in ("test.bin", "train.bin"):
            Path(root, name).write_bytes(out["cifar100_bin"].tobytes())
        for fine in (False, True):
            ds = mx_datasets.CIFAR100(root=root, train=False, fine_label=fine)
            out[f"cifar100_x_{fine}"] = np.stack([ds[i][0].asnumpy() for i in range(len(ds))])
            out[f"cifar100_y_{fine}"] = np.array([ds[i][1] for i in range(len(ds))])


def batching(out):
    nd = mx.nd
    cases = {
        "nd_int": [(nd.ones((2,)) * i, i) for i in range(3)],
        "np_float": [(np.ones(2) * i, np.float32(i)) for i in range(3)],
        "float_list": [0.5, 1.5],
        "int8_nd": [nd.array([i], dtype=np.int8) for i in range(2)],
    }
    info = {}
    for key, samples in cases.items():
        batch = default_batchify_fn(samples)
        parts = batch if isinstance(batch, list) else [batch]
        info[key] = [
            [type(p).__name__, np.dtype(p.dtype).name, list(p.shape), p.asnumpy().ravel().tolist()] for p in parts
        ]
    sampler = BatchSampler(SequentialSampler(10), 3, "rollover")
    info["rollover"] = [list(sampler) for _ in range(3)] + [len(sampler)]
    info["keep"] = list(BatchSampler(SequentialSampler(10), 3, "keep"))
    info["discard"] = list(BatchSampler(SequentialSampler(10), 3, "discard"))
    ds = mx.gluon.data.SimpleDataset(list(range(10)))
    info["shard"] = [list(ds.shard(4, i)) for i in range(4)]
    info["take"] = list(ds.take(3)) + [len(ds.take(None)), len(ds.take(20))]
    info["filter"] = list(ds.filter(lambda x: x % 3 == 0))
    info["transform"] = list(ds.transform(lambda x: x * 2))
    pairs = mx.gluon.data.ArrayDataset(list(range(4)), list("abcd"))
    info["transform_first"] = [list(s) for s in pairs.transform_first(lambda x: x + 10)]
    out["batching_json"] = np.array(json.dumps(info))


def main():
    out = {}
    image_ops(out)
    datasets(out)
    batching(out)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    main()

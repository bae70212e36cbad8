"""Write the seed corpus of mxrs-fuzz (crates/fuzz/corpus/<target>/).

Run once with real MXNet 1.9.1 (not a dependency of mxrs), from the repository root:

    /path/to/mxnet-env/bin/python crates/fuzz/make_seeds.py

Seeds are copies of the MXNet-made fixtures in tests/data/mxnet_fixtures, a few more files
written by real MXNet here (pickled arrays, symbols of common ops), and minimal hand-made files
for the layouts MXNet 1.9.1 no longer writes (V1 and legacy records, legacy symbol JSON) or
cannot write (PNG colour types). The committed seeds are the output; rerunning is only needed
to change them.
"""

import json
import shutil
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "data" / "mxnet_fixtures"
OUT = Path(__file__).resolve().parent / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def copy(target, *names):
    for n in names:
        d = OUT / target
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIX / n, d / n)


def list_file(records, names=()):
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n.encode()
    return out


def v1_record(shape, flag, data):
    rec = struct.pack("<Ii", 0xF993FAC8, len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
    return rec + struct.pack("<iii", 1, 0, flag) + data


def legacy_record(shape, flag, data):
    rec = struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    return rec + struct.pack("<iii", 1, 0, flag) + data


def recordio_chunks(records):
    """Image records packed by real MXNet, re-read to get their payloads."""
    import mxnet as mx

    out = []
    for name in records:
        r = mx.recordio.MXRecordIO(str(FIX / name), "r")
        while True:
            item = r.read()
            if item is None:
                break
            out.append(item)
        r.close()
    return out


def png(width, height, color_type, depth, raw_rows, extra=()):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    body = b"".join(b"\0" + row for row in raw_rows)
    chunks = [chunk(b"IHDR", ihdr)] + [chunk(k, b) for k, b in extra]
    chunks += [chunk(b"IDAT", zlib.compress(body, 9)), chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def ndarray_seeds():
    copy(
        "ndarray_file",
        "nd_dict.params",
        "nd_list.params",
        "nd_single.params",
        "nd_empty.params",
        "nd_dtypes.params",
        "nd_sparse.params",
        "nd_npshape_v3.params",
        "ckpt-0001.params",
    )
    f32 = struct.pack("<3f", 1.0, -2.0, 0.5)
    put("ndarray_file", "v1_and_legacy.params", list_file([v1_record([3], 0, f32), legacy_record([3], 0, f32)]))
    put("ndarray_file", "none_arrays.params", list_file([legacy_record([], 0, b""), v1_record([2, 0], 0, b"")]))

    import mxnet as mx

    def raw(a):
        return bytes(a.__getstate__()["handle"])

    copy("ndarray_raw", "nd_rawbytes.bin")
    put("ndarray_raw", "f16_2x3.bin", raw(mx.nd.arange(6, dtype="float16").reshape((2, 3))))
    put("ndarray_raw", "i64.bin", raw(mx.nd.array([-1, 0, 1 << 40], dtype="int64")))
    put("ndarray_raw", "u8_4d.bin", raw(mx.nd.ones((1, 2, 1, 2), dtype="uint8")))
    csr = mx.nd.sparse.csr_matrix(([5.0, 6.0, 7.0], [0, 2, 1], [0, 2, 2, 3]), shape=(3, 3))
    put("ndarray_raw", "csr.bin", raw(csr))
    rsp = mx.nd.sparse.row_sparse_array(([[1.0, 2.0], [3.0, 4.0]], [1, 3]), shape=(4, 2))
    put("ndarray_raw", "row_sparse.bin", raw(rsp))
    with mx.util.np_shape(True):
        put("ndarray_raw", "v3_scalar.bin", raw(mx.nd.array(5.0).reshape(())))
    put("ndarray_raw", "v1.bin", v1_record([2], 1, struct.pack("<2d", 1.0, -1.0)))
    put("ndarray_raw", "legacy.bin", legacy_record([2, 1], 4, struct.pack("<2i", 7, -7)))


def recordio_seeds():
    copy("recordio", "recordio_raw.rec", "img2_multilabel.rec", "img3_png.rec", "img3_jpg.rec")
    # Image seeds: the PNG and JPEG payloads of MXNet's image records (OpenCV encoders).
    import mxnet as mx

    items = recordio_chunks(["img3_png.rec", "img3_jpg.rec"])
    put("image", "mxnet_opencv.png", mx.recordio.unpack(items[0])[1])
    put("image", "mxnet_opencv_q95.jpg", mx.recordio.unpack(items[3])[1])


def image_seeds():
    # Hand-made PNGs of the colour types OpenCV does not write: 1-bit gray, 2-bit palette with
    # transparency, 16-bit RGBA, 8-bit gray + alpha.
    put("image", "gray1.png", png(8, 2, 0, 1, [b"\xa5", b"\x3c"]))
    put(
        "image",
        "palette2_trns.png",
        png(4, 2, 3, 2, [b"\x1b", b"\xe4"], [(b"PLTE", bytes(range(12))), (b"tRNS", b"\x00\x80")]),
    )
    put("image", "rgba16.png", png(2, 1, 6, 16, [bytes(range(16))]))
    put("image", "gray_alpha8.png", png(2, 2, 4, 8, [b"\x10\xff\x20\x80", b"\x30\x00\x40\x40"]))


def symbol_seeds():
    copy("symbol_json", "mlp-symbol.json", "bn-symbol.json", "ckpt-symbol.json", "gluon_export-symbol.json")
    import mxnet as mx

    x = mx.sym.Variable("data")
    c = mx.sym.Convolution(x, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv")
    p = mx.sym.Pooling(c, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool")
    parts = mx.sym.SliceChannel(p, num_outputs=2, axis=1, name="split")
    cat = mx.sym.Concat(parts[1], parts[0], dim=1, name="cat")
    r = mx.sym.Reshape(mx.sym.Flatten(cat), shape=(0, -1), name="reshape")
    d = mx.sym.Dropout(mx.sym.LeakyReLU(r, act_type="leaky", slope=0.1), p=0.5, name="drop")
    put("symbol_json", "conv_pool_split.json", d.tojson().encode())
    e = mx.sym.Embedding(mx.sym.Variable("tokens"), input_dim=10, output_dim=3, name="emb")
    t = mx.sym.transpose(mx.sym.sum(e, axis=1, keepdims=True), axes=(2, 1, 0))
    grouped = mx.sym.Group([t, mx.sym.broadcast_add(x, x, name="badd")])
    put("symbol_json", "embed_group.json", grouped.tojson().encode())
    legacy = {
        "nodes": [
            {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
            {
                "op": "FullyConnected",
                "param": {"no_bias": "False", "num_hidden": "2"},
                "name": "fc",
                "inputs": [[0, 0]],
                "backward_source_id": -1,
            },
        ],
        "arg_nodes": [0],
        "heads": [[1, 0]],
    }
    put("symbol_json", "legacy_0_8.json", json.dumps(legacy, indent=2).encode())


if __name__ == "__main__":
    ndarray_seeds()
    recordio_seeds()
    image_seeds()
    symbol_seeds()
    for d in sorted(OUT.iterdir()):
        files = sorted(d.iterdir())
        print(f"{d.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")

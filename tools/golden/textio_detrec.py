"""Write the detection RecordIO fixture tests/data/textio/det.rec (+ det.lst) and
tests/data/textio_detrec_golden.npz: the batches of real MXNet 1.9.1's
``mx.io.ImageDetRecordIter`` on it, for the deterministic settings in ``CASES``.

Run with the reference venv from the repository root::

    /work/mxref/bin/python tools/golden/textio_detrec.py

The images are PNG (lossless, so both decoders give the same pixels), written by the small
encoder below; the records are packed with ``mx.recordio.pack``. Labels follow the detection
layout ``[header_width, object_width, (extra header), objects...]``; one record has an extra
header, one has extra per-object values, one has an invalid box (xmax < xmin, which the
iterator drops) and one a 1-channel PNG.
"""

import os
import struct
import sys
import tempfile
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "textio")
OUT = os.path.join(ROOT, "tests", "data", "textio_detrec_golden.npz")
REC = os.path.join(DATA, "det.rec")
LST = os.path.join(DATA, "det.lst")

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.join(ROOT, "tools", "golden")]

# (height, width, channels, label) per record; ids are 100 + position.
RECORDS = [
    (20, 30, 3, [2, 5, 1, 0.1, 0.2, 0.5, 0.6]),
    (33, 17, 3, [2, 5, 0, 0.0, 0.0, 1.0, 1.0, 3, 0.5, 0.5, 0.4, 0.9, 2, 0.25, 0.3, 0.75, 0.95]),
    (16, 16, 3, [4, 5, 7.5, -3, 1, 0.2, 0.1, 0.3, 0.4]),
    (25, 40, 3, [2, 6, 4, 0.6, 0.1, 0.9, 0.5, 0.77, 5, 0.05, 0.5, 0.45, 0.99, 0.33]),
    (12, 9, 1, [2, 5, 2, 0.1, 0.1, 0.9, 0.9]),
    (31, 31, 3, [2, 5, 3, 0.3, 0.3, 0.7, 0.7, 1, 0.0, 0.6, 0.2, 1.0]),
    (18, 27, 3, [2, 5, 6, 0.4, 0.25, 0.6, 0.75]),
]

# The list file replaces the labels by image id (the last field is the path, unused): two
# records get new boxes, the others their own boxes with the class ids shifted by 20.
LIST_LABELS = {100: [2, 5, 9, 0.0, 0.0, 0.5, 0.5], 103: [2, 5, 8, 0.5, 0.5, 1.0, 1.0, 7, 0.1, 0.2, 0.3, 0.4]}


def list_labels():
    out = {}
    for i, (*_, label) in enumerate(RECORDS):
        hw, ow = int(label[0]), int(label[1])
        shifted = list(label[:hw]) + [v + 20 if (k - hw) % ow == 0 else v for k, v in enumerate(label) if k >= hw]
        out[100 + i] = LIST_LABELS.get(100 + i, shifted)
    return out


# name -> ImageDetRecordIter keyword arguments (no random draws).
CASES = {
    "basic": dict(data_shape=(3, 16, 16), batch_size=3),
    "no_round": dict(data_shape=(3, 10, 12), batch_size=4, round_batch=False),
    "norm": dict(
        data_shape=(3, 8, 8),
        batch_size=7,
        mean_r=123.5,
        mean_g=116.25,
        mean_b=103.5,
        std_r=58.5,
        std_g=57.0,
        std_b=57.5,
        scale=0.5,
    ),
    "std_only": dict(data_shape=(3, 8, 8), batch_size=7, std_r=2.0, std_b=4.0),
    "pad_width": dict(data_shape=(3, 8, 8), batch_size=5, label_pad_width=30, label_pad_value=-2.0),
    "resize_short": dict(data_shape=(3, 12, 12), batch_size=4, resize=14),
    "fit": dict(data_shape=(3, 24, 24), batch_size=7, resize_mode="fit"),
    "shrink": dict(data_shape=(3, 24, 24), batch_size=7, resize_mode="shrink"),
    "nearest": dict(data_shape=(3, 9, 13), batch_size=7, inter_method=0),
    "cubic": dict(data_shape=(3, 9, 13), batch_size=7, inter_method=2),
    "area": dict(data_shape=(3, 9, 13), batch_size=7, inter_method=3),
    "gray": dict(data_shape=(1, 8, 8), batch_size=7),
    "mirror": dict(data_shape=(3, 8, 8), batch_size=7, rand_mirror_prob=1.0),
    "part0": dict(data_shape=(3, 8, 8), batch_size=2, num_parts=2, part_index=0),
    "part1": dict(data_shape=(3, 8, 8), batch_size=2, num_parts=2, part_index=1),
    "part2of3": dict(data_shape=(3, 8, 8), batch_size=2, num_parts=3, part_index=2),
    "imglist": dict(data_shape=(3, 8, 8), batch_size=7, path_imglist="det.lst"),
    "names": dict(data_shape=(3, 8, 8), batch_size=7, data_name="img", label_name="gt"),
    "auto_interp": dict(data_shape=(3, 28, 20), batch_size=7, inter_method=9),
    "resize_fit_mirror": dict(
        data_shape=(3, 20, 30), batch_size=7, resize=10, resize_mode="fit", rand_mirror_prob=1.0, mean_g=10.0
    ),
    "mean_img": dict(data_shape=(3, 8, 8), batch_size=4, mean_img="mean.nd", std_g=3.0, scale=2.0),
    # Random augmentations, draw for draw: MXNet decodes on one thread (one std::mt19937 seeded
    # 233) with preprocess_threads=1, and mxrs draws as that thread does.
    "rand_mirror": dict(data_shape=(3, 8, 8), batch_size=7, rand_mirror_prob=0.5, preprocess_threads=1),
    "rand_pad": dict(
        data_shape=(3, 12, 12), batch_size=7, rand_pad_prob=0.7, max_pad_scale=2.5, fill_value=33, preprocess_threads=1
    ),
    "rand_crop": dict(
        data_shape=(3, 12, 12),
        batch_size=4,
        rand_crop_prob=0.9,
        min_crop_scales=0.3,
        max_crop_scales=0.9,
        min_crop_aspect_ratios=0.5,
        max_crop_aspect_ratios=2.0,
        min_crop_overlaps=0.1,
        max_crop_trials=40,
        preprocess_threads=1,
    ),
    "rand_crop_overlap": dict(
        data_shape=(3, 10, 10),
        batch_size=7,
        rand_crop_prob=1.0,
        min_crop_scales=0.2,
        max_crop_scales=0.7,
        min_crop_object_coverages=0.3,
        max_crop_sample_coverages=0.9,
        crop_emit_mode="overlap",
        emit_overlap_thresh=0.4,
        preprocess_threads=1,
    ),
    "rand_all": dict(
        data_shape=(3, 12, 12),
        batch_size=5,
        rand_mirror_prob=0.5,
        rand_pad_prob=0.5,
        max_pad_scale=2.0,
        rand_crop_prob=0.5,
        min_crop_scales=0.4,
        random_contrast_prob=0.5,
        max_random_contrast=0.4,
        resize=20,
        preprocess_threads=1,
    ),
    "rand_color": dict(
        data_shape=(3, 8, 8),
        batch_size=7,
        random_hue_prob=0.8,
        max_random_hue=18,
        random_saturation_prob=0.8,
        max_random_saturation=30,
        random_illumination_prob=0.8,
        max_random_illumination=25,
        preprocess_threads=1,
    ),
    "shuffle": dict(data_shape=(3, 8, 8), batch_size=3, shuffle=True, seed=3, preprocess_threads=1),
    "crop_samplers": dict(
        data_shape=(3, 10, 10),
        batch_size=7,
        rand_crop_prob=1.0,
        num_crop_sampler=3,
        min_crop_scales=(0.3, 0.5, 0.1),
        max_crop_scales=(0.6, 1.0, 0.3),
        min_crop_overlaps=(0.1, 0.0, 0.0),
        max_crop_trials=(10, 20, 5),
        shuffle=True,
        preprocess_threads=1,
    ),
    "rgba": dict(path_imgrec="det_rgba.rec", data_shape=(4, 6, 6), batch_size=3, mean_a=5.0, std_a=2.0, std_r=4.0),
}
# Cases run as on an 8-CPU machine (MXNet starts min(8 - 1, preprocess_threads) decoding
# threads, each with its own engine, and splits each chunk among them): MXNet runs them with
# omp_get_num_procs() made to answer 8 (a preloaded shim, built here with the C compiler).
CASES_8CPU = {
    "threads3": dict(
        data_shape=(3, 10, 10),
        batch_size=7,
        preprocess_threads=3,
        rand_mirror_prob=0.5,
        rand_pad_prob=0.5,
        max_pad_scale=2.0,
        rand_crop_prob=0.7,
        min_crop_scales=0.3,
    ),
    "threads_default_shuffle": dict(data_shape=(3, 10, 10), batch_size=4, shuffle=True, rand_crop_prob=0.8),
}
EPOCHS = {"basic": 2, "no_round": 2, "rand_all": 3, "shuffle": 3, "crop_samplers": 2, "threads_default_shuffle": 2}


def png(img):
    """A PNG file of a HW (gray) or HWC (RGB) uint8 image (filter 0, zlib)."""
    h, w = img.shape[:2]
    color_type = 0 if img.ndim == 2 else {3: 2, 4: 6}[img.shape[2]]
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_fixture(mx):
    os.makedirs(DATA, exist_ok=True)
    rng = np.random.RandomState(7)
    writer = mx.recordio.MXRecordIO(REC, "w")
    for i, (h, w, c, label) in enumerate(RECORDS):
        img = rng.randint(0, 256, (h, w) if c == 1 else (h, w, c)).astype(np.uint8)
        header = mx.recordio.IRHeader(0, np.array(label, dtype=np.float32), 100 + i, 0)
        writer.write(mx.recordio.pack(header, png(img)))
    writer.close()
    writer = mx.recordio.MXRecordIO(os.path.join(DATA, "det_rgba.rec"), "w")
    for i in range(3):  # RGBA images (data_shape[0] == 4)
        img = rng.randint(0, 256, (10 + i, 12, 4)).astype(np.uint8)
        header = mx.recordio.IRHeader(0, np.array([2, 5, 1, 0.1, 0.2, 0.7, 0.9], dtype=np.float32), 200 + i, 0)
        writer.write(mx.recordio.pack(header, png(img)))
    writer.close()
    with open(LST, "w") as f:
        for idx, label in list_labels().items():
            f.write("\t".join([str(idx)] + [repr(float(v)) for v in label] + [f"img{idx}.png"]) + "\n")


def run_case(mx, name, kwargs):
    """Every batch of ``EPOCHS.get(name, 1)`` epochs: data (the pad rows of a last batch
    without round_batch are left out: MXNet leaves stale values there), label, pad, index."""
    kwargs = dict(kwargs)
    if "path_imglist" in kwargs:
        kwargs["path_imglist"] = os.path.join(DATA, kwargs["path_imglist"])
    if "mean_img" in kwargs:  # a new file each run: the iterator computes the mean and saves it
        kwargs["mean_img"] = os.path.join(tempfile.mkdtemp(), kwargs["mean_img"])
    rec = os.path.join(DATA, kwargs.pop("path_imgrec")) if "path_imgrec" in kwargs else REC
    it = mx.io.ImageDetRecordIter(path_imgrec=rec, **kwargs)
    out = {
        "provide_data": [(d.name, tuple(d.shape)) for d in it.provide_data],
        "provide_label": [(d.name, tuple(d.shape)) for d in it.provide_label],
    }
    batches = []
    for epoch in range(EPOCHS.get(name, 1)):
        if epoch:
            it.reset()
        for batch in it:
            keep = batch.data[0].shape[0] - (0 if kwargs.get("round_batch", True) else batch.pad)
            batches.append(
                dict(
                    data=batch.data[0].asnumpy()[:keep],
                    label=batch.label[0].asnumpy()[:keep],
                    pad=batch.pad,
                    index=np.asarray(batch.index)[:keep].astype(np.int64),
                )
            )
    out["batches"] = batches
    return out


def flatten(results):
    flat = {}
    for name, res in results.items():
        flat[f"{name}/provide_data"] = np.array(repr(res["provide_data"]))
        flat[f"{name}/provide_label"] = np.array(repr(res["provide_label"]))
        flat[f"{name}/num_batches"] = np.array(len(res["batches"]))
        for k, b in enumerate(res["batches"]):
            for key, value in b.items():
                flat[f"{name}/{k}/{key}"] = np.asarray(value)
    return flat


def run_8cpu_cases():
    """CASES_8CPU, run by this script in a child process whose omp_get_num_procs() is 8."""
    import pickle
    import subprocess

    tmp = tempfile.mkdtemp()
    shim = os.path.join(tmp, "procs8.so")
    with open(os.path.join(tmp, "shim.c"), "w") as f:
        f.write("int omp_get_num_procs(void) { return 8; }\n")
    with open(os.path.join(tmp, "ver.map"), "w") as f:
        f.write("OMP_1.0 { global: omp_get_num_procs; local: *; };\n")
    subprocess.check_call(
        ["cc", "-shared", "-fPIC", f"-Wl,--version-script={tmp}/ver.map", "-o", shim, os.path.join(tmp, "shim.c")]
    )
    out = os.path.join(tmp, "out.pkl")
    env = dict(os.environ, LD_PRELOAD=shim, TEXTIO_8CPU_OUT=out)
    subprocess.check_call([sys.executable, os.path.abspath(__file__)], env=env)
    with open(out, "rb") as f:
        return pickle.load(f)  # noqa: S301 - written just now by this script


def main():
    import mxnet as mx

    if os.environ.get("TEXTIO_8CPU_OUT"):
        import pickle

        with open(os.environ["TEXTIO_8CPU_OUT"], "wb") as f:
            pickle.dump({name: run_case(mx, name, kwargs) for name, kwargs in CASES_8CPU.items()}, f)
        return
    write_fixture(mx)
    results = {name: run_case(mx, name, kwargs) for name, kwargs in CASES.items()}
    results.update(run_8cpu_cases())
    np.savez_compressed(OUT, **flatten(results))
    print(f"wrote {OUT} ({len(results)} cases)")


if __name__ == "__main__":
    main()

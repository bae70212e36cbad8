"""Make image lists and RecordIO image databases, compatible with MXNet's ``im2rec.py``.

``python -m mxrs.tools.im2rec PREFIX ROOT --list [--recursive] [--train-ratio R] ...`` writes
``PREFIX.lst`` (or ``PREFIX_train.lst`` / ``_val`` / ``_test``, per chunk) from a folder of
images, one label per class subfolder with ``--recursive``. Lines are
``index\\tlabel\\tpath`` (labels printed with ``%f``).

``python -m mxrs.tools.im2rec PREFIX ROOT [--resize N] [--quality Q] [--num-thread T] ...``
packs every ``PREFIX*.lst`` into ``.rec`` + ``.idx`` next to it. Images are decoded, resized
and encoded in Rust on ``--num-thread`` threads (the GIL is released), and written in list
order, keyed by the list's index column.
"""

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mxrs import _native, recordio


def list_image(root, recursive, exts):
    """Yield ``(index, relative path, label)`` for the images under ``root``."""
    i = 0
    if recursive:
        cat: dict = {}
        for path, dirs, files in os.walk(root, followlinks=True):
            dirs.sort()
            files.sort()
            for fname in files:
                fpath = os.path.join(path, fname)
                if os.path.isfile(fpath) and os.path.splitext(fname)[1].lower() in exts:
                    if path not in cat:
                        cat[path] = len(cat)
                    yield (i, os.path.relpath(fpath, root), cat[path])
                    i += 1
        for k, v in sorted(cat.items(), key=lambda x: x[1]):
            print(os.path.relpath(k, root), v)
    else:
        for fname in sorted(os.listdir(root)):
            fpath = os.path.join(root, fname)
            if os.path.isfile(fpath) and os.path.splitext(fname)[1].lower() in exts:
                yield (i, os.path.relpath(fpath, root), 0)
                i += 1


def write_list(path_out, image_list):
    """Write ``index\\tlabel...\\tpath`` lines."""
    with open(path_out, "w") as fout:
        for item in image_list:
            labels = "".join(f"{j:f}\t" for j in item[2:])
            fout.write(f"{item[0]:d}\t{labels}{item[1]}\n")


def make_list(args):
    """Write the list file(s) for ``args.root``."""
    image_list = list(list_image(args.root, args.recursive, args.exts))
    if args.shuffle:
        random.seed(100)
        random.shuffle(image_list)
    n = len(image_list)
    chunk_size = (n + args.chunks - 1) // args.chunks
    for i in range(args.chunks):
        chunk = image_list[i * chunk_size : (i + 1) * chunk_size]
        suffix = f"_{i}" if args.chunks > 1 else ""
        sep = int(chunk_size * args.train_ratio)
        sep_test = int(chunk_size * args.test_ratio)
        if args.train_ratio == 1.0:
            write_list(args.prefix + suffix + ".lst", chunk)
        else:
            if args.test_ratio:
                write_list(args.prefix + suffix + "_test.lst", chunk[:sep_test])
            if args.train_ratio + args.test_ratio < 1.0:
                write_list(args.prefix + suffix + "_val.lst", chunk[sep_test + sep :])
            write_list(args.prefix + suffix + "_train.lst", chunk[sep_test : sep_test + sep])


def read_list(path_in):
    """Yield ``[index, path, label...]`` from a list file, skipping malformed lines."""
    with open(path_in) as fin:
        for line in fin:
            fields = [f.strip() for f in line.strip().split("\t")]
            if len(fields) < 3:
                print(f"lst should have at least has three parts, but only has {len(fields)} parts for {fields}")
                continue
            try:
                yield [int(fields[0]), fields[-1]] + [float(f) for f in fields[1:-1]]
            except ValueError as e:
                print(f"Parsing lst met error for {fields}, detail: {e}")


def image_encode(args, item):
    """The packed record of one list item, or None (with a message) if the image is unusable."""
    fullpath = os.path.join(args.root, item[1])
    if len(item) > 3 and args.pack_label:
        header = recordio.IRHeader(0, item[2:], item[0], 0)
    else:
        header = recordio.IRHeader(0, item[2], item[0], 0)
    try:
        with open(fullpath, "rb") as fin:
            raw = fin.read()
        if args.pass_through:
            return recordio.pack(header, raw)
        data, h, w, c = _native.imdecode(raw, args.color, True)
    except Exception as e:  # noqa: BLE001 - im2rec reports and skips unreadable images
        print(f"imread error trying to load file: {fullpath}: {e}")
        return None
    img = np.frombuffer(data, dtype=np.uint8).reshape((h, w, c))
    if args.center_crop:
        if h > w:
            m = (h - w) // 2
            img = img[m : m + w]
        else:
            m = (w - h) // 2
            img = img[:, m : m + h]
        h, w = img.shape[:2]
    if args.resize:
        if h > w:
            nw, nh = args.resize, h * args.resize // w
        else:
            nw, nh = w * args.resize // h, args.resize
        img = np.frombuffer(_native.imresize(np.ascontiguousarray(img).tobytes(), h, w, c, nw, nh), np.uint8)
        img = img.reshape((nh, nw, c))
    try:
        return recordio.pack_img(header, img, quality=args.quality, img_fmt=args.encoding)
    except Exception as e:  # noqa: BLE001
        print(f"pack_img error on file: {fullpath}: {e}")
        return None


def make_record(args, lst_path, working_dir):
    """Pack the images of one list file into ``.rec`` / ``.idx`` in ``working_dir``."""
    base = os.path.splitext(os.path.basename(lst_path))[0]
    record = recordio.MXIndexedRecordIO(
        os.path.join(working_dir, base + ".idx"), os.path.join(working_dir, base + ".rec"), "w"
    )
    items = list(read_list(lst_path))
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, args.num_thread)) as pool:
        for count, (item, s) in enumerate(zip(items, pool.map(lambda it: image_encode(args, it), items), strict=True)):
            if s is not None:
                record.write_idx(item[0], s)
            if count % 1000 == 0:
                print("time:", time.time() - t0, " count:", count)
                t0 = time.time()
    record.close()


def parse_args(argv=None):
    """The command line (MXNet's options)."""
    p = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Create an image list or make a record database by reading from an image list",
    )
    p.add_argument("prefix", help="prefix of input/output lst and rec files.")
    p.add_argument("root", help="path to folder containing images.")
    c = p.add_argument_group("Options for creating image lists")
    c.add_argument("--list", action="store_true", help="create <prefix>.lst by walking root instead of packing")
    c.add_argument("--exts", nargs="+", default=[".jpeg", ".jpg", ".png"], help="image extensions")
    c.add_argument("--chunks", type=int, default=1, help="number of chunks.")
    c.add_argument("--train-ratio", type=float, default=1.0, help="Ratio of images to use for training.")
    c.add_argument("--test-ratio", type=float, default=0, help="Ratio of images to use for testing.")
    c.add_argument("--recursive", action="store_true", help="one label per subfolder")
    c.add_argument("--no-shuffle", dest="shuffle", action="store_false", help="keep the walk order")
    r = p.add_argument_group("Options for creating database")
    r.add_argument("--pass-through", action="store_true", help="pack the image files as they are")
    r.add_argument("--resize", type=int, default=0, help="resize the shorter edge to this size")
    r.add_argument("--center-crop", action="store_true", help="crop the centre square first")
    r.add_argument("--quality", type=int, default=95, help="JPEG quality 1-100, or PNG compression 0-9")
    r.add_argument("--num-thread", type=int, default=1, help="encoding threads (output keeps list order)")
    r.add_argument("--color", type=int, default=1, choices=[-1, 0, 1], help="1 colour, 0 gray, -1 unchanged")
    r.add_argument("--encoding", type=str, default=".jpg", choices=[".jpg", ".png"], help="image encoding")
    r.add_argument("--pack-label", action="store_true", help="pack multi-dimensional labels")
    args = p.parse_args(argv)
    args.prefix = os.path.abspath(args.prefix)
    args.root = os.path.abspath(args.root)
    return args


def main(argv=None):
    """Run im2rec; returns the process exit code."""
    args = parse_args(argv)
    if args.list:
        make_list(args)
        return 0
    working_dir = args.prefix if os.path.isdir(args.prefix) else os.path.dirname(args.prefix)
    count = 0
    for fname in sorted(os.listdir(working_dir)):
        path = os.path.join(working_dir, fname)
        if os.path.isfile(path) and path.startswith(args.prefix) and path.endswith(".lst"):
            print("Creating .rec file from", path, "in", working_dir)
            make_record(args, path, working_dir)
            count += 1
    if not count:
        print(f"Did not find and list file with prefix {args.prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

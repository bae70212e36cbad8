"""python -m mxrs.tools.im2rec: list making and packing, and agreement with MXNet's im2rec."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _target import IS_MXNET, mx
from numpy.testing import assert_array_equal

pytestmark = pytest.mark.skipif(IS_MXNET, reason="tests the mxrs tool")
MXREF_PYTHON = os.environ.get("MXREF_PYTHON", str(Path(__file__).resolve().parents[2].parent / "mxref/bin/python"))


@pytest.fixture
def image_folder(tmp_path):
    """root/cat/{0,1,2}.png, root/dog/{0,1}.jpg, root/notes.txt: random 10x14 images."""
    from mxrs import _native

    rng = np.random.default_rng(0)
    root = tmp_path / "root"
    images = {}
    for cls, ext, n in [("cat", ".png", 3), ("dog", ".jpg", 2)]:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
            (root / cls / f"{i}{ext}").write_bytes(_native.imencode(img.tobytes(), 10, 14, 3, ext, 95, True))
            images[f"{cls}/{i}{ext}"] = img
    (root / "notes.txt").write_text("not an image")
    return root, images


def im2rec(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(mx.__file__).parents[1]), env.get("PYTHONPATH")]))
    r = subprocess.run(
        [sys.executable, "-m", "mxrs.tools.im2rec", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_list_recursive(image_folder, tmp_path):
    root, _ = image_folder
    out = im2rec(tmp_path / "data", root, "--list", "--recursive", "--no-shuffle")
    assert "cat 0" in out and "dog 1" in out
    lines = (tmp_path / "data.lst").read_text().splitlines()
    assert lines[0] == "0\t0.000000\tcat/0.png"
    assert lines[4] == "4\t1.000000\tdog/1.jpg"
    assert len(lines) == 5
    im2rec(tmp_path / "split", root, "--list", "--recursive", "--train-ratio", "0.6", "--test-ratio", "0.2")
    sizes = [len((tmp_path / f"split_{k}.lst").read_text().splitlines()) for k in ("train", "val", "test")]
    assert sizes == [3, 1, 1]


def test_pack_round_trip(image_folder, tmp_path):
    root, images = image_folder
    im2rec(tmp_path / "data", root, "--list", "--recursive")
    im2rec(tmp_path / "data", root, "--num-thread", "3", "--encoding", ".png", "--quality", "3")
    lst = [line.split("\t") for line in (tmp_path / "data.lst").read_text().splitlines()]
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "data.idx"), str(tmp_path / "data.rec"), "r")
    assert rec.keys == [int(f[0]) for f in lst]  # list order, keyed by the index column
    for idx, label, path in lst:
        header, img = mx.recordio.unpack_img(rec.read_idx(int(idx)))
        assert header.label == float(label) and header.id == int(idx)
        if path.endswith(".png"):
            assert_array_equal(img, images[path])  # PNG is lossless
        else:
            assert img.shape == (10, 14, 3)
    rec.close()
    it = mx.io.ImageRecordIter(
        path_imgrec=str(tmp_path / "data.rec"), path_imgidx=str(tmp_path / "data.idx"), data_shape=(3, 10, 14),
        batch_size=5,
    )  # fmt: skip
    assert sorted(it.next().label[0].asnumpy().tolist()) == [0, 0, 0, 1, 1]


def test_pack_resize_and_center_crop(image_folder, tmp_path):
    root, _ = image_folder
    im2rec(tmp_path / "data", root, "--list", "--recursive")
    im2rec(tmp_path / "data", root, "--resize", "5", "--center-crop", "--quality", "90")
    rec = mx.recordio.MXRecordIO(str(tmp_path / "data.rec"), "r")
    shapes = set()
    while (s := rec.read()) is not None:
        shapes.add(mx.recordio.unpack_img(s)[1].shape)
    assert shapes == {(5, 5, 3)}
    im2rec(tmp_path / "data", root, "--resize", "5")
    rec = mx.recordio.MXRecordIO(str(tmp_path / "data.rec"), "r")
    assert mx.recordio.unpack_img(rec.read())[1].shape == (5, 7, 3)


@pytest.mark.compat
def test_same_list_and_pass_through_records_as_mxnet(image_folder, tmp_path):
    """MXNet's own im2rec (with a stub cv2, which --list and --pass-through never call)."""
    if not Path(MXREF_PYTHON).exists():
        pytest.skip("MXNet reference venv not available")
    root, _ = image_folder
    script = (
        "import sys, types, runpy; sys.modules['cv2'] = types.ModuleType('cv2'); "
        "import mxnet.tools.im2rec as m; sys.argv = ['im2rec'] + sys.argv[1:]; "
        "runpy.run_path(m.__file__, run_name='__main__')"
    )
    for args in (["--list", "--recursive", "--train-ratio", "0.8"], ["--pass-through", "--num-thread", "1"]):
        ref = subprocess.run([MXREF_PYTHON, "-c", script, str(tmp_path / "ref"), str(root), *args],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert ref.returncode == 0, ref.stderr
        im2rec(tmp_path / "ours", root, *args)
    for ext in ("_train.lst", "_val.lst", "_train.rec", "_train.idx"):
        assert (tmp_path / f"ours{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes(), ext

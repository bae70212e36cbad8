"""Saving and loading through URIs: ``s3://`` against moto's S3 server, ``hdfs://`` and
``webhdfs://`` against the WebHDFS server of ``tests/_storage_servers.py``, both on loopback.

Every server is started by these tests; nothing leaves the machine. The S3 tests need
``moto[server]`` (installed by ``make venv`` / CI) and are skipped, with that reason, without it.
"""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _fixtures import FIXTURES
from _storage_servers import RecordingProxy, WebHdfsServer, free_port
from _target import IS_MXNET, mx
from numpy.testing import assert_allclose, assert_array_equal

pytestmark = pytest.mark.skipif(IS_MXNET, reason="MXNet 1.9.1's pip build has no S3/HDFS support")

# Bytes per part of a multipart upload (crates/ndarray-core/src/io/remote.rs: PART_SIZE).
PART_SIZE = 8 << 20


# ------------------------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def moto_server():
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed (make venv installs it)")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    proxy = RecordingProxy(f"http://127.0.0.1:{port}").start()
    yield proxy
    proxy.stop()
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """A clean AWS environment: no real credentials, profiles or instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


@pytest.fixture
def s3(moto_server, aws_env, request):
    """A fresh bucket on the moto server (through the recording proxy); returns a helper."""
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server.url)
    aws_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws_env.setenv("AWS_REGION", "us-east-1")
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = "mxrs-" + request.node.name.lower().replace("_", "-")[:40]
    client.create_bucket(Bucket=bucket)
    moto_server.clear()
    return S3(client, bucket, moto_server)


class S3:
    def __init__(self, client, bucket, proxy):
        self.client, self.bucket, self.proxy = client, bucket, proxy

    def uri(self, key):
        return f"s3://{self.bucket}/{key}"

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key, data):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def requests(self, method=None):
        return [r for r in self.proxy.log if method is None or r[0] == method]


@pytest.fixture
def hdfs(monkeypatch):
    monkeypatch.setenv("HADOOP_USER_NAME", "mxrs")
    with WebHdfsServer() as server:
        yield server


def arrays(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return {
        "w": mx.nd.array(rng.standard_normal((n, 4)).astype(np.float32)),
        "b": mx.nd.array(np.arange(n), dtype="int64"),
    }


def assert_same(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype
        assert_array_equal(got[k].asnumpy(), want[k].asnumpy())


def mlp():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc1")
    return mx.sym.SoftmaxOutput(fc, name="softmax")


# --------------------------------------------------------------------------------------- S3


def test_s3_ndarray_save_load(s3):
    a = arrays()
    mx.nd.save(s3.uri("model/x.params"), a)
    assert_same(mx.nd.load(s3.uri("model/x.params")), a)
    # The object is MXNet's file format, byte for byte what a local save writes.
    local = mx.nd.load_frombuffer(s3.get("model/x.params"))
    assert_same(local, a)
    mx.nd.save(s3.uri("list.params"), [a["w"], a["b"]])
    got = mx.nd.load(s3.uri("list.params"))
    assert isinstance(got, list) and len(got) == 2
    assert_array_equal(got[1].asnumpy(), a["b"].asnumpy())
    # A small file is one PUT, not a multipart upload.
    assert not [r for r in s3.requests() if "uploads" in r[2]]


def test_s3_symbol_and_checkpoint(s3):
    sym = mlp()
    sym.save(s3.uri("net-symbol.json"))
    assert mx.sym.load(s3.uri("net-symbol.json")).tojson() == sym.tojson()
    assert s3.get("net-symbol.json").decode() == sym.tojson()
    arg = {"fc1_weight": mx.nd.ones((3, 4)), "fc1_bias": mx.nd.zeros((3,))}
    mx.model.save_checkpoint(s3.uri("ckpt/net"), 7, sym, arg, {})
    sym2, arg2, aux2 = mx.model.load_checkpoint(s3.uri("ckpt/net"), 7)
    assert sym2.tojson() == sym.tojson() and aux2 == {}
    assert_same(arg2, arg)
    keys = {o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]}
    assert {"ckpt/net-symbol.json", "ckpt/net-0007.params"} <= keys


def test_s3_module_checkpoint_with_optimizer_states(s3):
    x = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=[("data", (8, 4))], label_shapes=[("softmax_label", (8,))])
    mod.init_params(initializer=mx.init.Uniform(0.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    mod.forward_backward(batch)
    mod.update()
    prefix = s3.uri("mod/mlp")
    mod.save_checkpoint(prefix, 2, save_optimizer_states=True)
    assert s3.get("mod/mlp-0002.states")  # pickled optimizer states
    loaded = mx.mod.Module.load(prefix, 2, load_optimizer_states=True, context=mx.cpu())
    loaded.bind(data_shapes=[("data", (8, 4))], label_shapes=[("softmax_label", (8,))])
    loaded.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    for k, v in mod.get_params()[0].items():
        assert_allclose(loaded.get_params()[0][k].asnumpy(), v.asnumpy())
    # The same momentum makes the same next step.
    for m in (mod, loaded):
        m.forward_backward(batch)
        m.update()
    assert_allclose(loaded.get_params()[0]["fc1_weight"].asnumpy(), mod.get_params()[0]["fc1_weight"].asnumpy())


def test_s3_kvstore_optimizer_states(s3):
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9))
    kv.init(0, mx.nd.ones((2, 3)))
    kv.push(0, mx.nd.ones((2, 3)))
    kv.save_optimizer_states(s3.uri("kv.states"), dump_optimizer=True)
    states, opt = pickle.loads(s3.get("kv.states"))
    assert isinstance(opt, mx.optimizer.SGD) and opt.momentum == 0.9
    assert_allclose(states[0].asnumpy(), np.full((2, 3), -0.1), rtol=1e-6)
    kv.load_optimizer_states(s3.uri("kv.states"))


def test_s3_recordio_write_and_ranged_read(s3):
    # 40 records of ~100 KB: a 4 MB file, larger than a reader's first ranges.
    records = [bytes([i]) * (100_000 + i) for i in range(40)]
    w = mx.recordio.MXIndexedRecordIO(s3.uri("data.idx"), s3.uri("data.rec"), "w")
    for i, r in enumerate(records):
        w.write_idx(i, r)
    w.close()
    size = len(s3.get("data.rec"))
    assert size > 4_000_000
    assert s3.get("data.idx").decode().splitlines()[1] == f"1\t{100_000 + 8}"

    s3.proxy.clear()
    r = mx.recordio.MXIndexedRecordIO(s3.uri("data.idx"), s3.uri("data.rec"), "r")
    assert r.read_idx(37) == records[37]
    assert r.read_idx(3) == records[3]
    gets = [g for g in s3.requests("GET") if g[1].endswith("/data.rec")]
    assert gets and all(g[3] and g[3].startswith("bytes=") for g in gets), gets
    assert sum(g[4] for g in gets) < size / 4, "random access must not fetch the whole file"
    r.close()

    # A sequential pass streams the file in growing ranges.
    s3.proxy.clear()
    seq = mx.recordio.MXRecordIO(s3.uri("data.rec"), "r")
    got = [seq.read() for _ in range(len(records))]
    assert got == records and seq.read() is None
    gets = [g for g in s3.requests("GET") if g[1].endswith("/data.rec")]
    assert 2 <= len(gets) <= 12, gets
    assert sum(g[4] for g in gets) == size


def test_s3_image_record_iter(s3):
    for ext in ("rec", "idx"):
        s3.put(f"img/img3_png.{ext}", (FIXTURES / f"img3_png.{ext}").read_bytes())
    kw = dict(data_shape=(3, 6, 8), batch_size=3, preprocess_threads=1)
    remote = mx.io.ImageRecordIter(path_imgrec=s3.uri("img/img3_png.rec"), path_imgidx=s3.uri("img/img3_png.idx"), **kw)
    local = mx.io.ImageRecordIter(
        path_imgrec=str(FIXTURES / "img3_png.rec"), path_imgidx=str(FIXTURES / "img3_png.idx"), **kw
    )
    for a, b in zip(remote, local, strict=True):
        assert_array_equal(a.data[0].asnumpy(), b.data[0].asnumpy())
        assert_array_equal(a.label[0].asnumpy(), b.label[0].asnumpy())
    assert any(r[1].endswith("/img3_png.rec") and r[3] for r in s3.requests("GET"))


def test_s3_multipart_write(s3):
    # 20 MiB: three parts of PART_SIZE.
    big = {"big": mx.nd.array(np.arange(5 << 20, dtype=np.float32))}
    mx.nd.save(s3.uri("big.params"), big)
    posts = [r for r in s3.requests("POST") if "uploads" in r[2]]
    parts = [r for r in s3.requests("PUT") if "partNumber=" in r[2]]
    assert len(posts) == 1 and len(parts) == 3, (posts, parts)
    assert [r for r in s3.requests("POST") if "uploadId=" in r[2]], "the upload is completed"
    etag = s3.client.head_object(Bucket=s3.bucket, Key="big.params")["ETag"]
    assert etag.strip('"').endswith("-3"), etag  # a multipart object's ETag
    assert_same(mx.nd.load(s3.uri("big.params")), big)
    # A .rec larger than a part streams out as a multipart upload too.
    s3.proxy.clear()
    w = mx.recordio.MXRecordIO(s3.uri("big.rec"), "w")
    chunk = b"x" * (1 << 20)
    for _ in range(10):
        w.write(chunk)
    w.close()
    assert len([r for r in s3.requests("PUT") if "partNumber=" in r[2]]) == 2
    r = mx.recordio.MXRecordIO(s3.uri("big.rec"), "r")
    assert [r.read() for _ in range(10)] == [chunk] * 10 and r.read() is None


def test_s3_errors_name_uri_and_reason(s3, aws_env):
    missing_bucket = "s3://no-such-bucket-mxrs/x.params"
    for call in (lambda: mx.nd.load(missing_bucket), lambda: mx.nd.save(missing_bucket, arrays())):
        with pytest.raises(mx.base.MXNetIOError) as e:
            call()
        assert isinstance(e.value, OSError)
        assert missing_bucket in str(e.value) and "NoSuchBucket" in str(e.value), str(e.value)
    with pytest.raises(mx.base.MXNetIOError, match="NoSuchBucket"):
        mx.recordio.MXRecordIO(missing_bucket, "r")

    missing_key = s3.uri("no/such/key.params")
    with pytest.raises(mx.base.MXNetIOError) as e:
        mx.nd.load(missing_key)
    assert missing_key in str(e.value) and "NoSuchKey" in str(e.value), str(e.value)
    with pytest.raises(mx.base.MXNetIOError, match="not found"):
        mx.sym.load(s3.uri("nope-symbol.json"))

    with pytest.raises(mx.base.MXNetIOError, match="expected s3://bucket/key"):
        mx.nd.load("s3://just-a-bucket")

    # No credentials anywhere (environment, profile files; instance metadata is off).
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(mx.base.MXNetIOError) as e:
        mx.nd.load(s3.uri("x.params"))
    assert s3.uri("x.params") in str(e.value) and "no credentials" in str(e.value), str(e.value)


def reset_auth(url, count):
    """Make moto's server check credentials after ``count`` more requests (a huge count turns
    the checks off); returns the previous setting."""
    req = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=str(count).encode(),
        headers={"Content-Type": "application/octet-stream"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


def test_s3_access_denied(s3):
    mx.nd.save(s3.uri("secret.params"), arrays())
    previous = reset_auth(s3.proxy.url, 0)  # from now on, keys must exist in moto's IAM
    try:
        with pytest.raises(mx.base.MXNetIOError) as e:
            mx.nd.load(s3.uri("secret.params"))
    finally:
        reset_auth(s3.proxy.url, previous)
    msg = str(e.value)
    assert s3.uri("secret.params") in msg and "access denied" in msg and "InvalidAccessKeyId" in msg, msg


def test_s3_profile_credentials(s3, aws_env, tmp_path):
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    aws_env.delenv("AWS_REGION")
    (tmp_path / "credentials").write_text("[train]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n")
    (tmp_path / "config").write_text("[profile train]\nregion = us-east-1\n")
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    aws_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    aws_env.setenv("AWS_PROFILE", "train")
    a = arrays(seed=5)
    mx.nd.save(s3.uri("p.params"), a)
    assert_same(mx.nd.load(s3.uri("p.params")), a)


# ------------------------------------------------------------------------------------- HDFS


def test_webhdfs_save_load(hdfs):
    a = arrays(seed=2)
    uri = f"webhdfs://127.0.0.1:{hdfs.port}/user/mxrs/x.params"
    mx.nd.save(uri, a)
    assert "/user/mxrs/x.params" in hdfs.files
    assert_same(mx.nd.load(uri), a)
    creates = [r for r in hdfs.log if r[1] == "CREATE"]
    assert [r[3].get("datanode") for r in creates] == [None, "true"], "two-step CREATE"
    assert all(r[3].get("user.name") == "mxrs" for r in hdfs.log)
    opens = [r for r in hdfs.log if r[1] == "OPEN"]
    assert [r[3].get("datanode") for r in opens] == [None, "true"], "OPEN follows the 307 redirect"


def test_webhdfs_large_write_streams_in_parts(hdfs):
    """A file over one part (8 MiB) goes out as part files beside the target while it is written,
    then CONCAT and RENAME put it in place; the old file stays whole until then, no part file is
    left behind, and a failed write keeps the old file and removes its parts."""
    uri = f"webhdfs://127.0.0.1:{hdfs.port}/user/mxrs/big.params"
    old = {"old": mx.nd.ones((3,))}
    mx.nd.save(uri, old)
    big = {"w": mx.nd.array(np.random.default_rng(0).standard_normal((5, 1 << 20)).astype(np.float32))}
    hdfs.log.clear()
    mx.nd.save(uri, big)  # 20 MiB: three parts
    part_creates = [p for (_, op, p, q) in hdfs.log if op == "CREATE" and q.get("datanode") and "-part-" in p]
    assert len(part_creates) == 3
    assert all(p.startswith("/user/mxrs/.big.params.mxrs-") and "-part-" in p for p in part_creates)
    ops = [op for (_, op, _, _) in hdfs.log]
    assert ops.index("CONCAT") < ops.index("RENAME")
    assert sorted(hdfs.files) == ["/user/mxrs/big.params"]
    assert_same(mx.nd.load(uri), big)

    mx.nd.save(uri, old)
    hdfs.fail_creates_after = 2  # the third part fails
    with pytest.raises(mx.base.MXNetError, match="big.params"):
        mx.nd.save(uri, big)
    assert sorted(hdfs.files) == ["/user/mxrs/big.params"], "the parts were deleted"
    assert_same(mx.nd.load(uri), old)


def test_hdfs_uris(hdfs, monkeypatch):
    sym = mlp()
    monkeypatch.setenv("MXRS_WEBHDFS_PORT", str(hdfs.port))
    sym.save("hdfs://127.0.0.1:8020/models/net-symbol.json")  # the RPC port is not used
    assert hdfs.files["/models/net-symbol.json"] == sym.tojson().encode()
    monkeypatch.setenv("MXRS_WEBHDFS_ENDPOINT", hdfs.url)
    assert mx.sym.load("hdfs:///models/net-symbol.json").tojson() == sym.tojson()
    a = arrays(seed=4)
    mx.nd.save("hdfs:///users/myname/mydata.bin", a)
    assert_same(mx.nd.load("hdfs:///users/myname/mydata.bin"), a)
    monkeypatch.delenv("MXRS_WEBHDFS_ENDPOINT")
    with pytest.raises(mx.base.MXNetIOError, match="MXRS_WEBHDFS_ENDPOINT"):
        mx.nd.load("hdfs:///users/myname/mydata.bin")


def test_webhdfs_recordio_ranged_read(hdfs):
    base = f"webhdfs://127.0.0.1:{hdfs.port}/data"
    records = [bytes([i]) * (50_000 + i) for i in range(30)]
    w = mx.recordio.MXIndexedRecordIO(base + "/d.idx", base + "/d.rec", "w")
    for i, r in enumerate(records):
        w.write_idx(i, r)
    w.close()
    hdfs.log.clear()
    r = mx.recordio.MXIndexedRecordIO(base + "/d.idx", base + "/d.rec", "r")
    assert r.read_idx(20) == records[20]
    opens = [q for (_, op, path, q) in hdfs.log if op == "OPEN" and path == "/data/d.rec" and q.get("datanode")]
    assert opens and all("offset" in q and "length" in q for q in opens), opens
    assert all(int(q["length"]) < len(hdfs.files["/data/d.rec"]) / 4 for q in opens)


def test_webhdfs_errors(hdfs):
    uri = f"webhdfs://127.0.0.1:{hdfs.port}/no/such/file.params"
    with pytest.raises(mx.base.MXNetIOError) as e:
        mx.nd.load(uri)
    assert uri in str(e.value) and "FileNotFoundException" in str(e.value), str(e.value)
    denied = f"webhdfs://127.0.0.1:{hdfs.port}/secure/x.params"
    with pytest.raises(mx.base.MXNetIOError) as e:
        mx.nd.save(denied, arrays())
    assert denied in str(e.value) and "AccessControlException" in str(e.value), str(e.value)
    down = f"webhdfs://127.0.0.1:{free_port()}/x.params"
    with pytest.raises(mx.base.MXNetIOError) as e:
        mx.nd.load(down)
    assert down in str(e.value), str(e.value)


def test_unknown_scheme_lists_the_supported_ones():
    with pytest.raises(mx.base.NotSupported) as e:
        mx.nd.save("gs://bucket/x.params", arrays())
    assert "gs://bucket/x.params" in str(e.value) and "s3://" in str(e.value)


# ------------------------------------------------------------------------------- crash safety

SAVE_LOOP = Path(__file__).resolve().parent.parent / "_save_loop.py"
N = 1 << 21  # floats per array: a 16 MiB file of two arrays, two S3 parts


def check_generation(target, last):
    """The file at ``target`` is one complete save: its arrays agree with its generation."""
    d = mx.nd.load(target)
    g = int(d["gen"].asnumpy()[0])
    base = np.arange(N, dtype=np.float32)
    assert_array_equal(d["a"].asnumpy(), base + g)
    assert_array_equal(d["b"].asnumpy(), base * 2 + g)
    assert g >= last, f"generation went back from {last} to {g}"
    return g


def kill_saves(target, kills, env=None):
    """Save generation 0, then run children that save to ``target`` in a loop and SIGKILL each
    at a random moment; after each kill the file must be one complete generation."""
    base = np.arange(N, dtype=np.float32)
    t0 = time.monotonic()
    mx.nd.save(target, {"gen": mx.nd.array([0]), "a": mx.nd.array(base), "b": mx.nd.array(base * 2)})
    # Kills land anywhere in the child's first three saves.
    window = 3 * (time.monotonic() - t0)
    rng = random.Random(16)
    last = 0
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, str(SAVE_LOOP), target, str(N), str(last)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, window))
        child.send_signal(signal.SIGKILL)
        saved = [int(x) for x in child.communicate()[0].split()]
        assert child.returncode == -signal.SIGKILL
        new = check_generation(target, last)
        # At least the last save that returned; at most the one the kill interrupted.
        assert (saved[-1] if saved else last) <= new <= (saved[-1] if saved else last) + 1, (new, saved)
        last = new
    return last


def test_sigkill_during_local_save_never_tears_the_file(tmp_path):
    target = str(tmp_path / "model.params")
    assert kill_saves(target, kills=10) > 0
    # Only temporary files of the killed saves may remain beside the target.
    others = [p.name for p in tmp_path.iterdir() if p.name != "model.params"]
    assert all(n.startswith(".model.params.tmp-") for n in others), others


def test_sigkill_during_s3_save_never_tears_the_object(s3, moto_server):
    env = dict(os.environ, AWS_ENDPOINT_URL="http://%s:%d" % moto_server.target)
    assert kill_saves(s3.uri("model.params"), kills=8, env=env) > 0

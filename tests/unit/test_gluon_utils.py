"""gluon.utils: split_data/split_and_load, clip_global_norm (MXNet's values), check_sha1, download."""

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from _target import mx

utils = mx.gluon.utils
DATA = Path(__file__).resolve().parents[1] / "data" / "gluon"
GOLDEN = mx.nd.load(str(DATA / "golden.params"))


def test_split_data_and_load():
    x = mx.nd.arange(20).reshape((10, 2))
    parts = utils.split_data(x, 2)
    assert [p.shape for p in parts] == [(5, 2), (5, 2)]
    with pytest.raises(ValueError, match="cannot be evenly split"):
        utils.split_data(x, 3)
    parts = utils.split_data(x, 3, even_split=False)
    assert [p.shape[0] for p in parts] == [4, 3, 3]
    np.testing.assert_array_equal(parts[1].asnumpy(), x.asnumpy()[4:7])
    cols = utils.split_data(mx.nd.ones((2, 6)), 3, batch_axis=1)
    assert [c.shape for c in cols] == [(2, 2)] * 3
    loaded = utils.split_and_load(np.ones((4, 3)), [mx.cpu(0), mx.cpu(1)])
    assert [a.context for a in loaded] == [mx.cpu(0), mx.cpu(1)]
    assert utils.split_and_load(x, [mx.cpu(2)])[0].context == mx.cpu(2)


def test_clip_global_norm_matches_mxnet():
    a, b = GOLDEN["clip_a_in"].copy(), GOLDEN["clip_b_in"].copy()
    norm = utils.clip_global_norm([a, b], 1.5)
    np.testing.assert_allclose(norm, GOLDEN["clip_norm"].asnumpy()[0], rtol=1e-5)
    np.testing.assert_allclose(a.asnumpy(), GOLDEN["clip_a_out"].asnumpy(), rtol=1e-5)
    np.testing.assert_allclose(b.asnumpy(), GOLDEN["clip_b_out"].asnumpy(), rtol=1e-5)
    small = [mx.nd.array([0.1, 0.2])]
    utils.clip_global_norm(small, 10.0)
    np.testing.assert_allclose(small[0].asnumpy(), [0.1, 0.2], rtol=1e-6)
    nd_norm = utils.clip_global_norm([mx.nd.array([3.0, 4.0])], 1.0, check_isfinite=False)
    assert isinstance(nd_norm, mx.nd.NDArray)
    np.testing.assert_allclose(nd_norm.asscalar(), 5.0, rtol=1e-6)


def test_check_sha1(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"hello gluon")
    assert utils.check_sha1(str(f), hashlib.sha1(b"hello gluon").hexdigest())
    assert not utils.check_sha1(str(f), "0" * 40)


class _Flaky(http.server.SimpleHTTPRequestHandler):
    failures = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        if _Flaky.failures > 0:
            _Flaky.failures -= 1
            self.send_error(503)
            return
        body = b"payload-" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_checksum_retries_and_overwrite(tmp_path, server):
    body = b"payload-" * 100
    sha = hashlib.sha1(body).hexdigest()
    url = server + "/files/data.bin"
    _Flaky.failures = 2
    path = utils.download(url, path=str(tmp_path), sha1_hash=sha, retries=3)
    assert Path(path) == tmp_path / "data.bin"
    assert Path(path).read_bytes() == body
    # An existing file with the right hash is not fetched again (the server would fail now).
    _Flaky.failures = 10
    assert utils.download(url, path=str(tmp_path), sha1_hash=sha) == path
    # A wrong hash raises after the download.
    _Flaky.failures = 0
    with pytest.raises(UserWarning, match="content hash does not match"):
        utils.download(url, path=str(tmp_path / "other.bin"), sha1_hash="0" * 40, retries=0)
    _Flaky.failures = 5
    with pytest.raises(Exception):  # noqa: B017 - the HTTP error of the last attempt
        utils.download(url, path=str(tmp_path / "never.bin"), retries=1)
    assert not list(tmp_path.glob("never.bin*"))

"""Storage servers on loopback for the remote-storage tests.

* :class:`WebHdfsServer`: an in-memory WebHDFS endpoint (name node and data node in one) that
  speaks the subset of the WebHDFS REST API that mxrs's client uses: ``GETFILESTATUS``,
  ``LISTSTATUS``, ``OPEN`` (with ``offset``/``length``, answered by a 307 redirect to the "data node" as a real
  name node does), two-step ``CREATE`` (a 307 redirect, or a JSON ``Location`` when the client
  asks for ``noredirect=true``, then the data ``PUT`` to that location), ``MKDIRS``,
  ``CONCAT``, ``RENAME`` (which, as HDFS's, refuses an existing destination) and ``DELETE``.
  Errors are WebHDFS ``RemoteException`` bodies. Paths under ``/secure`` answer 403
  (``AccessControlException``); once ``fail_creates_after`` data ``CREATE``s have succeeded,
  the next ones answer 500, to test failed writes.
* :class:`RecordingProxy`: an HTTP proxy in front of another server (moto's S3) that records
  every request's method, path, query and ``Range`` header and the size of the response body,
  so tests can check that a ``.rec`` is read in ranges and that a large write is a multipart
  upload.
"""

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["RecordingProxy", "WebHdfsServer", "free_port"]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A threading HTTP server on 127.0.0.1 run by a daemon thread; a context manager."""

    def __init__(self, handler):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def record(self, entry):
        with self._lock:
            self.log.append(entry)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# ------------------------------------------------------------------------------------- WebHDFS


class WebHdfsServer(_Server):
    """An in-memory WebHDFS server; ``files`` maps absolute paths to bytes."""

    def __init__(self):
        super().__init__(_WebHdfsHandler)
        self.files = {}
        self.fail_creates_after = None


def _status(path, data):
    kind, length = ("DIRECTORY", 0) if data is None else ("FILE", len(data))
    return {
        "accessTime": 0,
        "blockSize": 134217728,
        "childrenNum": 0,
        "fileId": 16386,
        "group": "supergroup",
        "length": length,
        "modificationTime": 1700000000000,
        "owner": "mxrs",
        "pathSuffix": "",
        "permission": "644",
        "replication": 1,
        "storagePolicy": 0,
        "type": kind,
    }


class _WebHdfsHandler(_Handler):
    def _route(self):
        parts = urlsplit(self.path)
        if not parts.path.startswith("/webhdfs/v1"):
            self._send(404, b"not a WebHDFS path")
            return None
        path = "/" + unquote(parts.path[len("/webhdfs/v1") :]).strip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        server = self.server.owner
        server.record((self.command, query.get("op", ""), path, dict(query)))
        return server, path, query, parts.query

    def _error(self, status, exception, message):
        body = {
            "RemoteException": {"exception": exception, "javaClassName": f"java.io.{exception}", "message": message}
        }
        self._send(status, json.dumps(body).encode(), [("Content-Type", "application/json")])

    def _json(self, obj):
        self._send(200, json.dumps(obj).encode(), [("Content-Type", "application/json")])

    def _is_dir(self, files, path):
        prefix = path.rstrip("/") + "/"
        return path == "/" or any(p.startswith(prefix) for p in files)

    def _denied(self, path):
        if path == "/secure" or path.startswith("/secure/"):
            self._error(403, "AccessControlException", f"Permission denied: user=mxrs, access=WRITE, inode={path}")
            return True
        return False

    def do_GET(self):
        route = self._route()
        if route is None:
            return
        server, path, query, raw_query = route
        op = query.get("op", "").upper()
        if self._denied(path):
            return
        if op == "GETFILESTATUS":
            if path in server.files:
                self._json({"FileStatus": _status(path, server.files[path])})
            elif self._is_dir(server.files, path):
                self._json({"FileStatus": _status(path, None)})
            else:
                self._error(404, "FileNotFoundException", f"File does not exist: {path}")
        elif op == "LISTSTATUS":
            prefix = path.rstrip("/") + "/"
            names = sorted({p[len(prefix) :].split("/")[0] for p in server.files if p.startswith(prefix)})
            statuses = []
            for n in names:
                full = prefix + n
                statuses.append({**_status(full, server.files.get(full)), "pathSuffix": n})
            self._json({"FileStatuses": {"FileStatus": statuses}})
        elif op == "OPEN":
            if path not in server.files:
                self._error(404, "FileNotFoundException", f"File does not exist: {path}")
            elif query.get("datanode") != "true":
                # The name node sends the client to a data node.
                location = f"{server.url}/webhdfs/v1{quote(path)}?{raw_query}&datanode=true"
                self._send(307, headers=[("Location", location)])
            else:
                data = server.files[path]
                start = int(query.get("offset", 0))
                end = len(data) if "length" not in query else start + int(query["length"])
                self._send(200, data[start:end], [("Content-Type", "application/octet-stream")])
        else:
            self._error(400, "IllegalArgumentException", f"Invalid value for webhdfs parameter op: {op}")

    def do_PUT(self):
        route = self._route()
        if route is None:
            return
        server, path, query, raw_query = route
        op = query.get("op", "").upper()
        body = self._body()
        if self._denied(path):
            return
        if op == "CREATE":
            if query.get("datanode") == "true":
                if server.fail_creates_after is not None:
                    if server.fail_creates_after <= 0:
                        self._error(500, "IOException", f"injected failure writing {path}")
                        return
                    server.fail_creates_after -= 1
                server.files[path] = body
                self._send(201, headers=[("Location", f"hdfs://127.0.0.1{quote(path)}")])
                return
            location = f"{server.url}/webhdfs/v1{quote(path)}?{raw_query}&datanode=true"
            if query.get("noredirect") == "true":
                self._json({"Location": location})
            else:
                self._send(307, headers=[("Location", location)])
        elif op == "MKDIRS":
            self._json({"boolean": True})
        elif op == "RENAME":
            dest = "/" + query.get("destination", "").strip("/")
            if path not in server.files:
                self._error(404, "FileNotFoundException", f"File does not exist: {path}")
            elif dest in server.files:
                self._json({"boolean": False})
            else:
                server.files[dest] = server.files.pop(path)
                self._json({"boolean": True})
        else:
            self._error(400, "IllegalArgumentException", f"Invalid value for webhdfs parameter op: {op}")

    def do_POST(self):
        route = self._route()
        if route is None:
            return
        server, path, query, _ = route
        self._body()
        if self._denied(path):
            return
        if query.get("op", "").upper() != "CONCAT":
            self._error(400, "IllegalArgumentException", "only CONCAT is served by POST here")
            return
        sources = ["/" + p.strip("/") for p in query.get("sources", "").split(",") if p]
        missing = [p for p in [path, *sources] if p not in server.files]
        if missing:
            self._error(404, "FileNotFoundException", f"File does not exist: {missing[0]}")
            return
        server.files[path] += b"".join(server.files.pop(p) for p in sources)
        self._send(200)

    def do_DELETE(self):
        route = self._route()
        if route is None:
            return
        server, path, _, _ = route
        self._json({"boolean": server.files.pop(path, None) is not None})


# ------------------------------------------------------------------------------ recording proxy


class RecordingProxy(_Server):
    """Forwards every request to ``target`` (``http://host:port``) and records it.

    ``log`` holds ``(method, path, query, range_header, response_bytes)`` tuples.
    """

    def __init__(self, target):
        super().__init__(_ProxyHandler)
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)

    def clear(self):
        with self._lock:
            self.log.clear()


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class _ProxyHandler(_Handler):
    def _forward(self):
        server = self.server.owner
        body = self._body()
        if len(body) < int(self.headers.get("Content-Length") or 0):
            # The client went away mid-request (killed): drop it, as a server would.
            self.close_connection = True
            return
        conn = http.client.HTTPConnection(*server.target, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        parts = urlsplit(self.path)
        server.record((self.command, parts.path, parts.query, self.headers.get("Range"), len(data)))
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP | {"content-length"}]
        self.send_response(resp.status)
        for k, v in out:
            self.send_header(k, v)
        # A HEAD answer carries the object's length without a body.
        length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

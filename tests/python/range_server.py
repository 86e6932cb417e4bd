"""A small HTTP server on 127.0.0.1 that serves files with Range requests
(single ranges, as object stores and fsspec use them) and counts the body
bytes it sends, for the remote-package tests and bench/bench_remote.py.

    with RangeServer() as server:
        server.files["model.pt"] = data          # bytes, or a path on disk
        url = server.url("model.pt")
        ...
        server.sent                               # body bytes sent so far

Files may be replaced while served (a file changing underneath a reader).
"""

import http.server
import os
import re
import threading

__all__ = ["RangeServer"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_PIECE = 1 << 20


class RangeServer:
    def __init__(self):
        self.files = {}
        self.sent = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    def url(self, name):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def reset(self):
        with self._lock:
            self.sent = 0
            self.requests = 0

    def _count(self, nbytes, request=False):
        with self._lock:
            self.sent += nbytes
            self.requests += request

    def __enter__(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as clients expect
            # Headers and body go out in separate writes: with Nagle's
            # algorithm each small response would wait for a delayed ACK
            # (40 ms), which real servers do not make clients pay.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _file(self):
                content = server.files.get(self.path.lstrip("/"))
                if content is None:
                    self.send_error(404)
                    return None
                return content

            def do_HEAD(self):
                content = self._file()
                if content is None:
                    return
                server._count(0, request=True)
                self.send_response(200)
                self.send_header("Content-Length", str(_size(content)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self):
                content = self._file()
                if content is None:
                    return
                server._count(0, request=True)
                size = _size(content)
                start, end = 0, size
                wanted = self.headers.get("Range")
                if wanted:
                    match = _RANGE.match(wanted.strip())
                    if not match or match.groups() == ("", ""):
                        self.send_error(400, "unsupported Range")
                        return
                    first, last = match.groups()
                    if first == "":  # a suffix: the last N bytes
                        start, end = max(0, size - int(last)), size
                    else:
                        start = int(first)
                        end = min(size, int(last) + 1) if last else size
                    if start >= size or start >= end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                try:
                    for piece in _pieces(content, start, end):
                        self.wfile.write(piece)
                        server._count(len(piece))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _Server(http.server.ThreadingHTTPServer):
    # Clients open connections for concurrent ranges at once; the default
    # backlog of 5 would drop their SYNs into second-long retransmits.
    request_queue_size = 256


def _size(content):
    return os.path.getsize(content) if isinstance(content, str) else len(content)


def _pieces(content, start, end):
    if not isinstance(content, str):
        view = memoryview(content)
        for at in range(start, end, _PIECE):
            yield view[at:min(end, at + _PIECE)]
        return
    with open(content, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            piece = f.read(min(left, _PIECE))
            if not piece:
                return
            left -= len(piece)
            yield piece

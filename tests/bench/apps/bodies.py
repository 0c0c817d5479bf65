"""Scenario (c): response bodies of a given size, and a file through
wsgi.file_wrapper.

GET /bytes/N answers N bytes built once per size (so the benchmark measures the
server, not the allocator). GET /file answers the file named by $BENCH_FILE
through environ['wsgi.file_wrapper'] (sendfile(2) where the server can).
"""
import os

_cache = {}
FILE = os.environ.get("BENCH_FILE", "")
MAX = 64 << 20


def _body(n):
    body = _cache.get(n)
    if body is None:
        body = _cache[n] = b"x" * n
    return body


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/file" and FILE:
        f = open(FILE, "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is None:
            return iter(lambda: f.read(1 << 16), b"")
        return wrapper(f, 1 << 16)
    if path.startswith("/bytes/"):
        try:
            n = int(path[7:])
        except ValueError:
            n = -1
        if 0 <= n <= MAX:
            body = _body(n)
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(n))])
            return [body]
    start_response("404 Not Found", [("Content-Length", "0")])
    return []

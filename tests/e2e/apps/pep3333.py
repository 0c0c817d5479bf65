"""PEP 3333 corners, one per path:
/write     body sent through the write() callable, then an iterable part
/errors    writes a marker line to wsgi.errors
/exc_info  start_response called again with exc_info before any body: the
           second status wins
/lines     reads wsgi.input with readline() and answers the line count
/stream    a generator without Content-Length
/big       8 MB with a Content-Length, in 64 KB pieces
"""
import sys


def app(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"returned\n"]
    if path == "/errors":
        environ["wsgi.errors"].write("kirin-e2e-wsgi-errors-marker\n")
        environ["wsgi.errors"].flush()
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Length", "4")], sys.exc_info())
        return [b"oops"]
    if path == "/lines":
        stream = environ["wsgi.input"]
        n = 0
        while stream.readline():
            n += 1
        body = str(n).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (("line %d\n" % i).encode() for i in range(1000))
    if path == "/big":
        piece = bytes(range(256)) * 256
        start_response("200 OK", [("Content-Length", str(len(piece) * 128))])
        return (piece for _ in range(128))
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]

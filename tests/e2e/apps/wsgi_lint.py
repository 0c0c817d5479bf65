"""Applications wrapped in wsgiref.validate.validator, whose warnings are
turned into errors: any PEP 3333 violation by kirin (or by the app) becomes
a 500 and a traceback in the error log. Routes by PATH_INFO; /stream waits
for the test (see wait_go) between its two parts."""
import hashlib
import os
import socket
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def query(environ):
    return dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)


def wait_go(environ):
    """Block until the test, listening on 127.0.0.1:<ctl>, sends one byte."""
    port = int(query(environ)["ctl"])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.settimeout(60)
        s.recv(1)


def text(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"part one\n"
    wait_go(environ)
    yield b"part two\n"


def late_error(start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first\n"
    try:
        raise KeyError("kirin-e2e-late-exc-info")
    except KeyError:
        # The head is gone: start_response must re-raise.
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    yield b"never\n"


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path in ("/get", "/head"):
        return text(start_response, ("%s %s" % (environ["REQUEST_METHOD"],
                                                environ["QUERY_STRING"])).encode())
    if path == "/post":
        h, n = hashlib.sha256(), 0
        while True:
            chunk = inp.read(8192)
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
        environ["wsgi.errors"].write("")  # exercised through the validator's wrapper
        environ["wsgi.errors"].flush()
        return text(start_response, ("%d %s" % (n, h.hexdigest())).encode())
    if path == "/lines":
        first = inp.readline()
        rest = inp.readlines()
        tail = b"".join(line for line in inp)  # already at the end: nothing
        return text(start_response, b"%d|%s|%d|%d" % (len(rest) + 1, first.rstrip(b"\n"),
                                                      sum(map(len, rest)), len(tail)))
    if path == "/stream":
        return stream(environ, start_response)
    if path == "/file":
        f = open(os.environ["KIRIN_E2E_FILE"], "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("kirin-e2e-handled")
        except ValueError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain"), ("X-Replaced", "yes")],
                           sys.exc_info())
        return [b"replaced\n"]
    if path == "/exc-info-late":
        return late_error(start_response)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"returned\n"]
    return text(start_response, b"not found\n", "404 Not Found")


app = validator(_app)

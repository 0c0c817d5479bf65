"""WSGI edge cases, without the validator (some break the rules on purpose).
Routes by PATH_INFO; query parameters are described at each route."""
import io
import json
import os
import socket


def query(environ):
    return dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)


def wait_go(environ):
    """Block until the test, listening on 127.0.0.1:<ctl>, sends one byte."""
    with socket.create_connection(("127.0.0.1", int(query(environ)["ctl"])), timeout=60) as s:
        s.settimeout(60)
        s.recv(1)


def reply(start_response, body, ctype="text/plain", status="200 OK"):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


class Forever:
    """Yields part one, waits for the test, then yields 64 KB chunks until the
    server stops asking; close() appends 'closed' to the file <mark>."""
    def __init__(self, environ):
        self.environ = environ
        self.mark = query(environ)["mark"]

    def __iter__(self):
        yield b"part one\n"
        wait_go(self.environ)
        while True:
            yield b"x" * 65536

    def close(self):
        with open(self.mark, "a") as f:
            f.write("closed\n")


def midstream(environ):
    yield b"part one\n"
    wait_go(environ)
    raise RuntimeError("kirin-e2e-midstream-marker")


ROUTES = {"/input", "/forever", "/midstream", "/short", "/long", "/bad-status",
          "/bad-header-value", "/bad-header-type", "/not-bytes", "/latin1-header",
          "/non-latin1-header", "/file", "/file-notell", "/file-nofileno", "/keywords",
          "/mutate", "/keep-callables", "/stale-callables", "/constant-headers",
          "/constant-conflict"}
KEPT = {}  # /keep-callables: a request's start_response and write, for later
# /constant-headers, /constant-conflict: the same tuple objects on every request
LENGTH_5 = ("Content-Length", "5")
CONSTANT = [("Content-Type", "text/plain"), ("X-Const", " padded\t"), LENGTH_5, LENGTH_5]
CONFLICT = [LENGTH_5, ("Content-Length", "6")]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = query(environ)
    if path not in ROUTES:  # /environ, and whatever a --root-path leaves
        out = {}
        for k, v in environ.items():
            if isinstance(v, (str, int, float, bool)) or v is None:
                out[k] = v
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = "<%s>" % type(v).__name__
        return reply(start_response, json.dumps(out).encode(), "application/json")
    if path == "/mutate":  # changes its environ: the next one must not see it
        del environ["SERVER_NAME"]
        environ["REMOTE_PORT"] = "mutated"
        environ["kirin.e2e"] = "mutated"
        return reply(start_response, b"mutated")
    if path == "/keep-callables":
        KEPT["start_response"] = start_response
        KEPT["input"] = environ["wsgi.input"]
        KEPT["write"] = start_response("200 OK", [("Content-Length", "4")])
        return [b"kept"]
    if path == "/stale-callables":  # what the kept ones do in a later request
        out = {}
        for name, call in (("start_response", lambda: KEPT["start_response"]("200 OK", [])),
                           ("write", lambda: KEPT["write"](b"x"))):
            try:
                call()
                out[name] = "returned"
            except Exception as e:
                out[name] = type(e).__name__
        # The kept wsgi.input reads nothing, not this request's body.
        out["input"] = KEPT["input"].read(100).decode("latin-1")
        out["own"] = environ["wsgi.input"].read().decode("latin-1")
        return reply(start_response, json.dumps(out).encode(), "application/json")
    if path == "/input":
        # ops=read:5,readline,readline:3,readlines,readlines:10,iter,read
        # answers a JSON list: each op's result, latin-1 decoded.
        inp = environ["wsgi.input"]
        results = []
        for op in q.get("ops", "").split(","):
            name, _, arg = op.partition(":")
            args = (int(arg),) if arg else ()
            if name == "iter":
                r = list(inp)
            else:
                r = getattr(inp, name)(*args)
            if isinstance(r, list):
                results.append([x.decode("latin-1") for x in r])
            else:
                results.append(r.decode("latin-1"))
        return reply(start_response, json.dumps(results).encode(), "application/json")
    if path == "/forever":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Forever(environ)
    if path == "/midstream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return midstream(environ)
    if path == "/short":  # announces 10 bytes, sends 5
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"12345"]
    if path == "/long":  # announces 5 bytes, sends 10
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"12345", b"67890"]
    if path == "/bad-status":
        start_response("200OK", [("Content-Type", "text/plain")])
        return [b"nope"]
    if path == "/bad-header-value":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Evil", "a\r\nSet-Cookie: x=1")])
        return [b"nope"]
    if path == "/bad-header-type":
        start_response("200 OK", [(b"Content-Type", "text/plain")])
        return [b"nope"]
    if path == "/latin1-header":  # PEP 3333: the code points are the bytes
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Latin1", "\xe9t\xe9")])
        return [b"ok"]
    if path == "/non-latin1-header":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Smile", "\u263a")])
        return [b"nope"]
    if path in ("/constant-headers", "/constant-conflict"):
        start_response("200 OK", list(CONSTANT if path == "/constant-headers" else CONFLICT))
        return [b"const"]
    if path == "/keywords":  # start_response called with keyword arguments
        start_response(status="201 Created", headers=[("Content-Type", "text/plain")],
                       exc_info=None)
        return [b"keywords"]
    if path == "/not-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]
    if path == "/file":
        # path=FILE [offset=N] [length=N: sent as Content-Length]
        f = open(q["path"], "rb")
        f.seek(int(q.get("offset", "0")))
        headers = [("Content-Type", "application/octet-stream")]
        if "length" in q:
            headers.append(("Content-Length", q["length"]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/file-notell":  # a real file's fileno(), but no working tell(): iterated
        class NoTell(io.FileIO):
            def tell(self):
                raise OSError("no tell")
        f = NoTell(q["path"], "rb")
        f.seek(int(q.get("offset", "0")))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/file-nofileno":
        data = open(q["path"], "rb").read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)

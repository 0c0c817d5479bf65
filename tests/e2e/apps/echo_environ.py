"""Answers with the WSGI environ as JSON (values that are not plain data are
shown by type name), plus the worker's pid."""
import json
import os


def app(environ, start_response):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, tuple) and all(isinstance(x, int) for x in v):
            out[k] = list(v)
        else:
            out[k] = "<%s>" % type(v).__name__
    out["__pid__"] = os.getpid()
    out["__osenv__"] = {k: v for k, v in os.environ.items() if k.startswith("KIRIN_E2E")}
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

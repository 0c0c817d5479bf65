"""For the TLS tests: / answers the TLS view of the environ as JSON (with the
worker's pid), /echo the request body, /file?size=N a file of N bytes
(bytes 0..255 repeated, made in $KIRIN_E2E_TLS_DIR) through wsgi.file_wrapper."""
import json
import os
import tempfile

KEYS = ("wsgi.url_scheme", "HTTPS", "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_CERT",
        "REQUEST_METHOD", "PATH_INFO", "REMOTE_ADDR")
PATTERN = bytes(range(256))


def pattern_file(size):
    folder = os.environ.get("KIRIN_E2E_TLS_DIR") or tempfile.gettempdir()
    path = os.path.join(folder, f"pattern-{size}")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            block = PATTERN * 4096
            left = size
            while left:
                f.write(block[:left])
                left -= min(left, len(block))
        os.replace(tmp, path)
    return path


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/file":
        size = int(environ["QUERY_STRING"].partition("=")[2])
        f = open(pattern_file(size), "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f, 65536)
    out = {k: environ.get(k) for k in KEYS}
    out["pid"] = os.getpid()
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

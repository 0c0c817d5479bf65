"""Reads wsgi.input to the end and answers "<length> <sha256 hex>"."""
import hashlib


def app(environ, start_response):
    h = hashlib.sha256()
    n = 0
    stream = environ["wsgi.input"]
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        n += len(chunk)
        h.update(chunk)
    body = ("%d %s" % (n, h.hexdigest())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

"""For slow-client tests: POST reads the whole body and answers its length
and SHA-256, and counts itself in $KIRIN_TEST_POSTS (a file) if set;
GET /big?N answers N MiB from an iterable of 1 MiB chunks; GET /stream?N
yields N MiB and a line, sleeps 5 s and yields another line; GET /file
answers the file named by $KIRIN_TEST_BIG_FILE through wsgi.file_wrapper;
anything else answers a hello."""
import hashlib
import os
import time

CHUNK = b"x" * (1 << 20)


def stream(mib):
    yield CHUNK * mib + b"first\n"
    time.sleep(5)
    yield b"second\n"


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        if os.environ.get("KIRIN_TEST_POSTS"):
            with open(os.environ["KIRIN_TEST_POSTS"], "a") as f:
                f.write("post\n")
        n, h = 0, hashlib.sha256()
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
        body = b"%d %s" % (n, h.hexdigest().encode())
    elif environ["PATH_INFO"] == "/big":
        mib = int(environ.get("QUERY_STRING") or 1)
        start_response("200 OK", [("Content-Length", str(mib << 20))])
        return (CHUNK for _ in range(mib))
    elif environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream(int(environ.get("QUERY_STRING") or 0))
    elif environ["PATH_INFO"] == "/file":
        f = open(os.environ["KIRIN_TEST_BIG_FILE"], "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f)
    else:
        body = b"Hello, World!\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

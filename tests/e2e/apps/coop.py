"""Cooperative waiting through the kirin module: /sleep?S sleeps S seconds,
/stream yields, waits until the test creates the file named in ?PATH, then
yields again; /get waits on a queue that /put?MSG feeds (long polling);
/spawn starts a background task that feeds the queue."""
import os

import kirin

messages = kirin.Queue()


def app(environ, start_response):
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    if path == "/stream":
        def parts():
            yield b"part one\n"
            while not os.path.exists(query):
                kirin.sleep(0.02)
            yield b"part two\n"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return parts()
    if path == "/sleep":
        kirin.sleep(float(query or 0))
        body = b"slept\n"
    elif path == "/get":
        try:
            body = messages.get(timeout=float(query or 10))
        except kirin.Empty:
            body = b"timeout\n"
    elif path == "/put":
        messages.put(query.encode() + b"\n")
        body = b"put\n"
    elif path == "/spawn":
        kirin.spawn(lambda msg: (kirin.sleep(0.1), messages.put(msg)), b"spawned\n")
        body = b"spawning\n"
    elif path == "/readable":
        r, w = os.pipe()
        kirin.spawn(lambda: (kirin.sleep(0.1), os.write(w, b"x")))
        ok = kirin.wait_readable(r, timeout=5)
        late = kirin.wait_readable(os.pipe()[0], timeout=0.05)
        body = b"%r %r\n" % (ok, late)
    else:
        body = b"ok\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

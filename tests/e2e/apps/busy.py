"""/spin never returns: a pure-Python busy loop in spin_forever(), the kind
of stuck worker --timeout exists for. Anything else answers at once."""


def spin_forever():
    n = 0
    while True:
        n += 1


def app(environ, start_response):
    if environ["PATH_INFO"] == "/spin":
        spin_forever()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

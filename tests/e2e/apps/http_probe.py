"""/read reads the body and says how long it was; /noread answers without
touching wsgi.input; /late-read sends a first chunk, then reads the body and
says how long it was; all report wsgi.url_scheme."""


def late_read(environ):
    yield b"first\n"
    body = environ["wsgi.input"].read()
    yield b"read %d\n" % len(body)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/late-read":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return late_read(environ)
    if environ["PATH_INFO"] == "/read":
        body = environ["wsgi.input"].read()
        out = b"read %d %s\n" % (len(body), environ["wsgi.url_scheme"].encode())
    else:
        out = b"noread %s\n" % environ["wsgi.url_scheme"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]

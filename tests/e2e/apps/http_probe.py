"""/read reads the body and says how long it was; /noread answers without
touching wsgi.input; both report wsgi.url_scheme."""


def app(environ, start_response):
    if environ["PATH_INFO"] == "/read":
        body = environ["wsgi.input"].read()
        out = b"read %d %s\n" % (len(body), environ["wsgi.url_scheme"].encode())
    else:
        out = b"noread %s\n" % environ["wsgi.url_scheme"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]

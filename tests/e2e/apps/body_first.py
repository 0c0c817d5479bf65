"""Reads the whole body, then answers with the method and path it sees: the
request's fields must still be right after the body arrived in pieces (a
head whose buffer was reused for the body once made a POST look like a
HEAD)."""


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    out = ("%s %s %d %s\n" % (environ["REQUEST_METHOD"], environ["PATH_INFO"], len(body),
                              environ.get("HTTP_X_TAG", "-"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]

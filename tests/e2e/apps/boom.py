"""Raises on /boom (before start_response); answers "ok" elsewhere."""


class Boom(Exception):
    pass


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/boom":
        raise Boom("kirin-e2e-boom-marker")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

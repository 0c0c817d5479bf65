"""The example application that the README starts kirin on.

    kirin --chdir contrib/examples hello:app
"""
import json
import platform


def app(environ, start_response):
    if environ["PATH_INFO"] == "/environ":
        body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)},
                          indent=2, sort_keys=True).encode()
        ctype = "application/json"
    else:
        body = ("Hello from kirin! (Python %s)\n" % platform.python_version()).encode()
        ctype = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]

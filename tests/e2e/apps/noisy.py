"""Writes to stdout and stderr three ways at import and on each request."""
import os
import sys

print("kirin-e2e-import-print")


def app(environ, start_response):
    print("kirin-e2e-print")
    sys.stderr.write("kirin-e2e-sys-stderr\n")
    os.write(1, b"kirin-e2e-fd1\n")
    os.write(2, b"kirin-e2e-fd2\n")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

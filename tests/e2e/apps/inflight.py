"""Sleeps (kirin.sleep: cooperatively where the worker type can) for the
seconds given as the query string, after creating a file of its own in
$KIRIN_TEST_STARTED_DIR, so a test can count the requests that are in
flight without guessing with a sleep."""
import os
import tempfile

import kirin


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/__ready":
        fd, _ = tempfile.mkstemp(prefix="req-", dir=os.environ["KIRIN_TEST_STARTED_DIR"])
        os.close(fd)
        kirin.sleep(float(environ.get("QUERY_STRING") or 0))
    body = b"done\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

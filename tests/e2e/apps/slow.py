"""Sleeps for the number of seconds given as the query string (?1.5), then
answers with the worker's pid. When KIRIN_TEST_STARTED_DIR is set, a file
named after the pid appears there as the request starts, so a test knows
the request is in flight without guessing with a sleep."""
import os
import time


def app(environ, start_response):
    try:
        delay = float(environ.get("QUERY_STRING") or 0)
    except ValueError:
        delay = 0
    started = os.environ.get("KIRIN_TEST_STARTED_DIR")
    if started and environ.get("PATH_INFO") != "/__ready":
        with open(os.path.join(started, "started-%d" % os.getpid()), "w"):
            pass
    time.sleep(delay)
    body = ("slept %s in %d\n" % (delay, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

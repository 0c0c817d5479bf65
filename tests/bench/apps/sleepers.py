"""Scenario (d): each request sleeps 100 ms cooperatively, then answers.

`app_time` sleeps with time.sleep, which a gevent worker has monkey-patched.
`app_kirin` sleeps with kirin.sleep (kirin's greenlet worker); where the kirin
module is missing it answers 501, which the harness reports as skipped.
"""
import time

DELAY = 0.1
BODY = b"slept\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]

try:
    import kirin
    _kirin_sleep = kirin.sleep
except (ImportError, AttributeError):
    _kirin_sleep = None


def app_time(environ, start_response):
    time.sleep(DELAY)
    start_response("200 OK", list(HEADERS))
    return [BODY]


def app_kirin(environ, start_response):
    if _kirin_sleep is None:
        msg = b"kirin.sleep is not available\n"
        start_response("501 Not Implemented", [("Content-Type", "text/plain"),
                                               ("Content-Length", str(len(msg)))])
        return [msg]
    _kirin_sleep(DELAY)
    start_response("200 OK", list(HEADERS))
    return [BODY]

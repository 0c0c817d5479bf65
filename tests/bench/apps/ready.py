"""Scenario (g): time from exec to ready. Each process that imports this app
leaves a file named after its pid in $BENCH_READY_DIR holding the wall-clock
time of the import, so the harness can tell when all workers have loaded it.
"""
import os
import time

_dir = os.environ.get("BENCH_READY_DIR")
if _dir:
    _tmp = os.path.join(_dir, ".%d" % os.getpid())
    with open(_tmp, "w") as f:
        f.write("%.6f\n" % time.time())
    os.rename(_tmp, os.path.join(_dir, str(os.getpid())))

BODY = b"ready\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]

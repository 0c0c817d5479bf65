"""Reports where it was imported and which after-fork hooks ran: JSON with
the importing pid, the pids os.register_at_fork(after_in_child) saw, the
serving pid and VERSION (tests rewrite a copy of this file to change it)."""
import json
import os
import sys

VERSION = "v1"
IMPORT_PID = os.getpid()
FORKED_IN = []
os.register_at_fork(after_in_child=lambda: FORKED_IN.append(os.getpid()))
sys.stderr.write("kirin-e2e-imported in %d\n" % IMPORT_PID)
sys.stderr.flush()


def app(environ, start_response):
    body = json.dumps({"import_pid": IMPORT_PID, "forked_in": FORKED_IN, "pid": os.getpid(),
                       "version": VERSION}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

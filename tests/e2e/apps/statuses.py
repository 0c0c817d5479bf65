"""/status/NNN answers NNN; /sleep/S sleeps S seconds, then 200; /raise
raises (500); /exit ends the worker (os._exit); anything else 200."""
import os
import time


def app(environ, start_response):
    parts = environ["PATH_INFO"].strip("/").split("/")
    status = "200 OK"
    if parts[0] == "status" and len(parts) == 2:
        status = f"{int(parts[1])} Status"
    elif parts[0] == "sleep" and len(parts) == 2:
        time.sleep(float(parts[1]))
    elif parts[0] == "raise":
        raise RuntimeError("asked to raise")
    elif parts[0] == "exit":
        os._exit(1)
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]

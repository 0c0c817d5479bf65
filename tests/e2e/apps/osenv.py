"""Answers with the names of the worker's process environment variables
(os.environ) as JSON, and its pid: what the application can see."""
import json
import os


def app(environ, start_response):
    body = json.dumps({"names": sorted(os.environ), "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

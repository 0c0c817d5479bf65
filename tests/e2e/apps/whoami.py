"""Who the worker runs as, and whether the application may write the file
named by the query string (for --user/--group), as JSON."""
import json
import os


def app(environ, start_response):
    path = environ.get("QUERY_STRING", "")
    written = None
    if path:
        try:
            with open(path, "a") as f:
                f.write("written by the application\n")
            written = True
        except PermissionError:
            written = False
    body = json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                       "groups": sorted(os.getgroups()), "written": written}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

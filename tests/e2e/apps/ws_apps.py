"""WebSocket apps written against gevent-websocket's API, without gevent:
they run under every worker type.

echo      echoes each message until the client closes; /info answers the
          WebSocket's attributes as JSON, then echoes; an upgrade request
          the app ignores (/plain) is answered as a GET; /late writes its
          HTTP head and a line, then asks for the WebSocket and says what
          it got
push      sends 64 KiB messages to a client that never reads, until send()
          raises; writes what it managed to the file named in the query
choose    the subprotocol named in the query (none: no choice) is the app's
          choice; answers the one the handshake named as JSON, then echoes
resource  gevent-websocket's app_protocol(path): the path names the choice
deep      echoes from 300 nested calls down (frames past a connection
          greenlet's first Python data-stack chunk); "recurse" recurses
          until RecursionError there first, and answers "recursed"
"""
import json
import os
import time
import urllib.parse

import kirin


def echo(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/plain":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain GET, upgrade: " + environ.get("HTTP_UPGRADE", "").encode()]
    if path == "/late":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"head sent\n")
        ws = environ.get("wsgi.websocket")
        try:
            got = repr(ws.receive()).encode()
        except kirin.WebSocketError as exc:
            got = b"raises " + str(exc).encode()
        return [b"closed %r, receive %s\n" % (ws.closed, got)]
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    if path == "/info":
        ws.send(json.dumps({
            "path": ws.path, "origin": ws.origin, "protocol": ws.protocol,
            "version": ws.version, "wsgi.websocket_version": environ["wsgi.websocket_version"],
            "same_environ": ws.environ["PATH_INFO"] == path, "closed": ws.closed,
            "error": kirin.WebSocketError.__module__ + "." + kirin.WebSocketError.__name__,
        }))
    while True:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)
    try:
        ws.receive()
        after = "no error"
    except kirin.WebSocketError:
        after = "WebSocketError"
    environ["wsgi.errors"].write(f"websocket closed: receive() after close: {after}\n")
    return []


def push(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    out = urllib.parse.unquote(environ["QUERY_STRING"])
    chunk = b"x" * 65536
    sent, start, error = 0, time.monotonic(), None
    while True:
        try:
            ws.send(chunk)
        except kirin.WebSocketError as e:
            error = repr(e)
            break
        sent += len(chunk)
    with open(out + ".tmp", "w") as f:
        json.dump({"sent": sent, "seconds": time.monotonic() - start, "error": error}, f)
    os.rename(out + ".tmp", out)
    return []


def choose(environ, start_response):
    choice = urllib.parse.unquote(environ["QUERY_STRING"])
    if choice:
        environ["kirin.websocket_protocol"] = int(choice) if choice.isdigit() else choice
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    ws.send(json.dumps({"subprotocol": ws.subprotocol,
                        "offered": environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")}))
    return echo(environ, start_response)


class Resource:
    def app_protocol(self, path):
        return path.strip("/") or None

    def __call__(self, environ, start_response):
        return choose(environ, start_response)


resource = Resource()


def deep(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    def blow(n):
        return blow(n + 1)

    def down(n, pad=None):
        if n:
            return down(n - 1, (n, pad))
        while True:
            message = ws.receive()
            if message is None:
                return []
            if message == "recurse":
                try:
                    blow(0)
                except RecursionError:
                    message = "recursed"
            ws.send(message)

    return down(300)

"""ASGI apps for the asyncio worker's tests (tests/e2e/test_asyncio.py).

app: GET /echo answers what it saw (JSON: scope fields, the body's length,
the lifespan state); POST /upload streams the request body back as it
arrives; GET /stream?N&SIZE sends N chunks of SIZE bytes; GET /sleep?S awaits
asyncio.sleep(S) (GET /interrupted lists what interrupted it); GET /file?PATH sends a file with
http.response.pathsend; GET /disconnect answers its head, then waits for
http.disconnect and counts it (GET /count tells); GET /grace?S&listen
answers its head, then (listen: after http.disconnect came) cleans up for S
seconds, and GET /graces lists how each ended ("cleaned" or "cancelled");
GET /after?S answers, then works S seconds more and fails (listed "after");
GET /keep answers and keeps its receive and send; GET /late calls them
(a request that is over) and answers what they did.
/raise and /noresponse fail; /headers sends a bad header; /keys sends messages
whose keys are equal strs but not the literals (built at run time, a str
subclass) among keys of no meaning; /badmsg sends a list and a dict without
a 'type', and answers what send() raised; /conflict sends a constant Content-Length
tuple and another one (refused each time). GET /scope?OP changes its scope:
add a key, del one, keep it, or change the kept one later (the scope of
the next request on the connection must not show it); GET /scope?kept
answers the kept scope's query string and whether this scope is that one;
hkeep keeps its headers list, hkept answers it;
GET /refs answers its scope's reference count; GET /tls its TLS extension.
GET /const?OP answers with one constant http.response.start dict, changed
first by OP (status, append, replace, close: a header in its list, or a
value of the dict) or put back (reset). Lifespan: startup
fills state.
lifespan_fail: the startup fails. lifespan_raise: the lifespan raises
(unsupported under auto). ws: WebSocket routes. ws_echo: each message back
as it came (Autobahn's cases, tests/bench/ws_autobahn.py), but the text
"tls?", answered with the TLS extension. wsgi_three and asgi_object:
what --interface auto must tell apart."""
import asyncio
import json
import os
import sys

LENGTH_5 = (b"content-length", b"5")
CONST = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain"), LENGTH_5]}
disconnects = []
kept_scopes = []
graces = []
kept = []
interrupted = []
shutdown_file = []


async def lifespan(scope, receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            scope["state"]["started"] = "yes"
            await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def body_of(receive):
    body = b""
    while True:
        m = await receive()
        if m["type"] == "http.disconnect":
            return None
        body += m.get("body", b"")
        if not m.get("more_body"):
            return body


async def answer(send, status, body, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")] + list(headers)})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    path, query = scope["path"], scope["query_string"].decode()
    if path == "/upload":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            m = await receive()
            if m["type"] != "http.request":
                return
            await send({"type": "http.response.body", "body": m.get("body", b""),
                        "more_body": True})
            if not m.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})
    elif path == "/stream":
        n, size = (int(x) for x in query.split("&"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(n):
            await send({"type": "http.response.body", "body": b"%c" % (97 + i % 26) * size,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})
    elif path == "/file":
        assert "http.response.pathsend" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": query})
    elif path == "/sleep":
        try:
            await asyncio.sleep(float(query))
        except BaseException as e:  # what --request-timeout raises, where the task waits
            interrupted.append([type(e).__module__, type(e).__name__,
                                asyncio.current_task().cancelling()])
            raise
        await answer(send, 200, b"slept")
    elif path == "/interrupted":
        await answer(send, 200, json.dumps(interrupted).encode())
    elif path == "/disconnect":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        m = await receive()
        while m["type"] == "http.request":
            m = await receive()
        disconnects.append(m["type"])
    elif path == "/grace":
        cleanup, listen = query.split("&")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        try:
            if listen == "listen":
                while (await receive())["type"] != "http.disconnect":
                    pass
            await asyncio.sleep(float(cleanup))
            graces.append("cleaned")
        except asyncio.CancelledError:
            graces.append("cancelled")
            raise
    elif path == "/after":  # the response first, then more work, then a failure
        await answer(send, 200, b"answered")
        await asyncio.sleep(float(query))
        graces.append("after")
        raise RuntimeError("failed after its response")
    elif path == "/keep":
        kept[:] = [receive, send]
        await answer(send, 200, b"kept")
    elif path == "/late":
        late_receive, late_send = kept
        said = [(await late_receive())["type"]]
        try:
            await late_send({"type": "http.response.start", "status": 418, "headers": []})
        except OSError as e:
            said.append(type(e).__name__)
        await answer(send, 200, json.dumps(said).encode())
    elif path == "/graces":
        await answer(send, 200, json.dumps(graces).encode())
    elif path == "/count":
        await answer(send, 200, b"%d" % len(disconnects))
    elif path == "/raise":
        raise RuntimeError("boom in the app")
    elif path == "/noresponse":
        return
    elif path == "/headers":
        await answer(send, 200, b"x", [(b"x-bad", b"a\r\nInjected: yes")])
    elif path == "/keys":
        class Key(str):
            pass
        t, b = "".join(["ty", "pe"]), Key("body")
        await send({"x-extra": 1, t: "http.response.start", "status": 200,
                    "headers": [LENGTH_5, [b"x-list", b"1"]], 7: None})
        await send({b: b"keys!", t: "".join(["http.response.", "body"])})
    elif path == "/scope":
        if query == "add":
            scope["added"] = 1
        elif query == "del":
            del scope["query_string"]
        elif query == "keep":
            kept_scopes[:] = [scope]
        elif query == "later":
            kept_scopes[0].update(added=2, method="EVIL", query_string=b"evil")
        elif query == "hkeep":
            kept_scopes[:] = [scope["headers"]]
        elif query == "hkept":
            query = json.dumps([[n.decode(), v.decode()] for n, v in kept_scopes[0]])
        elif query == "kept":
            query = kept_scopes[0]["query_string"].decode() + str(kept_scopes[0] is scope)
        await answer(send, 200, query.encode())
    elif path == "/const":
        if query == "status":
            CONST["status"] = 201
        elif query == "append":
            CONST["headers"].append((b"x-more", b"1"))
        elif query == "replace":
            CONST["headers"][0] = (b"content-type", b"text/html")
        elif query == "close":
            CONST["headers"].append((b"connection", b"close"))
        elif query == "reset":
            CONST.update(status=200, headers=[(b"content-type", b"text/plain"), LENGTH_5])
        await send(CONST)
        await send({"type": "http.response.body", "body": b"const"})
    elif path == "/badmsg":
        said = []
        for m in ([("type", "http.response.start")], {"status": 200}):
            try:
                await send(m)
            except TypeError as e:
                said.append(str(e))
        await answer(send, 200, json.dumps(said).encode())
    elif path == "/refs":
        await answer(send, 200, b"%d" % sys.getrefcount(scope))
    elif path == "/tls":
        await answer(send, 200, json.dumps(scope["extensions"].get("tls")).encode())
    elif path == "/conflict":
        await answer(send, 200, b"12345", [LENGTH_5, (b"content-length", b"6")])
    else:
        body = await body_of(receive)
        info = {k: scope[k] for k in ("type", "http_version", "method", "scheme", "path",
                                      "root_path")}
        info.update(raw_path=scope["raw_path"].decode(), query=scope["query_string"].decode(),
                    headers=[[n.decode(), v.decode()] for n, v in scope["headers"]],
                    client=list(scope["client"]) if scope["client"] else None,
                    server=list(scope["server"]) if scope["server"] else None,
                    asgi=scope["asgi"], state=scope.get("state"), pid=os.getpid(),
                    keys=sorted(scope),
                    body=len(body) if body is not None else None)
        await answer(send, 200, json.dumps(info).encode(), [(b"x-asgi", b"yes")])


async def lifespan_fail(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database here"})
        return
    await answer(send, 200, b"never")


async def lifespan_raise(scope, receive, send):
    if scope["type"] == "lifespan":
        raise ValueError("lifespan? what is that")
    await answer(send, 200, b"served without lifespan")


ws_closes = []
ws_paths = []


async def ws(scope, receive, send):
    """WebSocket routes over app's http ones: / echoes (text gets "!", bytes
    come back reversed, "raise" fails), /deny refuses with websocket.close,
    /http-deny answers 401 through websocket.http.response, /close closes
    with 4000 itself. The last subprotocol offered is chosen. GET /wscloses
    lists the close codes the app received, GET /wspaths the paths of the
    websocket scopes it saw."""
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "http":
        if scope["path"] == "/wscloses":
            return await answer(send, 200, json.dumps(ws_closes).encode())
        if scope["path"] == "/wspaths":
            return await answer(send, 200, json.dumps(ws_paths).encode())
        return await app(scope, receive, send)
    path = scope["path"]
    ws_paths.append(path)
    assert (await receive())["type"] == "websocket.connect"
    if path == "/deny":
        return await send({"type": "websocket.close"})
    if path == "/http-deny":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b"Basic")]})
        return await send({"type": "websocket.http.response.body", "body": b"who are you?"})
    sub = scope["subprotocols"][-1] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": sub, "headers": [(b"x-ws", b"yes")]})
    if path == "/close":
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            ws_closes.append(m["code"])
            return
        if m.get("text") == "raise":
            raise RuntimeError("ws boom")
        if m.get("text") is not None:
            await send({"type": "websocket.send", "text": m["text"] + "!"})
        else:
            await send({"type": "websocket.send", "bytes": m["bytes"][::-1]})


async def ws_echo(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "http":
        return await answer(send, 200, b"hello")
    await receive()
    await send({"type": "websocket.accept"})
    while (m := await receive())["type"] != "websocket.disconnect":
        if m.get("text") == "tls?":
            m = {"text": json.dumps(scope["extensions"].get("tls"))}
        await send({"type": "websocket.send", "text": m.get("text"), "bytes": m.get("bytes")})


def wsgi_three(environ, start_response, extra=None):
    """WSGI, though it takes three arguments (the third optional)."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"wsgi"]


class _Asgi:
    """ASGI through a plain __call__ that returns a coroutine."""

    def __call__(self, scope, receive, send):
        return self.run(scope, receive, send)

    async def run(self, scope, receive, send):
        if scope["type"] == "http":
            await answer(send, 200, b"asgi")


asgi_object = _Asgi()

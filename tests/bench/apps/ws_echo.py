"""WebSocket echo for scenario (i), one per server family; a plain GET
answers "hello" (readiness).

app        environ['wsgi.websocket'] (kirin, gevent-websocket on gevent.pywsgi)
uwsgi_app  uWSGI's websocket_handshake/recv/send
asgi_app   ASGI (uvicorn with websockets)
"""


def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    while True:
        m = ws.receive()
        if m is None:
            return []
        ws.send(m)


def uwsgi_app(environ, start_response):
    import uwsgi
    if "HTTP_SEC_WEBSOCKET_KEY" not in environ:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    uwsgi.websocket_handshake(environ["HTTP_SEC_WEBSOCKET_KEY"], environ.get("HTTP_ORIGIN", ""))
    while True:
        try:
            m = uwsgi.websocket_recv()
        except OSError:
            return []
        uwsgi.websocket_send_binary(m)


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            ev = await receive()
            if ev["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif ev["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        ev = await receive()
        if ev["type"] == "websocket.disconnect":
            return
        if ev.get("text") is not None:
            await send({"type": "websocket.send", "text": ev["text"]})
        else:
            await send({"type": "websocket.send", "bytes": ev["bytes"]})

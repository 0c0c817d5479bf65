"""An ASGI app that records whether lifespan events reached it, and which loop serves it."""
import asyncio

seen = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    loop = type(asyncio.get_running_loop()).__module__
    body = ("lifespan=%s loop=%s" % (",".join(seen) or "none", loop)).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})

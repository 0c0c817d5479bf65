"""Scenario (i): ASGI apps for kirin's asyncio worker and uvicorn.

`hello` answers "Hello, World!" with a Content-Length, as hello:app does for
WSGI; `sleeper` awaits asyncio.sleep(0.1) first, as sleepers:app_kirin
sleeps cooperatively. Neither handles lifespan (both servers run with it off).
"""
import asyncio

BODY = b"Hello, World!\n"
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]}
SLEPT = b"slept\n"


async def hello(scope, receive, send):
    await send(START)
    await send({"type": "http.response.body", "body": BODY})


async def sleeper(scope, receive, send):
    await asyncio.sleep(0.1)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"6")]})
    await send({"type": "http.response.body", "body": SLEPT})

"""ASGI apps for test_asyncio.py's AsgiTasks: what the app sees of its task
and its context, whether its first step ran eagerly (before the worker made
a Task) or it waited.

app: /ctx?SLEEP reads a context variable (its default when each request
gets its own context), sets it, sleeps SLEEP s (0: no wait at all), and
answers whether asyncio.current_task() and the variable held across the
wait. /timeout: asyncio.timeout cancels a sleep (the cancel reaches the
task that runs the request). /group: a TaskGroup with two children.
/selfcancel: the app cancels its own task in its first step and catches
the CancelledError at its first wait.

starlette_app: a BaseHTTPMiddleware (an anyio task group around every
request), a sync endpoint (run in anyio's thread pool) and an async one
that waits inside an anyio cancel scope; /slow sleeps 30 s and /seen
lists what interrupted it (the endpoint, in the middleware's child task,
and the middleware).
"""
import asyncio
import contextvars
import json
import threading

var = contextvars.ContextVar("var", default="unset")
counter = iter(range(1, 1 << 30))
seen = []


async def answer(send, obj, status=200):
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path, query = scope["path"], scope["query_string"].decode()
    task = asyncio.current_task()
    if path == "/ctx":
        seen = var.get()
        mine = "req-%d" % next(counter)
        var.set(mine)
        if float(query or 0):
            await asyncio.sleep(float(query))
        await answer(send, {"seen": seen, "kept": var.get() == mine,
                            "task": task is not None, "same_task": asyncio.current_task() is task,
                            "task_id": id(task)})
    elif path == "/timeout":
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
            outcome = "slept"
        except TimeoutError:
            outcome = "timed out"
        await answer(send, {"outcome": outcome, "same_task": asyncio.current_task() is task})
    elif path == "/group":
        async def child(n):
            await asyncio.sleep(0.01)
            return n * 2
        async with asyncio.TaskGroup() as tg:
            kids = [tg.create_task(child(n)) for n in (1, 2)]
        await answer(send, {"results": [k.result() for k in kids],
                            "same_task": asyncio.current_task() is task})
    elif path == "/selfcancel":
        task.cancel()
        try:
            await asyncio.sleep(1)
            outcome = "not cancelled"
        except asyncio.CancelledError:
            task.uncancel()
            outcome = "cancelled"
        await answer(send, {"outcome": outcome})
    else:
        await answer(send, {"error": "no such route"}, 404)


def _starlette():
    import anyio
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    class Tag(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            try:
                response = await call_next(request)
            except BaseException as e:
                seen.append("middleware " + type(e).__name__)
                raise
            response.headers["x-tag"] = "yes"
            return response

    def blocking(request):
        return JSONResponse({"thread": threading.current_thread() is not threading.main_thread()})

    async def scoped(request):
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep(5)
        with anyio.fail_after(5):
            await anyio.sleep(0.01)
        return JSONResponse({"cancelled": scope.cancel_called})

    async def quick(request):
        return JSONResponse({"quick": True})

    async def slow(request):
        try:
            await anyio.sleep(30)
        except BaseException as e:
            seen.append("endpoint " + type(e).__name__)
            raise

    async def seen_list(request):
        return JSONResponse(seen)

    return Starlette(routes=[Route("/blocking", blocking), Route("/scoped", scoped),
                             Route("/quick", quick), Route("/slow", slow),
                             Route("/seen", seen_list)], middleware=[Middleware(Tag)])


starlette_app = _starlette()

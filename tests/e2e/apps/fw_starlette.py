"""The framework test routes (see test_frameworks.py) in Starlette (ASGI)."""
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from fw_common import achunks, summary


async def json_echo(request):
    return JSONResponse({"got": await request.json(), "framework": "starlette"})


async def upload(request):
    form = await request.form()
    f = form["file"]
    return JSONResponse(summary(f.filename, await f.read(), form["note"]))


async def stream(request):
    return StreamingResponse(achunks(request.query_params.get("ctl")), media_type="text/plain")


async def query(request):
    return JSONResponse({"x": request.query_params.get("x"),
                         "y": request.query_params.getlist("y")})


async def headers(request):
    value = request.headers.get("x-test")
    return JSONResponse({"x_test": value, "ua": request.headers.get("user-agent")},
                        headers={"X-Echo": value})


app = Starlette(routes=[
    Route("/json", json_echo, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
    Route("/query", query),
    Route("/headers", headers),
])

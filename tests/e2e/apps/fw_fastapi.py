"""The framework test routes (see test_frameworks.py) in FastAPI (ASGI)."""
from typing import List, Optional

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from fw_common import achunks, summary

app = FastAPI()


@app.post("/json")
async def json_echo(request: Request):
    return {"got": await request.json(), "framework": "fastapi"}


@app.post("/upload")
async def upload(file: UploadFile = File(...), note: str = Form(...)):
    return summary(file.filename, await file.read(), note)


@app.get("/stream")
async def stream(ctl: Optional[str] = None):
    return StreamingResponse(achunks(ctl), media_type="text/plain")


@app.get("/query")
async def query(x: Optional[str] = None, y: List[str] = Query(default=[])):
    return {"x": x, "y": y}


@app.get("/headers")
async def headers(request: Request):
    value = request.headers.get("x-test")
    return JSONResponse({"x_test": value, "ua": request.headers.get("user-agent")},
                        headers={"X-Echo": value})

"""The conformance corpus's echo_app (../shared/conformance/echo_app.py) as
an ASGI app: the same JSON view of the request, built from the scope, so
that run_corpus.py checks what an ASGI app sees under -k asyncio. Names
follow the WSGI environ the corpus expects: the path is the raw path
percent-decoded as latin-1 (PATH_INFO), repeated headers are joined with
","."""
import json
from urllib.parse import unquote_to_bytes


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    headers = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = value.decode("latin-1")
        headers[key] = headers[key] + "," + value if key in headers else value
    client = scope["client"] or (None, None)
    seen = {
        "method": scope["method"],
        "path": unquote_to_bytes(scope["raw_path"]).decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "protocol": "HTTP/" + scope["http_version"],
        "headers": headers,
        "body": body.decode("latin-1"),
        "remote_addr": client[0],
        "remote_port": str(client[1]),
        "url_scheme": scope["scheme"],
    }
    out = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(out))]})
    await send({"type": "http.response.body", "body": out})

"""The framework test routes (see test_frameworks.py) in Bottle."""
import bottle

from fw_common import chunks, summary

app = bottle.Bottle()


@app.post("/json")
def json_echo():
    return {"got": bottle.request.json, "framework": "bottle"}


@app.post("/upload")
def upload():
    f = bottle.request.files.get("file")
    return summary(f.raw_filename, f.file.read(), bottle.request.forms.get("note"))


@app.get("/stream")
def stream():
    bottle.response.content_type = "text/plain"
    return chunks(bottle.request.query.get("ctl"))


@app.get("/query")
def query():
    return {"x": bottle.request.query.get("x"), "y": bottle.request.query.getall("y")}


@app.get("/headers")
def headers():
    value = bottle.request.get_header("X-Test")
    bottle.response.set_header("X-Echo", value)
    return {"x_test": value, "ua": bottle.request.get_header("User-Agent")}

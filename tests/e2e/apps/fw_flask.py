"""The framework test routes (see test_frameworks.py) in Flask."""
from flask import Flask, Response, jsonify, request

from fw_common import chunks, summary

app = Flask(__name__)


@app.post("/json")
def json_echo():
    return jsonify(got=request.get_json(), framework="flask")


@app.post("/upload")
def upload():
    f = request.files["file"]
    return jsonify(summary(f.filename, f.read(), request.form["note"]))


@app.get("/stream")
def stream():
    return Response(chunks(request.args.get("ctl")), mimetype="text/plain")


@app.get("/query")
def query():
    return jsonify(x=request.args.get("x"), y=request.args.getlist("y"))


@app.get("/headers")
def headers():
    value = request.headers.get("X-Test")
    resp = jsonify(x_test=value, ua=request.headers.get("User-Agent"))
    resp.headers["X-Echo"] = value
    return resp

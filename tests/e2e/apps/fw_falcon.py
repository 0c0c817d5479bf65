"""The framework test routes (see test_frameworks.py) in Falcon."""
import falcon

from fw_common import chunks, summary


class Json:
    def on_post(self, req, resp):
        resp.media = {"got": req.get_media(), "framework": "falcon"}


class Upload:
    def on_post(self, req, resp):
        name = data = note = None
        for part in req.get_media():
            if part.name == "file":
                name, data = part.filename, part.stream.read()
            elif part.name == "note":
                note = part.text
        resp.media = summary(name, data, note)


class Stream:
    def on_get(self, req, resp):
        resp.content_type = "text/plain"
        resp.stream = chunks(req.get_param("ctl"))


class Query:
    def on_get(self, req, resp):
        resp.media = {"x": req.get_param("x"), "y": req.get_param_as_list("y")}


class Headers:
    def on_get(self, req, resp):
        value = req.get_header("X-Test")
        resp.set_header("X-Echo", value)
        resp.media = {"x_test": value, "ua": req.get_header("User-Agent")}


app = falcon.App()
app.add_route("/json", Json())
app.add_route("/upload", Upload())
app.add_route("/stream", Stream())
app.add_route("/query", Query())
app.add_route("/headers", Headers())

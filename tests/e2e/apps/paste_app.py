"""A PasteDeploy application factory for --paste: answers with its
greeting (from the INI file, where %(who)s comes from --paste-global) and
the name of the logger level the file's [loggers] set, if any."""
import logging


def make_app(global_conf, greeting="", **local_conf):
    level = logging.getLevelName(logging.getLogger("paste_app").getEffectiveLevel())

    def app(environ, start_response):
        body = f"{greeting} {level}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app

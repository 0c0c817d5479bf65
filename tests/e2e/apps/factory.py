"""APP_MODULE forms: factories with literal arguments, dotted attribute
paths, and the ways loading can fail."""


def _answer(text):
    def app(environ, start_response):
        body = text.encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def create_app(greeting="plain", n=0, **extra):
    return _answer(f"{greeting} {n} {sorted(extra.items())}")


class Holder:
    class inner:
        app = staticmethod(_answer("dotted"))

    @staticmethod
    def make(tag):
        return _answer(f"made {tag}")


not_callable = 42


def returns_none():
    return None

"""Has both `application` and `app`: APP_MODULE "default_application" alone
must pick `application`."""


def _answer(text):
    def wsgi(environ, start_response):
        body = text.encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return wsgi


application = _answer("from application")
app = _answer("from app")

"""Has only `app`: APP_MODULE "default_app" alone must fall back to it."""


def app(environ, start_response):
    body = b"from app"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

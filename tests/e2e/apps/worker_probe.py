"""Which worker type serves: the kirin module's backend, whether requests
run in a pool of threads (wsgi.multithread) and whether gevent
monkey-patched the interpreter, as one line."""
import sys

import kirin


def app(environ, start_response):
    monkey = sys.modules.get("gevent.monkey")
    patched = bool(monkey and monkey.is_module_patched("socket"))
    body = f"{kirin._backend()} {environ['wsgi.multithread']} {patched}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

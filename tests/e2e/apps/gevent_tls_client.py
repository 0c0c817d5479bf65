"""An app that is a TLS client, for the gevent worker's monkey-patch: it
imports ssl itself, as requests or urllib3 would, and patches nothing.
/?PORT connects to 127.0.0.1:PORT over TLS (certificate not checked),
sends a line and answers what the server sends back until it closes."""
import socket
import ssl

CONTEXT = ssl.create_default_context()
CONTEXT.check_hostname = False
CONTEXT.verify_mode = ssl.CERT_NONE


def app(environ, start_response):
    port = int(environ["QUERY_STRING"])
    with CONTEXT.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30)) as s:
        s.sendall(b"hello\n")
        body = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            body += data
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

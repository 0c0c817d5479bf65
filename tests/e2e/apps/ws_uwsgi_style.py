"""A WebSocket echo written for uWSGI's API (uwsgi.websocket_handshake,
websocket_recv, websocket_send), with kirin in place of the uwsgi module.
A plain request answers whether websocket_recv() refuses to run outside a
WebSocket request."""
import kirin as uwsgi


def app(environ, start_response):
    if "HTTP_SEC_WEBSOCKET_KEY" not in environ:
        try:
            uwsgi.websocket_recv()
            body = b"websocket_recv() outside a WebSocket request returned"
        except OSError as e:
            body = b"OSError: " + str(e).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    # The query names the subprotocol to answer (uWSGI's third argument).
    uwsgi.websocket_handshake(environ["HTTP_SEC_WEBSOCKET_KEY"], environ.get("HTTP_ORIGIN", ""),
                              environ["QUERY_STRING"])
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except OSError:
            return []
        if msg.startswith(b"bin:"):
            uwsgi.websocket_send_binary(msg[4:])
        else:
            uwsgi.websocket_send(b"uwsgi says " + msg)

"""Flask-Sockets' echo, as its README writes it, but for the rule: Debian
12's Flask-Sockets (0.2.1) drops route options, and its Werkzeug (2.2)
refuses to route a WebSocket request to a rule without websocket=True
(WebsocketMismatch, under gevent-websocket's own server too), so the rule
is added to the url_map directly, as the known workaround does."""
from flask import Flask
from flask_sockets import Sockets
from werkzeug.routing import Rule

app = Flask(__name__)
sockets = Sockets(app)


def echo_socket(ws):
    while not ws.closed:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)


sockets.url_map.add(Rule("/echo", endpoint=echo_socket, websocket=True))


@app.route("/")
def hello():
    return "Hello World!"

"""python-socketio's WSGI app in gevent mode, as its documentation deploys
it (under gevent-websocket there): an echo event."""
import socketio

sio = socketio.Server(async_mode="gevent")
app = socketio.WSGIApp(sio)


@sio.event
def echo(sid, data):
    return "echo: " + data

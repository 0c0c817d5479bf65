"""gevent-websocket's handler on gevent.pywsgi, serving ws_echo:app on
127.0.0.1:PORT (argv[1]): the peer kirin's environ['wsgi.websocket'] copies."""
from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

from ws_echo import app  # noqa: E402

pywsgi.WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=WebSocketHandler,
                  log=None).serve_forever()

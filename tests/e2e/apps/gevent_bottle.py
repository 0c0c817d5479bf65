"""The classic gevent app, unchanged: monkey-patched, a Bottle generator that
yields, sleeps with time.sleep and yields again; long polling with a
gevent.queue.Queue as the response body; a handler that fetches another
URL of this server with urllib (blocking calls made cooperative); a count
of the worker's live greenlets."""
from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import bottle  # noqa: E402
import gevent.queue  # noqa: E402
import greenlet  # noqa: E402

app = bottle.Bottle()
subscribers = []


@app.route("/stream")
def stream():
    gate = bottle.request.query.gate
    yield "part one\n"
    while not os.path.exists(gate):
        time.sleep(0.02)
    yield "part two\n"
    time.sleep(0.05)
    yield "part three\n"


@app.route("/sleep")
def sleep():
    time.sleep(float(bottle.request.query.s or 0.2))
    return "slept\n"


@app.route("/poll")
def poll():
    q = gevent.queue.Queue()
    subscribers.append(q)
    return q


@app.route("/publish")
def publish():
    for q in subscribers:
        q.put(bottle.request.query.msg + "\n")
        q.put(StopIteration)
    count = len(subscribers)
    subscribers.clear()
    return "%d\n" % count


@app.route("/fetch")
def fetch():
    port = bottle.request.environ["SERVER_PORT"]
    with urllib.request.urlopen("http://127.0.0.1:%s/sleep?s=1" % port, timeout=10) as r:
        return "fetched " + r.read().decode()


@app.route("/greenlets")
def greenlets():
    return "%d\n" % sum(isinstance(o, greenlet.greenlet) for o in gc.get_objects())


@app.route("/")
def index():
    return "ok\n"

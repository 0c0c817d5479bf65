"""A thread of the app's own that counts every 10 ms; GET answers the count.
While the worker waits for requests, the thread must keep running."""
import threading
import time

ticks = 0


def tick():
    global ticks
    while True:
        time.sleep(0.01)
        ticks += 1


threading.Thread(target=tick, daemon=True).start()


def app(environ, start_response):
    body = str(ticks).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

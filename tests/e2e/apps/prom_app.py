"""prometheus_client in multiprocess mode (PROMETHEUS_MULTIPROC_DIR set):
/inc counts a request, /metrics exports every worker's metrics summed, with
a livesum gauge of the live workers (which needs child_exit to call
multiprocess.mark_process_dead, as Gunicorn's docs say)."""
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               generate_latest, multiprocess)

REQUESTS = Counter("kirin_e2e_requests", "requests counted by /inc")
LIVE = Gauge("kirin_e2e_live_workers", "workers alive", multiprocess_mode="livesum")
LIVE.set(1)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/inc":
        REQUESTS.inc()
        body = b"ok\n"
        ctype = "text/plain"
    else:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
        ctype = CONTENT_TYPE_LATEST
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]

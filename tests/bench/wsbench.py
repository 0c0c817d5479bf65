"""Scenario (i) of bench.py: WebSockets, kirin against the WebSocket servers
Debian has, one process each, the echo apps of apps/ws_echo.py:

  kirin-greenlet, kirin-gevent   environ['wsgi.websocket']
  gevent-websocket               its handler on gevent.pywsgi (apps/ws_gevent_server.py)
  uvicorn                        ASGI over the websockets library
  uwsgi-gevent                   uWSGI's websocket API on its gevent loop

(kirin's sync and gthread workers hold the worker or a thread per
WebSocket: 100 of them would need 100 threads, so they sit this one out.)

Measured, per server: echo round trips per second of a 16-byte text
message on 100 connections (tests/bench/ws_load, a C client; its own CPU
is reported, so that a client at its limit shows), median of the runs,
interleaved across servers; the RSS per idle WebSocket over 10,000 open
ones (KiB, all the server's processes); and a 16 MiB binary message
echoed byte-exact (seconds, or why not).
"""
import hashlib
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ws_autobahn  # noqa: E402  (its raw client)

UWSGI = "/usr/bin/uwsgi"
PEERS = ("gevent-websocket", "uvicorn", "uwsgi-gevent")
BIG = 16 << 20


def peer_variants(py, make_variant):
    """The peers, run by the Python at py, as bench.py Variants
    (make_variant(name, family, kind, check, build))."""

    def has(*mods):
        def check():
            for m in mods:
                r = subprocess.run([py, "-c", f"import {m}"], capture_output=True, timeout=30)
                if r.returncode:
                    return f"{m} is not installed for {py}"
            return None
        return check

    def uwsgi_check():
        if not os.access(UWSGI, os.X_OK):
            return "uwsgi is not installed"
        if not os.path.exists("/usr/lib/uwsgi/plugins/gevent_python3_plugin.so"):
            return "uwsgi-plugin-gevent-python3 is not installed"
        return None

    return [
        make_variant("gevent-websocket", "gevent-websocket", "gevent",
                     has("gevent", "geventwebsocket"),
                     lambda app, port, w, tmp: ([py, "ws_gevent_server.py", str(port)], {}, None)),
        make_variant("uvicorn", "uvicorn", "asyncio", has("uvicorn", "websockets"),
                     lambda app, port, w, tmp: ([py, "-m", "uvicorn", "--port", str(port),
                                                 "--ws", "websockets", "--log-level", "warning",
                                                 "--ws-max-size", str(BIG),
                                                 "ws_echo:asgi_app"], {}, None)),
        make_variant("uwsgi-gevent", "uwsgi", "gevent", uwsgi_check,
                     lambda app, port, w, tmp: ([UWSGI, "--plugins", "python3,gevent_python3",
                                                 "--http-socket", f"127.0.0.1:{port}",
                                                 "--gevent", "11000", "--listen", "4096",
                                                 "--websocket-max-size", str(BIG // 1024),
                                                 "--wsgi-file", "ws_echo.py", "--callable",
                                                 "uwsgi_app", "--disable-logging"], {}, None)),
    ]


def echo_run(load, port, conns, seconds):
    """(round trips per second, client CPU share of one core), or raises."""
    r = subprocess.run([load, str(port), str(conns), str(seconds), "16"], capture_output=True,
                       text=True, timeout=seconds + 60)
    m = re.search(r"roundtrips=(\d+) seconds=([\d.]+) cpu=([\d.]+) errors=(\d+)", r.stdout)
    if r.returncode or not m:
        raise RuntimeError(f"ws_load: {(r.stderr or r.stdout).strip()[-200:]}")
    n, s, cpu, errors = int(m[1]), float(m[2]), float(m[3]), int(m[4])
    if errors:
        raise RuntimeError(f"ws_load: {errors} connection errors")
    return n / s, cpu / s


def open_idle(port, n, timeout):
    """n WebSockets through their handshake; the sockets (the caller closes them)."""
    hs = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    socks, deadline = [], time.monotonic() + timeout
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(hs)
            socks.append(s)
        for s in socks:
            buf = b""
            while b"\r\n\r\n" not in buf:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                data = s.recv(4096)
                if not data:
                    raise RuntimeError("closed during the handshake")
                buf += data
            if not buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"handshake answered {buf[:40]!r}")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def big_echo(port):
    """Seconds to echo a 16 MiB binary message byte-exact; raises otherwise."""
    payload = os.urandom(BIG)
    start = time.monotonic()
    c = ws_autobahn.Client(port, timeout=60)
    try:
        c.send(c.frame(ws_autobahn.BINARY, payload))
        ev = c.recv(120)
        if ev[0] != "message":
            raise RuntimeError(f"no echo: {ws_autobahn.short(ev)}")
        if hashlib.sha1(ev[2]).digest() != hashlib.sha1(payload).digest():
            raise RuntimeError(f"echo differs ({len(ev[2])} bytes)")
        return time.monotonic() - start
    finally:
        c.close()


def scenario(bench, variants, load):
    """Run (i) over variants (kirin's and the peers) with load (the ws_load
    binary, None when not built); returns bench.py's table."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers inherit it
    conns, idle = (20, 300) if bench.quick else (100, 10000)
    if hard < idle + 200:  # each side, client and server, holds idle sockets
        idle = max(100, hard - 200)
    title = (f"WebSocket: echo round trips at {conns} connections, {idle} idle, "
             f"a 16 MiB echo")
    bench.say(f"\n== (i) {title}")
    rows, started = [], []
    if not load:
        rows = [bench.row(v, "skipped", "tests/bench/ws_load is not built (make bench)")
                for v in variants]
    for v in variants if load else []:
        srv, row = bench.start(v, "ws_echo:app")
        if srv:
            started.append(srv)
        else:
            rows.append(row)
    results = {srv.variant.name: {"rates": [], "cpu": []} for srv in started}
    try:
        for run in range(bench.warmup + bench.runs):
            for srv in started:
                res = results[srv.variant.name]
                if "error" in res:
                    continue
                try:
                    rate, cpu = echo_run(load, srv.port, conns, bench.duration)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    res["error"] = str(e)
                    continue
                if run >= bench.warmup:
                    res["rates"].append(rate)
                    res["cpu"].append(cpu)
        for srv in started:
            res = results[srv.variant.name]
            before = srv.rss_kib()
            try:
                socks = open_idle(srv.port, idle, 120)
                time.sleep(1.0)
                res["kib_per_ws"] = (srv.rss_kib() - before) / idle
                for s in socks:
                    s.close()
            except (OSError, RuntimeError) as e:
                res["idle_error"] = str(e)[:120]
            time.sleep(0.5)
            try:
                res["big_s"] = big_echo(srv.port)
            except (OSError, RuntimeError, ws_autobahn.Fail) as e:
                res["big_error"] = str(e)[:120]
            bench.say(f"   {srv.variant.name}: done")
    finally:
        for srv in started:
            srv.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    best_peer = max((statistics.median(r["rates"]) for n, r in results.items()
                     if n in PEERS and r["rates"]), default=None)
    for srv in started:
        v, res = srv.variant, results[srv.variant.name]
        if "error" in res or not res["rates"]:
            rows.append(bench.row(v, "error", res.get("error", "no run"), cmd=srv.argv))
            continue
        rate = statistics.median(res["rates"])
        notes = [res[k] for k in ("idle_error", "big_error") if k in res]
        rows.append(bench.row(v, "ok", "; ".join(notes), rt_s=rate,
                              client_cpu=statistics.median(res["cpu"]),
                              x_best_peer=rate / best_peer if best_peer else None,
                              kib_per_ws=res.get("kib_per_ws"), big_s=res.get("big_s"),
                              big_exact=res.get("big_s") is not None, cmd=srv.argv))
    return {"id": "i", "scenario": "i", "title": title, "kind": "websocket", "rows": rows,
            "config": {"conns": conns, "idle": idle, "message": 16, "big": BIG}}

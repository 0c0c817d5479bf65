#!/usr/bin/python3
"""Requests lost when a worker dies (issue 16 item 5): a server with
`-w 2` (gthread: `--threads 4`) serves an app (the hello app by default) to client
threads, 8 on keep-alive connections (10 requests each) and 8 with a
connection per request by default, while a worker is killed with SIGKILL
every 0.5 s. Prints the failed requests per kill for kirin's worker types
(and Gunicorn's gthread when installed), in the order given, one server at
a time, --rounds times (so that --baseline alternates with the build under
test). With more clients than the server has threads (--app
sleepers:app_time, 100 ms a request, --close 24 --keepalive 0) requests
queue, and what a dying worker had taken from the queue is lost with it.
Not part of make check: timing decides the numbers. Standard library only.

Each failure falls in one of two columns, both always printed:
"reused": the request went on a keep-alive connection that had served a
response already, and the connection closed or reset before any byte of
an answer (RFC 9112 section 9.3.1: the case that browsers and urllib3
retry by themselves for idempotent requests); "other": everything else (a
fresh connection refused, reset or closed, a response cut short).

    tests/bench/kill_load.py --kirin ./kirin [--kills 20] [--types gthread,sync]
        [--baseline ../old/kirin] [--no-gunicorn] [--app M:A] [--close N]
        [--keepalive N] [--rounds N] [--threads N]
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from procs import children_of, free_port, live_groups  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"


class Failed(Exception):
    """A request without a whole response; got_bytes: some of one came."""

    def __init__(self, got_bytes):
        super().__init__()
        self.got_bytes = got_bytes


def exchange(sock, close):
    """One request and its response on sock: (a whole 200 came, the server
    closes the connection). Raises Failed when no whole response came."""
    data = b""
    try:
        sock.sendall(REQUEST % (b"Connection: close\r\n" if close else b""))
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failed(bool(data))
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length, closes = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                closes = value.strip().lower() == b"close"
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise Failed(True)
            body += chunk
        return head.startswith(b"HTTP/1.1 200 "), closes
    except OSError:
        raise Failed(bool(data)) from None


def client(port, keepalive, stop, counts, lock):
    """Requests in a loop until stop: 10 per connection for a keep-alive
    client, one for a close client; counts "ok", "reused" and "other"."""
    while not stop.is_set():
        sock = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            for i in range(10 if keepalive else 1):
                try:
                    ok, closes = exchange(sock, not keepalive)
                except Failed as e:
                    with lock:
                        counts["reused" if i > 0 and not e.got_bytes else "other"] += 1
                    break
                with lock:
                    counts["ok" if ok else "other"] += 1
                if closes:
                    break
        except OSError:
            with lock:
                counts["other"] += 1
        finally:
            if sock is not None:
                sock.close()


def wait_serving(port, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if exchange(s, True)[0]:
                    return True
        except (OSError, Failed):
            time.sleep(0.1)
    return False


def measure(argv, port, kills, keepalive, close):
    proc = subprocess.Popen(argv, cwd=os.path.join(HERE, "apps"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    live_groups.add(proc.pid)
    try:
        if not wait_serving(port):
            raise SystemExit(f"kill_load.py: {argv[0]} did not serve")
        time.sleep(1)
        stop, lock = threading.Event(), threading.Lock()
        counts = {"ok": 0, "reused": 0, "other": 0}
        threads = [threading.Thread(target=client, args=(port, i < keepalive, stop, counts, lock))
                   for i in range(keepalive + close)]
        for t in threads:
            t.start()
        time.sleep(1)
        done = 0
        while done < kills:
            workers = children_of(proc.pid)
            if len(workers) >= 2:
                os.kill(random.choice(workers), signal.SIGKILL)
                done += 1
            time.sleep(0.5)
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(20)
        return counts
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        live_groups.discard(proc.pid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kirin", default="./kirin")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--types", default="gthread,sync")
    ap.add_argument("--baseline", help="another kirin binary, run after each type as base TYPE")
    ap.add_argument("--no-gunicorn", action="store_true")
    ap.add_argument("--app", default="hello:app", help="in tests/bench/apps")
    ap.add_argument("--keepalive", type=int, default=8, help="keep-alive clients")
    ap.add_argument("--close", type=int, default=8, help="connection-per-request clients")
    ap.add_argument("--threads", type=int, default=4, help="gthread's --threads")
    ap.add_argument("--rounds", type=int, default=1, help="run every server this many times")
    ap.add_argument("--extra", default="", help="more kirin options, space-separated")
    args = ap.parse_args()
    servers = []
    for t in args.types.split(","):
        for label, binary in (("kirin", args.kirin), ("base", args.baseline)):
            if binary:
                # -k sync with --threads > 1 would be gthread, as in Gunicorn.
                threads = ["--threads", str(args.threads)] if t == "gthread" else []
                servers.append((f"{label} {t}", lambda port, b=binary, t=t, th=threads: [
                    os.path.abspath(b), "-k", t, "-w", "2", *th, *args.extra.split(),
                    "-b", f"127.0.0.1:{port}", args.app]))
    if shutil.which("gunicorn") and not args.no_gunicorn:
        servers.append(("Gunicorn gthread", lambda port: [
            shutil.which("gunicorn"), "-k", "gthread", "-w", "2", "--threads",
            str(args.threads), "-b", f"127.0.0.1:{port}", args.app]))
    totals = {name: {"ok": 0, "reused": 0, "other": 0} for name, _ in servers}
    print(f"| server | requests | failed: reused + other | per kill ({args.kills} kills): "
          "reused | other | all |")
    print("|---|---:|---:|---:|---:|---:|")
    for _ in range(args.rounds):
        for name, argv in servers:
            port = free_port()
            counts = measure(argv(port), port, args.kills, args.keepalive, args.close)
            for k, v in counts.items():
                totals[name][k] += v
            row(name, counts, args.kills)
    if args.rounds > 1:
        print(f"\nTotals over {args.rounds} rounds:\n")
        for name, counts in totals.items():
            row(name, counts, args.kills * args.rounds)


def row(name, counts, kills):
    failed = counts["reused"] + counts["other"]
    print(f"| {name} | {counts['ok'] + failed:,} | {counts['reused']} + {counts['other']} | "
          f"{counts['reused'] / kills:.2f} | {counts['other'] / kills:.2f} | "
          f"{failed / kills:.2f} |", flush=True)


if __name__ == "__main__":
    main()

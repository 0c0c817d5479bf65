#!/usr/bin/python3
"""Requests lost when a worker dies (issue 16 item 5): a server with
`-w 2` (gthread: `--threads 4`) serves an app (the hello app by default) to client
threads, 8 on keep-alive connections (10 requests each) and 8 with a
connection per request by default, while a worker is killed with SIGKILL
every 0.5 s. Prints the failed requests per kill for kirin's worker types
(and Gunicorn's gthread when installed), in the order given, one server at
a time. With more clients than the server has threads (--app
sleepers:app_time, 100 ms a request, --close 24 --keepalive 0) requests
queue, and what a dying worker had taken from the queue is lost with it.
Not part of make check: timing decides the numbers. Standard library only.

    tests/bench/kill_load.py --kirin ./kirin [--kills 20] [--types gthread,sync]
        [--baseline ../old/kirin] [--no-gunicorn] [--app M:A] [--close N] [--keepalive N]
"""
import argparse
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from procs import children_of, free_port, live_groups  # noqa: E402


def client(port, keepalive, stop, counts):
    conn, kind = None, "keep-alive" if keepalive else "close"
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(10 if keepalive else 1):
                conn.request("GET", "/", headers={} if keepalive else {"Connection": "close"})
                r = conn.getresponse()
                r.read()
                counts["ok" if r.status == 200 else kind] += 1
        except (OSError, http.client.HTTPException):
            counts[kind] += 1
        if conn is not None:
            conn.close()
            conn = None


def wait_serving(port, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/")
            if c.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
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
        stop = threading.Event()
        counts = {"ok": 0, "keep-alive": 0, "close": 0}
        threads = [threading.Thread(target=client, args=(port, i < keepalive, stop, counts))
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
    args = ap.parse_args()
    servers = []
    for t in args.types.split(","):
        for label, binary in (("kirin", args.kirin), ("base", args.baseline)):
            if binary:
                # -k sync with --threads > 1 would be gthread, as in Gunicorn.
                threads = ["--threads", "4"] if t == "gthread" else []
                servers.append((f"{label} {t}", lambda port, b=binary, t=t, th=threads: [
                    os.path.abspath(b), "-k", t, "-w", "2", *th,
                    "-b", f"127.0.0.1:{port}", args.app]))
    if shutil.which("gunicorn") and not args.no_gunicorn:
        servers.append(("Gunicorn gthread", lambda port: [
            shutil.which("gunicorn"), "-k", "gthread", "-w", "2", "--threads", "4",
            "-b", f"127.0.0.1:{port}", args.app]))
    print(f"| server | requests | failed: keep-alive + close | per kill ({args.kills} kills) |")
    print("|---|---:|---:|---:|")
    for name, argv in servers:
        port = free_port()
        counts = measure(argv(port), port, args.kills, args.keepalive, args.close)
        failed = counts["keep-alive"] + counts["close"]
        print(f"| {name} | {counts['ok'] + failed:,} | {counts['keep-alive']} + "
              f"{counts['close']} | {failed / args.kills:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""kirin's benchmark client for what wrk cannot do: many idle keep-alive
connections, the latency of one fresh request, and waiting for a server to
answer its first request.

Standard library only, epoll (select stops at 1,024 descriptors). Every loop
is bounded by a deadline. Used as a module by bench.py, or from the command
line:

    client.py idle PORT N [--hold SECONDS]   open N keep-alive connections
    client.py latency PORT [--samples K]     fresh-connection request latency
    client.py ready PORT [--timeout S]       seconds until the first 2xx
"""
import argparse
import errno
import json
import os
import select
import socket
import sys
import time

HOST = "127.0.0.1"


def request_bytes(path="/", keep_alive=True, host=HOST):
    """A GET request head as bytes."""
    conn = "keep-alive" if keep_alive else "close"
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Connection: {conn}\r\n\r\n").encode()


class _Response:
    """Incremental reader of one HTTP/1.x response framed by Content-Length
    (or by the close of the connection)."""

    def __init__(self):
        self.buf = b""
        self.status = None
        self.length = None
        self.head_len = None

    def feed(self, data):
        """Add received bytes; returns True when the response is complete."""
        self.buf += data
        if self.head_len is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.head_len = end + 4
            lines = self.buf[:end].split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    self.length = int(value.strip() or b"0")
        if self.length is None:
            return False
        return len(self.buf) - self.head_len >= self.length

    def feed_eof(self):
        """The peer closed: complete if the body was close-delimited."""
        return self.head_len is not None and self.length is None


def get(port, path="/", timeout=5.0, keep_alive=False):
    """One request on a fresh connection. Returns (status, seconds); status is
    0 when the connection failed or the response was cut short."""
    t0 = time.perf_counter()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(request_bytes(path, keep_alive))
            resp = _Response()
            deadline = t0 + timeout
            while time.perf_counter() < deadline:
                data = s.recv(65536)
                if not data:
                    if resp.feed_eof():
                        break
                    return 0, time.perf_counter() - t0
                if resp.feed(data):
                    break
            else:
                return 0, time.perf_counter() - t0
            return resp.status, time.perf_counter() - t0
    except OSError:
        return 0, time.perf_counter() - t0


def fresh_latency(port, samples=20, path="/", timeout=5.0, pause=0.01):
    """Latency in seconds of `samples` requests, each on a new connection,
    one after another. Failed requests count as None."""
    out = []
    for _ in range(samples):
        status, secs = get(port, path, timeout)
        out.append(secs if 200 <= status < 300 else None)
        time.sleep(pause)
    return out


def wait_ready(port, timeout=10.0, path="/", interval=0.001, alive=None):
    """Poll until a request on a fresh connection answers 2xx. Returns the
    time.time() of that answer, or None after `timeout` seconds or as soon as
    alive() returns False (the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return None
        status, _ = get(port, path, timeout=max(0.05, min(2.0, deadline - time.monotonic())))
        if 200 <= status < 300:
            return time.time()
        time.sleep(interval)
    return None


class IdleConnections:
    """Opens many keep-alive connections with epoll, sends one request on each
    and reads its response, then leaves them open and idle until close()."""

    def __init__(self, port, path="/"):
        self.port = port
        self.request = request_bytes(path, keep_alive=True)
        self.idle = []      # sockets whose response has been read
        self.failed = 0
        self.elapsed = 0.0

    def open(self, n, timeout=60.0, inflight=256):
        """Open n connections, at most `inflight` being set up at once (a
        listen backlog overflow would cost a 1 s SYN retry). Returns the
        number of idle connections now held."""
        ep = select.epoll()
        pending = {}        # fd -> [sock, state, response]; state 0 connecting, 1 reading
        started = 0
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            while (started < n or pending) and time.monotonic() < deadline:
                while started < n and len(pending) < inflight:
                    started += 1
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    err = s.connect_ex((HOST, self.port))
                    if err not in (0, errno.EINPROGRESS):
                        s.close()
                        self.failed += 1
                        if err in (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL):
                            n = started  # cannot go further
                        continue
                    pending[s.fileno()] = [s, 0, _Response()]
                    ep.register(s.fileno(), select.EPOLLOUT)
                events = ep.poll(min(1.0, max(0.0, deadline - time.monotonic())))
                for fd, ev in events:
                    entry = pending.get(fd)
                    if entry is None:
                        continue
                    s, state, resp = entry
                    done = ok = False
                    if state == 0:
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                            done = True
                        else:
                            try:
                                s.send(self.request)  # small: fits the send buffer
                                entry[1] = 1
                                ep.modify(fd, select.EPOLLIN)
                            except OSError:
                                done = True
                    else:
                        try:
                            data = s.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            done = True
                        elif resp.feed(data):
                            done, ok = True, 200 <= resp.status < 300
                    if done:
                        ep.unregister(fd)
                        del pending[fd]
                        if ok:
                            self.idle.append(s)
                        else:
                            s.close()
                            self.failed += 1
        finally:
            for s, _, _ in pending.values():
                s.close()
            self.failed += len(pending)
            ep.close()
        self.elapsed = time.monotonic() - t0
        return len(self.idle)

    def still_open(self):
        """How many of the idle connections the server has not closed."""
        alive = 0
        for s in self.idle:
            try:
                data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                if data:
                    alive += 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        for s in self.idle:
            s.close()
        self.idle = []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("idle")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--hold", type=float, default=0.0)
    p.add_argument("--path", default="/")
    p = sub.add_parser("latency")
    p.add_argument("port", type=int)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--path", default="/")
    p = sub.add_parser("ready")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--path", default="/")
    a = ap.parse_args(argv)
    if a.cmd == "idle":
        conns = IdleConnections(a.port, a.path)
        held = conns.open(a.n)
        time.sleep(min(a.hold, 3600))
        out = {"held": held, "failed": conns.failed, "seconds": conns.elapsed,
               "still_open": conns.still_open()}
        conns.close()
    elif a.cmd == "latency":
        lat = fresh_latency(a.port, a.samples, a.path)
        out = {"latency_ms": [None if x is None else x * 1e3 for x in lat]}
    else:
        t0 = time.time()
        ready = wait_ready(a.port, a.timeout, a.path)
        out = {"ready_s": None if ready is None else ready - t0}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

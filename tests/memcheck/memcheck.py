#!/usr/bin/env python3
"""kirin's workers under valgrind's memcheck, for what AddressSanitizer
cannot follow: greenlet's stack switching (the greenlet and gevent workers,
and the asyncio worker's connection greenlets). Not part of make check (a
few minutes); `make memcheck` runs it.

Each worker type serves plain HTTP (keep-alive, pipelined, a chunked
upload, refused and truncated requests) and WebSocket echoes with hostile
frames, over plain TCP and over TLS; the asyncio worker serves an ASGI app
the same way. Every kirin process writes its own valgrind log; any error
memcheck reports fails the run, and the log is printed."""
import argparse
import glob
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import kirintest  # noqa: E402
from kirintest import Kirin  # noqa: E402

SUPPRESSIONS = "/usr/lib/valgrind/python3.supp"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
HOSTILE_HTTP = (
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 10000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x00\xff garbage\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",  # truncated
)
HOSTILE_FRAMES = (b"\x81\x05hello",  # unmasked
                  b"\x8f\x80abcd",  # a reserved opcode
                  b"\x82\xff" + b"\x7f" * 8 + b"abcd")  # a 2^63-byte length


class Valgrind(Kirin):
    def __init__(self, logs, *args, **kw):
        super().__init__(*args, ready_timeout=180, **kw)
        self.logs = logs

    def cmdline(self):
        return ["valgrind", "--trace-children=yes", "--error-exitcode=99",
                f"--log-file={self.logs}/vg.%p", f"--suppressions={SUPPRESSIONS}",
                *super().cmdline()]


def connect(port, tls):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    if not tls:
        return s
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s)


def exchange(port, tls, raw):
    """Send raw, read until the server closes (or 60 s): what came back."""
    with connect(port, tls) as s:
        s.sendall(raw)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (socket.timeout, ConnectionError, ssl.SSLError):
            pass
        return out


def http_load(port, tls):
    for i in range(20):
        r = exchange(port, tls, b"GET /x?%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
        assert r.startswith(b"HTTP/1.1 200"), r[:100]
    r = exchange(port, tls, b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                                     for i in range(20)) +
                 b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.count(b"HTTP/1.1 200") == 21, r[:200]
    body = os.urandom(200000)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                       for i in range(0, len(body), 7000)) + b"0\r\n\r\n"
    r = exchange(port, tls, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert r.startswith(b"HTTP/1.1 200"), r[:100]
    for raw in HOSTILE_HTTP:
        exchange(port, tls, raw)


def ws_load(port, tls):
    import websocket
    opts = {"sslopt": {"cert_reqs": ssl.CERT_NONE}} if tls else {}
    for _ in range(3):
        ws = websocket.create_connection(f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/echo",
                                         timeout=60, **opts)
        for m in ("hi", "x" * 100000, os.urandom(300000)):
            ws.send(m) if isinstance(m, str) else ws.send_binary(m)
            assert ws.recv() == m
        ws.ping("p")
        ws.close()
    for bad in HOSTILE_FRAMES:
        exchange(port, tls, b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY +
                 b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + bad)


def errors(logs):
    """(number of errors memcheck reported, the logs that have some)."""
    total, bad = 0, []
    for path in sorted(glob.glob(os.path.join(logs, "vg.*"))):
        with open(path, errors="replace") as f:
            text = f.read()
        n = sum(int(x) for x in re.findall(r"ERROR SUMMARY: (\d+) errors", text))
        if n or "ERROR SUMMARY" not in text:
            bad.append((path, text))
        total += n
    return total, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kirin", required=True)
    ap.add_argument("--only", help="worker types, comma-separated (default: all)")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("memcheck: valgrind is not installed (apt-get install valgrind)")
    kirintest.KIRIN = os.path.abspath(a.kirin)
    kinds = a.only.split(",") if a.only else ["sync", "gthread", "greenlet", "gevent",
                                              "asyncio"]
    failed = False
    with tempfile.TemporaryDirectory(prefix="kirin-memcheck-") as tmp:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1"], check=True,
                       capture_output=True, timeout=60)
        for kind in kinds:
            apps = [("tls_app:app", http_load)]
            if kind != "sync":
                apps.append(("ws_apps:echo", ws_load))
            if kind == "asyncio":
                apps += [("asgi_apps:app", http_load), ("asgi_apps:ws_echo", ws_load)]
            for tls in (False, True):
                for app, load in apps:
                    logs = tempfile.mkdtemp(dir=tmp)
                    tls_args = ["--certfile", cert, "--keyfile", key] if tls else []
                    label = f"{kind} {app}{' TLS' if tls else ''}"
                    k = Valgrind(logs, "-k", kind, "--threads", "2", "-w", "1", "--timeout",
                                 "300", *tls_args, app)
                    try:
                        with k:
                            load(k.port, tls)
                            k.stop(timeout=120)
                    except Exception as e:  # noqa: BLE001 (a failed load is reported too)
                        print(f"{label}: the load failed: {e!r}")
                        failed = True
                    n, bad = errors(logs)
                    print(f"{label}: {n} memcheck error(s)")
                    for path, text in bad:
                        failed = True
                        print(f"--- {path}\n{text[-20000:]}")
    print("memcheck: FAILED" if failed else "memcheck: no errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

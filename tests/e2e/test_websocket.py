"""WebSockets served to apps (environ['wsgi.websocket'], gevent-websocket's
API) over the wire: the seed Bottle app and Flask-Sockets unchanged, echo
under every worker type with websocket-client, and hostile clients spoken
to in raw frames: unmasked (1002), invalid UTF-8 (1007), oversize (1009),
silent (ping timeout), stuck inside a frame, never reading. A plain HTTP
client is served meanwhile."""
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import resource
import signal
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, http_get, main, per_worker_class,  # noqa: E402
                       run_kirin, skip_stack_switching, wait_for)

HAVE_CLIENT = importlib.util.find_spec("websocket") is not None
NO_CLIENT = "python3-websocket (websocket-client) is not installed"
HAVE_WEBSOCKETS = importlib.util.find_spec("websockets") is not None
HAVE_BOTTLE = all(importlib.util.find_spec(m) for m in ("gevent", "bottle", "geventwebsocket"))
HAVE_FLASK_SOCKETS = importlib.util.find_spec("flask_sockets") is not None
HAVE_SOCKETIO = importlib.util.find_spec("socketio") is not None
CI = bool(os.environ.get("CI"))

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


def mask(payload, key):
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, masked=True, length=None):
    """A client frame; length overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class Raw:
    """A WebSocket client in raw frames, to say what no library would."""

    def __init__(self, port, path="/", timeout=10, extra=b""):
        """extra: more header lines, each ending with CRLF."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
                          + extra + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise AssertionError(f"closed during the handshake: {self.buf!r}")
            self.buf += data
        self.head, _, self.buf = self.buf.partition(b"\r\n\r\n")

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return False
            self.buf += data
        return True

    def frame(self):
        """(opcode, payload) of the next server frame, None at EOF."""
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame must not be masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._need(at + n):
            return None
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return b0 & 0x0F, payload

    def close_code(self):
        """The code of the server's close frame (skipping other frames); None at EOF."""
        while True:
            f = self.frame()
            if f is None:
                return None
            if f[0] == OP_CLOSE:
                return struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005

    def eof(self):
        """True when the server closes (after any frames)."""
        try:
            while self.frame() is not None:
                pass
            return True
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


class WebSocketTests:
    """Run with self.worker_class set (per_worker_class)."""

    @contextlib.contextmanager
    def kirin(self, *args, app="ws_apps:echo"):
        """Kirin for the worker class; the raw clients close before it stops
        (a graceful stop waits for open WebSockets)."""
        extra = ("--threads", "4") if self.worker_class == "gthread" else ()
        self.clients = []
        with Kirin("-k", self.worker_class, "-w", "1", *extra, *args, app) as k:
            try:
                yield k
            finally:
                for ws in self.clients:
                    ws.close()

    def raw(self, k, path="/"):
        ws = Raw(k.port, path)
        self.clients.append(ws)
        self.assertTrue(ws.head.startswith(b"HTTP/1.1 101 "), ws.head)
        return ws

    def served_meanwhile(self, k):
        """A plain client gets its answer while WebSockets are open (not sync:
        there a WebSocket holds the worker, as documented)."""
        if self.worker_class != "sync":
            self.assertEqual(http_get(k.port, "/", timeout=5).body, b"hello")

    @unittest.skipUnless(HAVE_CLIENT or CI, NO_CLIENT)
    def test_echo(self):
        import websocket
        with self.kirin() as k:
            ws = websocket.create_connection(f"ws://127.0.0.1:{k.port}/", timeout=10)
            ws.send("héllo")
            self.assertEqual(ws.recv(), "héllo")
            ws.send_binary(b"\x00\xff")
            self.assertEqual(ws.recv(), b"\x00\xff")
            big = os.urandom(1 << 20)
            ws.send_binary(big)
            self.assertEqual(ws.recv(), big)
            ws.close()
            self.assertEqual(ws.status, 101)
            self.assertTrue(wait_for(lambda: "receive() after close: WebSocketError" in k.log(),
                                     15), k.log())

    @unittest.skipUnless(HAVE_CLIENT or CI, NO_CLIENT)
    def test_attributes(self):
        import websocket
        with self.kirin() as k:
            ws = websocket.create_connection(f"ws://127.0.0.1:{k.port}/info", timeout=10,
                                             origin="http://example.test",
                                             header=["Sec-WebSocket-Protocol: chat"])
            info = json.loads(ws.recv())
            ws.close()
        self.assertEqual(info["path"], "/info")
        self.assertEqual(info["origin"], "http://example.test")
        self.assertEqual(info["protocol"], "chat")
        self.assertEqual(info["version"], "13")
        self.assertEqual(info["wsgi.websocket_version"], "13")
        self.assertTrue(info["same_environ"])
        self.assertFalse(info["closed"])
        want = "geventwebsocket.exceptions" if importlib.util.find_spec("geventwebsocket") \
            else "kirin"
        self.assertEqual(info["error"], want + ".WebSocketError")

    @unittest.skipUnless(HAVE_WEBSOCKETS or CI, "python3-websockets is not installed")
    def test_permessage_deflate(self):
        import websockets

        async def session(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
                ext = ws.response_headers.get("Sec-WebSocket-Extensions")
                echoed = []
                for m in ["hello", "héllo" * 10000, os.urandom(100000), b"\0" * 90000]:
                    await ws.send(m)
                    echoed.append(await ws.recv() == m)
                # 1 MB of zeros compresses to 1 KB: refused while inflating.
                await ws.send(b"\0" * (1 << 20))
                try:
                    await ws.recv()
                    code = None
                except websockets.ConnectionClosed as e:
                    code = e.rcvd.code if e.rcvd else None
                return ext, echoed, code

        with self.kirin("--websocket-max-message", "100000") as k:
            ext, echoed, code = asyncio.run(asyncio.wait_for(session(k.port), 30))
            self.served_meanwhile(k)
        self.assertEqual(ext, "permessage-deflate; server_no_context_takeover")
        self.assertEqual(echoed, [True] * 4)
        self.assertEqual(code, 1009)

    def test_uwsgi_functions(self):
        """uWSGI's websocket_handshake/recv/send, as the kirin module offers them."""
        with self.kirin(app="ws_uwsgi_style:app") as k:
            self.assertEqual(http_get(k.port, "/").body,
                             b"OSError: not serving a WebSocket request")
            ws = self.raw(k)
            self.assertNotIn(b"sec-websocket-protocol", ws.head.lower())
            ws.send(frame(OP_TEXT, b"hi"))
            self.assertEqual(ws.frame(), (OP_TEXT, b"uwsgi says hi"))
            ws.send(frame(OP_BINARY, b"bin:\x00\x01"))
            self.assertEqual(ws.frame(), (OP_BINARY, b"\x00\x01"))
            ws.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.assertEqual(ws.close_code(), 1000)
            self.assertTrue(ws.eof())
            # The next request on the same worker is not a WebSocket any more.
            self.assertEqual(http_get(k.port, "/").body,
                             b"OSError: not serving a WebSocket request")

    def test_ignored_upgrade_is_a_get(self):
        with self.kirin() as k:
            s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            got = b""
            while b"upgrade: websocket" not in got:
                data = s.recv(4096)
                if not data:
                    break
                got += data
            s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
        self.assertIn(b"plain GET, upgrade: websocket", got)

    def test_invalid_handshakes_refused(self):
        """RFC 6455 section 4.2.2: when the app asks for the WebSocket of an
        invalid handshake, the client gets the refusal (426 naming version
        13, or 400), not the app's response, then EOF; the app gets a
        closed WebSocket. An app that never asks answers it as a GET. Also
        sent byte by byte, oversize, and followed by frames from a client
        that never closes; a normal client is served meanwhile."""
        up = b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        v13 = b"Sec-WebSocket-Version: 13\r\n"
        get = b"GET / HTTP/1.1\r\nHost: x\r\n"
        cases = [
            ("version 8", get + up + key + b"Sec-WebSocket-Version: 8\r\n\r\n", b"426"),
            ("no version", get + up + key + b"\r\n", b"426"),
            ("no key", get + up + v13 + b"\r\n", b"400"),
            ("short key", get + up + v13 + b"Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n", b"400"),
            ("oversize key", get + up + v13 + b"Sec-WebSocket-Key: " + b"A" * 6000 + b"\r\n\r\n",
             b"400"),
            ("two keys", get + up + v13 + key + key + b"\r\n", b"400"),
            ("no Connection: upgrade", get + b"Upgrade: websocket\r\n" + key + v13 + b"\r\n",
             b"400"),
            ("POST", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" + up + key + v13 +
             b"\r\nhi", b"400"),
            ("HTTP/1.0", b"GET / HTTP/1.0\r\n" + up + key + v13 + b"\r\n", b"400"),
            ("frames follow, never closing", get + up + key + b"Sec-WebSocket-Version: 7\r\n\r\n"
             + frame(OP_TEXT, b"hi") * 50, b"426"),
        ]
        with self.kirin() as k:
            for name, request, status in cases:
                for slow in (False, True):
                    with self.subTest(name, slow=slow):
                        s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
                        self.clients.append(s)
                        if slow:
                            for i in range(0, len(request), 7):
                                s.sendall(request[i:i + 7])
                                time.sleep(0.001)
                        else:
                            s.sendall(request)
                        got = b""
                        while True:  # EOF comes: the client never closes
                            data = s.recv(65536)
                            if not data:
                                break
                            got += data
                        self.assertTrue(got.startswith(b"HTTP/1.1 " + status + b" "), got)
                        self.assertEqual(status == b"426",
                                         b"\r\nSec-WebSocket-Version: 13\r\n" in got, got)
                        self.assertTrue(got.endswith(b"Content-Length: 0\r\n\r\n"), got)
                    if not slow:
                        self.served_meanwhile(k)
            plain = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            self.clients.append(plain)
            plain.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + up +
                          b"Sec-WebSocket-Version: 8\r\n\r\n")
            got = b""
            while data := plain.recv(65536):
                got += data
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
            self.assertIn(b"plain GET, upgrade: websocket", got)
            self.assertIn("refusing a WebSocket handshake with 426", k.log())
            self.assertIn("receive() after close", k.log())

    def test_asked_for_after_the_http_head_went_out(self):
        """An app that wrote its HTTP answer, then asks for the WebSocket:
        no 101 after that head (the connection speaks HTTP), a closed
        WebSocket, and the answer completes."""
        with self.kirin() as k:
            s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            self.clients.append(s)
            s.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            got = b""
            while not got.endswith(b"0\r\n\r\n"):
                data = s.recv(65536)
                if not data:
                    break
                got += data
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
            self.assertNotIn(b"101", got)
            self.assertIn(b"head sent\n", got)
            self.assertIn(b"closed True, receive None\n", got)
            self.assertIn("asked for the WebSocket after its HTTP head went out", k.log())
            self.served_meanwhile(k)

    def test_ping_pong_and_close_in_c(self):
        with self.kirin() as k:
            ws = self.raw(k)
            ws.send(frame(OP_PING, b"are you there"))
            self.assertEqual(ws.frame(), (OP_PONG, b"are you there"))
            # A ping between the fragments of a message.
            ws.send(frame(OP_TEXT, b"frag", fin=False) + frame(OP_PING, b"p") +
                    frame(0, b"mented"))
            self.assertEqual(ws.frame(), (OP_PONG, b"p"))
            self.assertEqual(ws.frame(), (OP_TEXT, b"fragmented"))
            ws.send(frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye"))
            self.assertEqual(ws.close_code(), 1000)
            self.assertTrue(ws.eof())

    def test_protocol_errors(self):
        with self.kirin("--websocket-max-message", "100000") as k:
            cases = [
                ("unmasked", [frame(OP_TEXT, b"hi", masked=False)], 1002),
                ("unknown opcode", [frame(3, b"")], 1002),
                ("invalid UTF-8, found in the first fragment",
                 [frame(OP_TEXT, b"ok \xc3\x28", fin=False)], 1007),
                ("oversize in fragments", [frame(OP_BINARY, b"x" * 60000, fin=False),
                                           frame(0, b"x" * 60000)], 1009),
                # Refused from its header: the 2^40 bytes never have to come.
                ("oversize declared", [frame(OP_BINARY, b"x" * 10, length=1 << 40)], 1009),
            ]
            for name, frames, code in cases:
                with self.subTest(name):
                    ws = self.raw(k)
                    for f in frames:
                        ws.send(f)
                    self.assertEqual(ws.close_code(), code)
                    self.assertTrue(ws.eof())
                    self.served_meanwhile(k)
            self.assertIn("closing a WebSocket with 1009", k.log())

    def test_access_log_line_after_idle(self):
        """An idle WebSocket gives its HTTP head back, unless the access log
        will need it: with --access-logfile, the line written when the
        session ends still has the request line, Referer and User-Agent,
        after messages and idle waits in between."""
        with self.kirin("--access-logfile", "-") as k:
            ws = Raw(k.port, "/?q=1", extra=b"Referer: http://r.example/\r\n"
                     b"User-Agent: idle-test/1.0\r\n")
            self.clients.append(ws)
            for i in range(3):
                ws.send(frame(OP_TEXT, b"m%d" % i))
                self.assertEqual(ws.frame(), (OP_TEXT, b"m%d" % i))
                time.sleep(0.1)
            ws.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
            self.assertEqual(ws.close_code(), 1000)
            self.assertTrue(wait_for(lambda: "idle-test" in k.stdout(), 10), k.stdout())
            line = next(x for x in k.stdout().splitlines() if "idle-test" in x)
            self.assertIn('"GET /?q=1 HTTP/1.1" 101', line)
            self.assertIn('"http://r.example/" "idle-test/1.0"', line)

    def test_many_parked(self):
        """On greenlet and gevent a WebSocket waiting in receive() is a parked
        greenlet: 300 of them on one worker, all answered, and plain requests too."""
        if self.worker_class not in ("greenlet", "gevent"):
            self.skipTest("a WebSocket holds a thread (gthread) or the worker (sync)")
        with self.kirin() as k:
            conns = [self.raw(k) for _ in range(300)]
            self.served_meanwhile(k)
            for i, ws in enumerate(conns):
                ws.send(frame(OP_TEXT, b"%d" % i))
            for i, ws in enumerate(conns):
                self.assertEqual(ws.frame(), (OP_TEXT, b"%d" % i))
            # Closed before the stop, which would wait for open WebSockets.
            for ws in conns:
                ws.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
            for ws in conns:
                self.assertEqual(ws.close_code(), 1000)

    def test_stop_says_going_away(self):
        """A graceful stop closes open WebSockets with 1001 at once, instead of
        waiting for them until --graceful-timeout (sync: its one WebSocket)."""
        with self.kirin("--graceful-timeout", "20") as k:
            conns = [self.raw(k) for _ in range(1 if self.worker_class == "sync" else 3)]
            for ws in conns:
                ws.send(frame(OP_TEXT, b"hi"))
                self.assertEqual(ws.frame(), (OP_TEXT, b"hi"))
            start = time.monotonic()
            k.signal(signal.SIGTERM)
            for ws in conns:
                self.assertEqual(ws.close_code(), 1001)
                self.assertTrue(ws.eof())
            self.assertIsNotNone(k.wait(15))
            self.assertLess(time.monotonic() - start, 15)  # not --graceful-timeout 20

    def test_silent_clients_closed_after_the_ping_timeout(self):
        with self.kirin("--websocket-ping", "2") as k:
            start = time.monotonic()
            mute = self.raw(k)  # never answers the ping
            # Under sync the first WebSocket holds the worker: no second one.
            stuck = self.raw(k) if self.worker_class != "sync" else None
            if stuck:
                stuck.send(frame(OP_TEXT, b"never finished")[:5])  # half a header
            self.served_meanwhile(k)
            ping = mute.frame()
            self.assertEqual(ping[0], OP_PING)
            self.assertTrue(mute.eof())
            self.assertTrue(stuck is None or stuck.eof())
            took = time.monotonic() - start
            self.assertLess(took, 20)
            self.assertGreater(took, 3.5)
            self.assertIn("no pong within 2 s", k.log())
            # A client that answers keeps its connection past the timeout.
            alive = self.raw(k)
            for _ in range(2):
                op, payload = alive.frame()
                self.assertEqual(op, OP_PING)
                alive.send(frame(OP_PONG, payload))
            alive.send(frame(OP_TEXT, b"still here"))
            self.assertEqual(alive.frame(), (OP_TEXT, b"still here"))

    def test_stuck_inside_a_frame_without_pings(self):
        with self.kirin("--timeout", "2") as k:
            # Under sync the first WebSocket holds the worker: no second one.
            idle = self.raw(k) if self.worker_class != "sync" else None
            stuck = self.raw(k)
            stuck.send(frame(OP_BINARY, b"x" * 1000)[:500])
            start = time.monotonic()
            self.assertTrue(stuck.eof())
            self.assertLess(time.monotonic() - start, 15)
            if idle is None:
                return
            # Idle between messages (longer than --timeout) is not stuck: still served.
            time.sleep(1)
            idle.send(frame(OP_TEXT, b"late"))
            self.assertEqual(idle.frame(), (OP_TEXT, b"late"))

    def test_client_that_never_reads(self):
        out = os.path.join(tempfile.mkdtemp(prefix="kirin-ws-"), "push.json")
        with self.kirin("--timeout", "2", app="ws_apps:push") as k:
            ws = Raw(k.port, "/?" + out)
            self.clients.append(ws)
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            if self.worker_class != "sync":
                self.assertEqual(http_get(k.port, "/", timeout=5).status, 200)
            self.assertTrue(wait_for(lambda: os.path.exists(out), 15), k.log())
        with open(out) as f:
            result = json.load(f)
        # send() waited for the client, then failed: nothing piled up in the server.
        self.assertIn("WebSocketError", result["error"])
        self.assertLess(result["sent"], 16 << 20)
        self.assertGreater(result["seconds"], 1.5)


per_worker_class(WebSocketTests, globals())


@unittest.skipIf(os.environ.get("KIRIN_ASAN") == "1",
                 "AddressSanitizer cannot follow greenlet's stack switching")
class IdleMemory(unittest.TestCase):
    def raise_fd_limit(self, n):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        n = min(n, hard - 100)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 100), hard))
        return n

    def test_idle_websockets_keep_small_buffers(self):
        """1,000 idle WebSockets on one greenlet worker: each kept the 16 KiB
        buffer its head was read into, a header array for
        --limit-request-fields and a 16 KiB Python data-stack chunk (a
        touched page of it) for its greenlet (17.8 KiB each in all); now a
        256-byte buffer (the head dropped: no access log) and a 1 KiB data
        stack (~7 KiB each, most of it the parked greenlet's C stack). A
        normal client is served meanwhile, a 1 MiB message still echoes on a
        trimmed connection, and so does one sent a byte at a time."""
        n = self.raise_fd_limit(1000)
        with Kirin("-k", "greenlet", "-w", "1", "--worker-connections", "2000",
                   "ws_apps:echo") as k:
            (pid,) = k.wait_workers(1)
            warm = [Raw(k.port) for _ in range(100)]
            time.sleep(0.5)
            base = rss_kib(pid)
            conns = [Raw(k.port) for _ in range(n)]
            try:
                time.sleep(1.0)
                per_ws = (rss_kib(pid) - base) / n
                self.assertEqual(http_get(k.port, "/", timeout=5).body, b"hello")
                big = os.urandom(1 << 20)
                conns[0].send(frame(OP_BINARY, big))
                self.assertEqual(conns[0].frame(), (OP_BINARY, big))
                for b in frame(OP_TEXT, b"slow"):
                    conns[1].send(bytes([b]))
                    time.sleep(0.01)
                self.assertEqual(conns[1].frame(), (OP_TEXT, b"slow"))
            finally:
                for ws in conns + warm:
                    ws.close()
        print(f"\n{n} idle WebSockets: {per_ws:.1f} KiB each", file=sys.stderr)
        self.assertLess(per_ws, 10)

    def test_deep_frames_spill_past_the_small_data_stack(self):
        """A connection greenlet starts on a 1 KiB Python data stack: an app
        parked 300 calls deep (its frames in 16 KiB chunks past it), on 200
        WebSockets at once, echoes each one's messages; recursing until
        RecursionError in one and coming back works; a normal client is
        served meanwhile, and the worker's memory does not grow with each
        round (the spilled chunks are given back)."""
        n = self.raise_fd_limit(200)
        with Kirin("-k", "greenlet", "-w", "1", "ws_apps:deep") as k:
            (pid,) = k.wait_workers(1)
            conns = [Raw(k.port) for _ in range(n)]
            try:
                rss = []
                for rnd in range(3):
                    for i, ws in enumerate(conns):
                        ws.send(frame(OP_TEXT, b"%d.%d" % (rnd, i)))
                    for i, ws in enumerate(conns):
                        self.assertEqual(ws.frame(), (OP_TEXT, b"%d.%d" % (rnd, i)))
                    conns[rnd].send(frame(OP_TEXT, b"recurse"))
                    self.assertEqual(conns[rnd].frame(), (OP_TEXT, b"recursed"))
                    self.assertEqual(http_get(k.port, "/", timeout=5).body, b"hello")
                    rss.append(rss_kib(pid))
                for ws in conns:
                    ws.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
                for ws in conns:
                    self.assertEqual(ws.close_code(), 1000)
            finally:
                for ws in conns:
                    ws.close()
        # 200 greenlets parked with 2 chunks each: a leak of a chunk per
        # message would grow by 3 MiB a round.
        self.assertLess(rss[2] - rss[1], 1024, rss)


@unittest.skipUnless(HAVE_WEBSOCKETS or CI, "python3-websockets is not installed")
class Subprotocols(unittest.TestCase):
    """Sec-WebSocket-Protocol: the app's choice, gevent-websocket's
    app_protocol(), uWSGI's handshake argument, or --websocket-protocols;
    answered only when the client offered it. One worker type: the choice
    is made in code every worker type shares."""

    @contextlib.contextmanager
    def kirin(self, *args, app="ws_apps:choose"):
        with Kirin("-k", "gthread", "--threads", "4", "-w", "1", *args, app) as k:
            yield k

    def connect(self, port, path, offer):
        """(the subprotocol websockets saw answered, the app's JSON or echo)."""
        import websockets

        async def session():
            async with websockets.connect(f"ws://127.0.0.1:{port}{path}",
                                          subprotocols=offer or None, open_timeout=10) as ws:
                await ws.send("echo")
                first = await ws.recv()
                return ws.subprotocol, first
        return asyncio.run(asyncio.wait_for(session(), 20))

    def test_server_list(self):
        with self.kirin("--websocket-protocols", "superchat,chat") as k:
            got, info = self.connect(k.port, "/", ["chat", "superchat"])
            self.assertEqual(got, "superchat")  # the server's order
            self.assertEqual(json.loads(info), {"subprotocol": "superchat",
                                                "offered": "chat, superchat"})
            self.assertEqual(self.connect(k.port, "/", ["v2.chat", "chat"])[0], "chat")
            self.assertIsNone(self.connect(k.port, "/", ["other"])[0])
            self.assertIsNone(self.connect(k.port, "/", [])[0])

    def test_app_chooses(self):
        with self.kirin("--websocket-protocols", "chat") as k:
            got, info = self.connect(k.port, "/?v2.chat", ["chat", "v2.chat"])
            self.assertEqual(got, "v2.chat")
            self.assertEqual(json.loads(info)["subprotocol"], "v2.chat")
            # A choice the client did not offer (or not a str) answers none.
            self.assertIsNone(self.connect(k.port, "/?mqtt", ["chat"])[0])
            self.assertIsNone(self.connect(k.port, "/?42", ["chat", "42"])[0])
            self.assertEqual(k.log().count("did not offer: answering none"), 2, k.log())

    def test_gevent_websocket_app_protocol(self):
        with self.kirin(app="ws_apps:resource") as k:
            self.assertEqual(self.connect(k.port, "/wamp", ["soap", "wamp"])[0], "wamp")
            self.assertIsNone(self.connect(k.port, "/", ["wamp"])[0])

    @unittest.skipUnless(HAVE_CLIENT or CI, NO_CLIENT)
    def test_uwsgi_handshake_argument(self):
        import websocket
        with self.kirin(app="ws_uwsgi_style:app") as k:
            ws = websocket.create_connection(f"ws://127.0.0.1:{k.port}/?chat", timeout=10,
                                             subprotocols=["mqtt", "chat"])
            self.assertEqual(ws.getsubprotocol(), "chat")
            ws.send("hi")
            self.assertEqual(ws.recv(), "uwsgi says hi")
            ws.close()

    def test_bad_setting(self):
        for value, why in (("chat room", "' ' cannot be in a subprotocol name"),
                           ("chat,mqtt/3", "'/' cannot be in a subprotocol name")):
            with self.subTest(value):
                r = run_kirin("--websocket-protocols", value, "--check-config", "ws_apps:echo")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(why, r.stderr)
        r = run_kirin("--websocket-protocols", "chat,v2.chat", "--print-config", "ws_apps:echo")
        self.assertIn("websocket_protocols = chat, v2.chat", r.stdout)

    def test_hostile_offers(self):
        """Offers the handshake refuses get a 400 when the app asks for
        wsgi.websocket, a huge one is refused by the HTTP parser; a normal client is served meanwhile, and a slow one that
        never finishes its head holds nothing but its socket."""
        with self.kirin("--websocket-protocols", "chat") as k:
            slow = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Sec-WebSocket-Protocol: ch")
            for name, extra in [
                    ("too many", b"Sec-WebSocket-Protocol: "
                     + b",".join(b"p%d" % i for i in range(17)) + b"\r\n"),
                    ("not a token", b"Sec-WebSocket-Protocol: chat room\r\n"),
                    ("empty", b"Sec-WebSocket-Protocol: \r\n")]:
                with self.subTest(name):
                    s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              + extra + b"Connection: close\r\n\r\n")
                    got = b""
                    while not (got.startswith(b"HTTP/1.1 101 ") and b"\r\n\r\n" in got):
                        data = s.recv(4096)
                        if not data:
                            break
                        got += data
                    s.close()
                    if name == "empty":  # no offer at all: a WebSocket without one
                        self.assertTrue(got.startswith(b"HTTP/1.1 101 "), got)
                        self.assertNotIn(b"sec-websocket-protocol", got.lower())
                    else:
                        self.assertEqual(got, b"HTTP/1.1 400 Bad Request\r\nConnection: close"
                                         b"\r\nContent-Length: 0\r\n\r\n")
                    self.assertEqual(http_get(k.port, "/", timeout=5).body, b"hello")
            s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Sec-WebSocket-Protocol: " + b"c" * 20000 + b"\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 431 "))
            s.close()
            self.assertEqual(self.connect(k.port, "/", ["chat"])[0], "chat")
            slow.close()


class GthreadPool(unittest.TestCase):
    def test_warns_when_websockets_hold_every_thread(self):
        with Kirin("-k", "gthread", "--threads", "2", "ws_apps:echo") as k:
            a, b = Raw(k.port), Raw(k.port)
            self.addCleanup(a.close)
            self.addCleanup(b.close)
            a.send(frame(OP_TEXT, b"1"))
            self.assertEqual(a.frame(), (OP_TEXT, b"1"))
            b.send(frame(OP_TEXT, b"2"))
            self.assertEqual(b.frame(), (OP_TEXT, b"2"))
            self.assertTrue(wait_for(lambda: "hold all 2 threads" in k.log(), 15), k.log())
            a.close()  # before the stop, which would wait for them
            b.close()


@unittest.skipUnless((HAVE_CLIENT and HAVE_BOTTLE) or CI,
                     "websocket-client, gevent, bottle or gevent-websocket is missing")
class SeedApps(unittest.TestCase):
    """../shared/seed-apps/bottle_gevent.py (apps/seed_bottle_gevent.py, unchanged),
    Flask-Sockets' README echo and python-socketio in gevent mode."""

    def check_echo(self, kind, app, path, reply, plain="/", plain_status=200):
        import websocket
        with Kirin("-k", kind, "-w", "1", app) as k:
            ws = websocket.create_connection(f"ws://127.0.0.1:{k.port}{path}", timeout=10)
            ws.send("hi")
            self.assertEqual(ws.recv(), reply("hi"))
            ws.send("again")
            self.assertEqual(ws.recv(), reply("again"))
            ws.close()
            self.assertEqual(http_get(k.port, plain).status, plain_status)

    @skip_stack_switching("gevent")
    def test_bottle_gevent(self):
        self.check_echo("gevent", "seed_bottle_gevent:app", "/websocket",
                        lambda m: f"Your message was: {m!r}", "/websocket", 400)

    @skip_stack_switching("greenlet")
    def test_bottle_greenlet(self):
        self.check_echo("greenlet", "seed_bottle_gevent:app", "/websocket",
                        lambda m: f"Your message was: {m!r}", "/websocket", 400)

    @unittest.skipUnless(HAVE_FLASK_SOCKETS or CI, "python3-flask-sockets is missing")
    @skip_stack_switching("gevent")
    def test_flask_sockets_gevent(self):
        self.check_echo("gevent", "ws_flask_sockets:app", "/echo", lambda m: m)

    @unittest.skipUnless(HAVE_FLASK_SOCKETS or CI, "python3-flask-sockets is missing")
    @skip_stack_switching("greenlet")
    def test_flask_sockets_greenlet(self):
        self.check_echo("greenlet", "ws_flask_sockets:app", "/echo", lambda m: m)

    @unittest.skipUnless(HAVE_SOCKETIO or CI, "python3-socketio is missing")
    @skip_stack_switching("gevent")
    def test_socketio_gevent(self):
        """python-socketio's WSGI app in gevent mode, over the WebSocket
        transport: straight away, and upgraded from long polling."""
        import socketio
        with Kirin("-k", "gevent", "-w", "1", "ws_socketio:app") as k:
            for transports in (["websocket"], None):
                with self.subTest(transports=transports):
                    c = socketio.Client()
                    c.connect(f"http://127.0.0.1:{k.port}", transports=transports,
                              wait_timeout=10)
                    try:
                        self.assertTrue(wait_for(lambda: c.transport() == "websocket", 10))
                        self.assertEqual(c.call("echo", "hi", timeout=10), "echo: hi")
                    finally:
                        c.disconnect()


if __name__ == "__main__":
    main()

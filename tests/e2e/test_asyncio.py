"""The asyncio worker (-k asyncio, also Gunicorn's -k
uvicorn.workers.UvicornWorker): ASGI http (scope, bodies streamed both
ways, disconnects, errors), lifespan, and WSGI apps on the asyncio loop."""
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, concurrent_gets, http_get, main, raw_request,  # noqa: E402
                       read_by_server, read_to_eof, recv_responses, recv_until, request, run_kirin,
                       skip_stack_switching, wait_for, worker_classes, free_port)
from test_websocket import (HAVE_WEBSOCKETS, OP_BINARY, OP_PING, OP_PONG, OP_TEXT,  # noqa: E402
                            Raw, frame)

ASYNCIO = ("-k", "asyncio", "-w", "1")


class AsgiHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kirin(*ASYNCIO, "--timeout", "5", "--asgi-disconnect-grace-period", "1",
                      "asgi_apps:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_scope(self):
        r = http_get(self.k.port, "/echo/caf%C3%A9?x=1&y", headers={"X-Thing": "A b"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-asgi"), "yes")
        e = r.json()
        self.assertEqual((e["type"], e["http_version"], e["method"], e["scheme"]),
                         ("http", "1.1", "GET", "http"))
        self.assertEqual(e["path"], "/echo/caf\u00e9")
        self.assertEqual(e["raw_path"], "/echo/caf%C3%A9")
        self.assertEqual(e["query"], "x=1&y")
        self.assertIn(["x-thing", "A b"], e["headers"])
        self.assertEqual(e["client"][0], "127.0.0.1")
        self.assertEqual(e["server"], ["127.0.0.1", self.k.port])
        self.assertEqual(e["asgi"], {"version": "3.0", "spec_version": "2.4"})
        self.assertEqual(e["state"], {"started": "yes"})  # from the lifespan startup
        self.assertEqual(e["body"], 0)
        # What differs from the scope's template is set, and only for that request.
        raw = raw_request(self.k.port, b"POST /echo?z HTTP/1.0\r\nContent-Length: 2\r\n\r\nab")
        e = json.loads(raw.split(b"\r\n\r\n", 1)[1])
        self.assertEqual((e["method"], e["http_version"], e["query"], e["body"]),
                         ("POST", "1.0", "z", 2))
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            for _ in range(3):  # the peer's cached base from the second request on
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Case: 1\r\n\r\n")
                e = json.loads(recv_responses(s, 1, 10)[0][1])
                self.assertEqual((e["method"], e["http_version"], e["query"]), ("GET", "1.1", ""))
                self.assertEqual(e["client"], ["127.0.0.1", s.getsockname()[1]])
                self.assertIn(["x-case", "1"], e["headers"])

    def test_scope_on_a_keepalive_connection(self):
        # A connection's next scope may be its last one again, refilled,
        # when no one changed or kept it: nothing of a request may show in
        # the next, whatever the app did to its scope.
        keys = ["asgi", "client", "extensions", "headers", "http_version", "method", "path",
                "query_string", "raw_path", "root_path", "scheme", "server", "state", "type"]
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            def echo(req=b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"):
                s.sendall(req)
                e = json.loads(recv_responses(s, 1, 10)[0][1])
                self.assertEqual(e["keys"], keys)
                return (e["method"], e["http_version"], e["path"], e["query"], e["body"])

            def scope(op):
                s.sendall(b"GET /scope?%s HTTP/1.1\r\nHost: x\r\n\r\n" % op)
                self.assertEqual(recv_responses(s, 1, 10)[0][1], op)

            plain = ("GET", "1.1", "/echo", "", 0)
            for raw, path in ((b"/echo/p", "/echo/p"), (b"/echo/q", "/echo/q"),
                              (b"/echo/%71", "/echo/q"), (b"/echo/p", "/echo/p")):
                self.assertEqual(echo(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % raw)[2], path)
            for _ in range(2):
                self.assertEqual(echo(b"POST /echo/p?b HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 2\r\n\r\nab"),
                                 ("POST", "1.1", "/echo/p", "b", 2))
                self.assertEqual(echo(), plain)
            self.assertEqual(echo(b"GET /echo?q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
                             ("GET", "1.0", "/echo", "q", 0))
            self.assertEqual(echo(), plain)
            # A scope the app holds is never the next one (before any change:
            # a connection whose app changes its scopes copies them from then on).
            scope(b"keep")
            self.assertEqual(echo(), plain)
            s.sendall(b"GET /scope?kept HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(recv_responses(s, 1, 10)[0][1], b"keepFalse")
            for op in (b"add", b"del", b"keep", b"later", b"keep"):
                scope(op)
                self.assertEqual(echo(), plain)
                self.assertEqual(echo(), plain)
            scope(b"later")  # the kept scope is another request's: the next is clean
            self.assertEqual(echo(), plain)

    def test_large_requests_scope_not_kept(self):
        # A connection keeps its last scope (one reference more) from its
        # second request on, unless that request's target and headers
        # passed 1 KiB: an idle connection never holds a large one.
        def refs(s, extra=b""):
            s.sendall(b"GET /refs HTTP/1.1\r\nHost: x\r\n%s\r\n" % extra)
            return int(recv_responses(s, 1, 10)[0][1])

        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            got = [refs(s), refs(s), refs(s, b"X-Big: %s\r\n" % (b"b" * 2000)), refs(s),
                   refs(s)]
        self.assertEqual([n - got[0] for n in got], [0, 1, 0, 1, 1])

    def test_scope_headers_list_kept_by_the_app(self):
        # A reused scope's headers list is refilled in place only when the
        # scope alone holds it: one the app kept says what it said.
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            for query, value in ((b"echo", b"zero"), (b"hkeep", b"one"), (b"echo", b"two"),
                                 (b"hkept", b"three")):
                s.sendall(b"GET /scope?%s HTTP/1.1\r\nHost: x\r\nX-H: %s\r\n\r\n"
                          % (query, value))
                body = recv_responses(s, 1, 10)[0][1]
        self.assertEqual(json.loads(body), [["host", "x"], ["x-h", "one"]])

    def test_scope_headers_of_one_client_after_another(self):
        # Header tuples a client sent before may be shared with the next
        # request: never one whose value differs (the same length, first
        # and last bytes), nor a long one.
        values = [b"aaaaaaaaXaaaaaaaa", b"aaaaaaaaYaaaaaaaa", b"Z" * 65, b"Z" * 64 + b"z", b"",
                  b"aaaaaaaaXaaaaaaaa"]
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            for v in values + values:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-V: %s\r\nx-v: 2\r\n\r\n" % v)
                e = json.loads(recv_responses(s, 1, 10)[0][1])
                self.assertEqual(e["headers"], [["host", "x"], ["x-v", v.decode()], ["x-v", "2"]])

    def test_unix_socket_scope(self):
        path = os.path.join(tempfile.mkdtemp(prefix="kirin-asgi-"), "s.sock")
        with Kirin(*ASYNCIO, "-b", f"unix:{path}", "asgi_apps:app") as k:
            self.assertTrue(wait_for(lambda: os.path.exists(path), 10))
            e = request(0, "/echo", unix=path).json()
            self.assertEqual((e["client"], e["server"]), (None, None))

    def test_request_bodies(self):
        data = os.urandom(300000)
        r = request(self.k.port, "/echo", method="POST", body=data)
        self.assertEqual(r.json()["body"], len(data))
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                           for p in (data[:70000], data[70000:])) + b"0\r\n\r\n"
        raw = raw_request(self.k.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        self.assertIn(b'"body": 300000', raw)

    def test_keepalive_and_pipelining(self):
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            s.sendall(b"GET /echo?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"POST /echo?2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            got = recv_responses(s, 2, 10)
            self.assertEqual([json.loads(b)["query"] for _, b in got], ["1", "2"])
            s.sendall(b"GET /echo?3 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(json.loads(recv_responses(s, 1, 10)[0][1])["query"], "3")
            # The next request starts inside the Task that ended a waiting one.
            s.sendall(b"GET /sleep?0.01 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /echo?4 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = recv_responses(s, 2, 10)
            self.assertEqual([got[0][1], json.loads(got[1][1])["query"]], [b"slept", "4"])
            self.assertFalse(wait_for(lambda: "does not match the current task" in self.k.log(),
                                      1))
            # More pipelined requests than one dispatch serves inside another.
            s.sendall(b"".join(b"GET /echo?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                               for i in range(100)))
            got = recv_responses(s, 100, 10)
            self.assertEqual([json.loads(b)["query"] for _, b in got],
                             [str(i) for i in range(100)])

    def test_receive_and_send_kept_past_their_request(self):
        # Request objects are reused, but never one whose receive or send the
        # app still holds: those say the request is over, on the same
        # connection (the next request pulled from the pool) as on another.
        for same in (True, False):
            with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
                s.sendall(b"GET /keep HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(recv_responses(s, 1, 10)[0][1], b"kept")
                if same:
                    s.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
                    head, body = recv_responses(s, 1, 10)[0]
                    self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            if not same:
                got = http_get(self.k.port, "/late")
                self.assertEqual(got.status, 200)
                body = got.body
            self.assertEqual(json.loads(body), ["http.disconnect", "ClientDisconnected"])

    def test_connections_reset_in_one_wake_up(self):
        # The worker serves every ready connection of a wake-up in one batch:
        # hundreds that reset mid-head or right after a request, all ready
        # together, leave it serving (same worker) a client that asks meanwhile.
        worker = self.k.workers()
        socks = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", self.k.port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else b"GET /ec")
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as c:
            for s in socks:
                s.close()  # RST
            c.sendall(b"GET /echo?alive HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(json.loads(recv_responses(c, 1, 10)[0][1])["query"], "alive")
        self.assertEqual(self.k.workers(), worker)
        self.assertEqual(http_get(self.k.port, "/echo").status, 200)

    def test_streaming_both_ways(self):
        # Each part of a chunked upload comes back before the next is sent.
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            got = b""
            for part in (b"first-part", b"second-part"):
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                got = recv_until(s, part, got)
            s.sendall(b"0\r\n\r\n")
            got = recv_until(s, b"0\r\n\r\n", got)
            self.assertIn(b"Transfer-Encoding: chunked", got)

    def test_large_streamed_response_to_a_slow_reader(self):
        # 16 MiB, more than the socket buffers hold: the app awaits send()
        # while the client does not read, and others are served meanwhile.
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=20) as s:
            s.sendall(b"GET /stream?64&262144 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = bytearray(s.recv(1000))
            time.sleep(0.5)
            self.assertEqual(http_get(self.k.port, "/sleep?0", timeout=5).status, 200)
            while not got.endswith(b"end\r\n0\r\n\r\n"):
                data = s.recv(1 << 20)
                self.assertTrue(data, bytes(got[-100:]))
                got += data
            self.assertEqual(got.count(b"z" * 262144), 2)
            self.assertGreater(len(got), 64 * 262144)

    def test_pathsend(self):
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            data = os.urandom(13 << 20)
            f.write(data)
            f.flush()
            with socket.create_connection(("127.0.0.1", self.k.port), timeout=20) as s:
                s.sendall(b"GET /file?%s HTTP/1.1\r\nHost: x\r\n\r\n" % f.name.encode())
                time.sleep(0.5)  # the socket fills; the worker serves others meanwhile
                self.assertEqual(http_get(self.k.port, "/sleep?0", timeout=5).status, 200)
                (head, body), = recv_responses(s, 1, 20)
                self.assertIn(b"Content-Length: %d" % len(data), head)
                self.assertEqual(body, data)
                s.sendall(b"HEAD /file?%s HTTP/1.1\r\nHost: x\r\n\r\n" % f.name.encode())
                head = recv_until(s, b"\r\n\r\n")
                self.assertIn(b"Content-Length: %d" % len(data), head)
        raw = raw_request(self.k.port, b"GET /file?/nonexistent HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 500"), raw)

    def test_disconnect_is_received(self):
        before = int(http_get(self.k.port, "/count").body)
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            s.sendall(b"GET /disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
            recv_until(s, b"waiting")
        self.assertTrue(wait_for(lambda: int(http_get(self.k.port, "/count").body) == before + 1,
                                 15))

    def test_disconnect_grace_period(self):
        # The class's server runs with --asgi-disconnect-grace-period 1.
        def leave(path):
            with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
                recv_until(s, b"waiting")
                return time.monotonic()  # taken before the close the server waits from

        def graces():
            return json.loads(http_get(self.k.port, "/graces").body)
        # The list is the class server's: other tests may have added to it.
        before = graces()
        t0 = leave("/grace?0.2&listen")  # cleans up within the grace period
        self.assertTrue(wait_for(lambda: graces() == before + ["cleaned"], 10), graces())
        for path in ("/grace?30&listen", "/grace?30&deaf"):  # too long: cancelled
            n = len(graces())  # before leaving: a late client may ask after the cancel
            t0 = leave(path)
            self.assertTrue(wait_for(lambda: len(graces()) > n, 15), graces())
            self.assertGreater(time.monotonic() - t0, 0.9)
            self.assertEqual(graces()[-1], "cancelled")
            self.assertEqual(http_get(self.k.port, "/echo").status, 200)  # others go on
        self.assertIn("cancelling an ASGI request whose client went away 1 s ago",
                      self.k.log())
        self.assertNotIn("CancelledError", self.k.log())
        with Kirin(*ASYNCIO, "--asgi-disconnect-grace-period", "0", "asgi_apps:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /grace?30&deaf HTTP/1.1\r\nHost: x\r\n\r\n")
                recv_until(s, b"waiting")
            self.assertTrue(wait_for(lambda: json.loads(http_get(k.port, "/graces").body)
                                     == ["cancelled"], 15))

    def test_work_after_the_response(self):
        # The connection's next request need not wait for the task's end;
        # what the task does after its response still counts (its error).
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            s.sendall(b"GET /after?6 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(recv_responses(s, 1, 10)[0][1], b"answered")
            t0 = time.monotonic()
            s.sendall(b"GET /echo?next HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(json.loads(recv_responses(s, 1, 10)[0][1])["query"], "next")
            self.assertLess(time.monotonic() - t0, 5)  # the task's end: 6 s
        self.assertTrue(wait_for(lambda: "failed after its response" in self.k.log(), 20))
        self.assertIn("after", json.loads(http_get(self.k.port, "/graces").body))

    def test_app_errors_are_500(self):
        for path in ("/raise", "/noresponse", "/headers"):
            raw = raw_request(self.k.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
            self.assertTrue(raw.startswith(b"HTTP/1.1 500 "), (path, raw))
            self.assertNotIn(b"Injected", raw)
        log = self.k.log()
        self.assertIn("Exception in ASGI application", log)
        self.assertIn("boom in the app", log)
        self.assertIn("ASGI callable returned without starting the response", log)
        self.assertEqual(http_get(self.k.port, "/echo").status, 200)

    def test_message_keys_and_constant_headers(self):
        # Twice each: the second time, a constant header tuple's line comes
        # from the cache of lines checked before; a refused one never does.
        for _ in range(2):
            r = http_get(self.k.port, "/keys")
            self.assertEqual((r.status, r.body, r.header("x-list")), (200, b"keys!", "1"))
            self.assertEqual(r.header("content-length"), "5")
            for path in (b"/conflict", b"/headers"):
                raw = raw_request(self.k.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
                self.assertTrue(raw.startswith(b"HTTP/1.1 500 "), (path, raw))
                self.assertNotIn(b"Injected", raw)
        self.assertIn("invalid response header (b'content-length', b'6')", self.k.log())
        self.assertEqual(http_get(self.k.port, "/badmsg").json(),
                         ["an ASGI message is a dict with a 'type'"] * 2)

    def test_constant_response_start(self):
        # An app's constant http.response.start is started from the head
        # built before only while it, its header list and the kind of
        # request are the same.
        def const(op=b"", method=b"GET", version=b"1.1", s=None):
            req = b"%s /const?%s HTTP/%s\r\nHost: x\r\n\r\n" % (method, op, version)
            if s is None:
                return raw_request(self.k.port, req)
            s.sendall(req)
            if method == b"HEAD":  # no body: the head alone
                raw = b""
                while not raw.endswith(b"\r\n\r\n"):
                    raw += s.recv(1)
                return raw
            head, body = recv_responses(s, 1, 10)[0]
            return head + b"\r\n\r\n" + body

        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            for _ in range(2):
                raw = const(s=s)
                self.assertTrue(raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw)
                self.assertIn(b"content-type: text/plain\r\n", raw)
                self.assertTrue(raw.endswith(b"\r\n\r\nconst"), raw)
                raw = const(method=b"HEAD", s=s)
                self.assertIn(b"content-length: 5\r\n", raw)
                self.assertTrue(raw.endswith(b"\r\n\r\n"), raw)
            self.assertTrue(const(version=b"1.0").startswith(b"HTTP/1.0 200 OK\r\n"))
            self.assertIn(b"HTTP/1.1 201 Created\r\n", const(b"status", s=s))
            self.assertIn(b"HTTP/1.1 201 Created\r\n", const(s=s))
            self.assertIn(b"x-more: 1\r\n", const(b"append", s=s))
            self.assertIn(b"x-more: 1\r\n", const(s=s))
            raw = const(b"replace", s=s)
            self.assertIn(b"content-type: text/html\r\n", raw)
            self.assertNotIn(b"text/plain", const(s=s))
            raw = const(b"reset", s=s)
            self.assertTrue(raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw)
            self.assertNotIn(b"x-more", raw)
            self.assertNotIn(b"x-more", const(s=s))
            self.assertIn(b"Connection: close\r\n", const(b"close", s=s))
            self.assertEqual(s.recv(1), b"")  # closed, as the header said
        self.assertIn(b"Connection: close\r\n", const())
        self.assertNotIn(b"Connection: close", const(b"reset"))

    @skip_stack_switching("asyncio")  # refused in a connection greenlet
    def test_refusals_never_reach_the_app(self):
        for raw_req, status in ((b"GET / HTTP/1.1\r\n\r\n", b"400"),
                                (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 10000 + b"\r\n\r\n",
                                 b"431"),
                                (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n", b"400")):
            raw = raw_request(self.k.port, raw_req)
            self.assertTrue(raw.startswith(b"HTTP/1.1 " + status), raw)
        # A chunked body that turns bad while the app reads it: an answer, a close.
        raw = raw_request(self.k.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 400"), raw)

    def test_body_cut_short_by_a_half_close(self):
        # The client sends its chunked body byte by byte, without its last
        # CRLF, and shuts its side: the end is found where the body is read,
        # a refusal; never a disconnect the app answers with a 200 (it did
        # in about one case of five, when the set's watch heard the end first).
        raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n")
        for _ in range(40):
            with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for i in range(len(raw)):
                    s.sendall(raw[i:i + 1])
                s.shutdown(socket.SHUT_WR)
                got = read_to_eof(s, timeout=10)
            self.assertTrue(got.startswith(b"HTTP/1.1 400 ") or got == b"", got)
        self.assertEqual(http_get(self.k.port, "/echo").status, 200)

    def test_truncated_and_stalled_bodies(self):
        # The client goes away in the middle of its body: the app hears a
        # disconnect; one that stalls is given up after --timeout (5 s).
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=10) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=15) as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
            self.assertEqual(http_get(self.k.port, "/echo", timeout=5).status, 200)
            start = time.monotonic()
            self.assertEqual(s.recv(100), b"")  # closed, no answer
            self.assertLess(time.monotonic() - start, 12)
        self.assertEqual(http_get(self.k.port, "/echo", timeout=5).status, 200)

    def test_concurrent_sleepers(self):
        results, elapsed = concurrent_gets(self.k.port, "/sleep?1", 200)
        self.assertEqual(results, [200] * 200)
        self.assertLess(elapsed, 20)  # serially: 200 s


class AsgiLifecycle(unittest.TestCase):
    def test_uvicorn_worker_class_and_graceful_stop(self):
        with Kirin("-k", "uvicorn.workers.UvicornWorker", "asgi_apps:app") as k:
            self.assertIn("uvicorn.workers.UvicornWorker: kirin's asyncio worker serves it",
                          k.log())
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                # In flight (read by the worker), not waiting in the backlog:
                # a TERM then lets it finish.
                self.assertTrue(wait_for(lambda: read_by_server(k.port, s), 10))
                k.signal(15)
                got = recv_until(s, b"slept")
            self.assertTrue(got.startswith(b"HTTP/1.1 200"))
            self.assertEqual(k.wait(15), 0)
            self.assertIn("ASGI lifespan shutdown complete", k.log())

    def test_failed_startup_stops_the_server(self):
        cp = run_kirin(*ASYNCIO, "-b", f"127.0.0.1:{free_port()}", "asgi_apps:lifespan_fail",
                       timeout=30)
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("ASGI lifespan startup failed: no database here", cp.stderr)

    def test_lifespan_auto_on_off(self):
        with Kirin(*ASYNCIO, "asgi_apps:lifespan_raise") as k:
            self.assertEqual(http_get(k.port, "/").body, b"served without lifespan")
            self.assertIn("'lifespan' protocol appears unsupported", k.log())
        cp = run_kirin(*ASYNCIO, "--asgi-lifespan", "on", "-b", f"127.0.0.1:{free_port()}",
                       "asgi_apps:lifespan_raise", timeout=30)
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("lifespan? what is that", cp.stderr)
        with Kirin(*ASYNCIO, "--asgi-lifespan", "off", "asgi_apps:app") as k:
            self.assertIsNone(http_get(k.port, "/echo").json()["state"])

    def test_loops_and_bad_settings(self):
        for loop, name in (("asyncio", "_UnixSelectorEventLoop"), ("uvloop", "Loop")):
            with Kirin(*ASYNCIO, "--asgi-loop", loop, "asgi_apps:app") as k:
                self.assertEqual(http_get(k.port, "/echo").status, 200)
                self.assertIn(f"serving ASGI on the {name} event loop", k.log())
        cp = run_kirin(*ASYNCIO, "--asgi-loop", "tokio", "asgi_apps:app", timeout=20)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("--asgi-loop", cp.stderr)

    def test_request_timeout(self):
        with Kirin(*ASYNCIO, "--request-timeout", "1", "asgi_apps:app") as k:
            t0 = time.monotonic()
            r = http_get(k.port, "/sleep?30", timeout=20)
            self.assertEqual(r.status, 504)
            self.assertLess(time.monotonic() - t0, 10)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /grace?30&deaf HTTP/1.1\r\nHost: x\r\n\r\n")
                got = recv_until(s, b"waiting")
                while True:  # the response had started: the connection is closed
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            self.assertNotIn(b"0\r\n\r\n", got)
            self.assertEqual(http_get(k.port, "/sleep?0.1").body, b"slept")  # not bounded
            log = k.log()
            self.assertIn("Request timed out after 1 s (--request-timeout): GET /sleep from "
                          "127.0.0.1; raising kirin.RequestTimeout in it. Its stack:", log)
            self.assertIn("in app", log)  # the app's frame, where it waits
            self.assertNotIn("Exception in ASGI application", log)
            # As on the other workers, the app gets kirin.RequestTimeout where it
            # waits; its Task holds no cancel request (asyncio.timeout still works).
            self.assertEqual(http_get(k.port, "/interrupted").json(),
                             [["kirin", "RequestTimeout", 0]])
        with Kirin(*ASYNCIO, "--request-timeout", "1", "asgi_tasks:app") as k:
            self.assertEqual(http_get(k.port, "/timeout").json()["outcome"], "timed out")
        try:
            import starlette  # noqa: F401
        except ImportError:
            return
        # anyio's task group (BaseHTTPMiddleware) unwinds: its child task (the
        # endpoint) is cancelled, the middleware sees kirin.RequestTimeout.
        with Kirin(*ASYNCIO, "--request-timeout", "1", "asgi_tasks:starlette_app") as k:
            self.assertEqual(http_get(k.port, "/slow", timeout=20).status, 504)
            r = http_get(k.port, "/quick")
            self.assertEqual((r.status, r.header("x-tag")), (200, "yes"))
            self.assertEqual(sorted(http_get(k.port, "/seen").json()),
                             ["endpoint CancelledError", "middleware RequestTimeout"])
            self.assertNotIn("Exception in ASGI application", k.log())

    def test_request_hooks(self):
        d = tempfile.mkdtemp(prefix="kirin-asgi-hooks-")
        log = os.path.join(d, "hooks.log")
        with open(os.path.join(d, "gunicorn.conf.py"), "w") as f:
            f.write("import os\n"
                    "def _w(*a):\n"
                    f"    with open({log!r}, 'a') as f:\n"
                    "        f.write(' '.join(str(x) for x in a) + '\\n')\n"
                    "def pre_request(worker, req):\n"
                    "    _w('pre', worker.pid == os.getpid(), req.method, req.path, req.query,\n"
                    "       req.uri, req.version, dict(req.headers).get('X-TEST'))\n"
                    "def post_request(worker, req, environ, resp):\n"
                    "    _w('post', req.path, environ, resp.status_code, resp.sent,\n"
                    "       dict(resp.headers).get('x-asgi'))\n")
        with Kirin(*ASYNCIO, "-c", os.path.join(d, "gunicorn.conf.py"), "asgi_apps:app",
                   env={"PYTHONPATH": os.path.join(os.path.dirname(__file__), "apps")}) as k:
            r = http_get(k.port, "/echo?q=1", headers={"X-Test": "yes"})
            self.assertEqual(r.status, 200)
            http_get(k.port, "/sleep?0.05")

            def lines():
                with open(log) as f:  # after kirintest's readiness probe
                    return [line.split() for line in f if "/__ready" not in line]
            self.assertTrue(wait_for(lambda: len(lines()) >= 4, 10))
        self.assertEqual(lines()[:4], [
            ["pre", "True", "GET", "/echo", "q=1", "/echo?q=1", "(1,", "1)", "yes"],
            ["post", "/echo", "None", "200", str(len(r.body)), "yes"],
            ["pre", "True", "GET", "/sleep", "0.05", "/sleep?0.05", "(1,", "1)", "None"],
            ["post", "/sleep", "None", "200", "5", "None"]])

    def test_max_requests(self):
        with Kirin(*ASYNCIO, "--max-requests", "3", "asgi_apps:app") as k:
            pids = set()

            def another_worker():
                pids.add(http_get(k.port, "/echo").json()["pid"])
                return len(pids) > 1
            self.assertTrue(wait_for(another_worker, 10, interval=0.2), pids)
            self.assertIn("Autorestarting worker after 3 requests", k.log())

    def test_access_log(self):
        with Kirin(*ASYNCIO, "--access-logfile", "-", "asgi_apps:app") as k:
            http_get(k.port, "/echo?q=1")
            self.assertTrue(wait_for(lambda: '"GET /echo?q=1 HTTP/1.1" 200' in k.stdout(), 15),
                            k.stdout())


@skip_stack_switching("asyncio")
class WsgiOnTheLoop(unittest.TestCase):
    def test_seed_app_callbacks_fire_once_per_request(self):
        with Kirin(*ASYNCIO, "asyncio_wsgi:application") as k:
            self.assertIn("serving WSGI", k.log())
            for _ in range(3):
                self.assertEqual(http_get(k.port, "/later").body, b"scheduled\n")
            self.assertTrue(wait_for(lambda: http_get(k.port, "/fired").body == b"fired 3\n", 15))
            time.sleep(0.5)
            self.assertEqual(http_get(k.port, "/fired").body, b"fired 3\n")

    def test_interface_forces_the_call(self):
        with Kirin(*ASYNCIO, "--interface", "wsgi", "hello:app") as k:
            self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")

    def test_interface_detection(self):
        for app, body in (("asgi_apps:wsgi_three", b"wsgi"), ("asgi_apps:asgi_object", b"asgi"),
                          ("hello:app", b"Hello, World!\n")):
            with self.subTest(app=app), Kirin(*ASYNCIO, app) as k:
                self.assertEqual(http_get(k.port, "/").body, body)


class AsgiTasks(unittest.TestCase):
    """A request's first step runs before any Task exists (asgi_task.h):
    asyncio.current_task() must still be one task for the whole request,
    and each request must have a context of its own."""

    @classmethod
    def setUpClass(cls):
        cls.k = Kirin(*ASYNCIO, "asgi_tasks:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def get(self, path):
        r = http_get(self.k.port, path)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_context_and_task(self):
        for path in ("/ctx?0", "/ctx?0.01", "/ctx?0", "/ctx?0"):
            self.assertEqual({k: v for k, v in self.get(path).items() if k != "task_id"},
                             {"seen": "unset", "kept": True, "task": True, "same_task": True})
        results, lock = [], threading.Lock()

        def one():
            r = self.get("/ctx?0.3")
            with lock:
                results.append(r)
        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 20)
        self.assertTrue(all(r["seen"] == "unset" and r["kept"] and r["same_task"]
                            for r in results), results)
        self.assertEqual(len({r["task_id"] for r in results}), 20)  # waiting together

    def test_cancels_reach_the_request(self):
        self.assertEqual(self.get("/timeout"), {"outcome": "timed out", "same_task": True})
        self.assertEqual(self.get("/group"), {"results": [2, 4], "same_task": True})
        self.assertEqual(self.get("/selfcancel"), {"outcome": "cancelled"})
        self.assertEqual(self.get("/ctx?0")["seen"], "unset")

    def test_starlette_middleware_threads_and_cancel_scopes(self):
        try:
            import starlette  # noqa: F401
        except ImportError:
            self.skipTest("python3-starlette is not installed")
        with Kirin(*ASYNCIO, "asgi_tasks:starlette_app") as k:
            for path, body in (("/quick", {"quick": True}), ("/blocking", {"thread": True}),
                               ("/scoped", {"cancelled": True})):
                r = http_get(k.port, path)
                self.assertEqual((r.status, r.header("x-tag"), r.json()), (200, "yes", body))
            statuses, _ = concurrent_gets(k.port, "/scoped", 10)
            self.assertEqual(statuses, [200] * 10)
            self.assertNotIn("Exception in ASGI application", k.log())


class AsgiOnWsgiWorkers(unittest.TestCase):
    """An ASGI app given to a WSGI-only worker type stops the server at boot
    (exit 3) with a message, instead of answering 500 forever."""

    def test_refused_at_boot(self):
        cases = [(wc, "asgi_apps:app", ()) for wc in worker_classes() if wc != "asyncio"]
        cases += [("sync", "asgi_apps:asgi_object", ()),
                  ("sync", "hello:app", ("--interface", "asgi"))]
        for wc, app, extra in cases:
            with self.subTest(worker=wc, app=app):
                t0 = time.monotonic()
                cp = run_kirin("-k", wc, "-w", "2", "-b", f"127.0.0.1:{free_port()}", *extra,
                               app, timeout=30)
                self.assertEqual(cp.returncode, 3, cp.stderr)
                self.assertIn(f"{app} is an ASGI app: use -k asyncio", cp.stderr)
                self.assertLess(time.monotonic() - t0, 25)

    def test_wsgi_apps_still_served(self):
        for app, extra, body in (("asgi_apps:wsgi_three", (), b"wsgi"),
                                 ("asgi_apps:asgi_object", ("--interface", "wsgi"), None)):
            with self.subTest(app=app), Kirin("-k", "sync", *extra, app) as k:
                r = http_get(k.port, "/")
                if body:
                    self.assertEqual(r.body, body)
                else:  # forced to WSGI: called as one, and fails as one
                    self.assertEqual(r.status, 500)


@skip_stack_switching("asyncio")
class AsgiWebSocket(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kirin(*ASYNCIO, "asgi_apps:ws").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def closes(self):
        return json.loads(http_get(self.k.port, "/wscloses").body)

    def test_echo_subprotocol_and_client_close(self):
        import websocket
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.k.port}/", timeout=10,
                                         subprotocols=["one", "two"])
        self.assertEqual(ws.getsubprotocol(), "two")
        self.assertEqual(ws.getheaders().get("x-ws"), "yes")
        ws.send("h\u00e9llo")
        self.assertEqual(ws.recv(), "h\u00e9llo!")
        big = os.urandom(1 << 20)
        ws.send_binary(big)
        self.assertEqual(ws.recv(), big[::-1])
        before = len(self.closes())
        ws.close(status=1000)
        self.assertTrue(wait_for(lambda: len(self.closes()) == before + 1, 15))
        self.assertEqual(self.closes()[-1], 1000)

    def test_refusals(self):
        for path, status in (("/deny", b"403"), ("/http-deny", b"401")):
            r = Raw(self.k.port, path)
            self.assertTrue(r.head.startswith(b"HTTP/1.1 " + status), r.head)
        r = Raw(self.k.port, "/http-deny")
        self.assertIn(b"www-authenticate: Basic", r.head)

    def test_invalid_handshakes_never_reach_the_app(self):
        """RFC 6455 section 4.2.2: 426 naming version 13, or 400, then EOF,
        before the app: it never sees a websocket scope for them. Also sent
        byte by byte, oversize, and followed by frames from a client that
        never closes; a normal client is served meanwhile."""
        up = b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        key = b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
        v13 = b"Sec-WebSocket-Version: 13\r\n"
        get = b"GET /never HTTP/1.1\r\nHost: x\r\n"
        cases = [
            (get + up + key + b"Sec-WebSocket-Version: 12\r\n\r\n", b"426"),
            (get + up + key + b"\r\n", b"426"),
            (get + up + v13 + b"\r\n", b"400"),
            (get + up + v13 + b"Sec-WebSocket-Key: " + b"A" * 6000 + b"\r\n\r\n", b"400"),
            (get + b"Upgrade: websocket\r\n" + key + v13 + b"\r\n", b"400"),
            (b"GET /never HTTP/1.0\r\n" + up + key + v13 + b"\r\n", b"400"),
            (get + up + key + v13 + b"Sec-WebSocket-Extensions: permessage-deflate; x=\"\r\n\r\n",
             b"400"),
            (get + up + key + b"Sec-WebSocket-Version: 8\r\n\r\n" + b"\x81\x82abcdef" * 50,
             b"426"),
        ]
        for request, status in cases:
            for step in (len(request), 5):
                with self.subTest(request=request[:120], step=step):
                    s = socket.create_connection(("127.0.0.1", self.k.port), timeout=10)
                    with s:
                        for i in range(0, len(request), step):
                            s.sendall(request[i:i + step])
                        got = b""
                        while data := s.recv(65536):  # EOF comes: the client never closes
                            got += data
                    self.assertTrue(got.startswith(b"HTTP/1.1 " + status + b" "), got)
                    self.assertEqual(status == b"426",
                                     b"\r\nSec-WebSocket-Version: 13\r\n" in got, got)
            self.assertEqual(http_get(self.k.port, "/").status, 200)
        self.assertNotIn("/never", json.loads(http_get(self.k.port, "/wspaths").body))

    def test_close_codes(self):
        r = Raw(self.k.port, "/close")
        self.assertTrue(r.head.startswith(b"HTTP/1.1 101"), r.head)
        self.assertEqual(r.close_code(), 4000)
        r = Raw(self.k.port, "/")
        r.send(frame(OP_TEXT, b"raise"))
        self.assertEqual(r.close_code(), 1011)
        self.assertIn("ws boom", self.k.log())

    def test_hostile_frames(self):
        # An unmasked frame is a protocol error (1002), a message over
        # --websocket-max-message is too big (1009); others are served.
        r = Raw(self.k.port, "/")
        r.send(frame(OP_TEXT, b"no mask", masked=False))
        self.assertEqual(r.close_code(), 1002)
        r = Raw(self.k.port, "/")
        r.send(frame(OP_BINARY, b"", length=1 << 40)[:14])
        self.assertEqual(r.close_code(), 1009)
        r = Raw(self.k.port, "/")
        r.send(frame(OP_TEXT, b"still here"))
        self.assertEqual(r.frame(), (OP_TEXT, b"still here!"))
        self.assertEqual(http_get(self.k.port, "/echo").status, 200)

    @unittest.skipUnless(HAVE_WEBSOCKETS or os.environ.get("CI"),
                         "python3-websockets is not installed")
    def test_permessage_deflate(self):
        """As under WSGI: the websockets library (it offers permessage-deflate
        by default) echoes through it; a raw client sees the server's frame
        compressed (RSV1, fewer bytes than the message); a deflate bomb is
        refused with 1009 while inflating, corrupt data with 1007; a normal
        client is served meanwhile."""
        import asyncio
        import zlib
        import websockets

        async def session(port):
            async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
                ext = ws.response_headers.get("Sec-WebSocket-Extensions")
                echoed = []
                for m in ["hello", "h\u00e9llo" * 10000, os.urandom(100000), b"\0" * 90000]:
                    await ws.send(m)
                    echoed.append(await ws.recv() == m)
                await ws.send(b"\0" * (1 << 20))  # 1 KB on the wire
                try:
                    await ws.recv()
                    code = None
                except websockets.ConnectionClosed as e:
                    code = e.rcvd.code if e.rcvd else None
                return ext, echoed, code

        def deflate(data):
            z = zlib.compressobj(wbits=-15)
            return (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]

        with Kirin(*ASYNCIO, "--websocket-max-message", "100000", "asgi_apps:ws_echo") as k:
            ext, echoed, code = asyncio.run(asyncio.wait_for(session(k.port), 30))
            self.assertEqual(ext, "permessage-deflate; server_no_context_takeover")
            self.assertEqual(echoed, [True] * 4)
            self.assertEqual(code, 1009)
            message = b"compress me " * 1000
            r = Raw(k.port, "/", extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
            r.send(frame(OP_TEXT | 0x40, deflate(message)))
            self.assertTrue(r._need(2))
            rsv1 = r.buf[0] & 0x40
            op, payload = r.frame()
            self.assertEqual((op, rsv1), (OP_TEXT, 0x40))
            self.assertLess(len(payload), len(message) // 10)
            inflater = zlib.decompressobj(wbits=-15)
            self.assertEqual(inflater.decompress(payload + b"\0\0\xff\xff"), message)
            r.send(frame(OP_BINARY | 0x40, b"\xff\xfe not deflate"))
            self.assertEqual(r.close_code(), 1007)
            r.close()
            self.assertEqual(http_get(k.port, "/").body, b"hello")

    def test_ping(self):
        """--websocket-ping: a silent client is pinged, and closed when it
        does not answer (the app hears the disconnect), also when stuck
        inside a frame; one that answers stays; a normal client is served
        meanwhile."""
        with Kirin(*ASYNCIO, "--websocket-ping", "2", "asgi_apps:ws") as k:
            start = time.monotonic()
            mute = Raw(k.port, "/")
            stuck = Raw(k.port, "/")
            stuck.send(frame(OP_TEXT, b"never finished")[:5])  # half a header
            self.assertEqual(http_get(k.port, "/echo").status, 200)
            self.assertEqual(mute.frame()[0], OP_PING)
            self.assertTrue(mute.eof())
            self.assertTrue(stuck.eof())
            took = time.monotonic() - start
            self.assertLess(took, 20)
            self.assertGreater(took, 3.5)
            self.assertIn("no pong within 2 s", k.log())
            self.assertTrue(wait_for(lambda: json.loads(
                http_get(k.port, "/wscloses").body).count(1006) == 2, 15))
            alive = Raw(k.port, "/")
            for _ in range(2):
                op, payload = alive.frame()
                self.assertEqual(op, OP_PING)
                alive.send(frame(OP_PONG, payload))
            alive.send(frame(OP_TEXT, b"still here"))
            self.assertEqual(alive.frame(), (OP_TEXT, b"still here!"))
            for r in (mute, stuck, alive):
                r.close()

    def test_stop_says_going_away(self):
        with Kirin(*ASYNCIO, "asgi_apps:ws") as k:
            r = Raw(k.port, "/")
            r.send(frame(OP_TEXT, b"x"))
            self.assertEqual(r.frame(), (OP_TEXT, b"x!"))
            k.signal(15)
            self.assertEqual(r.close_code(), 1001)
            self.assertEqual(k.wait(15), 0)


if __name__ == "__main__":
    main()

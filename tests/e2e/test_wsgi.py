"""PEP 3333 in practice, under every worker class this build runs:
wsgiref.validate finds nothing to complain about (GET, POST with a length and
chunked, HEAD, streaming, file_wrapper, exc_info, write()); the environ
(PATH_INFO decoding, RAW_URI, SCRIPT_NAME from --root-path and $SCRIPT_NAME,
SERVER_NAME on unix sockets); wsgi.input's methods; streaming that is tested
by handshake, not sleeps; close() on a client that goes away; responses that
break their Content-Length; errors in start_response; and a 13 MB file sent
byte-exact with sendfile(2)."""
import hashlib
import json
import os
import random
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, main, parse_raw, per_worker_class, raw_request,  # noqa: E402
                       read_to_eof, recv_responses, request, wait_for)

# What wsgiref.validate (or the app's own checks) would leave in the log.
LINT_MARKERS = ("WSGIWarning", "AssertionError", "without being closed", "Traceback")


class Control:
    """The test's side of an app that waits (wait_go in the apps): a listening
    socket on 127.0.0.1; go() accepts the app's connection and sends a byte."""
    def __init__(self):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.srv.settimeout(60)
        self.port = self.srv.getsockname()[1]

    def go(self):
        conn, _ = self.srv.accept()
        conn.sendall(b"g")
        conn.close()

    def close(self):
        self.srv.close()


def open_request(port, data, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    return s


def read_until(s, needle, timeout=60):
    """Read from s until needle has arrived; returns everything read."""
    deadline = time.monotonic() + timeout
    out = b""
    while needle not in out:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} did not arrive; got {out[:300]!r}")
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {needle!r}; got {out[:300]!r}")
        out += chunk
    return out


def dechunk(body):
    """Decode a chunked body; returns (data, complete) where complete says the
    terminating zero-size chunk arrived."""
    out = b""
    while body:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return out, False
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return out, True
        out += rest[:size]
        body = rest[size + 2:]
    return out, False


class Lint:
    """The validated app: each request must succeed with nothing in the log."""
    worker_class = "sync"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.file = os.path.join(cls.tmp.name, "blob")
        cls.file_data = random.Random(5).randbytes(300 * 1024 + 3)
        with open(cls.file, "wb") as f:
            f.write(cls.file_data)
        cls.k = Kirin("-k", cls.worker_class, "wsgi_lint:app",
                      env={"KIRIN_E2E_FILE": cls.file}).start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()
        cls.tmp.cleanup()

    def assertCleanLog(self):
        log = self.k.log()
        for marker in LINT_MARKERS:
            self.assertNotIn(marker, log, f"the validator complained:\n{log}")

    def test_get(self):
        r = request(self.k.port, "/get?a=1&b=%20")
        self.assertEqual((r.status, r.body), (200, b"GET a=1&b=%20"), r)
        self.assertCleanLog()

    def test_head(self):
        raw = raw_request(self.k.port, b"HEAD /head HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n", timeout=30)
        status, headers, body = parse_raw(raw)
        self.assertEqual(status, 200, raw)
        self.assertEqual(body, b"")
        self.assertIn(("content-length", "5"), [(k.lower(), v) for k, v in headers])
        self.assertCleanLog()

    def test_post_with_content_length(self):
        data = random.Random(1).randbytes(200 * 1024 + 1)
        r = request(self.k.port, "/post", "POST", body=data, timeout=60,
                    headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.body.decode(), f"{len(data)} {hashlib.sha256(data).hexdigest()}")
        self.assertCleanLog()

    def test_post_chunked(self):
        data = random.Random(2).randbytes(150 * 1024)
        pieces = [data[i:i + 5000] for i in range(0, len(data), 5000)]
        r = request(self.k.port, "/post", "POST", body=iter(pieces), timeout=60)
        self.assertEqual(r.body.decode(), f"{len(data)} {hashlib.sha256(data).hexdigest()}")
        self.assertCleanLog()

    def test_readline_readlines_iter(self):
        body = b"first\n" + b"".join(b"line %d\n" % i for i in range(100)) + b"no newline"
        r = request(self.k.port, "/lines", "POST", body=body, timeout=60)
        self.assertEqual(r.body, b"%d|first|%d|0" % (102, len(body) - 6), r)
        self.assertCleanLog()

    def test_streaming(self):
        ctl = Control()
        try:
            s = open_request(self.k.port, f"GET /stream?ctl={ctl.port} HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n".encode())
            with s:
                got = read_until(s, b"part one\n")
                self.assertNotIn(b"part two", got)
                ctl.go()  # only now can the app produce part two
                got += read_to_eof(s)
        finally:
            ctl.close()
        status, _, body = parse_raw(got)
        self.assertEqual(status, 200)
        data, complete = dechunk(body)
        self.assertEqual(data, b"part one\npart two\n")
        self.assertTrue(complete, body)
        self.assertCleanLog()

    def test_file_wrapper(self):
        r = request(self.k.port, "/file", timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.file_data)
        self.assertCleanLog()

    def test_exc_info_before_the_head_replaces_the_response(self):
        r = request(self.k.port, "/exc-info")
        self.assertEqual((r.status, r.body), (503, b"replaced\n"), r)
        self.assertEqual(r.header("X-Replaced"), "yes")
        self.assertCleanLog()

    def test_write_callable(self):
        r = request(self.k.port, "/write")
        self.assertEqual((r.status, r.body), (200, b"written, returned\n"), r)
        self.assertCleanLog()


class LintLateExcInfo:
    """start_response(exc_info) after the head went out re-raises: the
    response is cut short (no last chunk) and the error logged."""
    worker_class = "sync"

    def test_exc_info_after_the_head_reraises(self):
        with Kirin("-k", self.worker_class, "wsgi_lint:app") as k:
            raw = raw_request(k.port, b"GET /exc-info-late HTTP/1.1\r\nHost: x\r\n\r\n",
                              timeout=30)
            status, _, body = parse_raw(raw)
            self.assertEqual(status, 200, raw)
            data, complete = dechunk(body)
            self.assertEqual(data, b"first\n")
            self.assertFalse(complete, "a cut-short response must not look complete")
            self.assertTrue(wait_for(lambda: "kirin-e2e-late-exc-info" in k.log(), 10), k.log())
            self.assertNotIn("WSGIWarning", k.log())


class Environ:
    worker_class = "sync"

    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("-k", cls.worker_class, "wsgi_probe:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def env(self, path, **kw):
        r = request(self.k.port, path, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_path_info_is_decoded_as_latin1_and_raw_uri_is_not(self):
        e = self.env("/environ/caf%C3%A9/a%2Fb?q=%C3%A9")
        self.assertEqual(e["PATH_INFO"], "/environ/caf\u00c3\u00a9/a/b")
        self.assertEqual(e["RAW_URI"], "/environ/caf%C3%A9/a%2Fb?q=%C3%A9")
        self.assertEqual(e["QUERY_STRING"], "q=%C3%A9")
        self.assertEqual(e["SCRIPT_NAME"], "")

    def test_wsgi_keys(self):
        e = self.env("/environ")
        self.assertEqual(e["wsgi.version"], [1, 0])
        self.assertEqual(e["wsgi.url_scheme"], "http")
        if self.worker_class in ("sync", "gthread"):
            self.assertIs(e["wsgi.multithread"], self.worker_class == "gthread")
        self.assertIsInstance(e["wsgi.multithread"], bool)
        self.assertIsInstance(e["wsgi.multiprocess"], bool)
        self.assertIs(e["wsgi.run_once"], False)
        self.assertIs(e["wsgi.input_terminated"], True)
        for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
            self.assertIn(key, e)

    def test_server_and_remote(self):
        e = self.env("/environ")
        self.assertEqual((e["SERVER_NAME"], e["SERVER_PORT"]), ("127.0.0.1", str(self.k.port)))
        self.assertEqual(e["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(e["REMOTE_PORT"].isdigit(), e["REMOTE_PORT"])
        self.assertEqual(e["SERVER_PROTOCOL"], "HTTP/1.1")

    def test_repeated_headers_joined_with_comma(self):
        # The same value twice is a repeat too (the worker may hand both the same str).
        raw = raw_request(self.k.port, b"GET /environ HTTP/1.1\r\nHost: x\r\nX-Rep: a\r\n"
                          b"X-Rep: b\r\nX-Rep: c\r\nX-Same: s\r\nX-Same: s\r\n"
                          b"Connection: close\r\n\r\n", timeout=30)
        status, _, body = parse_raw(raw)
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(body)["HTTP_X_REP"], "a,b,c")
        self.assertEqual(json.loads(body)["HTTP_X_SAME"], "s,s")

    def test_each_request_sees_its_own_target(self):
        # Targets repeat, change, and grow past what is kept: RAW_URI and
        # PATH_INFO are each request's own.
        long_path = "/environ/" + "p" * 100
        sends = ["/environ/a", "/environ/a", "/environ/b%20c?q", long_path, long_path,
                 "/environ/a", "/environ/b%20c?q"]
        s = None
        try:
            for target in sends:
                if s is None or self.worker_class == "sync":
                    if s is not None:
                        s.close()
                    s = socket.create_connection(("127.0.0.1", self.k.port), timeout=30)
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
                head, body = recv_responses(s, 1, 30)[0]
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                e = json.loads(body)
                self.assertEqual(e["RAW_URI"], target)
                self.assertEqual(e["PATH_INFO"], target.split("?")[0].replace("%20", " "))
        finally:
            if s is not None:
                s.close()

    def test_each_request_sees_its_own_header_values(self):
        # Values repeat, change, grow past what is kept per name, and vanish
        # (on one keep-alive connection where the worker keeps connections):
        # each environ must hold exactly its own.
        long_ua = "L" * 300
        sends = [{"User-Agent": "a", "X-Only-First": "1"}, {"User-Agent": "a"},
                 {"User-Agent": "b"}, {"User-Agent": long_ua}, {"User-Agent": long_ua[:-1] + "M"},
                 {"User-Agent": "a"}]
        s = None
        try:
            for i, hdrs in enumerate(sends):
                if s is None or self.worker_class == "sync":
                    if s is not None:
                        s.close()
                    s = socket.create_connection(("127.0.0.1", self.k.port), timeout=30)
                lines = "".join("%s: %s\r\n" % kv for kv in hdrs.items())
                s.sendall(("GET /environ?n=%d HTTP/1.1\r\nHost: h%d\r\n%s\r\n"
                           % (i, i % 2, lines)).encode())
                head, body = recv_responses(s, 1, 30)[0]
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                e = json.loads(body)
                self.assertEqual(e["QUERY_STRING"], "n=%d" % i)
                self.assertEqual(e["HTTP_HOST"], "h%d" % (i % 2))
                self.assertEqual(e["HTTP_USER_AGENT"], hdrs["User-Agent"])
                self.assertEqual("HTTP_X_ONLY_FIRST" in e, i == 0)
        finally:
            if s is not None:
                s.close()

    def test_environ_changes_stay_in_their_request(self):
        # Per peer, the worker keeps what does not change between requests:
        # an app that changes its environ must not change the next one's, on
        # its connection or another.
        conns = [socket.create_connection(("127.0.0.1", self.k.port), timeout=30)
                 for _ in range(2)]
        try:
            for rnd in range(3):
                for i, s in enumerate(conns):
                    if self.worker_class == "sync":  # one request per connection
                        s.close()
                        s = conns[i] = socket.create_connection(("127.0.0.1", self.k.port),
                                                                timeout=30)
                    path = "/mutate" if (rnd + i) % 2 else "/environ"
                    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                    head, body = recv_responses(s, 1, 30)[0]
                    self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                    if path == "/mutate":
                        continue
                    e = json.loads(body)
                    self.assertEqual(e["SERVER_NAME"], "127.0.0.1")
                    self.assertEqual(e["REMOTE_PORT"], str(s.getsockname()[1]))
                    self.assertNotIn("kirin.e2e", e)
        finally:
            for s in conns:
                s.close()

    def test_many_keep_alive_peers_each_see_their_own_port(self):
        # More connections than the worker keeps peers for, taking turns:
        # each request's REMOTE_PORT is its own connection's.
        if self.worker_class == "sync":
            self.skipTest("one request per connection")
        conns = [socket.create_connection(("127.0.0.1", self.k.port), timeout=30)
                 for _ in range(200)]
        try:
            for _ in range(3):
                for s in conns:
                    s.sendall(b"GET /environ HTTP/1.1\r\nHost: x\r\n\r\n")
                for s in conns:
                    head, body = recv_responses(s, 1, 30)[0]
                    self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                    self.assertEqual(json.loads(body)["REMOTE_PORT"], str(s.getsockname()[1]))
        finally:
            for s in conns:
                s.close()

    def test_method_query_and_protocol_are_each_requests_own(self):
        sends = [("POST", "/environ?x=1", "1.1", "POST", "x=1"),
                 ("GET", "/environ", "1.1", "GET", ""),
                 ("DELETE", "/environ?", "1.1", "DELETE", ""),
                 ("GET", "/environ?y", "1.0", "GET", "y")]
        for method, target, version, want_method, want_query in sends:
            raw = raw_request(self.k.port, ("%s %s HTTP/%s\r\nHost: x\r\nContent-Length: 0\r\n"
                                            "Connection: close\r\n\r\n"
                                            % (method, target, version)).encode(), timeout=30)
            status, _, body = parse_raw(raw)
            self.assertEqual(status, 200, raw)
            e = json.loads(body)
            self.assertEqual((e["REQUEST_METHOD"], e["QUERY_STRING"], e["SERVER_PROTOCOL"]),
                             (want_method, want_query, "HTTP/" + version))

    def test_callables_kept_past_their_request_refuse(self):
        for _ in range(2):
            r = request(self.k.port, "/keep-callables")
            self.assertEqual((r.status, r.body), (200, b"kept"))
            r = request(self.k.port, "/stale-callables", "POST", body=b"fresh", timeout=30)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"start_response": "RuntimeError",
                                        "write": "AssertionError", "input": "", "own": "fresh"})
            self.assertEqual(request(self.k.port, "/keywords").body, b"keywords")

    def test_start_response_with_keywords(self):
        r = request(self.k.port, "/keywords")
        self.assertEqual((r.status, r.body), (201, b"keywords"))

    def input_ops(self, body, ops, chunked=False):
        b = iter([body[i:i + 3] for i in range(0, len(body), 3)]) if chunked else body
        r = request(self.k.port, "/input?ops=" + ops, "POST", body=b, timeout=30)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_input_read_readline_readlines_iter(self):
        body = b"ab\ncdef\nghi\njkl\nmno\npqr"
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.assertEqual(
                    self.input_ops(body, "read:1,readline,readline:2,readline,readlines:1,"
                                   "iter,read,read:5,readline", chunked),
                    ["a", "b\n", "cd", "ef\n", ["ghi\n"], ["jkl\n", "mno\n", "pqr"],
                     "", "", ""])
                self.assertEqual(self.input_ops(body, "read,read", chunked),
                                 [body.decode(), ""])
                self.assertEqual(self.input_ops(body, "readlines", chunked),
                                 [["ab\n", "cdef\n", "ghi\n", "jkl\n", "mno\n", "pqr"]])

    def test_input_never_reads_past_the_body(self):
        # Bytes after the declared body (a pipelined request) are not the body.
        raw = raw_request(self.k.port, b"POST /input?ops=read,read:10 HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                          timeout=30)
        status, _, body = parse_raw(raw)
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(body[:body.index(b"]") + 1]), ["hello", ""])

    def test_get_without_body_reads_empty(self):
        r = request(self.k.port, "/input?ops=read,readline,readlines")
        self.assertEqual(r.json(), ["", "", []])


class RootPath:
    worker_class = "sync"

    def check(self, k):
        e = request(k.port, "/mnt/app/x%20y?z=1").json()
        self.assertEqual((e["SCRIPT_NAME"], e["PATH_INFO"]), ("/mnt/app", "/x y"))
        self.assertEqual(e["RAW_URI"], "/mnt/app/x%20y?z=1")
        e = request(k.port, "/mnt/app").json()
        self.assertEqual((e["SCRIPT_NAME"], e["PATH_INFO"]), ("/mnt/app", ""))
        # Not under the mount point (also not a mere string prefix of it).
        for path in ("/elsewhere/environ", "/mnt/application"):
            self.assertEqual(request(k.port, path).status, 500, path)

    def test_root_path_flag(self):
        with Kirin("-k", self.worker_class, "--root-path", "/mnt/app/", "wsgi_probe:app") as k:
            self.check(k)

    def test_script_name_environment_variable(self):
        with Kirin("-k", self.worker_class, "wsgi_probe:app",
                   env={"SCRIPT_NAME": "/mnt/app"}) as k:
            self.check(k)


class UnixSocket:
    worker_class = "sync"

    def test_server_name_and_port_from_host(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "k.sock")
            with Kirin("-k", self.worker_class, "-b", f"unix:{path}", "wsgi_probe:app",
                       bind=False, unix=path):
                e = request(None, "/environ", unix=path, headers={"Host": "example.org:8080"}).json()
                self.assertEqual((e["SERVER_NAME"], e["SERVER_PORT"]), ("example.org", "8080"))
                e = request(None, "/environ", unix=path, headers={"Host": "example.org"}).json()
                self.assertEqual((e["SERVER_NAME"], e["SERVER_PORT"]), ("example.org", "80"))
                self.assertEqual(e["PATH_INFO"], "/environ")


class Responses:
    """Streaming, disconnects, broken lengths and app errors (wsgi_probe)."""
    worker_class = "sync"

    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("-k", cls.worker_class, "--keep-alive", "60", "wsgi_probe:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_client_disconnect_mid_stream_calls_close(self):
        with tempfile.TemporaryDirectory() as tmp:
            mark = os.path.join(tmp, "closed")
            ctl = Control()
            try:
                s = open_request(self.k.port, f"GET /forever?ctl={ctl.port}&mark={mark} HTTP/1.1"
                                 "\r\nHost: x\r\n\r\n".encode())
                read_until(s, b"part one\n")
                s.close()  # the client goes away mid-response
                ctl.go()   # now the app yields forever
            finally:
                ctl.close()

            def closed():
                try:
                    with open(mark) as f:
                        return f.read() == "closed\n"
                except FileNotFoundError:
                    return False
            self.assertTrue(wait_for(closed, 30), f"close() was not called:\n{self.k.log()}")
        # The worker survived and serves the next request.
        self.assertEqual(request(self.k.port, "/environ").status, 200)

    def test_exception_mid_stream_closes_and_logs(self):
        ctl = Control()
        try:
            s = open_request(self.k.port, f"GET /midstream?ctl={ctl.port} HTTP/1.1\r\n"
                             "Host: x\r\n\r\n".encode())
            with s:
                got = read_until(s, b"part one\n")
                ctl.go()
                got += read_to_eof(s, timeout=20)  # EOF, not the keep-alive timeout
        finally:
            ctl.close()
        data, complete = dechunk(parse_raw(got)[2])
        self.assertEqual(data, b"part one\n")
        self.assertFalse(complete)
        self.assertTrue(wait_for(lambda: "kirin-e2e-midstream-marker" in self.k.log(), 10))

    def test_shorter_than_content_length_closes_and_says_so(self):
        s = open_request(self.k.port, b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        with s:
            start = time.monotonic()
            got = read_to_eof(s, timeout=30)
        self.assertLess(time.monotonic() - start, 20, "the connection was kept open")
        status, headers, body = parse_raw(got)
        self.assertEqual(status, 200)
        self.assertIn(("Connection", "close"), headers)  # known before the head went out
        self.assertEqual(body, b"12345")

    def test_longer_than_content_length_is_cut_and_the_connection_kept(self):
        """The framing is intact (the extra bytes are dropped): the
        connection carries the next request, or says it closes (sync)."""
        with open_request(self.k.port, b"GET /long HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /long HTTP/1.1\r\nHost: x\r\n\r\n") as s:
            got = recv_responses(s, 2, 10)
        self.assertEqual(got[0][1], b"12345")
        if self.worker_class == "sync":
            self.assertIn(b"\r\nConnection: close", got[0][0])
        else:
            self.assertEqual([body for _, body in got], [b"12345", b"12345"])

    def test_invalid_status_and_headers_are_500(self):
        for path in ("/bad-status", "/bad-header-value", "/bad-header-type", "/not-bytes",
                     "/non-latin1-header"):
            with self.subTest(path=path):
                r = request(self.k.port, path)
                self.assertEqual(r.status, 500, r)
                self.assertIsNone(r.header("X-Evil"))
                self.assertIsNone(r.header("Set-Cookie"))
        self.assertIn("Traceback", self.k.log())

    def test_constant_header_tuples_every_time(self):
        # The worker keeps header tuples it saw before with their line: the
        # same objects, request after request, give the same head; a second,
        # different Content-Length stays refused.
        s = None
        try:
            for path in ["/constant-headers"] * 3 + ["/constant-conflict"] * 2 + \
                    ["/constant-headers"]:
                if s is None or self.worker_class == "sync":
                    if s is not None:
                        s.close()
                    s = socket.create_connection(("127.0.0.1", self.k.port), timeout=30)
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                head, body = recv_responses(s, 1, 30)[0]
                if path == "/constant-conflict":
                    self.assertTrue(head.startswith(b"HTTP/1.1 500 "), head)
                    s.close()
                    s = None
                    continue
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                self.assertEqual(body, b"const")
                self.assertEqual(head.count(b"\r\nContent-Length: 5\r\n"), 1, head)
                self.assertEqual(head.lower().count(b"content-length"), 1, head)
                self.assertIn(b"\r\nX-Const: padded\r\n", head)
                self.assertIn(b"\r\nContent-Type: text/plain\r\n", head)
        finally:
            if s is not None:
                s.close()

    def test_header_values_are_sent_as_latin1(self):
        raw = raw_request(self.k.port, b"GET /latin1-header HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n", timeout=30)
        self.assertIn(b"\r\nX-Latin1: \xe9t\xe9\r\n", raw)

    def test_file_wrapper_offset_and_length(self):
        data = random.Random(7).randbytes(100_000)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            for q, expect in ((f"offset=1000", data[1000:]),
                              (f"offset=1000&length=500", data[1000:1500])):
                with self.subTest(q=q):
                    r = request(self.k.port, f"/file?path={f.name}&{q}", timeout=30)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.body, expect)
            r = request(self.k.port, f"/file-nofileno?path={f.name}", timeout=30)
            self.assertEqual(r.body, data)
            r = request(self.k.port, f"/file-notell?path={f.name}&offset=1000", timeout=30)
            self.assertEqual(r.body, data[1000:])


class Sendfile:
    worker_class = "sync"

    def test_13mb_file_is_sent_with_sendfile(self):
        data = random.Random(13).randbytes(13 * 1024 * 1024 + 7)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            with Kirin("-k", self.worker_class, "--log-level", "debug", "wsgi_probe:app") as k:
                r = request(k.port, f"/file?path={f.name}", timeout=120)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(len(r.body), len(data))
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(data).digest())
                self.assertTrue(wait_for(lambda: f"sendfile: {len(data)} bytes of fd " in k.log(),
                                         10), k.log())
                self.assertRegex(k.log(), rf"sendfile: {len(data)} bytes of fd \d+ from offset 0")

    def test_no_sendfile(self):
        """Gunicorn's --no-sendfile: the same bytes, read and written."""
        data = random.Random(2).randbytes(2 * 1024 * 1024 + 3)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            with Kirin("-k", self.worker_class, "--no-sendfile", "--log-level", "debug",
                       "wsgi_probe:app") as k:
                r = request(k.port, f"/file?path={f.name}", timeout=120)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(hashlib.sha256(r.body).digest(), hashlib.sha256(data).digest())
                r = request(k.port, f"/file?path={f.name}&offset=1000", timeout=120)
                self.assertEqual(r.body, data[1000:])
                self.assertNotIn("sendfile:", k.log())


class BodyAfterHead:
    """The head arrives, then (later, in pieces) a body: reading it must not
    disturb the request the app is still answering, also when the buffer
    has to grow under small limits."""
    worker_class = "sync"

    def exchange(self, k, head, pieces):
        with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
            s.sendall(head)
            for piece in pieces:
                time.sleep(0.1)
                s.sendall(piece)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    def test_body_sent_after_the_head(self):
        # The body spells HEAD: a head buffer overwritten by it would turn
        # the POST into a HEAD, answered without a body.
        for limits in ([], ["--limit-request-field_size", "100", "--limit-request-fields", "10"]):
            with self.subTest(limits=limits), \
                    Kirin("-k", self.worker_class, *limits, "body_first:app") as k:
                head = (b"POST /upload HTTP/1.1\r\nHost: a\r\nX-Tag: keep\r\n"
                        b"Content-Length: 40000\r\nConnection: close\r\n\r\n")
                got = self.exchange(k, head, [b"HEAD" * 2500, b"HEAD" * 7500])
                self.assertTrue(got.endswith(b"POST /upload 40000 keep\n"), got[-200:])
                chunked = (b"POST /c HTTP/1.1\r\nHost: a\r\nX-Tag: kept\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                got = self.exchange(k, chunked, [b"4\r\nHEAD\r\n", b"3a98\r\n" + b"HEAD" * 3750,
                                                 b"\r\n0\r\n\r\n"])
                self.assertTrue(got.endswith(b"POST /c 15004 kept\n"), got[-200:])


for _base in (Lint, LintLateExcInfo, Environ, RootPath, UnixSocket, Responses, Sendfile,
              BodyAfterHead):
    per_worker_class(_base, globals())

if __name__ == "__main__":
    main()

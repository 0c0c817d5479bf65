"""HTTP behaviour between the parser and the app: Expect: 100-continue sent
only when the app reads, other expectations refused, the forwarded scheme
from trusted proxies only, empty lines before a request line, and what a
keep-alive connection does with a body the app left unread or with the CRLF
an old client sends after it."""
import json
import os
import socket
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, http_get, main, parse_raw, per_worker_class,  # noqa: E402
                       raw_request, recv_responses)


def read_response(s, timeout=10):
    """One response as (head, body); (b"", None) if the server closed first."""
    got = recv_responses(s, 1, timeout)
    return got[0] if got else (b"", None)


class Http:
    worker_class = "sync"

    def connect(self, k):
        return socket.create_connection(("127.0.0.1", k.port), timeout=10)

    def test_100_continue_only_when_the_app_reads(self):
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with self.connect(k) as s:
                s.sendall(b"POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                          b"Expect: 100-continue\r\n\r\n")
                head, _ = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 100 Continue"), head)
                s.sendall(b"hello")
                head, body = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, b"read 5 http\n")
            if self.worker_class == "gthread":
                self.continue_before_the_app(k)
                return
            with self.connect(k) as s:
                s.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                          b"Expect: 100-continue\r\n\r\n")
                head, body = read_response(s)
                # No interim response: the app answered without the body,
                # and none afterwards either; the connection closes (the
                # client may still send the body or not), and the answer
                # says so.
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertIn(b"\r\nConnection: close", head)
                self.assertEqual(body, b"noread http\n")
                self.assertEqual(s.recv(4096), b"")

    def continue_before_the_app(self, k):
        """gthread reads the body before the app runs (a slow body holds no
        pool thread), so it asks for it at once, as Gunicorn and waitress
        do: the app that does not read it still gets it read, and the
        connection stays."""
        with self.connect(k) as s:
            s.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            head, _ = read_response(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 100 Continue"), head)
            s.sendall(b"hello")
            head, body = read_response(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertNotIn(b"Connection: close", head)
            self.assertEqual(body, b"noread http\n")
            s.sendall(b"GET /noread HTTP/1.1\r\nHost: a\r\n\r\n")
            head, body = read_response(s)
            self.assertEqual(body, b"noread http\n")

    def test_no_100_continue_after_the_final_response(self):
        """The app sends its head, then reads the body: the client gets no
        interim response in the middle of the final one, and the body is
        read when it comes."""
        if self.worker_class == "gthread":
            self.skipTest("gthread asks for the body before the app runs "
                          "(test_100_continue_only_when_the_app_reads)")
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with self.connect(k) as s:
                s.sendall(b"POST /late-read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                          b"Expect: 100-continue\r\n\r\n")
                got = b""
                while b"first\n" not in got:
                    data = s.recv(4096)
                    self.assertTrue(data, got)
                    got += data
                s.sendall(b"hello")
                while True:
                    data = s.recv(4096)
                    if not data:
                        break
                    got += data
                self.assertNotIn(b"100 Continue", got)
                self.assertIn(b"read 5\n", got)
                self.assertIn(b"\r\nConnection: close", got)

    def test_other_expectations_are_refused(self):
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with self.connect(k) as s:
                s.sendall(b"POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                          b"Expect: fortune\r\n\r\nhello")
                head, _ = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 417"), head)

    def test_answers_kirin_makes_carry_date_and_close(self):
        """RFC 9110 6.6.1: an origin server with a clock MUST send Date,
        also in the 4xx/5xx it makes itself; and each of those closes."""
        cases = [
            (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: fortune\r\n\r\n"
             b"hello", 417),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431),
            (b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n", 500),
        ]
        with Kirin("-k", self.worker_class, "boom:app") as k:
            for data, status in cases:
                with self.subTest(status=status), self.connect(k) as s:
                    s.sendall(data)
                    head, body = read_response(s)
                    self.assertTrue(head.startswith(b"HTTP/1.1 %d" % status), head)
                    self.assertRegex(head, rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} "
                                           rb"\d\d:\d\d:\d\d GMT(\r\n|$)")
                    self.assertIn(b"\r\nConnection: close", head)

    def test_forwarded_scheme_from_trusted_peers_only(self):
        proto = b"GET /noread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n"
        with Kirin("-k", self.worker_class, "http_probe:app") as k:  # trusts 127.0.0.1
            with self.connect(k) as s:
                s.sendall(proto % b"X-Forwarded-Proto: https\r\n")
                self.assertEqual(read_response(s)[1], b"noread https\n")
            with self.connect(k) as s:
                s.sendall(proto % b"X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n")
                head, _ = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        with Kirin("-k", self.worker_class, "--forwarded-allow-ips", "10.0.0.1",
                   "http_probe:app") as k:
            with self.connect(k) as s:
                s.sendall(proto % b"X-Forwarded-Proto: https\r\n")
                self.assertEqual(read_response(s)[1], b"noread http\n")

    def test_secure_scheme_headers(self):
        """Gunicorn's secure_scheme_headers, a dict in a Python config file:
        the headers it names replace the default ones."""
        proto = b"GET /noread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n"
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "gunicorn.conf.py")
            with open(conf, "w") as f:
                f.write("secure_scheme_headers = {'X-Scheme': 'https', 'Front-End-Https': 'on'}\n")
            with Kirin("-k", self.worker_class, "-c", conf, "http_probe:app") as k:
                for header, scheme in ((b"X-Scheme: https\r\n", b"https"),
                                       (b"front-end-https: ON\r\n", b"https"),
                                       (b"X-Scheme: http\r\n", b"http"),
                                       (b"X-Forwarded-Proto: https\r\n", b"http")):
                    with self.connect(k) as s:
                        s.sendall(proto % header)
                        self.assertEqual(read_response(s)[1], b"noread %s\n" % scheme, header)
                with self.connect(k) as s:
                    s.sendall(proto % b"X-Scheme: https\r\nFront-End-Https: off\r\n")
                    self.assertTrue(read_response(s)[0].startswith(b"HTTP/1.1 400"))

    def test_proxy_protocol_modes(self):
        """--proxy-protocol off|v1|v2|auto, as Gunicorn >= 24.1."""
        get = b"GET /noread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        v1 = b"PROXY TCP4 10.1.2.3 10.0.0.1 5555 80\r\n"
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c" +
              bytes([10, 1, 2, 3, 10, 0, 0, 1]) + (5555).to_bytes(2, "big") +
              (80).to_bytes(2, "big"))
        expect = {"v1": {v1: b"200", v2: b"400"}, "v2": {v1: b"400", v2: b"200"},
                  "auto": {v1: b"200", v2: b"200"}, "off": {v1: b"400", v2: b"400"}}
        for mode, answers in expect.items():
            with Kirin("-k", self.worker_class, "--proxy-protocol", mode,
                       "http_probe:app") as k:
                for header, status in answers.items():
                    with self.connect(k) as s:
                        s.sendall(header + get)
                        head, _ = read_response(s)
                        self.assertTrue(head.startswith(b"HTTP/1.1 " + status),
                                        (mode, header, head))

    def test_empty_lines_before_the_request_line(self):
        """RFC 9112 section 2.2: a few are skipped, more are refused."""
        get = b"GET /noread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with self.connect(k) as s:
                s.sendall(b"\r\n" + get)
                head, body = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, b"noread http\n")
            with self.connect(k) as s:
                s.sendall(b"\r\n" * 10 + get)
                self.assertTrue(read_response(s)[0].startswith(b"HTTP/1.1 200"))
            with self.connect(k) as s:
                s.sendall(b"\r\n" * 11 + get)
                head, _ = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
            with self.connect(k) as s:
                s.sendall(b"\n" + get)  # bare LF is no line ending, here either
                head, _ = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)


class KeepAliveBody:
    worker_class = "gthread"

    def test_unread_body_is_drained_or_the_connection_closed(self):
        if self.worker_class == "sync":
            self.skipTest("the sync worker closes every connection")
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                # 10 KB the app does not read: drained, the connection stays.
                s.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n"
                          + b"x" * 10000)
                head, body = read_response(s)
                self.assertNotIn(b"Connection: close", head)
                s.sendall(b"GET /noread HTTP/1.1\r\nHost: a\r\n\r\n")
                head, body = read_response(s)
                self.assertEqual(body, b"noread http\n")
            if self.worker_class == "gthread":
                # The body is read before the app runs, whatever its size:
                # the connection stays.
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\n"
                              b"Content-Length: 1000000\r\n\r\n" + b"x" * 1000000
                              + b"GET /noread HTTP/1.1\r\nHost: a\r\n\r\n")
                    got = recv_responses(s, 2, 10)
                    self.assertEqual([body for _, body in got], [b"noread http\n"] * 2)
                return
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                # 1 MB unread: not worth draining, the connection closes.
                s.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
                          + b"x" * 1000)
                head, body = read_response(s)
                self.assertEqual(body, b"noread http\n")
                s.settimeout(10)
                rest = b""
                while True:
                    try:
                        data = s.recv(65536)
                    except ConnectionResetError:
                        break
                    if not data:
                        break
                    rest += data
                self.assertEqual(rest, b"")  # closed, nothing more

    def test_crlf_after_a_post_body_is_skipped(self):
        """Old clients send CRLF after a POST body; the next request follows
        on the same connection, sent later or at once."""
        if self.worker_class == "sync":
            self.skipTest("the sync worker closes every connection")
        post = b"POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\r\n"
        get = b"GET /noread HTTP/1.1\r\nHost: a\r\n\r\n"
        with Kirin("-k", self.worker_class, "http_probe:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(post)
                head, body = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, b"read 5 http\n")
                s.sendall(get)
                head, body = read_response(s)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, b"noread http\n")
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(post + get)
                got = recv_responses(s, 2, 10)
                self.assertEqual([b.startswith(b"HTTP/1.1 200") for b, _ in got], [True, True],
                                 got)
                self.assertEqual([body for _, body in got], [b"read 5 http\n", b"noread http\n"])


class ParserKnobs(unittest.TestCase):
    """Gunicorn's knobs that relax the parser, through the real server (the
    parser's unit tests try them whole and byte by byte): strict by
    default; each relaxes only what it names; a refusal is a 400 and a
    closed connection while other clients are served."""
    REQ = (b"%s / HTTP/1.1\r\nHost: a\r\nX-Bar%s: 2\r\nX_Foo: 1\r\n"
           b"X-Foo: 0\r\nConnection: close\r\n\r\n")

    def ask(self, k, method=b"GET", blank=b""):
        return parse_raw(raw_request(k.port, self.REQ % (method, blank)))

    def test_default_is_strict(self):
        with Kirin("-k", "gthread", "echo_environ:app") as k:
            self.assertEqual(self.ask(k, b"get")[0], 400)
            self.assertEqual(self.ask(k, blank=b" ")[0], 400)
            status, _, body = self.ask(k)
            self.assertEqual(status, 200)
            env = json.loads(body)
            self.assertEqual((env["REQUEST_METHOD"], env["HTTP_X_FOO"]), ("GET", "0"))

    def test_relaxed(self):
        with Kirin("-k", "gthread", "--permit-unconventional-http-method",
                   "--casefold-http-method", "--strip-header-spaces", "--header-map",
                   "dangerous", "echo_environ:app") as k:
            status, _, body = self.ask(k, b"get", b" \t")
            self.assertEqual(status, 200, body)
            env = json.loads(body)
            self.assertEqual(env["REQUEST_METHOD"], "GET")
            self.assertEqual(env["HTTP_X_BAR"], "2")
            self.assertEqual(env["HTTP_X_FOO"], "1,0")  # what "dangerous" means
            self.assertEqual(self.ask(k, b"G(ET")[0], 400)
        with Kirin("-k", "sync", "--permit-unconventional-http-method", "echo_environ:app") as k:
            self.assertEqual(json.loads(self.ask(k, b"Purge")[2])["REQUEST_METHOD"], "Purge")

    def test_obsolete_folding(self):
        folded = (b"GET / HTTP/1.1\r\nHost: a\r\nX-Bar: one \r\n  two\r\n\tthree\r\n"
                  b"Connection: close\r\n\r\n")
        with Kirin("-k", "gthread", "echo_environ:app") as k:  # strict by default
            self.assertEqual(parse_raw(raw_request(k.port, folded))[0], 400)
        with Kirin("-k", "gthread", "--permit-obsolete-folding", "echo_environ:app") as k:
            status, _, body = parse_raw(raw_request(k.port, folded))
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["HTTP_X_BAR"], "one two three")  # as Gunicorn
            # a field the server reads is never continued
            smuggle = folded.replace(b"X-Bar: one", b"Content-Length: 0")
            self.assertEqual(parse_raw(raw_request(k.port, smuggle))[0], 400)

    def test_header_map_refuse(self):
        with Kirin("-k", "gthread", "--header-map", "refuse", "echo_environ:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as bad:
                bad.sendall(self.REQ.replace(b"Connection: close", b"X-Keep: 1") % (b"GET", b""))
                head, _ = read_response(bad)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
                self.assertEqual(http_get(k.port, "/").status, 200)  # others are served
                self.assertEqual(bad.recv(4096), b"")  # and the refused one is closed


for _base in (Http, KeepAliveBody):
    per_worker_class(_base, globals())

if __name__ == "__main__":
    main()

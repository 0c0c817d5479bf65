"""HTTP behaviour between the parser and the app: Expect: 100-continue sent
only when the app reads, other expectations refused, the forwarded scheme
from trusted proxies only, empty lines before a request line, and what a
keep-alive connection does with a body the app left unread or with the CRLF
an old client sends after it."""
import os
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, main, per_worker_class, recv_responses  # noqa: E402


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


for _base in (Http, KeepAliveBody):
    per_worker_class(_base, globals())

if __name__ == "__main__":
    main()

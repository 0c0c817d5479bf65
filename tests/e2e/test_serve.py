"""kirin serves WSGI applications: responses, environ, request bodies, errors
in the application, close(), worker count, unix sockets, several binds and
the default callable names."""
import email.utils
import hashlib
import http.client
import os
import random
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, free_port, http_get, main, raw_request, parse_raw,  # noqa: E402
                       request, wait_for)


class Responses(unittest.TestCase):
    def test_hello_status_body_headers(self):
        with Kirin("hello:app") as k:
            r = http_get(k.port, "/")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.reason, "OK")
            self.assertEqual(r.body, b"Hello, World!\n")
            self.assertEqual(r.header("Content-Type"), "text/plain")
            self.assertEqual(r.header("Content-Length"), "14")
            server = r.header("Server")
            self.assertTrue(server, f"no Server header: {r.headers}")
            self.assertIn("kirin", server.lower())
            date = r.header("Date")
            self.assertTrue(date, f"no Date header: {r.headers}")
            self.assertTrue(date.endswith(" GMT"), date)
            when = email.utils.parsedate_to_datetime(date).timestamp()
            self.assertLess(abs(when - time.time()), 300, date)
            # The sync worker answers one request per connection.
            self.assertEqual((r.header("Connection") or "").lower(), "close", r.headers)
            self.assertEqual(len(r.header_all("Date")), 1)
            self.assertEqual(len(r.header_all("Server")), 1)

    def test_sync_worker_closes_the_connection(self):
        # Even when the client asks for keep-alive, the server closes after
        # the first response: the raw read ends on EOF, not on our timeout.
        with Kirin("hello:app") as k:
            start = time.monotonic()
            raw = raw_request(k.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: keep-alive\r\n\r\n", timeout=20)
            self.assertLess(time.monotonic() - start, 15, "server kept the connection open")
            status, headers, body = parse_raw(raw)
            self.assertEqual(status, 200)
            self.assertEqual(body, b"Hello, World!\n")
            self.assertIn(("Connection", "close"), [(n.title(), v.lower()) for n, v in headers])

    def test_http10_request(self):
        with Kirin("hello:app") as k:
            raw = raw_request(k.port, b"GET / HTTP/1.0\r\n\r\n", timeout=20)
            status, _, body = parse_raw(raw)
            self.assertTrue(raw.startswith(b"HTTP/1."), raw[:40])
            self.assertEqual(status, 200)
            self.assertEqual(body, b"Hello, World!\n")

    def test_head_has_no_body(self):
        with Kirin("hello:app") as k:
            raw = raw_request(k.port, b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=20)
            status, headers, body = parse_raw(raw)
            self.assertEqual(status, 200)
            self.assertEqual(body, b"", "a HEAD response carries no body")
            self.assertIn(("content-length", "14"), [(n.lower(), v) for n, v in headers])


class Environ(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("echo_environ:app", "-w", "2").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def fetch(self, *a, **kw):
        r = request(self.k.port, *a, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_basics(self):
        env = self.fetch("/some/path%20x?a=1&b=two", headers={"X-Custom-Thing": "v1"})
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["PATH_INFO"], "/some/path x")
        self.assertEqual(env["QUERY_STRING"], "a=1&b=two")
        self.assertEqual(env["SCRIPT_NAME"], "")
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertIn(env["SERVER_NAME"], ("127.0.0.1", "localhost"))
        self.assertEqual(env["SERVER_PORT"], str(self.k.port))
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(str(env.get("REMOTE_PORT", "")).isdigit(), env.get("REMOTE_PORT"))
        self.assertEqual(env["HTTP_X_CUSTOM_THING"], "v1")
        self.assertEqual(env["HTTP_HOST"], f"127.0.0.1:{self.k.port}")
        self.assertEqual(env["wsgi.version"], [1, 0])
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertIs(env["wsgi.multiprocess"], True)   # -w 2
        self.assertIs(env["wsgi.multithread"], False)   # sync
        self.assertIs(env["wsgi.run_once"], False)
        self.assertIn("wsgi.input", env)
        self.assertIn("wsgi.errors", env)

    def test_cgi_values_are_native_strings(self):
        env = self.fetch("/x?y", headers={"X-A": "b"})
        for key, value in env.items():
            if "." in key or key.startswith("__"):
                continue
            self.assertIsInstance(value, str, f"{key}={value!r} is not a str (PEP 3333)")

    def test_post_content_type_and_length(self):
        env = self.fetch("/post", method="POST", body=b"a=1&b=2",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["CONTENT_TYPE"], "application/x-www-form-urlencoded")
        self.assertEqual(env["CONTENT_LENGTH"], "7")
        # CONTENT_TYPE / CONTENT_LENGTH are not also given as HTTP_ keys.
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertNotIn("HTTP_CONTENT_LENGTH", env)

    def test_repeated_headers_are_joined(self):
        raw = raw_request(self.k.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                          b"X-Multi: one\r\nX-Multi: two\r\n\r\n", timeout=20)
        status, _, body = parse_raw(raw)
        self.assertEqual(status, 200, raw[:200])
        import json
        self.assertEqual(json.loads(body)["HTTP_X_MULTI"].replace(", ", ","), "one,two")

    def test_header_with_underscore_is_dropped(self):
        raw = raw_request(self.k.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                          b"X_Forwarded_For: 6.6.6.6\r\n\r\n", timeout=20)
        status, _, body = parse_raw(raw)
        self.assertEqual(status, 200, raw[:200])
        import json
        self.assertNotIn("HTTP_X_FORWARDED_FOR", json.loads(body))


class RequestBody(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("upload:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_post_body_arrives_intact(self):
        data = random.Random(1234).randbytes(300 * 1024 + 17)
        r = request(self.k.port, "/upload", method="POST", body=data,
                    headers={"Content-Type": "application/octet-stream"}, timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.decode(), f"{len(data)} {hashlib.sha256(data).hexdigest()}")

    def test_chunked_body_arrives_intact(self):
        data = random.Random(99).randbytes(200 * 1024)
        pieces = [data[i:i + 7000] for i in range(0, len(data), 7000)]
        # An iterable body without Content-Length: http.client sends it chunked.
        r = request(self.k.port, "/upload", method="POST", body=iter(pieces), timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.decode(), f"{len(data)} {hashlib.sha256(data).hexdigest()}")

    def test_empty_body(self):
        r = request(self.k.port, "/upload", method="POST", body=b"", timeout=20)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.decode(), f"0 {hashlib.sha256(b'').hexdigest()}")


class AppErrors(unittest.TestCase):
    def test_exception_gives_500_and_traceback_and_next_request_works(self):
        with Kirin("boom:app", "-w", "1") as k:
            before = k.wait_workers(1)
            r = http_get(k.port, "/boom", timeout=20)
            self.assertEqual(r.status, 500, r)
            self.assertNotIn(b"kirin-e2e-boom-marker", r.body,
                             "the traceback must not be sent to the client")
            logged = wait_for(lambda: "kirin-e2e-boom-marker" in k.log(), 10)
            self.assertTrue(logged, f"exception text not in the error log:\n{k.log()}")
            self.assertIn("Traceback", k.log())
            r = http_get(k.port, "/", timeout=20)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, b"ok\n")
            # The worker handled the exception; it did not have to be replaced.
            self.assertEqual(k.workers(), before)

    def test_iterable_close_is_called(self):
        with tempfile.TemporaryDirectory() as tmp:
            marker = os.path.join(tmp, "closed.txt")
            with Kirin("closing:app", env={"KIRIN_TEST_CLOSE_FILE": marker}) as k:
                r = http_get(k.port, "/?first", timeout=20)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, b"part one, part two\n")

                def closed():
                    try:
                        with open(marker) as f:
                            return "closed first\n" in f.read()
                    except FileNotFoundError:
                        return False
                self.assertTrue(wait_for(closed, 10), "close() was not called")

    def closing_server(self, tmp):
        marker = os.path.join(tmp, "closed.txt")

        def closed(tag):
            try:
                with open(marker) as f:
                    return f"closed {tag}\n" in f.read()
            except FileNotFoundError:
                return False
        k = Kirin("closing:app", "-w", "1", env={"KIRIN_TEST_CLOSE_FILE": marker})
        return k, closed

    def test_close_is_called_when_the_client_hangs_up(self):
        with tempfile.TemporaryDirectory() as tmp:
            k, closed = self.closing_server(tmp)
            with k:
                before = k.wait_workers(1)
                s = socket.create_connection(("127.0.0.1", k.port), timeout=20)
                try:
                    s.sendall(b"GET /?big HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    self.assertTrue(s.recv(1024).startswith(b"HTTP/1.1 200"))
                finally:
                    s.close()  # 128 MB unread: the server's writes fail
                self.assertTrue(wait_for(lambda: closed("big"), 20),
                                f"close() not called after the client left\n{k.log()}")
                self.assertEqual(http_get(k.port, "/?after", timeout=20).status, 200)
                self.assertEqual(k.workers(), before, "the worker died")

    def test_exception_during_iteration(self):
        with tempfile.TemporaryDirectory() as tmp:
            k, closed = self.closing_server(tmp)
            with k:
                before = k.wait_workers(1)
                try:
                    r = http_get(k.port, "/?fail", timeout=20)
                    # Headers went out: the body must not look complete.
                    self.assertNotEqual(r.body, b"part one, part two\n")
                except (OSError, http.client.HTTPException):
                    pass  # cut short: also right
                self.assertTrue(wait_for(lambda: closed("fail"), 10), "close() not called")
                self.assertTrue(wait_for(lambda: "kirin-e2e-midstream-marker" in k.log(), 10),
                                f"the exception is not in the error log\n{k.log()}")
                self.assertEqual(http_get(k.port, "/?after", timeout=20).status, 200)
                self.assertEqual(k.workers(), before, "the worker died")


class Pep3333(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("pep3333:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_write_callable(self):
        r = http_get(self.k.port, "/write")
        self.assertEqual((r.status, r.body), (200, b"written, returned\n"))

    def test_wsgi_errors_goes_to_the_error_log(self):
        self.assertEqual(http_get(self.k.port, "/errors").status, 200)
        self.assertTrue(wait_for(lambda: "kirin-e2e-wsgi-errors-marker" in self.k.log(), 10),
                        self.k.log())

    def test_start_response_with_exc_info_before_body(self):
        r = http_get(self.k.port, "/exc_info")
        self.assertEqual((r.status, r.body), (503, b"oops"))

    def test_readline(self):
        data = b"".join(b"line %d\n" % i for i in range(500)) + b"no newline at the end"
        r = request(self.k.port, "/lines", method="POST", body=data)
        self.assertEqual((r.status, r.body), (200, b"501"))

    def test_large_response(self):
        r = http_get(self.k.port, "/big", timeout=60)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), 8 * 1024 * 1024)
        self.assertEqual(r.body, (bytes(range(256)) * 256) * 128)

    def test_generator_without_content_length(self):
        r = http_get(self.k.port, "/stream")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"".join(b"line %d\n" % i for i in range(1000)))


class Processes(unittest.TestCase):
    def test_three_workers(self):
        with Kirin("echo_environ:app", "-w", "3") as k:
            pids = k.wait_workers(3)
            self.assertNotIn(k.pid, pids)
            # Every answer comes from one of the arbiter's children.
            for _ in range(6):
                served_by = request(k.port, "/").json()["__pid__"]
                self.assertIn(served_by, pids)
            self.assertEqual(k.workers(), pids)


class Binding(unittest.TestCase):
    def test_unix_socket_and_stale_file_removed(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "kirin.sock")
            # Leave a stale socket file behind, as a crashed server would.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()
            self.assertTrue(os.path.exists(path))
            with Kirin("hello:app", "-b", f"unix:{path}", bind=False, unix=path) as k:
                r = request(None, "/", unix=path, timeout=20)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, b"Hello, World!\n")
                raw = raw_request(None, b"GET / HTTP/1.0\r\n\r\n", unix=path, timeout=20)
                self.assertEqual(parse_raw(raw)[0], 200)
                self.assertIsNone(k.poll())

    def test_unix_socket_file_removed_at_stop(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "kirin.sock")
            with Kirin("hello:app", "-b", f"unix:{path}", bind=False, unix=path) as k:
                self.assertTrue(os.path.exists(path))
                k.signal(signal.SIGTERM)
                self.assertEqual(k.wait(15), 0, k.log())
            self.assertFalse(os.path.exists(path), "the socket file was left behind")

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
                port = s.getsockname()[1]
        except OSError:
            self.skipTest("no IPv6 loopback")
        with Kirin("echo_environ:app", "-b", f"[::1]:{port}", bind=False, wait=False) as k:
            def answered():
                try:
                    return request(port, "/", host="::1", timeout=5)
                except OSError:
                    return None
            r = wait_for(answered, 30, interval=0.1)
            self.assertTrue(r, f"no answer on [::1]:{port}\n{k.log()}")
            self.assertEqual(r.json()["REMOTE_ADDR"], "::1")

    def test_inherited_fd(self):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            port = s.getsockname()[1]
            with Kirin("hello:app", "-b", f"fd://{s.fileno()}", bind=False, port=port,
                       pass_fds=(s.fileno(),)) as k:
                s.close()  # kirin holds its own copy
                self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")
        finally:
            s.close()

    def test_two_binds_both_serve(self):
        second = free_port()
        with Kirin("hello:app", "-b", f"127.0.0.1:{second}") as k:
            for port in (k.port, second):
                r = http_get(port, "/", timeout=20)
                self.assertEqual(r.status, 200, (port, r))
                self.assertEqual(r.body, b"Hello, World!\n")

    def test_short_and_long_bind_flags_add_up(self):
        # -b and --bind are the same repeatable setting, and given binds
        # replace the default 127.0.0.1:8000.
        a, b = free_port(), free_port()
        with Kirin("hello:app", "-b", f"127.0.0.1:{a}", "--bind", f"127.0.0.1:{b}",
                   bind=False, port=a) as k:
            self.assertEqual(http_get(a, "/").status, 200)
            self.assertEqual(http_get(b, "/").status, 200)
            self.assertNotIn("127.0.0.1:8000", k.log())


class DefaultCallable(unittest.TestCase):
    def test_module_alone_prefers_application(self):
        with Kirin("default_application") as k:
            self.assertEqual(http_get(k.port, "/").body, b"from application")

    def test_module_alone_falls_back_to_app(self):
        with Kirin("default_app") as k:
            self.assertEqual(http_get(k.port, "/").body, b"from app")

    def test_explicit_callable(self):
        with Kirin("default_application:app") as k:
            self.assertEqual(http_get(k.port, "/").body, b"from app")

    def test_chdir_finds_the_module(self):
        apps = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
        with tempfile.TemporaryDirectory() as elsewhere:
            with Kirin("--chdir", apps, "hello:app", cwd=elsewhere) as k:
                self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")


if __name__ == "__main__":
    main()

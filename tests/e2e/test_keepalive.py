"""What every worker type that keeps connections promises: slow clients that
hold nothing but a buffer, keep-alive and pipelining, the idle timeout,
HTTP/1.0, the connection cap and a graceful stop. Run for gthread, greenlet
and gevent."""
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, http_get, main, read_to_eof, recv_responses,  # noqa: E402
                       skip_stack_switching, wait_for)


def seconds_to_close(port, data):
    """Send data on a new connection, read one answer, and return how long
    the server then takes to close the connection, counted from the send:
    never less than the server's idle timer, however late this client gets
    to read the answer on a busy machine."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        start = time.monotonic()
        s.sendall(data)
        if len(recv_responses(s, 1, 20)) != 1:
            raise AssertionError("no answer")
        read_to_eof(s, 30)
        return time.monotonic() - start


class KeepAlive:
    KIND = None

    def test_trickling_clients_hold_no_thread(self):
        with Kirin("-k", self.KIND, "--threads", "2", "hello:app") as k:
            slow = []
            try:
                for _ in range(300):
                    s = socket.create_connection(("127.0.0.1", k.port), timeout=5)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    slow.append(s)
                for s in slow[:50]:
                    s.sendall(b"a")
                # Held threads would leave it unanswered until --timeout
                # (30 s) closes the slow heads.
                start = time.monotonic()
                r = http_get(k.port, "/", timeout=20)
                self.assertEqual(r.status, 200)
                self.assertLess(time.monotonic() - start, 15)
            finally:
                for s in slow:
                    s.close()

    def test_one_connection_carries_a_hundred_requests(self):
        with Kirin("-k", self.KIND, "hello:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                for i in range(100):
                    s.sendall(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                    (head, body), = recv_responses(s, 1, 10)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                    self.assertNotIn(b"Connection: close", head)

    def test_pipelined_requests_come_back_in_order(self):
        with Kirin("-k", self.KIND, "--threads", "4", "echo_environ:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
                                   for i in range(10)))
                got = recv_responses(s, 10, 10)
            self.assertEqual(len(got), 10)
            for i, (head, body) in enumerate(got):
                self.assertIn(b'"/p%d"' % i, body)

    def test_idle_connection_closed_after_keep_alive(self):
        with Kirin("-k", self.KIND, "--keep-alive", "1", "hello:app") as k:
            waited = seconds_to_close(k.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertGreater(waited, 0.8)
            self.assertLess(waited, 15)

    def test_blank_line_after_a_body_leaves_the_connection_idle(self):
        # Some clients end a POST body with an extra CRLF (RFC 9112 2.2 lets
        # the server ignore it): the connection is then idle (--keep-alive),
        # not in the middle of a head (--timeout).
        post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n"
        with Kirin("-k", self.KIND, "--timeout", "30", "--keep-alive", "1", "hello:app") as k:
            self.assertLess(seconds_to_close(k.port, post), 15)
            # Nor does it hide the request that follows.
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(post)
                self.assertEqual(len(recv_responses(s, 1, 10)), 1)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)

    def test_head_begun_behind_a_request_waits_for_timeout(self):
        # The next head already half there when the answer is sent: the
        # connection waits --timeout for the rest, not --keep-alive.
        with Kirin("-k", self.KIND, "--timeout", "2", "--keep-alive", "30", "hello:app") as k:
            self.assertLess(seconds_to_close(
                k.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost"), 15)

    def test_unfinished_head_closed_after_timeout(self):
        with Kirin("-k", self.KIND, "--timeout", "2", "--keep-alive", "30", "hello:app") as k:
            start = time.monotonic()  # before the server can start its timer
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                got = read_to_eof(s, 30)  # an answer (408) or none, then the close
                self.assertGreater(time.monotonic() - start, 1.5, got)
                self.assertLess(time.monotonic() - start, 15, got)

    def test_closing_clients_in_parallel_all_answered(self):
        # A connection closed after its answer frees its fd number, which the
        # next accept() reuses at once: the new connection must be watched.
        with Kirin("-k", self.KIND, "-w", "2", "--threads", "4", "hello:app") as k:
            failures = []

            def client():
                for _ in range(60):
                    try:
                        with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            got = read_to_eof(s, 30)
                        if not got.startswith(b"HTTP/1.1 200"):
                            failures.append(got[:60])
                    except (OSError, AssertionError) as e:
                        failures.append(repr(e))
            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertFalse(any(t.is_alive() for t in threads))
            self.assertEqual(failures, [])

    def test_http10_closes_unless_keep_alive_asked(self):
        with Kirin("-k", self.KIND, "hello:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                (head, _), = recv_responses(s, 1, 10)
                self.assertIn(b"Connection: close", head)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                for _ in range(2):
                    s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    (head, _), = recv_responses(s, 1, 10)
                    self.assertIn(b"Connection: keep-alive", head)

    def test_term_lets_in_flight_requests_finish(self):
        started = tempfile.TemporaryDirectory()
        self.addCleanup(started.cleanup)
        with Kirin("-k", self.KIND, "--threads", "4", "inflight:app",
                   env={"KIRIN_TEST_STARTED_DIR": started.name}) as k:
            results = []

            def one():
                try:
                    results.append(http_get(k.port, "/?1", timeout=20).status)
                except OSError as e:
                    results.append(e)

            threads = [threading.Thread(target=one) for _ in range(3)]
            for t in threads:
                t.start()
            self.assertTrue(wait_for(lambda: len(os.listdir(started.name)) == 3, 10))
            k.signal(signal.SIGTERM)
            for t in threads:
                t.join(20)
            self.assertEqual(results, [200, 200, 200])
            self.assertEqual(k.wait(15), 0)

    def test_term_gives_a_silent_new_connection_keep_alive_seconds(self):
        # Connected, nothing sent: the stop waits --keep-alive for its
        # request, not --timeout or --graceful-timeout.
        with Kirin("-k", self.KIND, "--keep-alive", "1", "--timeout", "60",
                   "--graceful-timeout", "60", "hello:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10):
                time.sleep(0.3)  # accepted
                start = time.monotonic()
                k.signal(signal.SIGTERM)
                self.assertEqual(k.wait(40), 0)
                self.assertLess(time.monotonic() - start, 30)

    def test_worker_connections_cap(self):
        with Kirin("-k", self.KIND, "--worker-connections", "2", "hello:app") as k:
            held = [socket.create_connection(("127.0.0.1", k.port), timeout=5) for _ in range(2)]
            try:
                for s in held:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(len(recv_responses(s, 1, 10)), 1)
                # A third connection waits in the backlog until one closes.
                third = socket.create_connection(("127.0.0.1", k.port), timeout=5)
                third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                third.settimeout(0.5)
                self.assertRaises(socket.timeout, third.recv, 1)
                held.pop().close()
                self.assertEqual(len(recv_responses(third, 1, 10)), 1)
                third.close()
            finally:
                for s in held:
                    s.close()


class GthreadKeepAlive(KeepAlive, unittest.TestCase):
    KIND = "gthread"


@skip_stack_switching("greenlet")
class GreenletKeepAlive(KeepAlive, unittest.TestCase):
    KIND = "greenlet"


@skip_stack_switching("gevent")
class GeventKeepAlive(KeepAlive, unittest.TestCase):
    KIND = "gevent"


if __name__ == "__main__":
    main()

"""The gthread worker: concurrency from the pool, and sync with --threads
selecting it. What it shares with the other keep-alive workers is in
test_keepalive.py."""
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, concurrent_gets, main, raw_request,  # noqa: E402
                       recv_responses, wait_for)


class GthreadTest(unittest.TestCase):
    def test_fifty_sleepers_run_concurrently(self):
        with Kirin("-k", "gthread", "--threads", "50", "slow:app") as k:
            # 1 s each: a bound generous for a busy machine still tells
            # 50 at once (1 s) from 3 at a time (17 s) or serially (50 s).
            results, elapsed = concurrent_gets(k.port, "/?1", 50)
            self.assertEqual(results, [200] * 50)
            self.assertLess(elapsed, 15)

    def test_a_killed_worker_takes_few_unserved_connections(self):
        """The acceptor took every connection the kernel had queued, so a
        worker killed with -9 took all of them with it (20 of 20 here);
        then --threads running and --threads waiting (4). Now it holds at
        most --threads connections whose first request is not answered:
        those its threads run; the rest wait in the kernel's queue, for
        the worker that replaces it."""
        with Kirin("-k", "gthread", "-w", "1", "--threads", "2", "slow:app") as k:
            (pid,) = k.wait_workers(1)
            socks = []
            # Stopped while the requests come, the worker finds each one
            # whole: a connection whose request has not come yet waits
            # without a credit (a slow head must not stop accepting), and a
            # test client slowed down by a busy machine would give it that.
            os.kill(pid, signal.SIGSTOP)
            try:
                for _ in range(20):
                    s = socket.create_connection(("127.0.0.1", k.port), timeout=30)
                    s.sendall(b"GET /?1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    socks.append(s)
                os.kill(pid, signal.SIGCONT)
                time.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
                served = 0
                for s in socks:
                    try:
                        got = recv_responses(s, 1, 30)
                    except OSError:
                        got = []
                    served += bool(got and got[0][0].startswith(b"HTTP/1.1 200"))
            finally:
                for s in socks:
                    s.close()
            print(f"\ngthread: kill -9 with 20 requests waiting: {20 - served} lost",
                  file=sys.stderr)
            # The 2 in the threads, none waiting for one.
            self.assertGreaterEqual(served, 18, k.log())

    def test_sync_with_threads_selects_gthread(self):
        with Kirin("-k", "sync", "--threads", "4", "hello:app") as k:
            self.assertIn("Using worker: gthread", k.log())

    def test_forced_exit_keeps_the_buffered_access_log(self):
        # --max-requests stops the worker while a request still runs, and
        # --graceful-timeout 0 ends it at once: the request answered just
        # before (its line within the access log's half-second buffer)
        # must still be logged. The probe that found kirin ready is the
        # first of the two requests.
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "access.log")
            with Kirin("-k", "gthread", "--threads", "2", "-w", "1", "--max-requests", "2",
                       "--graceful-timeout", "0", "--access-logfile", log, "slow:app",
                       env={"KIRIN_TEST_STARTED_DIR": d}) as k:
                stuck = socket.create_connection(("127.0.0.1", k.port), timeout=10)
                self.addCleanup(stuck.close)
                stuck.sendall(b"GET /stuck?60 HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertTrue(wait_for(lambda: any(f.startswith("started-")
                                                     for f in os.listdir(d)), 10))
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
                    (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertTrue(wait_for(lambda: "still running after the graceful timeout"
                                         in k.log(), 10), k.log())
                self.assertTrue(wait_for(lambda: "GET /last" in open(log).read(), 10),
                                k.log())

    def test_one_thread_serves_while_fresh_connections_must_wait(self):
        """Idle threads accept, and serve a new connection's request in
        the accepting thread when it is there at once; what must wait for
        its client goes to the loop. With one thread: silent and
        half-sent heads, a half-sent body, then a normal client is served
        at once; each of the others is answered when its client finishes,
        a body that comes with its head is read, a bad body or head gets
        its 400 and a close, and a fresh connection's pipelined and later
        requests are served in order."""
        with Kirin("-k", "gthread", "-w", "1", "--threads", "1", "upload:app") as k:
            waiting = []

            def connect(data):
                s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
                self.addCleanup(s.close)
                s.sendall(data)
                waiting.append(s)
                return s

            for _ in range(10):
                connect(b"")
            heads = [connect(b"GET /?half HTTP/1.1\r\nHo") for _ in range(10)]
            body = connect(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
            for _ in range(5):
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            for s in heads:
                s.sendall(b"st: x\r\n\r\n")
            for s in heads:
                (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            body.sendall(b"67890")
            (head, got), = recv_responses(body, 1, 10)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertTrue(got.startswith(b"10 "), got)
            got = raw_request(k.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              b"Connection: close\r\n\r\nhello")
            self.assertTrue(got.startswith(b"HTTP/1.1 200") and b"\r\n\r\n5 " in got, got)
            got = raw_request(k.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                              b"\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
            self.assertTrue(got.startswith(b"HTTP/1.1 400"), got)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
                (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
                self.assertEqual(s.recv(100), b"")
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                          b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                got = recv_responses(s, 3, 10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                got += recv_responses(s, 2, 10)
                self.assertEqual([b[:2] for _, b in got], [b"0 ", b"3 ", b"0 ", b"0 "], got)
                self.assertEqual(s.recv(100), b"")

    def test_term_lets_a_request_on_a_fresh_connection_finish(self):
        """A request served in the thread that accepted its connection is
        in flight for a graceful stop too: answered, then the worker exits."""
        with tempfile.TemporaryDirectory() as d:
            with Kirin("-k", "gthread", "-w", "1", "--threads", "2", "slow:app",
                       env={"KIRIN_TEST_STARTED_DIR": d}) as k:
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"GET /?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertTrue(wait_for(lambda: os.listdir(d), 10))
                    k.proc.send_signal(signal.SIGTERM)
                    got = recv_responses(s, 1, 10)
                    self.assertTrue(got and got[0][0].startswith(b"HTTP/1.1 200"), k.log())
                    self.assertEqual(s.recv(100), b"")
                self.assertTrue(wait_for(lambda: k.proc.poll() is not None, 10), k.log())
                self.assertEqual(k.proc.returncode, 0, k.log())

if __name__ == "__main__":
    main()

"""Slow request bodies and slow readers (issue 16 item 3) against the
workers that keep connections: 300 sockets trickling a POST body, or 20
clients that never read a big response, must not stop a normal client
from being served on `-w 2 --threads 4`. Each attack is bounded in time
and closes what it opened; latencies are printed for the bench notes."""
import hashlib
import os
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, main, per_worker_class, read_to_eof,  # noqa: E402
                       recv_responses, wait_for)
from test_hostile import normal_latencies, percentile  # noqa: E402

BODY = 1 << 20  # announced by every trickling POST, never completed


def trickle(port, n, stop):
    """n sockets that each sent a POST head announcing BODY bytes, then
    one byte of it per socket every 0.2 s until stop is set."""
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BODY)
            socks.append(s)
        while not stop.wait(0.2):
            for s in socks:
                try:
                    s.send(b"x")
                except OSError:
                    pass
    finally:
        for s in socks:
            s.close()


def never_read(port, path, n):
    """n sockets that each asked for path and never read; the caller closes them."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    return socks


def _get(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return s


class SlowClients:
    worker_class = None

    def setUp(self):
        if self.worker_class == "sync":
            self.skipTest("sync serves one connection at a time behind a buffering proxy")

    def kirin(self, workers, env=None):
        return Kirin("-k", self.worker_class, "-w", str(workers), "--threads", "4",
                     "hostile_app:app", env=env)

    def report(self, what, ms):
        p50, p99 = percentile(ms, 50), percentile(ms, 99)
        print(f"\n{self.worker_class}: {what}: normal client p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms over {len(ms)} requests", file=sys.stderr)
        # The target is p99 < 50 ms; the bound leaves room for a loaded
        # 2-core machine. A client that is not served counts 10 s.
        self.assertLess(p99, 1000, ms)

    def test_trickling_bodies_hold_no_thread(self):
        """Each pool thread used to wait on its client's body: 8 trickling
        sockets took every thread of `-w 2 --threads 4`."""
        with self.kirin(2) as k:
            stop = threading.Event()
            attack = threading.Thread(target=trickle, args=(k.port, 300, stop), daemon=True)
            attack.start()
            try:
                time.sleep(1)
                ms = normal_latencies(k.port, 3)
            finally:
                stop.set()
                attack.join(20)
            self.report("300 trickling bodies", ms)
            # A whole body still arrives and is read by the app.
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(5):
                    s.sendall(b"4\r\nabcd\r\n")
                    time.sleep(0.05)
                s.sendall(b"0\r\n\r\n")
                (head, body), = recv_responses(s, 1, 10)
                self.assertEqual(body.split()[0], b"20")

    def test_bodies_past_the_memory_buffer_arrive_whole(self):
        """Past --request-body-buffer (gthread) a body goes on in a temporary
        file: both framings arrive byte for byte, next to a pipelined
        request."""
        data = os.urandom(3 << 20)
        want = b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 100000]), data[i:i + 100000])
                           for i in range(0, len(data), 100000)) + b"0\r\n\r\n"
        with Kirin("-k", self.worker_class, "--request-body-buffer", "65536",
                   "hostile_app:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % len(data) + data
                          + b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          + chunked + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                got = recv_responses(s, 3, 20)
            self.assertEqual([body for _, body in got], [want, want, b"Hello, World!\n"])

    def test_a_body_past_the_read_ahead_cap_goes_to_the_app(self):
        """With no --limit-request-body, --request-body-buffer-max bounds
        what gthread writes to disk for one body: past 1 MB of a 3 MB body
        (both framings) the app runs and reads the rest from the client,
        which sends it only once the app has started. A body cut short or
        broken past the cap fails in the app's wsgi.input (as on the other
        workers): no 200, and a normal client is served after."""
        if self.worker_class != "gthread":
            self.skipTest("only gthread reads bodies ahead of the app")
        data = os.urandom(3 << 20)
        want = b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 100000]), data[i:i + 100000])
                           for i in range(0, len(data), 100000)) + b"0\r\n\r\n"
        heads = (b"Content-Length: %d" % len(data), b"Transfer-Encoding: chunked")
        with tempfile.TemporaryDirectory() as d:
            posts = os.path.join(d, "posts")
            with Kirin("-k", "gthread", "--request-body-buffer", "65536",
                       "--request-body-buffer-max", "1000000", "hostile_app:app",
                       env={"KIRIN_TEST_POSTS": posts}) as k:
                for n, (framing, body) in enumerate(zip(heads, (data, chunked)), 1):
                    with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % framing
                                  + body[:2 << 20])
                        self.assertTrue(wait_for(lambda: os.path.exists(posts) and
                                                 open(posts).read().count("post") == n, 10),
                                        f"the app did not start ({framing})")
                        s.sendall(body[2 << 20:])
                        (head, got), = recv_responses(s, 1, 20)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                    self.assertEqual(got, want, framing)
                for bad in (b"Content-Length: %d\r\n\r\n" % len(data) + data[:2 << 20],
                            b"Transfer-Encoding: chunked\r\n\r\n" + chunked[:2 << 20]
                            + b"zz\r\n"):
                    with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n" + bad)
                        s.shutdown(socket.SHUT_WR)
                        got = b""
                        while chunk := s.recv(65536):
                            got += chunk
                        self.assertNotIn(b" 200 ", got[:20])
                with _get(k.port) as s:
                    (head, _), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)

    def test_refused_and_broken_bodies_never_reach_the_app(self):
        """A chunked body past --limit-request-body is refused (413), one cut
        short or that stops coming is dropped, and the app sees none of
        them; a normal client is served meanwhile."""
        with tempfile.TemporaryDirectory() as d:
            posts = os.path.join(d, "posts")
            with Kirin("-k", self.worker_class, "--limit-request-body", "1000", "-t", "2",
                       "hostile_app:app", env={"KIRIN_TEST_POSTS": posts}) as k:
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              b"\r\n" + (b"100\r\n" + b"y" * 256 + b"\r\n") * 5)
                    (head, _), = recv_responses(s, 1, 10)
                    self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
                cut = socket.create_connection(("127.0.0.1", k.port), timeout=10)
                cut.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
                cut.close()
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
                    got = read_to_eof(s, 15)  # -t 2 for each wait
                    self.assertNotIn(b" 200 ", got)
                with _get(k.port) as s:
                    (head, body), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                if self.worker_class == "gthread":
                    # The others call the app, whose wsgi.input then raises.
                    self.assertFalse(os.path.exists(posts))

    def test_readers_that_never_read_hold_no_thread(self):
        """20 clients ask for a big response and never read it: a pool
        thread used to wait on each of them. One worker: with two, the
        kernel may hand every attacker to one of them."""
        with tempfile.NamedTemporaryFile() as f:
            f.truncate(50 << 20)
            f.flush()
            with self.kirin(1, env={"KIRIN_TEST_BIG_FILE": f.name}) as k:
                socks = never_read(k.port, b"/file", 10) + never_read(k.port, b"/big?8", 10)
                try:
                    time.sleep(1)
                    ms = normal_latencies(k.port, 3)
                finally:
                    for s in socks:
                        s.close()
                self.report("20 readers that never read", ms)


    def test_slow_readers_get_every_byte(self):
        """What a slow reader does not take at once waits (past 64 KiB in a
        temporary file) and goes out as it reads: a file and a body over
        --response-buffer-max (the thread waits for the client past it),
        in both orders, then a hello on the same connection."""
        data = os.urandom(20 << 20)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            with Kirin("-k", self.worker_class, "--response-buffer", "65536",
                       "--response-buffer-max", "4194304", "hostile_app:app",
                       env={"KIRIN_TEST_BIG_FILE": f.name}) as k:
                for first, second in ((b"/file", b"/big?20"), (b"/big?20", b"/file")):
                    with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                                  b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" % (first, second))
                        time.sleep(1)
                        got = dict(zip((first, second, b"/"), recv_responses(s, 3, 30)))
                    self.assertEqual(sorted(len(body) for _, body in got.values()),
                                     [14, 20 << 20, 20 << 20])
                    self.assertTrue(got[b"/file"][1] == data, "the file came out changed")
                    self.assertTrue(got[b"/big?20"][1] == b"x" * (20 << 20),
                                    "the body came out changed")

    def test_a_streamed_chunk_goes_out_at_once(self):
        """Output is kept only when the client does not take it: the first
        line of a response that then sleeps 5 s arrives before it."""
        with self.kirin(1) as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                start, got = time.monotonic(), b""
                while b"first\n" not in got:
                    data = s.recv(4096)
                    self.assertTrue(data, got)
                    got += data
                self.assertLess(time.monotonic() - start, 4)
                while b"second\n" not in got:
                    data = s.recv(4096)
                    self.assertTrue(data, got)
                    got += data

    def test_a_streamed_chunk_goes_out_as_a_slow_reader_takes_it(self):
        """A reader that does not read for a second, then reads fast, gets
        the whole of a 4 MiB chunk (most of it kept for it: a small
        receive buffer) while the app sleeps 5 s before its next chunk:
        what was kept goes out as the client takes it, not with the next
        chunk. Only gthread keeps output for a slow client; the others
        wait for it in the request's greenlet."""
        if self.worker_class != "gthread":
            self.skipTest("only gthread keeps output for a slow reader")
        with self.kirin(1) as k:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(10)
                s.connect(("127.0.0.1", k.port))
                s.sendall(b"GET /stream?4 HTTP/1.1\r\nHost: x\r\n\r\n")
                start, got = time.monotonic(), bytearray()
                time.sleep(1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now fast
                while True:
                    data = s.recv(1 << 20)
                    self.assertTrue(data, len(got))
                    got += data
                    if b"first\n" in got[-len(data) - 8:]:
                        break
                elapsed = time.monotonic() - start
                print(f"\n{self.worker_class}: a 4 MiB chunk read slowly: whole after "
                      f"{elapsed:.2f} s (the app's next chunk: after 5 s)", file=sys.stderr)
                self.assertLess(elapsed, 4)
                while b"second\n" not in got:
                    data = s.recv(1 << 20)
                    self.assertTrue(data, len(got))
                    got += data


per_worker_class(SlowClients, globals())

if __name__ == "__main__":
    main()

"""The gevent worker: classic monkey-patched gevent apps run unchanged, with
kirin's C doing the HTTP and gevent's hub doing the waiting."""
import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, concurrent_gets, heads_around_a_sleeper, http_get,  # noqa: E402
                       in_thread, main, recv_responses, recv_until, skip_stack_switching,
                       wait_for)

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def served_connections(test, port, n):
    """n keep-alive connections, each answered once and left idle."""
    out = []
    for _ in range(n):
        s = connect(port)
        test.addCleanup(s.close)
        s.sendall(GET)
        test.assertEqual(len(recv_responses(s, 1, 10)), 1)
        out.append(s)
    return out

class TLSPairServer:
    """A TLS server on 127.0.0.1 (a self-signed certificate made in folder
    d) that reads a line from each client, then waits until two clients are
    connected to answer "together" to both, or 10 s to answer "alone"."""

    def __init__(self, d):
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.barrier = threading.Barrier(2, timeout=10)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def __enter__(self):
        threading.Thread(target=self.accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        conn.settimeout(30)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(100)
                try:
                    self.barrier.wait()
                    s.sendall(b"together\n")
                except threading.BrokenBarrierError:
                    s.sendall(b"alone\n")
        except OSError:
            pass


HAVE = all(importlib.util.find_spec(m) for m in ("gevent", "bottle"))
MISSING = "python3-gevent or python3-bottle is not installed"


@skip_stack_switching("gevent")
@unittest.skipUnless(HAVE or os.environ.get("CI"), MISSING)
class GeventTest(unittest.TestCase):
    def test_generator_with_time_sleep_streams_part_by_part(self):
        with tempfile.TemporaryDirectory() as d, \
                Kirin("-k", "gevent", "-w", "1", "gevent_bottle:app") as k:
            gate = os.path.join(d, "go")
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /stream?gate=%s HTTP/1.1\r\nHost: x\r\n\r\n" % gate.encode())
                got = recv_until(s, b"part one")
                self.assertNotIn(b"part two", got)
                # The worker serves other clients while this one sleeps.
                self.assertEqual(http_get(k.port, "/", timeout=5).body, b"ok\n")
                open(gate, "w").close()
                got = recv_until(s, b"part three", got)
                self.assertIn(b"part two", got)

    def test_heads_of_one_turn_served_in_turn_around_a_sleeper(self):
        with Kirin("-k", "gevent", "-w", "1", "coop:app") as k:
            heads_around_a_sleeper(self, k.port)

    def test_long_polling_with_a_gevent_queue_body(self):
        with Kirin("-k", "gevent", "-w", "1", "gevent_bottle:app") as k:
            t, out = in_thread(lambda: http_get(k.port, "/poll", timeout=20))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if http_get(k.port, "/publish?msg=hi", timeout=10).body != b"0\n":
                    break
                time.sleep(0.05)
            t.join(10)
            self.assertEqual(out["value"].body, b"hi\n")

    def test_two_hundred_monkey_patched_sleepers(self):
        with Kirin("-k", "gevent", "-w", "1", "--log-level", "debug",
                   "gevent_bottle:app") as k:
            results, elapsed = concurrent_gets(k.port, "/sleep?s=1", 200)
            self.assertEqual(results, [200] * 200)
            self.assertLess(elapsed, 20)  # serially: 200 s
            # The pool gives back the greenlets the burst left, unhurt.
            self.assertTrue(wait_for(lambda: "gave back" in k.log(), 15), k.log())
            results, _ = concurrent_gets(k.port, "/sleep?s=0.2", 200)
            self.assertEqual(results, [200] * 200)
            self.assertNotIn("Error", k.log())

    def test_urllib_fetch_does_not_block_others(self):
        with Kirin("-k", "gevent", "-w", "1", "gevent_bottle:app") as k:
            t, out = in_thread(lambda: http_get(k.port, "/fetch", timeout=20))
            time.sleep(0.2)  # the fetch is waiting on its 1 s sub-request
            start = time.monotonic()
            self.assertEqual(http_get(k.port, "/", timeout=20).body, b"ok\n")
            # Blocked by urllib, the worker could not even serve the fetch's
            # own sub-request: "/" would wait for urlopen's 10 s timeout.
            self.assertLess(time.monotonic() - start, 8)
            t.join(15)
            self.assertEqual(out["value"].body, b"fetched slept\n")

    def test_the_apps_own_ssl_is_cooperative(self):
        """Two requests whose app reads over TLS (ssl imported by the app, not
        patched by it) overlap in one worker: the TLS server answers each only
        once both are connected, or "alone" after 10 s if one blocked it."""
        with tempfile.TemporaryDirectory() as d, TLSPairServer(d) as server, \
                Kirin("-k", "gevent", "-w", "1", "gevent_tls_client:app") as k:
            t, out = in_thread(lambda: http_get(k.port, f"/?{server.port}", timeout=30))
            self.assertEqual(http_get(k.port, f"/?{server.port}", timeout=30).body, b"together\n")
            t.join(30)
            self.assertEqual(out["value"].body, b"together\n")

    def test_kirin_module_maps_to_gevent(self):
        with Kirin("-k", "gevent", "-w", "1", "coop:app") as k:
            self.assertEqual(http_get(k.port, "/sleep?0.05", timeout=5).body, b"slept\n")
            self.assertEqual(http_get(k.port, "/readable", timeout=10).body, b"True False\n")
            t, out = in_thread(lambda: http_get(k.port, "/get?10", timeout=20))
            self.assertEqual(http_get(k.port, "/spawn", timeout=5).status, 200)
            t.join(10)
            self.assertEqual(out["value"].body, b"spawned\n")

    def test_waiting_connections_hold_no_greenlet(self):
        # Idle keep-alive connections, and accepted ones with nothing sent
        # yet, wait in gevent's hub on an io watcher: only a request takes a
        # greenlet (one each would be 300 here).
        with Kirin("-k", "gevent", "-w", "1", "--keep-alive", "60", "gevent_bottle:app") as k:
            held = served_connections(self, k.port, 200)
            for _ in range(100):
                held.append(connect(k.port))
                self.addCleanup(held[-1].close)
            # One worker accepts in order: this answer means all were accepted.
            count = int(http_get(k.port, "/greenlets", timeout=10).body)
            self.assertLess(count, 100)
            # And each of them is still served.
            for s in held:
                s.sendall(GET)
            for s in held:
                (head, body), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, b"ok\n")

    def test_term_closes_idle_connections_and_answers_fresh_ones(self):
        with Kirin("-k", "gevent", "-w", "1", "--keep-alive", "60", "--graceful-timeout", "60",
                   "gevent_bottle:app") as k:
            idle = served_connections(self, k.port, 50)
            fresh = connect(k.port)
            self.addCleanup(fresh.close)
            self.assertEqual(http_get(k.port, "/", timeout=10).status, 200)  # fresh is accepted
            k.signal(signal.SIGTERM)
            # Closed by the stop, not after --keep-alive (60 s).
            for s in idle:
                s.settimeout(20)
                self.assertEqual(s.recv(1), b"")
            # The stop has begun: a connection not asked anything yet is
            # still answered, then closed.
            fresh.sendall(GET)
            (head, body), = recv_responses(fresh, 1, 10)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertIn(b"Connection: close", head)
            self.assertEqual(fresh.recv(1), b"")
            self.assertEqual(k.wait(20), 0, k.log())


PLUGIN = """CALLED = []
def will_patch_all(event):
    CALLED.append(type(event).__name__)
"""
PLUG_APP = """import json, sys
import pkg_resources
def app(environ, start_response):
    called = {n[-1]: sys.modules[n].CALLED for n in ("kirin_plug_a", "kirin_plug_b")
              if n in sys.modules}
    body = json.dumps({"called": called,
                       "real_pkg_resources": hasattr(pkg_resources, "working_set")}).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


@skip_stack_switching("gevent")
@unittest.skipUnless(HAVE or os.environ.get("CI"), MISSING)
class GeventPlugins(unittest.TestCase):
    """gevent's plugins (entry points in gevent.plugins.*) are found on the
    sys.path each worker has, although the arbiter imports gevent for the
    workers ahead of them, also after a HUP that changes --pythonpath."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kirin-gplug-")
        self.dir = self._tmp.name
        for x in "ab":
            d = os.path.join(self.dir, x)
            info = os.path.join(d, f"kirin_plug_{x}-1.0.dist-info")
            os.makedirs(info)
            with open(os.path.join(d, f"kirin_plug_{x}.py"), "w") as f:
                f.write(PLUGIN)
            with open(os.path.join(info, "METADATA"), "w") as f:
                f.write(f"Metadata-Version: 2.1\nName: kirin-plug-{x}\nVersion: 1.0\n")
            with open(os.path.join(info, "entry_points.txt"), "w") as f:
                f.write(f"[gevent.plugins.monkey.will_patch_all]\n"
                        f"kirin_e2e = kirin_plug_{x}:will_patch_all\n")
        with open(os.path.join(self.dir, "plugapp.py"), "w") as f:
            f.write(PLUG_APP)
        self.ini = os.path.join(self.dir, "kirin.ini")
        self.configure("a")

    def tearDown(self):
        self._tmp.cleanup()

    def configure(self, plug):
        with open(self.ini, "w") as f:
            f.write(f"[kirin]\nworker_class = gevent\nworkers = 2\n"
                    f"pythonpath = {os.path.join(self.dir, plug)}\n")

    def answer(self, k):
        try:
            return json.loads(http_get(k.port, "/", timeout=5).body)
        except (OSError, ValueError):
            return None  # the workers are changing over

    def test_plugins_of_the_workers_path_run_also_after_a_hup(self):
        want_a = {"called": {"a": ["GeventWillPatchAllEvent"]}, "real_pkg_resources": True}
        want_b = {"called": {"b": ["GeventWillPatchAllEvent"]}, "real_pkg_resources": True}
        with Kirin("-c", self.ini, "plugapp:app", cwd=self.dir) as k:
            self.assertEqual(self.answer(k), want_a, k.log())
            old = set(k.wait_workers(2))
            self.configure("b")
            k.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: self.answer(k) == want_b, 20), k.log())
            self.assertTrue(wait_for(lambda: not old & set(k.workers()), 20), k.log())
            # Both new workers run b's plugin only.
            for _ in range(6):
                self.assertEqual(self.answer(k), want_b)


if __name__ == "__main__":
    main()

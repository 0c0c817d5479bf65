#!/usr/bin/python3
"""Operations: the control socket and `kirin ctl`, Prometheus /metrics,
statsd, and what hostile clients of the arbiter's endpoints cannot do."""
import grp
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from kirintest import (KIRIN, Kirin, free_port, http_get, in_thread, kill_tree, main,
                       pid_alive, raw_request, run_kirin, wait_for)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # Debian's python3-prometheus-client (contrib/install-deps.sh test)
    text_string_to_metric_families = None


def ctl(sock, *args, timeout=20):
    return subprocess.run([KIRIN, "ctl", "-s", sock, *args], capture_output=True, text=True,
                          timeout=timeout)


def scrape(port):
    """The samples of /metrics as {(name, frozenset(labels)): value}."""
    r = http_get(port, "/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    out = {}
    for fam in text_string_to_metric_families(r.body.decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def sample(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0)


class Control(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.sock = os.path.join(self.dir.name, "kirin.ctl")

    def tearDown(self):
        self.dir.cleanup()

    def test_status_workers_stats(self):
        with Kirin("statuses:app", "-w", "2", "--control-socket", self.sock) as k:
            k.wait_workers(2)
            before = json.loads(ctl(self.sock, "stats").stdout)["totals"]
            for path in ("/", "/", "/status/404"):
                http_get(k.port, path)
            # Counted once the last byte is out: the client may ask before that.
            self.assertTrue(wait_for(lambda: json.loads(ctl(self.sock, "stats").stdout)
                                     ["totals"]["requests"] - before["requests"] >= 3, 10))
            r = ctl(self.sock, "status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"arbiter pid {k.pid}", r.stdout)
            self.assertIn("workers: 2 (wanted 2", r.stdout)
            r = ctl(self.sock, "workers")
            self.assertEqual(r.returncode, 0, r.stderr)
            pids = {int(line.split()[0]) for line in r.stdout.splitlines()[1:-1]}
            self.assertEqual(pids, set(k.workers()))
            stats = json.loads(ctl(self.sock, "stats").stdout)
            t = stats["totals"]
            self.assertEqual(t["requests"] - before["requests"], 3)
            self.assertEqual(t["status"]["404"] - before["status"].get("404", 0), 1)
            self.assertEqual(len(stats["worker_list"]), 2)
            self.assertEqual(sum(w["requests"] for w in stats["worker_list"]), t["requests"])
            for w in stats["worker_list"]:
                self.assertGreater(w["rss"], 1 << 20)
                self.assertLess(w["last_beat"], 30)
            self.assertEqual(json.loads(ctl(self.sock, "--json", "workers").stdout)["workers"], 2)

    def test_scale_and_reload(self):
        with Kirin("statuses:app", "-w", "1", "--control-socket", self.sock) as k:
            k.wait_workers(1)
            r = ctl(self.sock, "scale", "3")
            self.assertEqual((r.returncode, r.stdout), (0, "workers: 1 -> 3\n"), r.stderr)
            k.wait_workers(3)
            first = set(k.workers())
            # As HUP: new workers, as many as the settings say (scale lasts until then).
            r = ctl(self.sock, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(wait_for(lambda: len(set(k.workers()) & first) == 0 and
                                     len(k.workers()) == 1, 30), k.log())
            for bad in (["scale", "0"], ["scale", "many"], ["scale", "99999"]):
                r = ctl(self.sock, *bad)
                self.assertEqual(r.returncode, 1, bad)
                self.assertIn("scale takes a number", r.stderr)
            self.assertEqual(ctl(self.sock, "explode").returncode, 2)
            self.assertEqual(http_get(k.port, "/").status, 200)

    def test_socket_mode_and_file_goes_at_exit(self):
        """0600 by default as Gunicorn's, whatever --umask says; --control-socket-mode sets it."""
        for args, mode in ((["--umask", "0"], 0o600), (["--control-socket-mode", "0o660"], 0o660)):
            with Kirin("statuses:app", *args, "--control-socket", self.sock):
                st = os.stat(self.sock)
                self.assertTrue(stat.S_ISSOCK(st.st_mode))
                self.assertEqual(stat.S_IMODE(st.st_mode), mode, args)
            self.assertFalse(os.path.exists(self.sock))

    def test_no_control_socket_wins_over_a_configured_one(self):
        with Kirin("statuses:app", "--control-socket", self.sock, "--no-control-socket") as k:
            self.assertEqual(http_get(k.port, "/").status, 200)
            self.assertFalse(os.path.exists(self.sock))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run as other users")
    def test_only_its_user_and_group_may_control_it(self):
        os.chmod(self.dir.name, 0o755)
        with Kirin("statuses:app", "--user", "nobody", "--group", "nogroup",
                   "--control-socket", self.sock):
            st = os.stat(self.sock)
            self.assertEqual((st.st_uid, st.st_gid), (pwd.getpwnam("nobody").pw_uid,
                                                       grp.getgrnam("nogroup").gr_gid))
            as_user = lambda user: subprocess.run(
                [KIRIN, "ctl", "-s", self.sock, "status"], capture_output=True, text=True,
                timeout=20, user=user, group=pwd.getpwnam(user).pw_gid, extra_groups=[])
            r = as_user("nobody")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = as_user("daemon")
            self.assertEqual(r.returncode, 1)
            self.assertIn("Permission denied", r.stderr)

    def test_usr2_hands_both_endpoints_to_the_new_arbiter(self):
        mport = free_port()
        with Kirin("statuses:app", "--control-socket", self.sock,
                   "--metrics-bind", f"127.0.0.1:{mport}") as k:
            k.wait_workers(1)
            k.signal(signal.SIGUSR2)
            new = wait_for(lambda: [p for p in k.workers() if pathlib.Path(
                f"/proc/{p}/cmdline").read_bytes().startswith(b"kirin: master")], 15)
            self.assertTrue(new, k.log())
            new = new[0]
            try:
                self.assertTrue(wait_for(lambda: f"Arbiter booted (pid: {new})" in k.log(), 15))
                k.signal(signal.SIGTERM)
                self.assertEqual(k.wait(15), 0, k.log())
                r = ctl(self.sock, "status")
                self.assertIn(f"arbiter pid {new}", r.stdout, r.stderr + k.log())
                self.assertEqual(http_get(mport, "/metrics").status, 200)
                os.kill(new, signal.SIGTERM)
                self.assertTrue(wait_for(lambda: not pid_alive(new), 15))
                self.assertFalse(os.path.exists(self.sock), "control socket left behind")
            finally:
                kill_tree(new)

    def test_unreachable_and_unbindable(self):
        r = ctl(os.path.join(self.dir.name, "none"), "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect", r.stderr)
        r = run_kirin("statuses:app", "-b", "127.0.0.1:0", "--control-socket",
                      os.path.join(self.dir.name, "no", "such", "dir.ctl"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot bind", r.stderr)
        r = run_kirin("statuses:app", "--metrics-bind", "nowhere")
        self.assertEqual(r.returncode, 1)
        self.assertIn("expected HOST:PORT or unix:PATH", r.stderr)

    @unittest.skipUnless(shutil.which("tmux"), "tmux (contrib/install-deps.sh test)")
    def test_top_under_tmux(self):
        tm = ["tmux", "-L", f"kirin-e2e-{os.getpid()}"]
        with Kirin("statuses:app", "-w", "2", "--control-socket", self.sock) as k:
            k.wait_workers(2)
            try:
                subprocess.run(tm + ["new-session", "-d", "-x", "120", "-y", "30",
                                     f"{KIRIN} ctl -s {self.sock} top"], check=True, timeout=10)
                for _ in range(20):
                    http_get(k.port, "/")
                # Two refreshes at least: the second has rates.
                screen = wait_for(lambda: (lambda s: s if s.count("TOTAL") and
                                           "kirin top" in s and "serving" in s else "")(
                    subprocess.run(tm + ["capture-pane", "-p"], capture_output=True,
                                   text=True, timeout=10).stdout), 15, interval=1.2)
                self.assertIn(f"arbiter {k.pid}", screen)
                for pid in k.workers():
                    self.assertIn(str(pid), screen)
                subprocess.run(tm + ["send-keys", "q"], timeout=10)
                self.assertTrue(wait_for(lambda: subprocess.run(
                    tm + ["has-session"], capture_output=True, timeout=10).returncode != 0, 10))
            finally:
                subprocess.run(tm + ["kill-server"], capture_output=True, timeout=10)


@unittest.skipUnless(text_string_to_metric_families, "python3-prometheus-client")
class Prometheus(unittest.TestCase):
    def test_counts_by_status_class_and_histogram(self):
        mport = free_port()
        with Kirin("statuses:app", "-w", "2", "--metrics-bind", f"127.0.0.1:{mport}") as k:
            k.wait_workers(2)
            m0 = scrape(mport)
            want = {"2xx": 5, "3xx": 1, "4xx": 3, "5xx": 2}
            for _ in range(4):
                http_get(k.port, "/")
            http_get(k.port, "/sleep/0.3")
            http_get(k.port, "/status/302")
            for _ in range(2):
                http_get(k.port, "/status/404")
            raw_request(k.port, b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
            http_get(k.port, "/raise")
            http_get(k.port, "/status/503")
            # A worker counts a request once its last byte is out: the client
            # may ask before that. Wait for the count, then check it exactly.
            count = lambda m: sample(m, "kirin_request_duration_seconds_count",
                                     worker_type="sync")
            self.assertTrue(wait_for(lambda: count(scrape(mport)) - count(m0) >=
                                     sum(want.values()), 10))
            m1 = scrape(mport)
            for cls, n in want.items():
                d = (sample(m1, "kirin_requests_total", worker_type="sync", status_class=cls) -
                     sample(m0, "kirin_requests_total", worker_type="sync", status_class=cls))
                self.assertEqual(d, n, cls)
            self.assertEqual(count(m1) - count(m0), sum(want.values()))
            fast = lambda m: sample(m, "kirin_request_duration_seconds_bucket",
                                    worker_type="sync", le="0.25")
            self.assertEqual(fast(m1) - fast(m0), sum(want.values()) - 1)  # /sleep/0.3
            self.assertGreaterEqual(sample(m1, "kirin_request_duration_seconds_sum",
                                           worker_type="sync"), 0.3)
            self.assertEqual(sample(m1, "kirin_workers", state="alive"), 2)
            self.assertEqual([v for (n, _), v in m1.items() if n == "kirin_build_info"], [1])
            self.assertGreater(sample(m1, "kirin_uptime_seconds"), 0)
            self.assertIn(("kirin_listen_queue", frozenset({("listener", f"127.0.0.1:{k.port}")})),
                          m1)
            # In flight, and open connections, while a request sleeps.
            t, _ = in_thread(lambda: http_get(k.port, "/sleep/2", timeout=20))
            self.assertTrue(wait_for(lambda: sample(scrape(mport), "kirin_requests_in_flight")
                                     == 1, 10))
            self.assertGreaterEqual(sample(scrape(mport), "kirin_connections", state="open"), 1)
            t.join(20)
            self.assertEqual(http_get(mport, "/other").status, 404)

    def test_idle_keep_alive_connections(self):
        mport = free_port()
        with Kirin("statuses:app", "-k", "gthread", "--keep-alive", "30",
                   "--metrics-bind", f"127.0.0.1:{mport}") as k:
            conns = []
            try:
                for _ in range(3):
                    s = socket.create_connection(("127.0.0.1", k.port))
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.settimeout(10)
                    self.assertIn(b"200", s.recv(4096))
                    conns.append(s)
                state = lambda st: sample(scrape(mport), "kirin_connections", state=st)
                self.assertTrue(wait_for(lambda: state("idle") == 3 and state("open") == 3, 10),
                                scrape(mport))
            finally:
                for s in conns:
                    s.close()
            self.assertTrue(wait_for(lambda: state("open") == 0, 10))

    def test_fresh_connections_served_by_pool_threads(self):
        """gthread: requests whose connection a pool thread accepted and
        serves on its own, start to finish, count as open (and not idle)
        connections while they run."""
        mport = free_port()
        with Kirin("statuses:app", "-k", "gthread", "--threads", "4", "--graceful-timeout", "1",
                   "--metrics-bind", f"127.0.0.1:{mport}") as k:
            conns = []
            try:
                for _ in range(3):
                    s = socket.create_connection(("127.0.0.1", k.port))
                    s.sendall(b"GET /sleep/60 HTTP/1.1\r\nHost: x\r\n\r\n")
                    conns.append(s)

                def running(m):
                    return (sample(m, "kirin_requests_in_flight") == 3 and
                            sample(m, "kirin_connections", state="open") == 3)
                self.assertTrue(wait_for(lambda: running(scrape(mport)), 30), scrape(mport))
                self.assertEqual(sample(scrape(mport), "kirin_connections", state="idle"), 0)
            finally:
                for s in conns:
                    s.close()

    def test_listen_queue_depth(self):
        """One sync worker busy in the app: connections wait in the kernel's
        queue, of a TCP listener (TCP_INFO) and of a unix one (sock_diag)."""
        mport = free_port()
        d = tempfile.TemporaryDirectory()
        unix = os.path.join(d.name, "k.sock")
        with Kirin("statuses:app", "-w", "1", "-b", f"unix:{unix}",
                   "--metrics-bind", f"127.0.0.1:{mport}") as k:
            # One sleeper for both listeners, long enough for a busy machine:
            # the queues drain once it ends.
            t, _ = in_thread(lambda: http_get(k.port, "/sleep/8", timeout=30))
            self.assertTrue(wait_for(lambda: sample(scrape(mport),
                                                    "kirin_requests_in_flight") == 1, 10))
            for name, connect in ((f"127.0.0.1:{k.port}",
                                   lambda: socket.create_connection(("127.0.0.1", k.port))),
                                  (f"unix:{unix}", lambda: unix_connect(unix))):
                key = ("kirin_listen_queue", frozenset({("listener", name)}))
                self.assertEqual(scrape(mport)[key], 0)
                waiting = [connect() for _ in range(3)]
                try:
                    self.assertTrue(wait_for(lambda: scrape(mport)[key] == 3, 3), scrape(mport))
                finally:
                    for s in waiting:
                        s.close()
            t.join(30)
        d.cleanup()

    def test_restarts_by_cause(self):
        mport = free_port()
        with Kirin("statuses:app", "-w", "1", "--max-requests", "3", "-t", "2",
                   "--metrics-bind", f"127.0.0.1:{mport}") as k:
            restarts = lambda cause: sample(scrape(mport), "kirin_worker_restarts_total",
                                            cause=cause)
            for _ in range(4):
                http_get(k.port, "/")
            self.assertTrue(wait_for(lambda: restarts("max_requests") >= 1, 15), k.log())
            k.wait_workers(1)
            raw_request(k.port, b"GET /exit HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(wait_for(lambda: restarts("crash") == 1, 15), k.log())
            k.wait_workers(1)
            self.assertTrue(wait_for(lambda: http_get(k.port, "/").status == 200, 15))
            in_thread(lambda: raw_request(k.port, b"GET /sleep/30 HTTP/1.1\r\nHost: x\r\n\r\n",
                                          timeout=30))
            self.assertTrue(wait_for(lambda: restarts("timeout") == 1, 30), k.log())


class Statsd(unittest.TestCase):
    def test_gunicorn_names_prefix_and_tags(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        port = udp.getsockname()[1]
        lines = []

        def drain():
            try:
                while True:
                    lines.extend(udp.recv(65536).decode().split("\n"))
            except socket.timeout:
                pass

        def total(name):
            n = 0
            for ln in lines:
                if ln.startswith(f"web.{name}:") and ln.endswith("|c|#env:test,app:e2e"):
                    n += int(ln.split(":")[1].split("|")[0])
            return n

        try:
            with Kirin("statuses:app", "-w", "2", "--statsd-host", f"127.0.0.1:{port}",
                       "--statsd-prefix", "web.", "--dogstatsd-tags", "env:test,app:e2e",
                       "--enable-backlog-metric") as k:
                k.wait_workers(2)
                # The readiness probe is counted by the second flush from now
                # at the latest (one a second), however late that comes.
                gauge = "web.gunicorn.workers:2|g|#env:test,app:e2e"
                drain()
                flushes = lines.count(gauge) + 2
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and lines.count(gauge) < flushes:
                    drain()
                self.assertGreaterEqual(lines.count(gauge), flushes, lines)
                base = total("gunicorn.requests")
                base200 = total("gunicorn.request.status.200")
                base_errors = total("gunicorn.log.error")
                for path in ("/", "/", "/", "/status/404", "/status/404", "/raise"):
                    http_get(k.port, path)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and total("gunicorn.request.status.500") < 1:
                    drain()
                drain()
                self.assertEqual(total("gunicorn.request.status.404"), 2, lines)
                self.assertEqual(total("gunicorn.request.status.200") - base200, 3, lines)
                self.assertEqual(total("gunicorn.requests") - base, 6, lines)
                # The app's exception counts as Gunicorn's log.exception() does: not an error.
                self.assertEqual(total("gunicorn.log.exception"), 1, lines)
                self.assertEqual(total("gunicorn.log.error"), base_errors, lines)
                self.assertIn("Error handling request", k.log())
                self.assertIn("web.gunicorn.workers:2|g|#env:test,app:e2e", lines)
                self.assertTrue(any(re.fullmatch(r"web\.gunicorn\.backlog:\d+\|h\|#env:test,app:e2e",
                                                 ln) for ln in lines), lines)
                self.assertTrue(any(ln.startswith("web.gunicorn.request.duration:") and
                                    "|ms" in ln for ln in lines), lines)
        finally:
            udp.close()


    def test_unix_datagram_socket_that_appears_later(self):
        d = tempfile.TemporaryDirectory()
        path = os.path.join(d.name, "statsd.sock")
        sink = None
        try:
            with Kirin("statuses:app", "--statsd-host", f"unix:{path}") as k:
                time.sleep(1.5)  # flushes with nobody listening are lost, harmlessly
                sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sink.bind(path)
                sink.settimeout(0.5)
                for _ in range(3):
                    http_get(k.port, "/status/418")
                got = []
                teapots = lambda: sum(int(ln.split(":")[1].split("|")[0]) for ln in got
                                      if ln.startswith("gunicorn.request.status.418:"))
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and teapots() < 3:
                    try:
                        got.extend(sink.recv(65536).decode().split("\n"))
                    except socket.timeout:
                        pass
                self.assertEqual(teapots(), 3, got)
                self.assertIn("gunicorn.workers:1|g", got)
        finally:
            if sink:
                sink.close()
            d.cleanup()


class Reload(unittest.TestCase):
    """HUP applies changed --control-socket, --metrics-bind and --statsd-host
    settings, all or nothing with the rest of the reload."""

    def test_hup_moves_turns_off_and_keeps_the_endpoints(self):
        d = tempfile.TemporaryDirectory()
        conf = os.path.join(d.name, "kirin.ini")
        ctl1, ctl2 = os.path.join(d.name, "one.ctl"), os.path.join(d.name, "two.ctl")
        m1, m2 = free_port(), free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.3)
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        lines = []

        def settings(**kw):
            with open(conf, "w") as f:
                f.write("[kirin]\n" + "".join(f"{k} = {v}\n" for k, v in kw.items()))

        def requests_sent():
            try:
                while True:
                    lines.extend(udp.recv(65536).decode().split("\n"))
            except socket.timeout:
                pass
            return sum(int(ln.split(":")[1].split("|")[0]) for ln in lines
                       if ln.startswith("gunicorn.requests:"))

        def refused(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except ConnectionRefusedError:
                return True
            return False

        try:
            settings(control_socket=ctl1, metrics_bind=f"127.0.0.1:{m1}")
            with Kirin("statuses:app", "-c", conf) as k:
                k.wait_workers(1)
                for _ in range(3):
                    self.assertEqual(http_get(k.port, "/").status, 200)
                self.assertEqual(ctl(ctl1, "status").returncode, 0)
                # Moved, and statsd turned on: the old ones are gone.
                settings(control_socket=ctl2, metrics_bind=f"127.0.0.1:{m2}",
                         statsd_host=f"127.0.0.1:{udp.getsockname()[1]}")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: os.path.exists(ctl2), 15), k.log())
                self.assertEqual(ctl(ctl2, "status").returncode, 0, k.log())
                self.assertFalse(os.path.exists(ctl1))
                self.assertTrue(refused(m1))
                # The counters went on; statsd counts from when it was turned on.
                self.assertGreaterEqual(sample(scrape(m2), "kirin_requests_total",
                                               worker_type="sync", status_class="2xx"), 3)
                for _ in range(2):
                    self.assertEqual(http_get(k.port, "/").status, 200)
                self.assertTrue(wait_for(lambda: requests_sent() >= 2, 15), lines)
                time.sleep(1.5)
                self.assertEqual(requests_sent(), 2, lines)
                # An address that cannot be bound fails the whole reload.
                settings(control_socket=ctl1, metrics_bind=f"127.0.0.1:{busy.getsockname()[1]}",
                         workers=2)
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "reload failed" in k.log(), 15), k.log())
                self.assertIn("cannot bind", k.log())
                self.assertEqual(http_get(m2, "/metrics").status, 200)
                self.assertEqual(ctl(ctl2, "status").returncode, 0)
                self.assertFalse(os.path.exists(ctl1))
                self.assertEqual(len(k.workers()), 1)
                # Turned off.
                settings()
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: not os.path.exists(ctl2), 15), k.log())
                self.assertTrue(wait_for(lambda: refused(m2), 15))
                self.assertEqual(http_get(k.port, "/").status, 200)
        finally:
            udp.close()
            busy.close()
            d.cleanup()


class Hostile(unittest.TestCase):
    """Slow, silent, oversize and junk clients of the control socket and of
    /metrics: the arbiter drops them, and meanwhile heartbeats, signals and
    the application are served as ever."""

    def test_hostile_clients_do_not_stall_the_arbiter(self):
        d = tempfile.TemporaryDirectory()
        sock = os.path.join(d.name, "k.ctl")
        mport = free_port()
        held = []
        try:
            with Kirin("statuses:app", "-w", "1", "-t", "3", "--control-socket", sock,
                       "--metrics-bind", f"127.0.0.1:{mport}") as k:
                k.wait_workers(1)
                first = k.workers()
                for _ in range(20):  # silent: more than the arbiter serves at once
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sock)
                    held.append(s)
                slow = socket.create_connection(("127.0.0.1", mport))
                slow.sendall(b"GET /met")
                held.append(slow)
                # Signals and heartbeats go on: TTIN adds a worker, the first is not
                # timed out (-t 3) while the clients wait, and the app answers.
                os.kill(k.pid, signal.SIGTTIN)
                k.wait_workers(2)
                for _ in range(10):
                    self.assertEqual(http_get(k.port, "/").status, 200)
                time.sleep(4)
                self.assertTrue(set(first) <= set(k.workers()), k.log())
                self.assertNotIn("WORKER TIMEOUT", k.log())
                # Each held client is closed by the arbiter, within its deadline.
                for s in held:
                    s.settimeout(15)
                    try:
                        self.assertEqual(s.recv(100), b"")
                    except ConnectionResetError:
                        pass  # closed with our bytes unread
                # Oversize lines and heads are answered and closed.
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.settimeout(10)
                s.sendall(b"x" * 5000)
                self.assertIn(b"too long", s.recv(1000))
                s.close()
                raw = raw_request(mport, b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 400)
                self.assertTrue(raw.startswith(b"HTTP/1.1 431"), raw[:100])
                raw = raw_request(mport, b"POST /metrics HTTP/1.1\r\n\r\n")
                self.assertTrue(raw.startswith(b"HTTP/1.1 405"), raw[:100])
                r = ctl(sock, "status")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("workers: 2", r.stdout)
        finally:
            for s in held:
                s.close()
            d.cleanup()


if __name__ == "__main__":
    main()

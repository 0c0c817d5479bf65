"""Logging: the access log (Gunicorn's default line, JSON lines, whole lines
from concurrent workers, USR1 after rotation), the error log's level, and
syslog over a datagram socket the test owns (CI has no syslog daemon).

Environment (see tests/local.mk): KIRIN, KIRIN_SRCDIR, KIRIN_PYTHON.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (ASAN, APPS, Kirin, free_port, http_get, main, parse_raw,  # noqa: E402
                       per_worker_class, raw_request, wait_for)

PYTHON = os.environ.get("KIRIN_PYTHON") or sys.executable

# The request of the issue: a query, a referer and a user agent.
REQUEST = (b"GET /greet/there?x=1&y=two HTTP/1.1\r\nHost: localhost\r\n"
           b"Referer: http://example.com/from?a=b\r\n"
           b"User-Agent: kirin-e2e/1.0 (\"quoted\")\r\nConnection: close\r\n\r\n")
TIME = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"
DEFAULT_LINE = re.compile(
    r'^127\.0\.0\.1 - - ' + TIME + r' "GET /greet/there\?x=1&y=two HTTP/1\.1" 200 14 '
    r'"http://example\.com/from\?a=b" "kirin-e2e/1\.0 \(\\"quoted\\"\)"$')


def read_lines(path):
    """The log's complete lines, without the readiness probes."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [ln for ln in text.split("\n")[:-1] if "/__ready" not in ln]


def wait_lines(path, n, timeout=10):
    """Wait until path holds at least n lines (besides probes); returns them."""
    lines = wait_for(lambda: (lambda ls: ls if len(ls) >= n else None)(read_lines(path)),
                     timeout, interval=0.1)
    return lines or read_lines(path)


class AccessLogBase:
    """Run for every worker class this build has."""
    worker_class = "sync"

    def kirin(self, *args, **kw):
        return Kirin("hello:app", "-k", self.worker_class, *args, **kw)

    def test_default_line_is_gunicorns(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "access.log")
            with self.kirin("--access-logfile", path) as k:
                status, _, _ = parse_raw(raw_request(k.port, REQUEST))
                self.assertEqual(status, 200)
                # Buffered, but written within about a second while serving
                # (a busy machine may take longer), not only at exit.
                lines = wait_lines(path, 1, timeout=15)
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], DEFAULT_LINE)

    def test_json_lines_carry_the_same_facts(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "access.log")
            with self.kirin("--access-logfile", path, "--access-logformat", "json") as k:
                raw_request(k.port, REQUEST)
                lines = wait_lines(path, 1)
                workers = k.workers()
            self.assertEqual(len(lines), 1, lines)
            rec = json.loads(lines[0])
            self.assertEqual(rec["remote_addr"], "127.0.0.1")
            self.assertIsNone(rec["remote_user"])
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
            self.assertEqual(rec["request"], "GET /greet/there?x=1&y=two HTTP/1.1")
            self.assertEqual(rec["method"], "GET")
            self.assertEqual(rec["path"], "/greet/there")
            self.assertEqual(rec["query"], "x=1&y=two")
            self.assertEqual(rec["protocol"], "HTTP/1.1")
            self.assertEqual(rec["status"], 200)
            self.assertEqual(rec["bytes"], 14)
            self.assertEqual(rec["referer"], "http://example.com/from?a=b")
            self.assertEqual(rec["user_agent"], 'kirin-e2e/1.0 ("quoted")')
            self.assertIsInstance(rec["duration_us"], int)
            self.assertGreaterEqual(rec["duration_us"], 0)
            self.assertLess(rec["duration_us"], 10_000_000)
            self.assertIn(rec["pid"], workers)

    def test_quick_stop_writes_the_buffered_lines(self):
        """INT: the workers _exit at once, but every answered request keeps
        its line (a line may wait in the buffer for half a second)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "access.log")
            with self.kirin("--access-logfile", path) as k:
                for i in range(5):
                    self.assertEqual(http_get(k.port, f"/quick/{i}").status, 200)
                k.signal(signal.SIGINT)
                self.assertEqual(k.wait(10), 0, k.log())
            lines = read_lines(path)
            self.assertEqual([re.search(r'"GET (\S+) ', ln).group(1) for ln in lines],
                             [f"/quick/{i}" for i in range(5)], lines)


per_worker_class(AccessLogBase, globals())


class AccessLogTest(unittest.TestCase):
    def test_every_atom_on_a_real_request(self):
        fmt = ('%(h)s|%(l)s|%(u)s|%(r)s|%(s)s|%(m)s|%(U)s|%(q)s|%(H)s|%(b)s|%(B)s|%(f)s|'
               '%(a)s|%(p)s|%({x-custom}i)s|%({content-type}o)s|%({wsgi.url_scheme}e)s|'
               '%(nope)s|%(T)s|%(D)s|%(M)s|%(L)s')
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "access.log")
            with Kirin("hello:app", "--access-logfile", path, "--access-logformat", fmt) as k:
                raw_request(k.port, b"GET /a%20b?q=1 HTTP/1.0\r\nX-Custom: v\"1\r\n"
                            b"Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n")
                lines = wait_lines(path, 1)
                pid = k.workers()[0]
        f = lines[0].split("|")
        self.assertEqual(f[:18], [
            "127.0.0.1", "-", "alice", "GET /a%20b?q=1 HTTP/1.0", "200", "GET", "/a b",
            "q=1", "HTTP/1.0", "14", "14", "-", "-", f"<{pid}>", 'v\\"1', "text/plain",
            "http", "-"])
        self.assertEqual(f[18], "0")
        self.assertRegex(f[21], r"^0\.\d{6}$")
        self.assertEqual(int(f[19]), int(f[21].replace(".", "")))
        self.assertEqual(int(f[20]), int(f[19]) // 1000)

    def test_same_line_as_gunicorn(self):
        """Byte for byte what Gunicorn writes for the same request (time aside)."""
        probe = subprocess.run([PYTHON, "-c", "import gunicorn"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("Gunicorn is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = os.path.join(tmp, "kirin.log"), os.path.join(tmp, "gunicorn.log")
            with Kirin("hello:app", "--access-logfile", ours) as k:
                raw_request(k.port, REQUEST)
                kirin_lines = wait_lines(ours, 1)
            port = free_port()
            g = subprocess.Popen([PYTHON, "-m", "gunicorn", "-b", f"127.0.0.1:{port}",
                                  "--access-logfile", theirs, "hello:app"], cwd=APPS,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            try:
                def up():
                    try:
                        return raw_request(port, REQUEST, timeout=2).startswith(b"HTTP/1.1 200")
                    except OSError:
                        return False
                self.assertTrue(wait_for(up, 20, interval=0.2), "gunicorn did not start")
                gunicorn_lines = wait_lines(theirs, 1)
            finally:
                os.killpg(g.pid, signal.SIGKILL)
                g.wait(10)
        mask = re.compile(TIME)
        self.assertEqual(len(kirin_lines), 1)
        self.assertEqual(mask.sub("[TIME]", kirin_lines[0]),
                         mask.sub("[TIME]", gunicorn_lines[0]))

    def test_lines_never_interleave_through_a_pipe(self):
        """Several workers and threads write long lines into one pipe."""
        pad = "p" * 1500
        fmt = '%(h)s "%(r)s" %(s)s %({x-pad}i)s END'
        nclients, per_client = 8, 60
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "access.fifo")
            os.mkfifo(fifo)
            rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            chunks, done = [], threading.Event()

            def reader():
                os.set_blocking(rfd, True)
                while True:
                    b = os.read(rfd, 65536)
                    if not b:
                        if done.is_set():
                            return
                        time.sleep(0.01)
                        continue
                    chunks.append(b)
            t = threading.Thread(target=reader, daemon=True)
            t.start()
            errors = []
            with Kirin("hello:app", "-w", "2", "-k", "gthread", "--threads", "4",
                       "--access-logfile", fifo, "--access-logformat", fmt) as k:
                def client(n):
                    for i in range(per_client):
                        try:
                            raw_request(k.port, f"GET /c{n}/{i} HTTP/1.1\r\nHost: x\r\n"
                                        f"X-Pad: {pad}\r\nConnection: close\r\n\r\n".encode())
                        except OSError as e:
                            errors.append(e)
                threads = [threading.Thread(target=client, args=(n,)) for n in range(nclients)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join(60)
            # kirin has exited: every worker flushed on its way out.
            done.set()
            t.join(10)
            os.close(rfd)
        self.assertEqual(errors, [])
        lines = [ln for ln in b"".join(chunks).decode().split("\n")[:-1]
                 if "/__ready" not in ln]
        line = re.compile(r'^127\.0\.0\.1 "GET /c(\d)/(\d+) HTTP/1\.1" 200 ' + pad + ' END$')
        bad = [ln[:80] for ln in lines if not line.match(ln)]
        self.assertEqual(bad, [])
        seen = {line.match(ln).groups() for ln in lines}
        self.assertEqual(len(seen), nclients * per_client)

    def test_usr1_after_rename_writes_a_new_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "access.log")
            with Kirin("hello:app", "-w", "2", "--access-logfile", path) as k:
                k.wait_workers(2)
                http_get(k.port, "/before")
                self.assertEqual(len(wait_lines(path, 1)), 1)
                os.rename(path, path + ".1")
                k.signal(signal.SIGUSR1)

                def reopened():
                    http_get(k.port, "/after")
                    return os.path.exists(path) and any("/after" in ln
                                                        for ln in read_lines(path))
                self.assertTrue(wait_for(reopened, 15, interval=0.3),
                                f"{path} was not reopened; stderr:\n{k.log()}")
                self.assertIn("Handling signal: usr1", k.log())
            old = read_lines(path + ".1")
            self.assertTrue(any("GET /before" in ln for ln in old), old)
            # Everything after the rename went to one file or the other.
            self.assertFalse(any("/before" in ln for ln in read_lines(path)))

    def test_hup_moves_the_access_log_and_refuses_an_unwritable_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = os.path.join(tmp, "kirin.ini")
            first, second = os.path.join(tmp, "first.log"), os.path.join(tmp, "second.log")
            with open(ini, "w") as f:
                f.write(f"[kirin]\naccesslog = {first}\n")
            with Kirin("hello:app", "-c", ini) as k:
                (old,) = k.wait_workers(1)
                http_get(k.port, "/one")
                self.assertTrue(wait_lines(first, 1))
                with open(ini, "w") as f:
                    f.write(f"[kirin]\naccesslog = {second}\n")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: (lambda w: len(w) == 1 and w != [old])(
                    k.workers()), 15), k.log())

                def moved():
                    http_get(k.port, "/two")
                    return any("/two" in ln for ln in read_lines(second))
                self.assertTrue(wait_for(moved, 15, interval=0.3), k.log())
                # A path the workers could not open: the reload is refused, as a whole.
                with open(ini, "w") as f:
                    f.write(f"[kirin]\naccesslog = {tmp}/missing/x.log\nworkers = 2\n")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "cannot open access log" in k.log(), 10),
                                k.log())
                self.assertIn("reload failed, keeping the running configuration", k.log())
                time.sleep(0.5)
                self.assertEqual(len(k.workers()), 1)
                http_get(k.port, "/three")
                self.assertTrue(wait_for(lambda: any("/three" in ln
                                                     for ln in read_lines(second)), 15))

    def test_stdout(self):
        with Kirin("hello:app", "--access-logfile", "-") as k:
            http_get(k.port, "/to-stdout")
            self.assertTrue(wait_for(lambda: "/to-stdout" in k.stdout(), 15),
                            f"stdout: {k.stdout()!r}")
        self.assertNotIn("/to-stdout", k.log())

    def test_off_by_default(self):
        with Kirin("hello:app") as k:
            http_get(k.port, "/quiet")
        self.assertNotIn("/quiet", k.stdout())
        self.assertNotIn("/quiet", k.log())

    def test_unwritable_access_log_is_refused_at_start(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "missing", "access.log")
            with Kirin("hello:app", "--access-logfile", path, wait=False) as k:
                self.assertEqual(k.wait(20), 1)
            self.assertIn("cannot open access log", k.log())


class ErrorLogTest(unittest.TestCase):
    def test_log_level_warning_hides_info(self):
        with Kirin("hello:app", "--log-level", "warning") as k:
            (pid,) = k.wait_workers(1)
            http_get(k.port, "/")
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(wait_for(lambda: "SIGKILL" in k.log(), 10), k.log())
        log = k.log()
        self.assertNotIn("[INFO]", log)
        self.assertRegex(log, r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] "
                              r"\[WARNING\] Worker \(pid:%d\) exited with .*SIGKILL" % pid)

    @unittest.skipIf(ASAN, "AddressSanitizer turns a SIGSEGV into its own report and exit code")
    def test_info_lines_name_births_and_exits(self):
        with Kirin("hello:app") as k:
            (pid,) = k.wait_workers(1)
            os.kill(pid, signal.SIGSEGV)
            self.assertTrue(wait_for(lambda: "SIGSEGV" in k.log(), 10), k.log())
            k.wait_workers(1)
        log = k.log()
        self.assertIn(f"[INFO] Booting worker with pid: {pid}", log)
        self.assertRegex(log, r"\[WARNING\] Worker \(pid:%d\) exited with .*SIGSEGV" % pid)


class SyslogTest(unittest.TestCase):
    def collect(self, *args):
        """Run kirin with --log-syslog into a socket of ours; (datagrams, worker pid)."""
        with tempfile.TemporaryDirectory() as tmp:
            addr = os.path.join(tmp, "log.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(addr)
            sock.settimeout(0.2)
            got = []
            try:
                with Kirin("hello:app", "--log-syslog", "--log-syslog-to", f"unix:{addr}",
                           *args) as k:
                    (pid,) = k.wait_workers(1)
                    http_get(k.port, "/via-syslog")

                    def received():
                        try:
                            while True:
                                got.append(sock.recv(65536).decode("utf-8", "replace"))
                        except socket.timeout:
                            pass
                        return any("/via-syslog" in d for d in got)
                    self.assertTrue(wait_for(received, 10), got)
            finally:
                sock.close()
        return got, pid

    def test_error_and_access_lines_reach_syslog(self):
        got, pid = self.collect("--log-syslog-prefix", "shop")
        boot = [d for d in got if f"Booting worker with pid: {pid}" in d]
        self.assertEqual(len(boot), 1, got)
        # <PRI>: user (1) * 8 + info (6); the tag names the prefix; one line each.
        self.assertRegex(boot[0], r"^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
                                  r"kirin\.shop\.error\[\d+\]: Booting worker with pid: \d+$")
        access = [d for d in got if "/via-syslog" in d]
        self.assertRegex(access[0], r"^<14>.* kirin\.shop\.access\[%d\]: 127\.0\.0\.1 - - "
                                    % pid + TIME + r' "GET /via-syslog HTTP/1\.1" 200 14 ')

    def test_disable_redirect_access_to_syslog(self):
        """Gunicorn's --disable-redirect-access-to-syslog: the error log
        still reaches syslog, the access log only its file."""
        with tempfile.TemporaryDirectory() as tmp:
            addr, access = os.path.join(tmp, "log.sock"), os.path.join(tmp, "access.log")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(addr)
            sock.settimeout(0.2)
            got = []
            try:
                with Kirin("hello:app", "--log-syslog", "--log-syslog-to", f"unix:{addr}",
                           "--disable-redirect-access-to-syslog", "--access-logfile", access,
                           "-k", "sync") as k:
                    k.wait_workers(1)
                    http_get(k.port, "/not-via-syslog")
                    self.assertTrue(wait_for(lambda: os.path.exists(access) and
                                             "/not-via-syslog" in open(access).read(), 10))
                try:
                    while True:
                        got.append(sock.recv(65536).decode("utf-8", "replace"))
                except socket.timeout:
                    pass
            finally:
                sock.close()
        self.assertTrue([d for d in got if "Booting worker" in d], got)
        self.assertFalse([d for d in got if "/not-via-syslog" in d], got)

    def test_facility_and_default_prefix(self):
        got, _ = self.collect("--log-syslog-facility", "local0", "--log-level", "warning")
        access = [d for d in got if "/via-syslog" in d]
        # local0 (16) * 8 + info (6); the prefix is the app module, ':' made '.'.
        self.assertRegex(access[0], r"^<134>.* kirin\.hello\.app\.access\[\d+\]: ")
        # --log-level applies to syslog too.
        self.assertFalse([d for d in got if "Booting worker" in d], got)


if __name__ == "__main__":
    main()

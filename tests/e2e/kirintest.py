"""Helpers for kirin's end-to-end tests: run the real ./kirin over 127.0.0.1.

Every test runs `$KIRIN` (set by `make check`) in its own process group,
bounds every wait with a deadline, and kills what it started by pid, also
when the test fails. Standard library only.

Environment (see tests/local.mk): KIRIN, KIRIN_SRCDIR, KIRIN_PYTHON,
KIRIN_CONFORMANCE_DIR, CI.
"""
import functools
import http.client
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from procs import (children_of, descendants, free_port, group_pids,  # noqa: E402,F401
                   kill_tree, pid_alive, live_groups as _live_groups)
APPS = os.path.join(HERE, "apps")
KIRIN = os.environ.get("KIRIN", "")
SKIP = 77

def _terminated(signum, frame):
    # make's or CI's timeout sends TERM (HUP when a terminal goes): turn it
    # into an exception so that `with Kirin(...)`, finally blocks and atexit
    # still kill our process groups and remove our temporary directories.
    signal.signal(signum, signal.SIG_DFL)
    raise SystemExit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_sig) == signal.SIG_DFL:
        signal.signal(_sig, _terminated)


def require_kirin():
    """Exit 77 (skip) when there is no binary to test, 1 under CI."""
    if KIRIN and os.access(KIRIN, os.X_OK):
        return
    print(f"no kirin binary to test (KIRIN={KIRIN!r})", file=sys.stderr)
    sys.exit(1 if os.environ.get("CI") else SKIP)


def wait_for(predicate, timeout, interval=0.05):
    """Poll predicate() until it returns something truthy or timeout passes.
    Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- HTTP clients ---------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def request(port, path="/", method="GET", body=None, headers=None, timeout=10,
            host="127.0.0.1", unix=None):
    """One HTTP/1.1 request with http.client; returns a Response.
    unix=PATH talks over an AF_UNIX socket instead of TCP."""
    if unix:
        conn = _UnixHTTPConnection(unix, timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def http_get(port, path="/", timeout=10, **kw):
    return request(port, path, "GET", timeout=timeout, **kw)


def raw_request(port, data, timeout=10, host="127.0.0.1", unix=None, shutdown=False,
                source=None):
    """Send raw bytes, read until the server closes (or timeout); returns bytes.
    source: the local address to connect from (127.0.0.2 is another peer)."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(unix)
        except BaseException:
            s.close()
            raise
    else:
        s = socket.create_connection((host, port), timeout=timeout,
                                     source_address=(source, 0) if source else None)
    deadline = time.monotonic() + timeout
    out = b""
    try:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def parse_raw(data):
    """Split a raw response into (status, [(name, value)], body)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return status, headers, body


# --- processes ------------------------------------------------------------

class KirinError(AssertionError):
    pass


class Kirin:
    """Run $KIRIN as a context manager.

        with Kirin("hello:app", "-w", "2") as k:
            r = http_get(k.port, "/")

    By default binds 127.0.0.1 on a free port (bind=False to pass your own
    -b), runs in tests/e2e/apps (cwd=), and waits until an HTTP request gets
    an answer (wait=False to skip, e.g. when kirin is expected to exit).
    stderr goes to a temporary file: log() returns it as text.
    """

    def __init__(self, *args, cwd=None, env=None, bind=True, wait=True,
                 ready_timeout=30, unix=None, port=None, pass_fds=()):
        self.args = [str(a) for a in args]
        self.cwd = cwd or APPS
        self.env_add = env or {}
        self.bind = bind
        self.wait_ready = wait
        self.ready_timeout = ready_timeout
        self.unix = unix          # readiness probe over this AF_UNIX path
        self.pass_fds = tuple(pass_fds)
        self.port = port if port is not None else (free_port() if bind else None)
        self.proc = None
        self._tmp = None
        self._errf = None
        self._outf = None

    # -- lifecycle --
    def cmdline(self):
        cmd = [KIRIN]
        if self.bind:
            cmd += ["-b", f"127.0.0.1:{self.port}"]
        return cmd + self.args

    def __enter__(self):
        self.start()
        return self

    def start(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kirin-e2e-")
        self._errf = open(os.path.join(self._tmp.name, "stderr"), "w+b")
        self._outf = open(os.path.join(self._tmp.name, "stdout"), "w+b")
        env = dict(os.environ)
        # Do not let the caller's environment change the settings under test.
        for k in ("KIRIN_CMD_ARGS", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT"):
            env.pop(k, None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the source tree
        env.update({k: str(v) for k, v in self.env_add.items()})
        self.proc = subprocess.Popen(self.cmdline(), cwd=self.cwd, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._outf,
                                     stderr=self._errf, start_new_session=True,
                                     pass_fds=self.pass_fds)
        _live_groups.add(self.proc.pid)
        if self.wait_ready:
            try:
                self.wait_until_serving(self.ready_timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def wait_until_serving(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KirinError(f"kirin exited with {self.proc.returncode} before serving; "
                                 f"stderr:\n{self.log()}")
            try:
                raw = raw_request(self.port, b"GET /__ready HTTP/1.1\r\nHost: localhost\r\n"
                                  b"Connection: close\r\n\r\n", timeout=2, unix=self.unix)
                if raw.startswith(b"HTTP/1."):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise KirinError(f"kirin did not answer HTTP within {timeout}s; stderr:\n{self.log()}")

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.check_sanitizers()
        return False

    def check_sanitizers(self):
        """Fail if an ASan/UBSan build of kirin reported an error (a worker
        that dies of one is replaced, so the test itself may have passed)."""
        # ASan misreads greenlet's stack switching as stack-buffer errors:
        # reports from the greenlet and gevent workers are not held against
        # kirin; the asyncio worker's are, but for those made in greenlet's
        # own code (what it serves in a connection greenlet).
        args = " ".join(self.args)
        kinds = [wc for wc in STACK_SWITCHING if f"-k {wc}" in args or
                 f"--worker-class {wc}" in args or f"worker-class={wc}" in args]
        if kinds and kinds != ["asyncio"]:
            return
        text = self.log()
        for needle in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            at = text.find(needle)
            while at >= 0:
                end = text.find(needle, at + 1)
                report = text[at:end if 0 <= end < at + 3000 else at + 3000]
                if not (kinds and "greenlet" in report):
                    raise KirinError("sanitizer report in kirin's stderr:\n"
                                     f"{text[max(0, at - 200):at]}{report}")
                at = end

    def stop(self, timeout=10):
        """TERM the arbiter, then KILL the whole process group after timeout."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            _live_groups.discard(pgid)
            self._close_files()

    def _close_files(self):
        # Keep the captured text readable after the files go.
        if self._errf is not None:
            self._final_log = self._read(self._errf)
            self._final_out = self._read(self._outf)
            self._errf.close()
            self._outf.close()
            self._errf = self._outf = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @staticmethod
    def _read(f):
        f.flush()
        f.seek(0)
        data = f.read().decode("utf-8", "replace")
        f.seek(0, os.SEEK_END)
        return data

    # -- inspection --
    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        """Everything kirin wrote to stderr so far, as text."""
        if self._errf is None:
            return getattr(self, "_final_log", "")
        return self._read(self._errf)

    def stdout(self):
        if self._outf is None:
            return getattr(self, "_final_out", "")
        return self._read(self._outf)

    def workers(self):
        """Pids of the arbiter's live children."""
        return children_of(self.proc.pid)

    def wait_workers(self, n, timeout=15):
        """Wait until the arbiter has exactly n children; returns their pids."""
        pids = wait_for(lambda: (lambda w: w if len(w) == n else None)(self.workers()),
                        timeout)
        if not pids:
            raise KirinError(f"expected {n} workers within {timeout}s, have {self.workers()};"
                             f" stderr:\n{self.log()}")
        return pids

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for the arbiter to exit; returns its exit code, or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def poll(self):
        return self.proc.poll()


def run_kirin(*args, cwd=None, env=None, timeout=30, clean_env=True):
    """Run kirin to completion (--help, --print-config, errors...).
    Returns CompletedProcess with text stdout/stderr; kills its group on timeout."""
    full_env = dict(os.environ)
    if clean_env:
        for k in ("KIRIN_CMD_ARGS", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT"):
            full_env.pop(k, None)
    full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    full_env.update({k: str(v) for k, v in (env or {}).items()})
    proc = subprocess.Popen([KIRIN] + [str(a) for a in args], cwd=cwd or APPS, env=full_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    _live_groups.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _live_groups.discard(proc.pid)
    cp = subprocess.CompletedProcess(proc.args, proc.returncode,
                                     out.decode("utf-8", "replace"),
                                     err.decode("utf-8", "replace"))
    cp.timed_out = timed_out
    return cp


@functools.lru_cache(maxsize=None)
def worker_spellings():
    """Every -k spelling kirin accepts, as `kirin --help` lists them after
    "One of:" (from the worker-type table: each type's name, the default
    first, then Gunicorn's aliases). Asked of the binary once; () without
    one."""
    if not (KIRIN and os.access(KIRIN, os.X_OK)):
        return ()
    for line in run_kirin("--help", timeout=20).stdout.splitlines():
        m = re.search(r"--worker-class .* One of: (.*?)\.(?: \[default|$)", line)
        if m:
            return tuple(w.strip() for w in m.group(1).split(","))
    return ()


def all_worker_classes():
    """The worker types kirin knows, the default first: the spellings that
    are plain lowercase words (Gunicorn's aliases are egg:gunicorn#NAME, a
    class path, or gevent_pywsgi and gevent_wsgi)."""
    return tuple(w for w in worker_spellings() if re.fullmatch(r"[a-z]+", w))


# AddressSanitizer does not follow greenlet's stack switching (false
# reports): a sanitizer build (KIRIN_ASAN=1, set by make check) leaves
# the workers that switch stacks out. The asyncio worker serves an ASGI
# http request from its loop, without a greenlet: tests of those run under
# AddressSanitizer; what it serves in a connection greenlet (a WSGI app, a
# WebSocket, a refusal before the app) is left out.
STACK_SWITCHING = ("greenlet", "gevent", "asyncio")
ASAN = os.environ.get("KIRIN_ASAN") == "1"


def read_by_server(port, sock):
    """True once the server has read what sock (connected to
    127.0.0.1:port) sent: its end of the connection has an empty receive
    queue in /proc/net/tcp. A request is then in a worker's hands, not in
    the listener's backlog, which a stop does not serve."""
    want = (f"0100007F:{port:04X}", f"0100007F:{sock.getsockname()[1]:04X}")
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                return int(fields[4].split(":")[1], 16) == 0
    return False


def in_thread(fn):
    """Run fn() in a daemon thread; returns (thread, out) where out gets
    "value" or "error" when fn returns or raises."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # reported by the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def concurrent_gets(port, path, n, timeout=30):
    """GET path n times at once, each from its own thread. Returns (the
    statuses, or exception reprs, in completion order; seconds taken)."""
    results, lock = [], threading.Lock()

    def one():
        try:
            status = http_get(port, path, timeout=timeout).status
        except OSError as e:
            status = repr(e)
        with lock:
            results.append(status)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    return results, time.monotonic() - start


def read_to_eof(s, timeout=60):
    """Receive until the peer closes (a reset counts as closed); fails the
    test if it has not within timeout seconds."""
    deadline = time.monotonic() + timeout
    out = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            raise AssertionError(f"no EOF within {timeout}s; got {out[:300]!r}")
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def recv_until(sock, marker, got=b""):
    """Receive until marker is in the bytes; returns all of them. Fails the
    test if the peer closes first."""
    while marker not in got:
        data = sock.recv(4096)
        if not data:
            raise AssertionError(f"closed before {marker!r}; got {got[-200:]!r}")
        got += data
    return got


def heads_around_a_sleeper(tc, port):
    """For the workers that serve the heads of a loop turn one after another
    in one greenlet (coop.py app on port): 30 heads that arrive together,
    the first sleeping 5 s and one refused, are all answered while the
    sleeper still sleeps."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(30)]
    try:
        for s in conns:  # each connection kept alive, waiting in the hub
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            tc.assertIn(b" 200 ", recv_until(s, b"ok\n"))
        heads = [b"GET /sleep?5 HTTP/1.1\r\nHost: x\r\n\r\n"] + [
            b"GET /?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(1, 30)]
        heads[10] = b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n"
        for s, head in zip(conns, heads):
            s.sendall(head)
        for i, s in enumerate(conns[1:], 1):
            got = recv_until(s, b"\r\n\r\n" if i == 10 else b"ok\n")
            tc.assertIn(b" 400 " if i == 10 else b" 200 ", got)
        conns[0].setblocking(False)
        with tc.assertRaises(BlockingIOError):  # still asleep
            conns[0].recv(100)
        conns[0].setblocking(True)
        tc.assertIn(b"slept", recv_until(conns[0], b"slept\n"))
    finally:
        for s in conns:
            s.close()


def recv_responses(sock, count, timeout):
    """Read up to `count` Content-Length-framed responses from sock, as
    (head, body) pairs; fewer if the peer closes."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return out
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
        out.append((head, buf[:length]))
        buf = buf[length:]
    return out


def worker_classes():
    """The worker classes to test with this build: all of them, but those
    that switch stacks under AddressSanitizer."""
    return [wc for wc in all_worker_classes() if not (ASAN and wc in STACK_SWITCHING)]


def skip_stack_switching(kind):
    """A unittest skip decorator for tests of a worker class that switches
    stacks, under AddressSanitizer."""
    return unittest.skipIf(ASAN and kind in STACK_SWITCHING,
                           f"{kind} switches stacks, which AddressSanitizer cannot follow")


def per_worker_class(base, namespace):
    """Add one unittest class per available worker class to namespace (a
    module's globals()): base's tests with self.worker_class set, named
    <Base>_<class>. base must not itself be a TestCase."""
    for wc in worker_classes():
        name = f"{base.__name__}_{wc}"
        attrs = {"worker_class": wc, "__module__": namespace.get("__name__")}
        namespace[name] = type(name, (base, unittest.TestCase), attrs)


def main():
    """unittest.main() with automake's exit codes: 0 pass, 1 fail, 77 skip all."""
    require_kirin()
    prog = unittest.main(exit=False, verbosity=2)
    result = prog.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun and len(result.skipped) == result.testsRun:
        sys.exit(SKIP)
    sys.exit(0)

#!/usr/bin/python3
"""kirin's benchmark harness: kirin and its peers side by side, in one run, on
one machine, so that every number that matters is a ratio.

    bench.py --kirin ./kirin [--quick] [--only a,c] [--out DIR]
             [--duration S] [--runs N] [--servers REGEX] [--baseline OLD_KIRIN]
             [--ops] [--pin]

Scenarios (--only takes the letters or the names):
  a hello     hello world, keep-alive, 100 connections
  b close     hello world with Connection: close, 100 connections
  c bodies    bodies of 13 B, 13 KB, 13 MB at 100 and 1,000 connections, and
              13 MB through wsgi.file_wrapper (nginx serves the same file)
  d sleep     1,000 connections sleeping 100 ms cooperatively, against ideal
              (1,000 / 0.1 s): responses per second in a steady-state window
              that opens 1 s after wrk connects; and against the floor, a bare
              C server that answers 100 ms later (tests/bench/sleep_floor)
  e idle      10,000 idle keep-alive connections: RSS per connection, and the
              latency of a fresh request meanwhile
  f post      POST echo of 1 MB bodies, 100 connections
  g ready     time from exec to ready with 4 workers, and the CPU it took
  h parser    the parser micro-benchmark (tests/bench/bench_parser, if built)
  i websocket WebSocket echo round trips at 100 connections (tests/bench/ws_load),
              RSS per idle WebSocket over 10,000, a 16 MiB echo byte-exact;
              against gevent-websocket, uvicorn and uWSGI (tests/bench/wsbench.py)
  j tls       over TLS (a self-signed certificate made with the openssl command,
              nginx with `listen ssl`): hello keep-alive at 100 connections,
              a new TLS connection per request (wrk threads per CPU), and the
              13 MB file through wsgi.file_wrapper (nginx: sendfile on); the
              ASGI hello on kirin -k asyncio against uvicorn with --ssl-*
  k instr     instructions per hello keep-alive request on each kirin worker
              type that keeps connections (asyncio: the ASGI hello) and on
              nginx's `return 200`, every process counted by valgrind's
              callgrind: the difference between two runs (2,000 and 12,000
              requests) over 10,000, on one connection, then on 50 sending in
              step as wrk does (with --ops, ops-TYPE too); what load does not
              move
  l asgi      kirin -k asyncio with an ASGI hello world at 100 keep-alive
              connections against uvicorn (uvloop, httptools) and kirin
              greenlet's WSGI hello; 1,000 connections awaiting
              asyncio.sleep(0.1) against the floor; RSS per idle ASGI
              keep-alive connection over 10,000

One worker each unless a scenario says otherwise. Each server gets a warm-up,
then --runs runs (interleaved across servers, so drift hits all alike); the
median run is reported. --quick runs kirin only, once, briefly and scaled
down (hundreds of connections, 1 MB bodies), and checks that every scenario
ran, not how fast.

Installs nothing: wrk, gunicorn, uwsgi (+ plugins), waitress, nginx and
gnuplot are used when installed (contrib/install-deps.sh bench installs them) and
reported as skipped otherwise. kirin's worker classes that this build does not
have yet are reported as skipped too. Servers listen on free ports of
127.0.0.1, each in its own session, and their process groups are killed by
pid at the end, on Ctrl-C, or on any exception.

--pin puts every server (all its processes) on one CPU and wrk on another
(the first two CPUs the harness may use; it needs two), so that a
single-worker run does not swing with where the scheduler places the worker
and the load generator: unpinned, one worker's hello rate moved 2x from run
to run on a quiet 2-CPU machine. Off by default, because it caps a
multi-worker server at one CPU ((g) and --wrk-threads above 1 make little
sense pinned). The throughput tables give the server's CPU per request split
into user and system time (from /proc/PID/stat), each the median over the
runs (req/s: the median run's): a saturated single worker's rate is the
inverse of their sum.

--ops adds each kirin worker type again with the operations endpoints on
(--statsd-host to a UDP sink of the harness's, --metrics-bind,
--control-socket), named ops-TYPE and run interleaved with kirin-TYPE; each
table then gives ops/off ratios, run by run, to show the noise.

Writes DIR/bench.json, DIR/bench.md and DIR/bench.png. Exits 1 when a kirin
variant failed a scenario it should have run, 0 otherwise.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import client  # noqa: E402  (the epoll client beside this file)
import wsbench  # noqa: E402  (scenario i)
import ssl  # noqa: E402
from procs import children_of, free_port, kill_live_groups, live_groups  # noqa: E402

DEBIAN_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
UWSGI = "/usr/bin/uwsgi"
UWSGI_PLUGINS = "/usr/lib/uwsgi/plugins"
NGINX = "/usr/sbin/nginx"
MAXCONN = 11000          # connection limits given to every server
KEEPALIVE_S = 120        # idle keep-alive timeout given to every server
BACKLOG = 4096

def _on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def cpu_times(pid):
    """(user, system) CPU seconds of one process (all its threads), zeros when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tck, int(fields[12]) / tck
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def cpu_s(pid):
    """User + system CPU seconds of one process (all its threads), 0 when it is gone."""
    return sum(cpu_times(pid))


# --pin: (the servers' CPU, the load generator's CPU), or None.
PIN = None


def pin_to(cpu):
    """A preexec_fn that puts the child on one CPU (None: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def rss_kib(pid):
    """VmRSS of one process in KiB, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- servers ---------------------------------------------------------------

class Unavailable(Exception):
    """This server cannot run here (not installed, or worker class missing)."""


class Server:
    """One running server: its own session, log file, port and process group."""

    def __init__(self, variant, argv, port, tmp, env=None, cwd=None, ready_path="/"):
        self.tls = bool(os.environ.get("BENCH_TLS"))  # scenario (j): it speaks HTTPS
        self.variant = variant
        self.argv = argv
        self.port = port
        self.tmp = tmp
        self.env = env
        self.cwd = cwd
        self.ready_path = ready_path
        self.proc = None
        self.log_path = os.path.join(tmp, f"{variant.name}-{port}.log")
        self.t_exec = None
        self.deaths = []        # why it had to be restarted, oldest first

    def start(self, append=False):
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env["PYTHONPATH"] = APPS
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(self.env or {})
        log = open(self.log_path, "ab" if append else "wb")
        self.t_exec = time.time()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         cwd=self.cwd or APPS, start_new_session=True,
                                         preexec_fn=pin_to(PIN and PIN[0]))
        finally:
            log.close()
        live_groups.add(self.proc.pid)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=6):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def wait_ready(self, timeout=15.0):
        """Wait for a 2xx on ready_path. Raises Unavailable when the server
        says its worker class is not available, RuntimeError on other
        failures."""
        t = (tls_ready(self.port, timeout, self.ready_path, self.alive) if self.tls else
             client.wait_ready(self.port, timeout, self.ready_path, interval=0.005,
                               alive=self.alive))
        if t is not None:
            return t
        if not self.alive():
            time.sleep(0.05)
        tail = self.log_tail()
        if re.search(r"not available|unknown worker|no such worker", tail, re.I):
            raise Unavailable(_short(tail))
        state = "exited %s" % self.proc.returncode if not self.alive() else "no answer"
        raise RuntimeError(f"{state}: {_short(tail)}")

    def workers(self):
        """The worker pids: the children of the started process, or the
        process itself when it has none."""
        if not self.alive():
            return []
        kids = children_of(self.proc.pid)
        return kids or [self.proc.pid]

    def rss_kib(self):
        return sum(rss_kib(p) for p in self.workers())

    def cpu_s(self):
        """CPU seconds used so far by the server: its first process and its children."""
        return sum(self.cpu_times())

    def cpu_times(self):
        """(user, system) CPU seconds used so far by the server's first process
        and its children."""
        if not self.alive():
            return 0.0, 0.0
        times = [cpu_times(p) for p in [self.proc.pid] + children_of(self.proc.pid)]
        return sum(t[0] for t in times), sum(t[1] for t in times)

    def revive(self, timeout=15.0):
        """Restart a server that died (the machine is shared: something
        else may kill it) on the same port. Returns True when it answers."""
        last = self.log_tail(3)
        self.deaths.append(f"exit {self.proc.returncode if self.proc else '?'}: {_short(last, 160)}")
        self.stop()
        self.start(append=True)
        try:
            self.wait_ready(timeout)
            return True
        except (Unavailable, RuntimeError):
            return False

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        live_groups.discard(self.proc.pid)


def tls_ready(port, timeout, path, alive):
    """client.wait_ready() over TLS (certificates not checked): the time of the first 2xx."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=2)) as s:
                s.sendall(client.request_bytes(path, keep_alive=False))
                head = s.recv(64)
                if re.match(rb"HTTP/1\.[01] 2", head):
                    return time.time()
        except OSError:
            pass
        time.sleep(0.02)
    return None


def _short(text, n=300):
    text = " ".join(text.split())
    return text if len(text) <= n else "..." + text[-n:]


class Variant:
    """A server and worker type: how to check it is installed and how to
    start it. `kind` is sync, gthread, greenlet, gevent or static."""

    def __init__(self, name, family, kind, keepalive, check, build, multiworker=True,
                 asgi=False):
        self.name = name
        self.asgi = asgi                # serves ASGI apps: scenario (i) only
        self.family = family
        self.kind = kind
        self.keepalive = keepalive      # keeps idle connections open
        self.multiworker = multiworker  # -w 4 means something
        self._check = check
        self._build = build
        self.skip_reason = None         # set once known unavailable

    def available(self):
        if self.skip_reason is None:
            reason = self._check()
            if reason:
                self.skip_reason = reason
        return self.skip_reason is None

    def server(self, app, tmp, workers=1, env=None):
        port = free_port()
        argv, extra_env, cwd = self._build(app, port, workers, tmp)
        e = dict(env or {})
        e.update(extra_env or {})
        ready_path = "/file" if app == "bodies:app" else "/"
        return Server(self, argv, port, tmp, e, cwd, ready_path)


def _has_module(mod):
    r = subprocess.run([DEBIAN_PYTHON, "-c", f"import {mod}"], capture_output=True, timeout=30)
    return r.returncode == 0


def kirin_variants(kirin, family, statsd_port=None):
    """One variant per worker type of the kirin binary at path kirin, named
    FAMILY-TYPE: family "kirin" is the build under test, "base" a baseline
    build (--baseline) measured in the same run, "ops" the build under test
    with statsd (to statsd_port), /metrics and the control socket on."""
    def check():
        if not kirin or not os.access(kirin, os.X_OK):
            return f"no kirin binary ({kirin!r})"
        return None

    vs = []
    for kind in ("sync", "gthread", "greenlet", "gevent"):
        def build(app, port, workers, tmp, kind=kind):
            argv = [kirin, "-w", str(workers), "-k", kind, "-b", f"127.0.0.1:{port}",
                    "--chdir", APPS, "--backlog", str(BACKLOG)]
            if kind != "sync":
                argv += ["--worker-connections", str(MAXCONN), "--keep-alive", str(KEEPALIVE_S)]
            if kind == "gthread":
                argv += ["--threads", "4"]
            if statsd_port:
                argv += ["--statsd-host", f"127.0.0.1:{statsd_port}",
                         "--metrics-bind", f"127.0.0.1:{free_port()}",
                         "--control-socket", os.path.join(tmp, f"ops-{kind}-{port}.ctl")]
            if os.environ.get("BENCH_TLS"):
                cert, key = os.environ["BENCH_TLS"].split(os.pathsep)
                argv += ["--certfile", cert, "--keyfile", key]
            return argv + [app], {}, None
        vs.append(Variant(f"{family}-{kind}", family, kind, kind != "sync", check, build))

    def asyncio_build(app, port, workers, tmp):
        argv = [kirin, "-w", str(workers), "-k", "asyncio", "-b", f"127.0.0.1:{port}",
                "--chdir", APPS, "--backlog", str(BACKLOG), "--asgi-lifespan", "off",
                "--worker-connections", str(MAXCONN), "--keep-alive", str(KEEPALIVE_S)]
        if os.environ.get("BENCH_TLS"):
            cert, key = os.environ["BENCH_TLS"].split(os.pathsep)
            argv += ["--certfile", cert, "--keyfile", key]
        return argv + [app], {}, None
    vs.append(Variant(f"{family}-asyncio", family, "asyncio", True, check, asyncio_build,
                      asgi=True))
    return vs


def make_variants(kirin, baseline=None, statsd_port=None):
    vs = kirin_variants(kirin, "kirin")
    if baseline:
        vs += kirin_variants(baseline, "base")
    if statsd_port:
        vs += kirin_variants(kirin, "ops", statsd_port)

    def gunicorn_check(kind):
        def check():
            if not _has_module("gunicorn"):
                return "gunicorn is not installed for /usr/bin/python3"
            if kind == "gevent" and not _has_module("gevent"):
                return "python3-gevent is not installed"
            return None
        return check

    for kind in ("sync", "gthread", "gevent"):
        def build(app, port, workers, tmp, kind=kind):
            argv = [DEBIAN_PYTHON, "-m", "gunicorn", "-w", str(workers), "-k", kind,
                    "-b", f"127.0.0.1:{port}", "--chdir", APPS, "--backlog", str(BACKLOG),
                    "--worker-connections", str(MAXCONN), "--keep-alive", str(KEEPALIVE_S)]
            if kind == "gthread":
                argv += ["--threads", "4"]
            return argv + [app], {}, None
        vs.append(Variant(f"gunicorn-{kind}", "gunicorn", kind, kind != "sync",
                          gunicorn_check(kind), build))

    def uwsgi_check(plugin):
        def check():
            if not os.access(UWSGI, os.X_OK):
                return "uwsgi is not installed"
            for p in ("python3",) + ((plugin,) if plugin else ()):
                if not os.path.exists(os.path.join(UWSGI_PLUGINS, f"{p}_plugin.so")):
                    return f"uwsgi plugin {p} is not installed"
            return None
        return check

    def uwsgi_build(mode):
        def build(app, port, workers, tmp):
            addr = f"127.0.0.1:{port}"
            # plugins first: their options are unknown until they are loaded
            plugins = {"sync": "python3",
                       "gevent": "python3,gevent_python3",
                       "greenlet": "python3,greenlet_python3"}[mode]
            argv = [UWSGI, "--plugins", plugins, "--master", "--processes", str(workers), "--chdir", APPS,
                    "--module", app, "--disable-logging", "--die-on-term", "--lazy-apps",
                    "--need-app", "--listen", str(BACKLOG), "--buffer-size", "32768"]
            # http-socket closes after each response; say so, so that clients
            # reconnect instead of counting an error. (--http11-socket keeps
            # connections alive, but one sync process then serves one
            # connection while the others starve, and the gevent and greenlet
            # plugins crash with it.)
            argv += ["--http-socket", addr, "--add-header", "Connection: close"]
            if mode == "gevent":
                argv += ["--gevent", str(MAXCONN), "--gevent-monkey-patch"]
            elif mode == "greenlet":
                argv += ["--greenlet", "--async", str(MAXCONN)]
            return argv, {}, None
        return build

    vs.append(Variant("uwsgi", "uwsgi", "sync", False, uwsgi_check(None), uwsgi_build("sync")))
    vs.append(Variant("uwsgi-gevent", "uwsgi", "gevent", False, uwsgi_check("gevent_python3"),
                      uwsgi_build("gevent")))
    vs.append(Variant("uwsgi-greenlet", "uwsgi", "greenlet", False,
                      uwsgi_check("greenlet_python3"), uwsgi_build("greenlet")))

    def waitress_check():
        return None if _has_module("waitress") else "python3-waitress is not installed"

    def waitress_build(app, port, workers, tmp):
        return [DEBIAN_PYTHON, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4",
                f"--backlog={BACKLOG}", f"--connection-limit={MAXCONN}",
                "--asyncore-use-poll", app], {}, None

    vs.append(Variant("waitress", "waitress", "gthread", True, waitress_check, waitress_build,
                      multiworker=False))

    def nginx_check():
        return None if os.access(NGINX, os.X_OK) else "nginx is not installed"

    def nginx_build(app, port, workers, tmp):
        d = tempfile.mkdtemp(prefix="nginx-", dir=tmp)
        file_path = os.environ.get("BENCH_FILE_FOR_NGINX", "")
        user = "user root;" if os.geteuid() == 0 else ""
        listen = f"listen 127.0.0.1:{port} backlog={BACKLOG};"
        if os.environ.get("BENCH_TLS"):
            cert, key = os.environ["BENCH_TLS"].split(os.pathsep)
            listen = (f"listen 127.0.0.1:{port} ssl backlog={BACKLOG};\n"
                      f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
                      f"        ssl_protocols TLSv1.2 TLSv1.3;")
        conf = f"""{user}
worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {MAXCONN + 100}; use epoll; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout {KEEPALIVE_S}s;
    keepalive_requests 100000000;
    sendfile on;
    tcp_nopush on;
    server {{
        {listen}
        location = / {{ default_type text/plain; return 200 "Hello, World!\\n"; }}
        location = /file {{ default_type application/octet-stream; alias {file_path or d + '/none'}; }}
    }}
}}
"""
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        return [NGINX, "-p", d, "-e", f"{d}/error.log", "-c", f"{d}/nginx.conf"], {}, d

    vs.append(Variant("nginx", "nginx", "static", True, nginx_check, nginx_build))

    def uvicorn_check():
        for mod, pkg in (("uvicorn", "python3-uvicorn"), ("uvloop", "python3-uvloop"),
                         ("httptools", "python3-httptools")):
            if not _has_module(mod):
                return f"{pkg} is not installed"
        return None

    def uvicorn_build(app, port, workers, tmp):
        tls = []
        if os.environ.get("BENCH_TLS"):
            cert, key = os.environ["BENCH_TLS"].split(os.pathsep)
            tls = ["--ssl-certfile", cert, "--ssl-keyfile", key]
        return [DEBIAN_PYTHON, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools",
                "--lifespan", "off", "--no-access-log", "--workers", str(workers),
                "--host", "127.0.0.1", "--port", str(port), "--backlog", str(BACKLOG),
                "--timeout-keep-alive", str(KEEPALIVE_S), *tls, app], {}, None

    vs.append(Variant("uvicorn", "uvicorn", "asyncio", True, uvicorn_check, uvicorn_build,
                      asgi=True))

    floor = build_program(kirin, "sleep_floor")

    def floor_check():
        return None if floor else "tests/bench/sleep_floor is not built (make bench builds it)"

    def floor_build(app, port, workers, tmp):
        return [floor, str(port)], {}, None
    vs.append(Variant("floor", "floor", "static", True, floor_check, floor_build,
                      multiworker=False))
    return vs


def build_program(kirin, name):
    """tests/bench/NAME as built beside the kirin binary (make bench), or None."""
    path = os.path.join(os.path.dirname(kirin), "tests", "bench", name) if kirin else ""
    return path if path and os.access(path, os.X_OK) else None


# --- wrk -------------------------------------------------------------------

WRK_LUA = r"""
%(setup)s
done = function(summary, latency, requests)
  local e = summary.errors
  local win, before, after = -1, 0, 0
  if window_threads then
    win = 0
    for _, t in ipairs(window_threads) do
      win = win + (t:get("win") or 0)
      before = before + (t:get("before") or 0)
      after = after + (t:get("after") or 0)
    end
    if not window_clock then win = -1 end
  end
  io.write(string.format(
    "BENCHJSON {\"requests\":%%d,\"duration_us\":%%d,\"bytes\":%%d,\"connect\":%%d," ..
    "\"read\":%%d,\"write\":%%d,\"status\":%%d,\"timeout\":%%d,\"p50_us\":%%d," ..
    "\"p99_us\":%%d,\"max_us\":%%d,\"mean_us\":%%.1f,\"win_requests\":%%d," ..
    "\"win_before\":%%d,\"win_after\":%%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    latency.mean, win, before, after))
end
"""

# Steady state (scenario d): every wrk thread counts the good responses that
# complete inside a window opening `skip` seconds after the thread starts and
# lasting `window` seconds (wrk ... -- skip window). Nothing outside it counts:
# not the connection set-up, not the first round of requests, and not the
# requests cut off when wrk stops. Needs LuaJIT's ffi for a clock (wrk's own
# Lua has none finer than a second); without it the harness falls back to
# wrk's whole-run count and says so.
WRK_WINDOW_LUA = r"""
local ok, ffi = pcall(require, "ffi")
window_clock = nil
if ok then
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } kirin_bench_timespec;
    int clock_gettime(int clk, kirin_bench_timespec *ts);
  ]]
  local ts = ffi.new("kirin_bench_timespec")
  window_clock = function()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end
end
window_threads = {}
function setup(thread)
  table.insert(window_threads, thread)
end
function init(args)
  win, before, after = 0, 0, 0
  t_open, t_close = math.huge, math.huge  -- no window asked (a warm-up)
  if window_clock and args[1] and args[2] then
    t_open = window_clock() + tonumber(args[1])
    t_close = t_open + tonumber(args[2])
  end
end
function response(status, headers, body)
  if not window_clock or status > 399 then
    return
  end
  local t = window_clock()
  if t < t_open then
    before = before + 1
  elseif t < t_close then
    win = win + 1
  else
    after = after + 1
  end
end
"""


class Wrk:
    def __init__(self, tmp, threads=1):
        self.path = shutil.which("wrk")
        self.tmp = tmp
        self.threads = threads
        self._scripts = {}

    def script(self, post_bytes=0, window=False):
        key = (post_bytes, window)
        if key not in self._scripts:
            setup = ""
            if post_bytes:
                setup = ('wrk.method = "POST"\n'
                         f'wrk.body = string.rep("x", {post_bytes})\n'
                         'wrk.headers["Content-Type"] = "application/octet-stream"\n')
            if window:
                setup += WRK_WINDOW_LUA
            path = os.path.join(self.tmp, f"wrk-{post_bytes}{'-window' if window else ''}.lua")
            with open(path, "w") as f:
                f.write(WRK_LUA % {"setup": setup})
            self._scripts[key] = path
        return self._scripts[key]

    def command(self, port, path, conns, duration, close=False, post_bytes=0, timeout=None,
                window=None, threads=None):
        """wrk's argv. window=(skip, length) in seconds counts only the
        responses completed in that window (see WRK_WINDOW_LUA); wrk then
        runs skip + length + 1 s. threads overrides --wrk-threads."""
        if window:
            duration = window[0] + window[1] + 1
        threads = threads or self.threads
        argv = [self.path, "-t", str(min(threads, conns)), "-c", str(conns),
                "-d", f"{max(1, int(round(duration)))}s",
                "-s", self.script(post_bytes, bool(window))]
        if timeout:
            argv += ["--timeout", f"{int(timeout)}s"]
        if close:
            argv += ["-H", "Connection: close"]
        argv.append(f"{'https' if os.environ.get('BENCH_TLS') else 'http'}://127.0.0.1:{port}{path}")
        if window:
            argv += ["--", f"{window[0]:g}", f"{window[1]:g}"]
        return argv

    @staticmethod
    def argv_duration(argv):
        return int(argv[argv.index("-d") + 1].rstrip("s"))

    def run(self, argv):
        """Run wrk; returns its numbers. req_s is the steady-state rate over
        the window when the command has one and the window closed before wrk
        stopped, otherwise wrk's own count over the whole run (run_req_s)."""
        duration = self.argv_duration(argv)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60,
                           preexec_fn=pin_to(PIN and PIN[1]))
        for line in r.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                d = json.loads(line[10:])
                secs = d["duration_us"] / 1e6 or 1e-9
                good = d["requests"] - d["status"]
                out = {"req_s": good / secs, "run_req_s": good / secs, "requests": d["requests"],
                       "errors": d["connect"] + d["read"] + d["write"] + d["timeout"] + d["status"],
                       "errors_detail": {k: d[k] for k in ("connect", "read", "write", "timeout", "status")},
                       "p50_ms": d["p50_us"] / 1e3, "p99_ms": d["p99_us"] / 1e3,
                       "mean_ms": d["mean_us"] / 1e3,
                       "mb_s": d["bytes"] / secs / 1e6, "bytes": d["bytes"]}
                if "--" in argv:
                    length = float(argv[argv.index("--") + 2])
                    if d["win_requests"] >= 0 and d["win_after"] > 0:
                        out.update(req_s=d["win_requests"] / length, window_s=length,
                                   win_requests=d["win_requests"], win_before=d["win_before"])
                    else:
                        out["window_missed"] = ("wrk has no LuaJIT ffi" if d["win_requests"] < 0
                                                else "the window did not close before wrk stopped")
                return out
        raise RuntimeError(f"wrk failed (exit {r.returncode}): {_short(r.stderr or r.stdout)}")


def median_run(runs):
    """The run with the median req/s (the lower middle for an even count)."""
    ordered = sorted(runs, key=lambda r: r["req_s"])
    return ordered[(len(ordered) - 1) // 2]


# --- the harness -----------------------------------------------------------

SCENARIOS = [("a", "hello"), ("b", "close"), ("c", "bodies"), ("d", "sleep"),
             ("e", "idle"), ("f", "post"), ("g", "ready"), ("h", "parser"),
             ("i", "websocket"), ("j", "tls"), ("k", "instr"), ("l", "asgi")]
VALGRIND = shutil.which("valgrind")


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.tmp = tempfile.mkdtemp(prefix="kirin-bench-")
        self.kirin = os.path.abspath(args.kirin) if args.kirin else ""
        self.baseline = os.path.abspath(args.baseline) if args.baseline else ""
        # --ops: the statsd datagrams land here (and are never read: the
        # kernel drops what overflows, as a busy statsd daemon's would).
        self.statsd_sink = None
        if args.ops:
            self.statsd_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.statsd_sink.bind(("127.0.0.1", 0))
        self.variants = make_variants(self.kirin, self.baseline, self.statsd_sink and
                                      self.statsd_sink.getsockname()[1])
        if args.servers:
            rx = re.compile(args.servers)
            self.variants = [v for v in self.variants if rx.search(v.name)]
        if self.quick:
            self.variants = [v for v in self.variants if v.family == "kirin"]
        self.wrk_threads = args.wrk_threads
        self.wrk = Wrk(self.tmp, args.wrk_threads or 1)
        self.duration = args.duration if args.duration else (1 if self.quick else 3)
        self.runs = args.runs if args.runs else (1 if self.quick else 3)
        self.warmup = 0 if self.quick else 1
        self.tables = []
        self.targets = []
        self.kirin_failures = []
        self.file_size = (1 << 20) if self.quick else 13 * 1000 * 1000
        self.file_path = os.path.join(self.tmp, "body.bin")
        with open(self.file_path, "wb") as f:
            chunk = b"kirin-bench " * 5461
            left = self.file_size
            while left > 0:
                f.write(chunk[:left])
                left -= len(chunk[:left])
        os.environ["BENCH_FILE_FOR_NGINX"] = self.file_path

    # helpers ---------------------------------------------------------------

    def say(self, msg):
        print(msg, flush=True)

    def pick(self, pred=lambda v: True, floor=False, asgi=False):
        """The variants for a scenario that pred accepts; the floor of (d)
        and the ASGI servers of (i) only when asked for."""
        return [v for v in self.variants if pred(v) and (floor or v.family != "floor")
                and (asgi or not v.asgi)]

    def start(self, variant, app, workers=1, env=None):
        """Start and wait for a server. Returns (server, None) or (None, row)
        where row says why it was skipped or failed."""
        if not variant.available():
            return None, self.row(variant, "skipped", variant.skip_reason)
        e = {"BENCH_FILE": self.file_path}
        e.update(env or {})
        srv = variant.server(app, self.tmp, workers, e).start()
        try:
            srv.wait_ready(20.0 if workers > 1 else 15.0)
            return srv, None
        except Unavailable as exc:
            srv.stop()
            variant.skip_reason = str(exc)
            return None, self.row(variant, "skipped", str(exc))
        except RuntimeError as exc:
            srv.stop()
            return None, self.row(variant, "error", f"did not start: {exc}", cmd=srv.argv)

    def row(self, variant, status, note="", **kw):
        r = {"server": variant.name, "family": variant.family, "kind": variant.kind,
             "status": status, "note": note}
        r.update(kw)
        if status == "error" and variant.family == "kirin":
            self.kirin_failures.append(f"{variant.name}: {note}")
        return r

    def throughput(self, cid, title, configs, servers_for, app, ratios=True, ideal=None):
        """Run wrk configs against servers, interleaved; one table per config.
        configs: list of dicts (label, path, conns, close, post_bytes, timeout,
        nginx: bool)."""
        self.say(f"\n== ({cid}) {title}")
        started, pre_rows = [], []
        for v in servers_for:
            srv, row = self.start(v, app)
            if srv:
                started.append(srv)
            else:
                pre_rows.append(row)
                if row["status"] == "error":
                    self.say(f"   {v.name}: {row['status']} ({row['note']})")
        try:
            for cfg in configs:
                self._throughput_config(cid, title, cfg, started, pre_rows, ratios, ideal)
        finally:
            for srv in started:
                srv.stop()

    def _throughput_config(self, cid, title, cfg, started, pre_rows, ratios, ideal):
        runs = {id(s): [] for s in started}
        fails = {}
        servers = [s for s in started if cfg.get("nginx", True) or s.variant.family != "nginx"]
        argvs = {}
        for s in servers:
            path = cfg["path"] if s.variant.family != "nginx" else cfg.get("nginx_path", cfg["path"])
            argvs[id(s)] = self.wrk.command(s.port, path, cfg["conns"], self.duration,
                                            cfg.get("close", False), cfg.get("post_bytes", 0),
                                            cfg.get("timeout"), cfg.get("window"),
                                            cfg.get("wrk_threads"))
        self.say(f" -- {cfg['label']}")
        deaths0 = {id(s): len(s.deaths) for s in servers}
        if self.warmup:
            for s in servers:
                if not s.alive():
                    continue
                warm = list(argvs[id(s)])
                if "--" in warm:
                    del warm[warm.index("--"):]
                warm[warm.index("-d") + 1] = f"{self.warmup}s"
                try:
                    self.wrk.run(warm)
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
        for rnd in range(self.runs):
            for s in servers:
                if id(s) in fails:
                    continue
                for attempt in range(3):
                    # a server that died is restarted and its run done again
                    if not s.alive() and (len(s.deaths) >= 3 or not s.revive()):
                        fails[id(s)] = "server died: " + _short(s.log_tail(2), 200)
                        break
                    try:
                        user0, sys0 = s.cpu_times()
                        res = self.wrk.run(argvs[id(s)])
                        user1, sys1 = s.cpu_times()
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        fails[id(s)] = str(exc)
                        break
                    if s.alive():
                        # The server's CPU per request: what a client-bound
                        # run (both sides at the connection set-up limit)
                        # still tells apart.
                        if res.get("requests"):
                            n = res["requests"]
                            res["cpu_user_us"] = (user1 - user0) * 1e6 / n
                            res["cpu_sys_us"] = (sys1 - sys0) * 1e6 / n
                            res["cpu_us"] = res["cpu_user_us"] + res["cpu_sys_us"]
                        runs[id(s)].append(res)
                        break
                else:
                    fails[id(s)] = "server kept dying: " + "; ".join(s.deaths)
        rows = [dict(r) for r in pre_rows
                if cfg.get("nginx", True) or r["family"] != "nginx"]
        for s in servers:
            v = s.variant
            if id(s) in fails:
                rows.append(self.row(v, "error", _short(fails[id(s)]), cmd=s.argv))
                continue
            size = cfg.get("body_bytes")
            if size:
                # A big body at many connections may see few responses end
                # within a run, yet every byte counts: wrk tallies bytes as
                # they arrive, so the rate is bytes/s over the body size.
                for r in runs[id(s)]:
                    r["req_s"] = r["mb_s"] * 1e6 / (size + 150)
                    for k in ("cpu_us", "cpu_user_us", "cpu_sys_us"):
                        r.pop(k, None)  # per finished response: meaningless here
            m = median_run(runs[id(s)])
            cpu = {k: statistics.median(x) if x else None
                   for k in ("cpu_us", "cpu_user_us", "cpu_sys_us")
                   for x in [[r[k] for r in runs[id(s)] if r.get(k) is not None]]}
            row = self.row(v, "ok", "", req_s=m["req_s"], p50_ms=m["p50_ms"], p99_ms=m["p99_ms"],
                           errors=m["errors"], errors_detail=m["errors_detail"],
                           mb_s=m["mb_s"], rss_kib=s.rss_kib(), **cpu,
                           all_cpu_user_us=[r.get("cpu_user_us") for r in runs[id(s)]],
                           all_req_s=[r["req_s"] for r in runs[id(s)]],
                           cmd=s.argv, wrk=argvs[id(s)])
            notes = []
            if cfg.get("window"):
                row.update(run_req_s=m["run_req_s"], mean_ms=m["mean_ms"],
                           window_s=m.get("window_s"), win_before=m.get("win_before"))
                missed = [r["window_missed"] for r in runs[id(s)] if "window_missed" in r]
                if missed:
                    notes.append(f"{len(missed)} run(s) counted over the whole run: {missed[0]}")
                elif m.get("win_before", 0) < cfg["conns"]:
                    notes.append(f"only {m.get('win_before')} responses before the window opened")
            if size:
                notes.append("req/s = bytes received / body size")
            died = s.deaths[deaths0[id(s)]:]
            if died:
                notes.append(f"restarted {len(died)}x after it died ({died[-1]})")
            row["note"] = "; ".join(notes)
            if m["req_s"] <= 0:
                row["status"] = "error"
                row["note"] = "no successful response (errors: %s)" % m["errors_detail"]
                if v.family == "kirin":
                    self.kirin_failures.append(f"{v.name}: {cfg['label']}: {row['note']}")
            rows.append(row)
        self.ops_ratios(rows)
        order = [v.name for v in self.variants]
        rows.sort(key=lambda r: order.index(r["server"]) if r["server"] in order else 99)
        ok = [r for r in rows if r["status"] == "ok"]
        gbest = max((r["req_s"] for r in ok if r["family"] == "gunicorn"), default=None)
        ngx = next((r["req_s"] for r in ok if r["family"] == "nginx"), None)
        floor = next((r["req_s"] for r in ok if r["family"] == "floor"), None)
        for r in ok:
            if ratios:
                r["x_gunicorn"] = r["req_s"] / gbest if gbest else None
                r["x_nginx"] = r["req_s"] / ngx if ngx else None
            if ideal:
                r["ideal_req_s"] = ideal
                r["of_ideal"] = r["req_s"] / ideal
                r["of_floor"] = r["req_s"] / floor if floor else None
        table = {"id": cfg.get("id", cid), "scenario": cid, "title": f"{title}: {cfg['label']}",
                 "kind": "ideal" if ideal else "throughput", "config": {
                     k: cfg[k] for k in ("path", "conns", "close", "post_bytes") if k in cfg},
                 "duration_s": self.duration, "runs": self.runs, "rows": rows}
        self.tables.append(table)
        self.print_table(table)

    # scenarios -------------------------------------------------------------

    def scen_a(self):
        self.throughput("a", "hello world, keep-alive", [
            {"label": "100 connections", "path": "/", "conns": 100}],
            self.pick(), "hello:app")

    def scen_b(self):
        # A new TCP connection per request costs the client as much as the
        # server: one wrk thread saturates its core at the same rate for
        # kirin, uWSGI and nginx, and the table would compare wrk with itself.
        # So wrk gets a thread per CPU here, unless --wrk-threads says.
        threads = self.wrk_threads or os.cpu_count() or 1
        self.throughput("b", "hello world, Connection: close", [
            {"label": f"100 connections, wrk with {threads} thread(s)", "path": "/",
             "conns": 100, "close": True, "wrk_threads": threads}],
            self.pick(), "hello:app")

    def scen_c(self):
        big = self.file_size
        big_label = "1 MB" if self.quick else "13 MB"
        sizes = [(13, "13 B"), (13 * 1000, "13 KB"), (big, big_label)]
        conns = [100] if self.quick else [100, 1000]
        configs = []
        for n, label in sizes:
            for c in conns:
                configs.append({"id": f"c-{label.replace(' ', '')}-{c}", "label":
                                f"{label} body, {c} connections", "path": f"/bytes/{n}",
                                "conns": c, "nginx": False,
                                "timeout": 30 if n >= 1 << 20 else None,
                                "body_bytes": n if n >= 1 << 20 else None})
        for c in conns:
            configs.append({"id": f"c-file-{c}", "label":
                            f"{big_label} file via wsgi.file_wrapper, {c} connections",
                            "path": "/file", "conns": c, "timeout": 30, "body_bytes": big})
        self.throughput("c", "response bodies", configs, self.pick(), "bodies:app")

    def scen_j(self):
        """Over TLS: every server of the scenario gets the same self-signed
        certificate (BENCH_TLS, read by the variants' builds and by wrk's URL)."""
        cert, key = os.path.join(self.tmp, "tls.pem"), os.path.join(self.tmp, "tls.key")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "2", "-subj", "/CN=127.0.0.1"], capture_output=True,
                           timeout=60) if shutil.which("openssl") else None
        if not r or r.returncode != 0:
            self.say("\n== (j) tls: skipped, the openssl command is missing or failed")
            self.tables.append({"id": "j", "scenario": "j", "title": "tls", "kind": "parser",
                                "rows": [{"server": "openssl", "family": "-", "kind": "-",
                                          "status": "skipped", "note": "no openssl command"}]})
            return
        os.environ["BENCH_TLS"] = os.pathsep.join((cert, key))
        threads = self.wrk_threads or os.cpu_count() or 1
        big = "1 MB" if self.quick else "13 MB"
        # --quick: 100 handshakes at once (the server's and wrk's) took more
        # than the one-second run on a loaded machine, before any answer.
        hconns = 10 if self.quick else 100
        try:
            self.throughput("j", "over TLS, hello world", [
                {"id": "j-hello", "label": f"keep-alive, {hconns} connections", "path": "/",
                 "conns": hconns},
                {"id": "j-handshake", "label": f"a new TLS connection per request (Connection: "
                 f"close), {hconns} connections, wrk with {threads} thread(s)", "path": "/",
                 "conns": hconns, "close": True, "wrk_threads": threads}],
                self.pick(lambda v: v.family in ("kirin", "base", "nginx")), "hello:app")
            # --quick: few enough that one busy second still completes a file on each.
            fconns = 10 if self.quick else 100
            self.throughput("j", "over TLS, wsgi.file_wrapper", [
                {"id": "j-file", "label": f"{big} file, {fconns} connections", "path": "/file",
                 "conns": fconns, "timeout": 30, "body_bytes": self.file_size}],
                self.pick(lambda v: v.family in ("kirin", "base", "nginx")), "bodies:app")
            self.throughput("j", "over TLS, ASGI hello world", [
                {"id": "j-asgi", "label": f"keep-alive, {hconns} connections", "path": "/",
                 "conns": hconns}], self.pick(lambda v: v.asgi, asgi=True), "asgi:hello")
        finally:
            del os.environ["BENCH_TLS"]

    def scen_d(self):
        conns = 200 if self.quick else 1000
        ideal = conns / 0.1
        title = f"{conns} connections sleeping 100 ms cooperatively"
        self.say(f"\n== (d) {title}")
        # greenlet workers sleep with kirin.sleep, gevent workers with time.sleep
        plan = [(v, "sleepers:app_kirin" if (v.family in ("kirin", "base") and v.kind == "greenlet")
                 else "sleepers:app_time")
                for v in self.pick(lambda v: v.kind == "gevent" or v.family == "floor" or
                                   (v.family in ("kirin", "base") and v.kind == "greenlet"),
                                   floor=True)]
        # Steady state, the same for every server: count the responses that
        # complete in a window of --duration seconds opening 1 s (ten rounds
        # of sleeps) after wrk connects, so that neither the connection
        # set-up and first round nor the requests cut off when wrk stops
        # count against the rate. wrk's whole-run rate is kept as run req/s.
        cfg = {"id": "d", "label": f"{conns} connections, steady state ({self.duration} s window "
               f"opened 1 s after wrk connects)", "path": "/", "conns": conns,
               "timeout": 10, "window": (1, self.duration)}
        self.say(f"   req/s: responses completed in the window; ideal = {conns} / 0.1 s; "
                 f"floor: a bare C server (tests/bench/sleep_floor), what this machine "
                 f"and wrk allow; run req/s: wrk's count over its whole run; latencies: "
                 f"over the whole run")
        started, pre = [], []
        try:
            for v, app in plan:
                srv, row = self.start(v, app)
                if srv is None:
                    pre.append(row)
                    continue
                status, _ = client.get(srv.port, "/", timeout=5)
                if status == 501:
                    srv.stop()
                    pre.append(self.row(v, "skipped", "kirin.sleep is not available"))
                    continue
                started.append(srv)
            self._throughput_config("d", title, cfg, started, pre, False, ideal)
        finally:
            for s in started:
                s.stop()

    def scen_e(self):
        n = 300 if self.quick else 10000
        samples = 5 if self.quick else 30
        title = f"{n} idle keep-alive connections"
        self.say(f"\n== (e) {title}")
        rows = [self.idle_row(v, "hello:app", n, samples) for v in self.pick()]
        table = {"id": "e", "scenario": "e", "title": title, "kind": "idle", "rows": rows,
                 "config": {"conns": n, "samples": samples}}
        self.tables.append(table)
        self.print_table(table)

    def idle_row(self, v, app, n, samples):
        """Hold n idle keep-alive connections on v serving app: the row of
        its memory per connection and the latency of fresh requests meanwhile."""
        if not v.keepalive:
            return self.row(v, "skipped", "closes connections after each response")
        srv, row = self.start(v, app)
        if srv is None:
            return row
        conns = client.IdleConnections(srv.port)
        try:
            for _ in range(20):
                client.get(srv.port)
            time.sleep(0.3)
            before = srv.rss_kib()
            held = conns.open(n, timeout=60 if not self.quick else 20)
            time.sleep(0.5 if self.quick else 1.0)
            after = srv.rss_kib()
            lat = client.fresh_latency(srv.port, samples)
            still = conns.still_open()
            good = sorted(x * 1e3 for x in lat if x is not None)
            row = self.row(v, "ok", "", held=held, failed=conns.failed, still_open=still,
                           open_s=conns.elapsed, rss_before_kib=before, rss_after_kib=after,
                           kib_per_conn=(after - before) / held if held else None,
                           fresh_p50_ms=statistics.median(good) if good else None,
                           fresh_max_ms=good[-1] if good else None,
                           fresh_failed=len(lat) - len(good), cmd=srv.argv)
            if held < n or still < held or len(good) < len(lat):
                row["note"] = (f"held {held}/{n}, still open {still}, "
                               f"fresh failures {len(lat) - len(good)}")
                if held == 0 or not good:
                    row["status"] = "error"
                    if v.family == "kirin":
                        self.kirin_failures.append(f"{v.name}: (e) {row['note']}")
        finally:
            conns.close()
            srv.stop()
        self.say(f"   {v.name}: done")
        return row

    def scen_f(self):
        size = 1 << 20
        self.throughput("f", "POST echo of 1 MB bodies", [
            {"label": "100 connections", "path": "/", "conns": 100, "post_bytes": size,
             "nginx": False, "timeout": 30}],
            self.pick(lambda v: v.family != "nginx"), "echo:app")

    def scen_g(self):
        workers = 4
        runs = 1 if self.quick else max(5, self.runs)
        title = f"time from exec to ready with {workers} workers"
        self.say(f"\n== (g) {title}")
        rows, servers = [], []
        for v in self.pick(lambda v: v.family != "nginx"):
            if not v.multiworker:
                rows.append(self.row(v, "skipped", "single process"))
            elif not v.available():
                rows.append(self.row(v, "skipped", v.skip_reason))
            else:
                servers.append(v)
        got = {v.name: {"times": [], "firsts": [], "cpus": [], "err": None, "argv": None}
               for v in servers}
        # Interleaved, as the throughput runs: round after round, every server once.
        for _ in range(runs):
            for v in servers:
                g = got[v.name]
                if g["err"]:
                    continue
                self._ready_run(v, workers, g)
        for v in servers:
            g = got[v.name]
            if g["err"] == "skip":
                rows.append(self.row(v, "skipped", v.skip_reason))
            elif g["err"]:
                rows.append(self.row(v, "error", g["err"], cmd=g["argv"]))
            else:
                rows.append(self.row(v, "ok", "", ready_ms=statistics.median(g["times"]),
                                     first_answer_ms=statistics.median(g["firsts"]),
                                     cpu_ms=statistics.median(g["cpus"]),
                                     all_ready_ms=g["times"], cmd=g["argv"]))
            self.say(f"   {v.name}: {rows[-1]['status']}")
        order = [v.name for v in self.variants]
        rows.sort(key=lambda r: order.index(r["server"]) if r["server"] in order else 99)
        table = {"id": "g", "scenario": "g", "title": title, "kind": "ready", "rows": rows,
                 "config": {"workers": workers, "runs": runs}}
        self.tables.append(table)
        self.print_table(table)

    def scen_i(self):
        kinds = ("greenlet", "gevent")
        variants = [v for v in self.pick(lambda v: v.family in ("kirin", "base")
                                         and v.kind in kinds)]
        if not self.quick:
            variants += wsbench.peer_variants(
                DEBIAN_PYTHON, lambda name, family, kind, check, build:
                Variant(name, family, kind, True, check, build))
        if self.args.servers:
            rx = re.compile(self.args.servers)
            variants = [v for v in variants if rx.search(v.name)]
        table = wsbench.scenario(self, variants, build_program(self.kirin, "ws_load"))
        self.tables.append(table)
        self.print_table(table)

    def _ready_run(self, v, workers, g):
        """One start of v with `workers` workers until every worker imported
        the app and one answered: its times (ms after exec) and the CPU all
        its processes used by then go into g; a failure into g["err"]."""
        rdir = tempfile.mkdtemp(prefix="ready-", dir=self.tmp)
        srv = v.server("ready:app", self.tmp, workers, {"BENCH_READY_DIR": rdir})
        g["argv"] = srv.argv
        try:
            srv.start()
            t0 = srv.t_exec
            deadline = time.monotonic() + 20
            first = None
            imports = []
            while time.monotonic() < deadline and srv.alive():
                if first is None:
                    status, _ = client.get(srv.port, "/", timeout=1)
                    if 200 <= status < 300:
                        first = time.time()
                imports = _read_ready_dir(rdir)
                if first is not None and len(imports) >= workers:
                    break
                time.sleep(0.001)
            if first is None or len(imports) < workers:
                tail = srv.log_tail()
                if re.search(r"not available", tail, re.I):
                    v.skip_reason = _short(tail)
                    g["err"] = "skip"
                else:
                    g["err"] = (f"not ready in 20 s (answered: {first is not None}, "
                                f"workers loaded: {len(imports)}): {_short(tail)}")
                return
            g["cpus"].append(srv.cpu_s() * 1e3)
            ready = max(first, sorted(imports)[workers - 1])
            g["times"].append((ready - t0) * 1e3)
            g["firsts"].append((first - t0) * 1e3)
        finally:
            srv.stop()

    def scen_k(self):
        title = "instructions per hello keep-alive request (callgrind)"
        self.say(f"\n== (k) {title}")
        # Two runs whose difference leaves out start-up and shutdown.
        counts = (50, 250) if self.quick else (2000, 12000)
        rows = []
        # The asyncio worker runs the ASGI hello (the same answer as hello:app).
        for v in self.pick(lambda v: v.family in ("kirin", "base", "ops", "nginx"), asgi=True):
            if not v.keepalive:
                rows.append(self.row(v, "skipped", "closes after each request"))
            elif not VALGRIND:
                rows.append(self.row(v, "skipped", "valgrind is not installed"))
            elif self.quick and not self.args.only:
                rows.append(self.row(v, "skipped", "minutes under valgrind: --quick --only k"))
            elif self.quick and any(r["status"] == "ok" for r in rows):
                rows.append(self.row(v, "skipped", "--quick measures one worker type"))
            elif not v.available():
                rows.append(self.row(v, "skipped", v.skip_reason))
            else:
                try:
                    app = "asgi:hello" if v.asgi else "hello:app"
                    per = [(self._callgrind_run(v, counts[1], conns, app) -
                            self._callgrind_run(v, counts[0], conns, app)) /
                           (counts[1] - counts[0]) for conns in (1, 50)]
                except (RuntimeError, OSError) as exc:
                    rows.append(self.row(v, "error", _short(str(exc))))
                else:
                    rows.append(self.row(v, "ok", "", requests=f"{counts[1]}-{counts[0]}",
                                         instr=per[0], instr_50=per[1]))
            self.say(f"   {v.name}: {rows[-1]['status']}")
        table = {"id": "k", "scenario": "k", "title": title, "kind": "instr", "rows": rows,
                 "config": {"requests": list(counts)}}
        self.tables.append(table)
        self.print_table(table)

    def _callgrind_run(self, v, n, conns, app):
        """Instructions all of v's processes ran to start, answer n hello
        requests (app) on `conns` keep-alive connections (one request on
        each, then every answer, in rounds), and stop (TERM)."""
        out = tempfile.mkdtemp(prefix=f"cg-{v.name}-", dir=self.tmp)
        srv = v.server(app, self.tmp)
        argv = srv.argv
        if v.family != "nginx":
            # A worker booting under valgrind can take longer than --timeout allows.
            argv = argv[:-1] + ["--timeout", "600", argv[-1]]
        srv.argv = [VALGRIND, "--tool=callgrind", "--trace-children=yes",
                    f"--callgrind-out-file={out}/cg.%p"] + argv
        srv.start()
        try:
            srv.wait_ready(timeout=120)
            req = client.request_bytes("/")
            cs = [socket.create_connection(("127.0.0.1", srv.port), timeout=60)
                  for _ in range(conns)]
            try:
                for _ in range(n // conns):
                    for c in cs:
                        c.sendall(req)
                    for c in cs:
                        got = b""
                        while not got.endswith(b"Hello, World!\n"):
                            chunk = c.recv(65536)
                            if not chunk:
                                raise RuntimeError("the server closed the connection")
                            got += chunk
            finally:
                for c in cs:
                    c.close()
            os.killpg(srv.proc.pid, signal.SIGTERM)
            srv.proc.wait(timeout=120)
        finally:
            srv.stop()
        total = 0
        for name in os.listdir(out):
            with open(os.path.join(out, name)) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        total += int(line.split()[1])
                        break
        if not total:
            raise RuntimeError("callgrind wrote no counts")
        return total

    def scen_h(self):
        title = "parser micro-benchmark"
        self.say(f"\n== (h) {title}")
        path = self.args.parser_bench
        if not (path and os.access(path, os.X_OK)):
            path = build_program(self.kirin, "bench_parser")
        row = {"server": "bench_parser", "family": "kirin", "kind": "parser"}
        if not path:
            row.update(status="skipped", note="tests/bench/bench_parser is not built")
        else:
            secs = 0.2 if self.quick else self.duration
            argv = [path, str(secs)]   # bench_parser [seconds]
            try:
                r = subprocess.run(argv, capture_output=True, text=True,
                                   timeout=secs * 10 + 60)
                out = r.stdout.strip()
                parsed = None
                try:
                    parsed = json.loads(out)
                except ValueError:
                    pass
                row.update(status="ok" if r.returncode == 0 else "error",
                           note="" if r.returncode == 0 else f"exit {r.returncode}: "
                           + _short(r.stderr), output=out.splitlines(), json=parsed,
                           cmd=argv)
            except subprocess.TimeoutExpired:
                row.update(status="error", note="timed out", cmd=argv)
            if row["status"] == "error":
                self.kirin_failures.append(f"bench_parser: {row['note']}")
        table = {"id": "h", "scenario": "h", "title": title, "kind": "parser", "rows": [row]}
        self.tables.append(table)
        self.print_table(table)

    def scen_l(self):
        """ASGI: kirin's asyncio worker, uvicorn with uvloop and httptools (the
        fastest ASGI server in Debian) and kirin's best WSGI worker (greenlet),
        in the same interleaved runs."""
        def plan_run(tid, title, cfg, plan, ideal=None):
            self.say(f"\n== ({tid}) {title}")
            started, pre = [], []
            try:
                for v, app in plan:
                    srv, row = self.start(v, app)
                    (started if srv else pre).append(srv or row)
                self._throughput_config("l", title, dict(cfg, id=tid), started, pre, False,
                                        ideal)
            finally:
                for srv in started:
                    srv.stop()

        asgi = self.pick(lambda v: v.asgi, asgi=True)
        kasync = [v for v in asgi if v.family in ("kirin", "base")]
        greenlet = self.pick(lambda v: v.family in ("kirin", "base") and v.kind == "greenlet")
        plan_run("l-hello", "ASGI hello world, keep-alive",
                 {"label": "100 connections", "path": "/", "conns": 100},
                 [(v, "asgi:hello") for v in asgi] + [(v, "hello:app") for v in greenlet])
        conns = 200 if self.quick else 1000
        plan_run("l-sleep", f"{conns} connections awaiting asyncio.sleep(0.1)",
                 {"label": f"{conns} connections, steady state ({self.duration} s window "
                  f"opened 1 s after wrk connects)", "path": "/", "conns": conns, "timeout": 10,
                  "window": (1, self.duration)},
                 [(v, "asgi:sleeper") for v in kasync] +
                 [(v, "sleepers:app_kirin") for v in greenlet] +
                 [(v, "") for v in self.pick(lambda v: v.family == "floor", floor=True)],
                 ideal=conns / 0.1)
        n = 300 if self.quick else 10000
        samples = 5 if self.quick else 30
        title = f"{n} idle keep-alive connections on the asyncio worker (ASGI)"
        self.say(f"\n== (l-idle) {title}")
        rows = [self.idle_row(v, "asgi:hello", n, samples) for v in kasync]
        table = {"id": "l-idle", "scenario": "l", "title": title, "kind": "idle", "rows": rows,
                 "config": {"conns": n, "samples": samples}}
        self.tables.append(table)
        self.print_table(table)

    # targets -----------------------------------------------------------------

    def evaluate_targets(self):
        t = self.targets

        def tab(tid):
            return next((x for x in self.tables if x["id"] == tid), None)

        def ok_rows(table, pred=lambda r: True):
            return [r for r in (table["rows"] if table else []) if r["status"] == "ok" and pred(r)]

        def add(name, value, goal, met, detail=""):
            t.append({"target": name, "value": value, "goal": goal, "met": met, "detail": detail})

        a = tab("a")
        if a:
            kbest = max(ok_rows(a, lambda r: r["family"] == "kirin"), key=lambda r: r["req_s"], default=None)
            g = max((r["req_s"] for r in ok_rows(a, lambda r: r["family"] == "gunicorn")), default=None)
            n = next((r["req_s"] for r in ok_rows(a, lambda r: r["family"] == "nginx")), None)
            detail = kbest["server"] if kbest else "no kirin result"
            add("(a) hello keep-alive: kirin best vs nginx return 200",
                kbest and n and kbest["req_s"] / n, ">= 0.95x",
                _met(kbest and n and kbest["req_s"] / n >= 0.95), detail)
            ncpu = next((r.get("cpu_us") for r in ok_rows(a, lambda r: r["family"] == "nginx")),
                        None)
            kcpu = kbest and kbest.get("cpu_us")
            add("(a) hello keep-alive: kirin best's CPU per request - nginx's (us)",
                kcpu and ncpu and kcpu - ncpu, "<= 0.5",
                _met(kcpu and ncpu and kcpu - ncpu <= 0.5), detail)
            add("(a) hello keep-alive: kirin best vs gunicorn best",
                kbest and g and kbest["req_s"] / g, ">= 8.0x",
                _met(kbest and g and kbest["req_s"] / g >= 8.0), detail)
        b = tab("b")
        if b:
            ks = next(iter(ok_rows(b, lambda r: r["server"] == "kirin-sync")), None)
            uw = next(iter(ok_rows(b, lambda r: r["server"] == "uwsgi")), None)
            gs = next(iter(ok_rows(b, lambda r: r["server"] == "gunicorn-sync")), None)
            add("(b) Connection: close: kirin-sync vs uwsgi http-socket",
                ks and uw and ks["req_s"] / uw["req_s"], ">= 1.0x",
                _met(ks and uw and ks["req_s"] / uw["req_s"] >= 1.0))
            add("(b) Connection: close: kirin-sync vs gunicorn-sync",
                ks and gs and ks["req_s"] / gs["req_s"], ">= 1.7x",
                _met(ks and gs and ks["req_s"] / gs["req_s"] >= 1.7))
        d = tab("d")
        if d:
            floor = next(iter(ok_rows(d, lambda r: r["family"] == "floor")), None)
            for r in d["rows"]:
                if r["family"] == "kirin":
                    v = r.get("of_ideal")
                    detail = [r.get("note", "")]
                    if floor and r.get("of_floor"):
                        detail.append(f"floor {floor['of_ideal'] * 100:.1f}% of ideal, "
                                      f"{r['server']} {r['of_floor'] * 100:.1f}% of the floor")
                    # in percent: 0.985 printed as "0.99" looked met
                    add(f"(d) cooperative sleepers: {r['server']} vs ideal (%)",
                        v * 100 if v is not None else None, ">= 99",
                        _met(v is not None and v >= 0.99), "; ".join(x for x in detail if x))
        hello = tab("l-hello")
        if hello:
            ka = next(iter(ok_rows(hello, lambda r: r["server"] == "kirin-asyncio")), None)
            uv = next(iter(ok_rows(hello, lambda r: r["server"] == "uvicorn")), None)
            kg = next(iter(ok_rows(hello, lambda r: r["server"] == "kirin-greenlet")), None)
            detail = ""
            if ka and uv and ka.get("cpu_user_us") and uv.get("cpu_user_us"):
                # A saturated worker's rate is 1 / its CPU per request: the
                # ratio kirin would reach with no user time at all.
                detail = (f"user CPU {ka['cpu_user_us']:.2f} vs {uv['cpu_user_us']:.2f} us/req, "
                          f"sys {ka['cpu_sys_us']:.2f} vs {uv['cpu_sys_us']:.2f}; at zero user "
                          f"time {uv['cpu_us'] / ka['cpu_sys_us']:.2f}x")
            add("(l) ASGI hello: kirin-asyncio vs uvicorn (uvloop, httptools)",
                ka and uv and ka["req_s"] / uv["req_s"], ">= 3.0x",
                _met(ka and uv and ka["req_s"] / uv["req_s"] >= 3.0), detail)
            add("(l) ASGI hello: kirin-asyncio vs kirin-greenlet (WSGI)",
                ka and kg and ka["req_s"] / kg["req_s"], ">= 0.8x",
                _met(ka and kg and ka["req_s"] / kg["req_s"] >= 0.8))
        sl = tab("l-sleep")
        if sl:
            floor = next(iter(ok_rows(sl, lambda r: r["family"] == "floor")), None)
            for r in ok_rows(sl, lambda r: r["server"] == "kirin-asyncio"):
                v = r.get("of_floor")
                add("(l) asyncio.sleep sleepers: kirin-asyncio vs the floor (%)",
                    v * 100 if v is not None else None, ">= 99",
                    _met(v is not None and v >= 0.99),
                    f"floor {floor['req_s']:.0f} req/s" if floor else "no floor")
        idle = tab("l-idle")
        if idle:
            for r in ok_rows(idle):
                v = r.get("kib_per_conn")
                add(f"(l) idle keep-alive: {r['server']} (ASGI) RSS per connection (KiB)", v,
                    "<= 2", _met(v is not None and v <= 2))
        e = tab("e")
        if e:
            for r in e["rows"]:
                if r["family"] == "kirin" and r["kind"] != "sync":
                    v = r.get("kib_per_conn")
                    add(f"(e) idle keep-alive: {r['server']} RSS per connection (KiB)", v,
                        "<= 4", _met(v is not None and v <= 4.0), r.get("note", ""))
                    v = r.get("fresh_p50_ms")
                    add(f"(e) idle keep-alive: {r['server']} fresh request p50 (ms)", v,
                        "< 10", _met(v is not None and v < 10.0), r.get("note", ""))
        for c in (100, 1000):
            f = tab(f"c-file-{c}")
            if not f:
                continue
            n = next((r["req_s"] for r in ok_rows(f, lambda r: r["family"] == "nginx")), None)
            for r in f["rows"]:
                if r["family"] == "kirin":
                    v = r["req_s"] / n if (n and r["status"] == "ok") else None
                    add(f"(c) file_wrapper, {c} conns: {r['server']} vs nginx", v, ">= 0.90x",
                        _met(v is not None and v >= 0.9), r.get("note", ""))
        for tid, what in (("j-hello", "hello keep-alive"), ("j-handshake", "new connections"),
                          ("j-file", "file_wrapper")):
            i = tab(tid)
            n = next((r["req_s"] for r in ok_rows(i, lambda r: r["family"] == "nginx")), None)
            if not i:
                continue
            # The best worker type, as (a): sync closes after every response,
            # so its keep-alive row counts handshakes.
            kbest = max(ok_rows(i, lambda r: r["family"] == "kirin"), key=lambda r: r["req_s"],
                        default=None)
            v = kbest["req_s"] / n if (kbest and n) else None
            add(f"(j) TLS {what}: kirin best vs nginx", v, ">= 0.80x",
                _met(v is not None and v >= 0.8), kbest["server"] if kbest else "no kirin result")
        ja = tab("j-asgi")
        if ja:
            ka = next(iter(ok_rows(ja, lambda r: r["server"] == "kirin-asyncio")), None)
            uv = next(iter(ok_rows(ja, lambda r: r["server"] == "uvicorn")), None)
            v = ka["req_s"] / uv["req_s"] if (ka and uv) else None
            # Measured, no target: (l) has the ASGI one, without TLS's work.
            add("(j) TLS ASGI hello: kirin-asyncio vs uvicorn", v, "-", None,
                f"CPU {ka['cpu_us']:.1f} vs {uv['cpu_us']:.1f} us/req"
                if ka and uv and ka.get("cpu_us") and uv.get("cpu_us") else "")
        g = tab("g")
        if g:
            for r in g["rows"]:
                if r["family"] == "kirin":
                    v = r.get("ready_ms")
                    add(f"(g) ready with 4 workers: {r['server']} (ms)", v, "< 150",
                        _met(v is not None and v < 150), r.get("note", ""))
        i = tab("i")
        if i:
            kbest = max(ok_rows(i, lambda r: r["family"] == "kirin"), key=lambda r: r["rt_s"],
                        default=None)
            v = kbest and kbest.get("x_best_peer")
            add("(i) WebSocket echo, 100 conns: kirin best vs best peer", v, ">= 3.00x",
                _met(v is not None and v >= 3.0), kbest["server"] if kbest else "")
            for r in ok_rows(i, lambda r: r["family"] == "kirin"):
                if r["kind"] == "greenlet":
                    v = r.get("kib_per_ws")
                    add(f"(i) idle WebSockets: {r['server']} RSS each (KiB)", v, "<= 8",
                        _met(v is not None and v <= 8.0), r.get("note", ""))
                add(f"(i) 16 MiB message echoed byte-exact: {r['server']}",
                    "yes" if r.get("big_exact") else "no", "yes", bool(r.get("big_exact")),
                    r.get("note", ""))
        # a target whose kirin side was skipped is not evaluated
        for x in t:
            if x["value"] is None or x["value"] is False:
                x["value"] = None
                x["met"] = None

    # output ------------------------------------------------------------------

    COLS = {
        "throughput": [("server", "server", "s"), ("req/s", "req_s", ".0f"),
                       ("p50 ms", "p50_ms", ".2f"), ("p99 ms", "p99_ms", ".2f"),
                       ("errors", "errors", "d"), ("MB/s", "mb_s", ".1f"),
                       ("RSS MiB", "rss_kib", "mib"), ("CPU us/req", "cpu_us", ".1f"),
                       ("user us", "cpu_user_us", ".2f"), ("sys us", "cpu_sys_us", ".2f"),
                       ("x gunicorn", "x_gunicorn", ".2f"), ("x nginx", "x_nginx", ".2f")],
        "ideal": [("server", "server", "s"), ("req/s", "req_s", ".0f"),
                  ("ideal", "ideal_req_s", ".0f"), ("% ideal", "of_ideal", "pct"),
                  ("% floor", "of_floor", "pct"),
                  ("run req/s", "run_req_s", ".0f"), ("mean ms", "mean_ms", ".1f"),
                  ("p50 ms", "p50_ms", ".1f"), ("p99 ms", "p99_ms", ".1f"),
                  ("errors", "errors", "d"), ("RSS MiB", "rss_kib", "mib")],
        "idle": [("server", "server", "s"), ("held", "held", "d"),
                 ("RSS before MiB", "rss_before_kib", "mib"),
                 ("RSS after MiB", "rss_after_kib", "mib"), ("KiB/conn", "kib_per_conn", ".2f"),
                 ("fresh p50 ms", "fresh_p50_ms", ".2f"), ("fresh max ms", "fresh_max_ms", ".2f")],
        "ready": [("server", "server", "s"), ("ready ms", "ready_ms", ".1f"),
                  ("first answer ms", "first_answer_ms", ".1f"), ("CPU ms", "cpu_ms", ".1f")],
        "parser": [("binary", "server", "s")],
        "websocket": [("server", "server", "s"), ("round trips/s", "rt_s", ".0f"),
                      ("x best peer", "x_best_peer", ".2f"),
                      ("client CPU", "client_cpu", "pct"),
                      ("KiB/idle WS", "kib_per_ws", ".2f"), ("16 MiB echo s", "big_s", ".2f")],
        "instr": [("server", "server", "s"), ("instructions/req", "instr", ".0f"),
                  ("at 50 conns", "instr_50", ".0f"), ("requests", "requests", "s")],
    }

    @staticmethod
    def fmt(v, f):
        if v is None:
            return "-"
        if f == "s":
            return str(v)
        if f == "mib":
            return f"{v / 1024:.1f}"
        if f == "pct":
            return f"{v * 100:.1f}%"
        if f == "d":
            return str(int(v))
        return format(v, f)

    def table_lines(self, table, markdown=False):
        cols = self.COLS[table["kind"]]
        head = [c[0] for c in cols] + ["note"]
        body = []
        for r in table["rows"]:
            if r["status"] == "ok":
                cells = [self.fmt(r.get(k), f) for _, k, f in cols]
            else:
                cells = [r["server"]] + ["-"] * (len(cols) - 1)
            note = r.get("note", "") if r["status"] == "ok" else f"{r['status']}: {r.get('note', '')}"
            cells.append(note)
            body.append(cells)
        if markdown:
            esc = [[c.replace("|", "\\|") for c in row] for row in body]
            out = ["| " + " | ".join(head) + " |",
                   "|" + "|".join("---" if i in (0, len(head) - 1) else "---:"
                                  for i in range(len(head))) + "|"]
            out += ["| " + " | ".join(row) + " |" for row in esc]
            if table["kind"] == "parser":
                for r in table["rows"]:
                    if r.get("output"):
                        out += ["", "```"] + r["output"] + ["```"]
            return out
        widths = [max(len(head[i]), *(len(row[i]) for row in body)) if body else len(head[i])
                  for i in range(len(head) - 1)]
        fmt_row = lambda row: "  ".join(  # noqa: E731
            (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(row, widths))
        ) + "  " + row[-1]
        out = [fmt_row(head), fmt_row(["-" * w for w in widths] + ["----"])]
        out += [fmt_row(row) for row in body]
        if table["kind"] == "parser":
            for r in table["rows"]:
                out += ["    " + line for line in r.get("output", [])]
        return out

    def ops_ratios(self, rows):
        """--ops: each ops-TYPE row's req/s over kirin-TYPE's, the median run's
        and run by run (the runs were interleaved, A then B)."""
        ok = {r["server"]: r for r in rows if r["status"] == "ok"}
        for name, r in ok.items():
            off = (ok.get("kirin-" + name[4:]) or ok.get("base-" + name[4:])
                   if name.startswith("ops-") else None)
            if not off:
                continue
            r["x_off"] = r["req_s"] / off["req_s"]
            r["x_off_runs"] = [a / b for a, b in zip(r["all_req_s"], off["all_req_s"]) if b]
            self.say(f"   {name} / {off['server']}: {r['x_off']:.3f} (runs: " +
                     ", ".join(f"{x:.3f}" for x in r["x_off_runs"]) + ")")

    def print_table(self, table):
        self.say(f"\n[{table['id']}] {table['title']}")
        for line in self.table_lines(table):
            self.say("  " + line.rstrip())

    def target_lines(self, markdown=False):
        rows = []
        for x in self.targets:
            v = x["value"]
            val = "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
            met = {True: "MET", False: "NOT MET", None: "n/a"}[x["met"]]
            rows.append([x["target"], val, x["goal"], met, x.get("detail") or ""])
        if markdown:
            out = ["| target | value | goal | met | note |", "|---|---:|---|---|---|"]
            return out + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        w = [max([len(r[i]) for r in rows] + [6]) for i in range(4)]
        return ["  ".join(c.ljust(w[i]) if i < 4 else c for i, c in enumerate(r)) for r in rows]

    def meta(self):
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "python": DEBIAN_PYTHON,
            "pin": {"servers": PIN[0], "wrk": PIN[1]} if PIN else None,
            "loadavg": os.getloadavg(),
            "kirin": self.kirin, "baseline": self.baseline or None,
            "quick": self.quick, "duration_s": self.duration,
            "runs": self.runs, "warmup_s": self.warmup, "wrk_threads": self.wrk.threads,
            "command": " ".join([sys.executable] + sys.argv),
            "versions": _versions(),
        }

    def write_outputs(self, out):
        os.makedirs(out, exist_ok=True)
        data = {"meta": self.meta(), "tables": self.tables, "targets": self.targets,
                "kirin_failures": list(dict.fromkeys(self.kirin_failures))}
        with open(os.path.join(out, "bench.json"), "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        m = data["meta"]
        md = ["# kirin benchmark", "",
              f"{m['date']}, {m['cpus']} CPUs, Linux {m['kernel']}; one worker each unless "
              f"stated; median of {m['runs']} runs of {m['duration_s']} s after a "
              f"{m['warmup_s']} s warm-up; wrk with {m['wrk_threads']} thread(s) "
              "unless a table says otherwise.", "",
              f"`{m['command']}`", ""]
        for table in self.tables:
            md += [f"## ({table['scenario']}) {table['title']}", ""] + \
                self.table_lines(table, markdown=True) + [""]
        if self.targets:
            md += ["## Targets", ""] + self.target_lines(markdown=True) + [""]
        with open(os.path.join(out, "bench.md"), "w") as f:
            f.write("\n".join(md))
        chart = self.chart(out)
        self.say(f"\nwrote {out}/bench.json, {out}/bench.md" + (f", {chart}" if chart else
                                                               " (no chart: " + self._chart_note + ")"))

    _chart_note = ""

    def chart(self, out):
        """A clustered bar chart of (a) and (b) req/s per server, with gnuplot."""
        gp = shutil.which("gnuplot")
        if not gp:
            self._chart_note = "gnuplot is not installed"
            return None
        series = [t for t in self.tables if t["id"] in ("a", "b")]
        if not series:
            self._chart_note = "neither (a) nor (b) ran"
            return None
        names = []
        for t in series:
            for r in t["rows"]:
                if r["status"] == "ok" and r["server"] not in names:
                    names.append(r["server"])
        if not names:
            self._chart_note = "no results"
            return None
        dat = os.path.join(out, "bench-chart.dat")
        with open(dat, "w") as f:
            f.write("server " + " ".join(f'"{t["title"]}"' for t in series) + "\n")
            for n in names:
                vals = []
                for t in series:
                    r = next((r for r in t["rows"] if r["server"] == n and r["status"] == "ok"), None)
                    vals.append(f"{r['req_s']:.0f}" if r else "0")
                f.write(f'"{n}" ' + " ".join(vals) + "\n")
        png = os.path.join(out, "bench.png")
        cols = " ".join(f"{i + 2}" for i in range(len(series)))
        script = f"""
set terminal pngcairo size 1200,600 font ",10" noenhanced
set output "{png}"
set title "hello world, 1 worker, 100 connections (req/s, higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key below autotitle columnheader
set ylabel "requests per second"
set yrange [0:*]
set grid ytics
set xtics rotate by -30
plot for [c in "{cols}"] "{dat}" using int(c):xtic(1)
"""
        gpf = os.path.join(out, "bench-chart.gp")
        with open(gpf, "w") as f:
            f.write(script)
        try:
            r = subprocess.run([gp, gpf], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            self._chart_note = "gnuplot timed out"
            return None
        if r.returncode != 0 or not os.path.exists(png):
            self._chart_note = "gnuplot failed: " + _short(r.stderr)
            return None
        return png

    # main --------------------------------------------------------------------

    def run(self, only):
        self.say(f"kirin bench: {'quick, ' if self.quick else ''}"
                 f"{self.runs} run(s) of {self.duration} s, warm-up {self.warmup} s, "
                 f"{os.cpu_count()} CPUs, kirin={self.kirin or '-'}, load average "
                 + " ".join(f"{x:.2f}" for x in os.getloadavg())
                 + (f", servers on CPU {PIN[0]}, wrk on CPU {PIN[1]}" if PIN else ""))
        for v in self.variants:
            if v.family == "kirin" and v.available():
                srv, row = self.start(v, "hello:app")  # is this worker class built?
                if srv:
                    srv.stop()
                elif row["status"] == "error":
                    self.say(f"  {v.name} did not start: {row['note']}")
        for v in self.variants:
            if not v.available():
                self.say(f"  skipped {v.name}: {v.skip_reason}")
        for letter, name in SCENARIOS:
            if only and letter not in only:
                continue
            if letter in "abcdfjl" and not self.wrk.path:
                self.tables.append({"id": letter, "scenario": letter, "title": name,
                                    "kind": "parser", "rows": [{
                                        "server": "wrk", "family": "-", "kind": "-",
                                        "status": "skipped", "note": "wrk is not installed"}]})
                self.say(f"\n== ({letter}) {name}: skipped, wrk is not installed")
                continue
            getattr(self, f"scen_{letter}")()
        self.say("\nload average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        if not self.quick:
            self.evaluate_targets()
            if self.targets:
                self.say("\nTargets")
                for line in self.target_lines():
                    self.say("  " + line.rstrip())


def _met(x):
    return bool(x) if x is not None else None


def _read_ready_dir(d):
    out = []
    for name in os.listdir(d):
        if name.isdigit():
            try:
                with open(os.path.join(d, name)) as f:
                    out.append(float(f.read().strip()))
            except (OSError, ValueError):
                pass
    return out


def _versions():
    out = {}
    probes = {
        "wrk": ["wrk", "--version"],
        "nginx": [NGINX, "-v"],
        "uwsgi": [UWSGI, "--version"],
        "gunicorn": [DEBIAN_PYTHON, "-c", "import gunicorn; print(gunicorn.__version__)"],
        "waitress": [DEBIAN_PYTHON, "-c", "import importlib.metadata as m; print(m.version('waitress'))"],
        "gevent": [DEBIAN_PYTHON, "-c", "import gevent; print(gevent.__version__)"],
    }
    for k, argv in probes.items():
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (r.stdout + r.stderr).strip().splitlines()
            out[k] = text[0] if text and r.returncode in (0, 1) else None
        except (OSError, subprocess.TimeoutExpired):
            out[k] = None
    return out


def parse_only(text):
    if not text:
        return None
    names = {n: letter for letter, n in SCENARIOS}
    out = set()
    for part in re.split(r"[,\s]+", text.strip()):
        p = part.lower()
        if p in names:
            out.add(names[p])
        elif p in dict(SCENARIOS):
            out.add(p)
        elif p:
            raise SystemExit(f"bench.py: unknown scenario {part!r} ("
                             + "".join(letter for letter, _ in SCENARIOS) + " or "
                             + ", ".join(n for _, n in SCENARIOS) + ")")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="kirin's benchmark harness",
                                 epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kirin", default=os.environ.get("KIRIN", ""), help="the kirin binary")
    ap.add_argument("--baseline", help="another kirin binary (e.g. the previous commit's), "
                    "run as base-TYPE beside kirin-TYPE in the same interleaved runs")
    ap.add_argument("--quick", action="store_true", help="kirin only, one short scaled-down run")
    ap.add_argument("--only", help="scenarios to run, e.g. a,b or hello,close")
    ap.add_argument("--out", help="directory for bench.json, bench.md, bench.png")
    ap.add_argument("--duration", type=int, help="seconds per run (default 3; 1 with --quick)")
    ap.add_argument("--runs", type=int, help="runs per server, median reported (default 3)")
    ap.add_argument("--servers", help="only the servers whose name matches this regex")
    ap.add_argument("--ops", action="store_true",
                    help="also run kirin with statsd, /metrics and the control socket on "
                         "(ops-TYPE), for the overhead ratio")
    ap.add_argument("--wrk-threads", type=int,
                    help="wrk threads (default 1; one per CPU for scenario b)")
    ap.add_argument("--pin", action="store_true",
                    help="servers on one CPU, wrk on another (see below)")
    ap.add_argument("--parser-bench", help="the parser micro-benchmark binary for (h)")
    args = ap.parse_args(argv)
    only = parse_only(args.only)
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            ap.error(f"--pin needs two CPUs; this process may use {len(cpus)}")
        global PIN
        PIN = (cpus[0], cpus[1])
    signal.signal(signal.SIGTERM, _on_term)
    bench = Bench(args)
    try:
        bench.run(only)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        kill_live_groups()
        return 130
    finally:
        kill_live_groups()
        if args.out:
            bench.write_outputs(args.out)
        shutil.rmtree(bench.tmp, ignore_errors=True)
    if bench.kirin_failures:
        unique = list(dict.fromkeys(bench.kirin_failures))
        print("\nkirin failures:\n  " + "\n  ".join(unique), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gunicorn's Python configuration files on the real binary: gunicorn.conf.py
read from the current directory, -c FILE.py, -c python:module and file:,
module-level names validated as Gunicorn does, the precedence defaults <
file < GUNICORN_CMD_ARGS < KIRIN_CMD_ARGS < argv, hostile files (raising,
syntax errors, wrong types, huge, unreadable: one clear error, exit 1; on HUP
the running configuration kept), and every worker type serving from an
arbiter whose interpreter ran the file."""
import os
import signal
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (APPS, Kirin, free_port, http_get, kill_tree, main, run_kirin,  # noqa: E402
                       wait_for, worker_classes)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def settings(stdout):
    """--print-config's output as {name: [values]}."""
    out = {}
    for line in stdout.splitlines():
        k, eq, v = line.partition("=")
        if eq:
            out.setdefault(k.strip(), []).append(v.strip())
    return out


class PyConfigCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kirin-pyconf-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def conf(self, text, name="gunicorn.conf.py"):
        return write(os.path.join(self.dir, name), text)

    def print_config(self, *args, env=None):
        cp = run_kirin("--print-config", *args, cwd=self.dir, env=env, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return settings(cp.stdout), cp.stderr

    def assertError(self, cp, *needles, status=1):
        """exit 1 (or status), and the last line of stderr the one-line error naming needles."""
        self.assertFalse(cp.timed_out, cp.stderr)
        self.assertEqual(cp.returncode, status, cp.stderr)
        last = cp.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("kirin: error: "), cp.stderr)
        for needle in needles:
            self.assertIn(needle, last)
        return last


class Loading(PyConfigCase):
    def test_default_file_gunicorn_style_deployment(self):
        """A Dockerfile's command: no -c, ./gunicorn.conf.py, GUNICORN_CMD_ARGS,
        the app named by wsgi_app in the file; kirin with no argument."""
        port = free_port()
        self.conf("import multiprocessing\n"
                  f"pythonpath = {APPS!r}\n"
                  "wsgi_app = 'hello:app'\n"
                  "workers = 1\n"
                  "timeout = 20\n")
        env = {"GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port} --workers=2"}
        with Kirin(cwd=self.dir, env=env, bind=False, port=port) as k:
            self.assertEqual(http_get(k.port, "/").status, 200)
            k.wait_workers(2)

    def test_values_and_types_as_gunicorn(self):
        self.conf("bind = ['127.0.0.1:9001', 'unix:/tmp/x.sock']\n"
                  "workers = '3'\n"            # a string of an int
                  "threads = True\n"           # a bool is an int
                  "preload_app = 'true'\n"     # a bool from a string
                  "reuse_port = True\n"
                  "raw_env = ['A=1,2', 'B=3']\n"
                  "forwarded_allow_ips = '10.0.0.1, 10.0.0.2'\n"
                  "accesslog = None\n"
                  "proc_name = '  web  '\n"
                  "worker_class = 'gunicorn.workers.gthread.ThreadWorker'\n"
                  "loglevel = 'debug'\n"
                  "limit_request_body = 1 << 40\n"
                  "def on_starting(server):\n    pass\n"
                  "unrelated = object()\n")
        cfg, _ = self.print_config("hello:app")
        self.assertEqual(cfg["bind"], ["127.0.0.1:9001, unix:/tmp/x.sock"])
        self.assertEqual(cfg["workers"], ["3"])
        self.assertEqual(cfg["threads"], ["1"])
        self.assertEqual(cfg["preload_app"], ["true"])
        self.assertEqual(cfg["reuse_port"], ["true"])
        self.assertEqual(cfg["raw_env"], ["A=1,2", "B=3"])
        self.assertEqual(cfg["forwarded_allow_ips"], ["10.0.0.1, 10.0.0.2"])
        self.assertEqual(cfg["accesslog"], [""])
        self.assertEqual(cfg["proc_name"], ["web"])
        self.assertEqual(cfg["worker_class"], ["gunicorn.workers.gthread.ThreadWorker"])
        self.assertEqual(cfg["loglevel"], ["debug"])
        self.assertEqual(cfg["limit_request_body"], [str(1 << 40)])

    def test_precedence(self):
        """defaults < file < GUNICORN_CMD_ARGS < KIRIN_CMD_ARGS < argv."""
        self.conf("workers = 2\ntimeout = 40\nkeepalive = 7\nbacklog = 64\n"
                  "graceful_timeout = 9\n")
        env = {"GUNICORN_CMD_ARGS": "--timeout 41 --keep-alive 8 --backlog 65",
               "KIRIN_CMD_ARGS": "--keep-alive 9 --backlog 66"}
        cfg, _ = self.print_config("--backlog", "67", "hello:app", env=env)
        self.assertEqual(cfg["workers"], ["2"])            # the file
        self.assertEqual(cfg["graceful_timeout"], ["9"])   # the file
        self.assertEqual(cfg["timeout"], ["41"])           # GUNICORN_CMD_ARGS
        self.assertEqual(cfg["keepalive"], ["9"])          # KIRIN_CMD_ARGS
        self.assertEqual(cfg["backlog"], ["67"])           # argv
        self.assertEqual(cfg["max_requests"], ["0"])       # the default

    def test_config_named_in_gunicorn_cmd_args(self):
        self.conf("workers = 5\n", name="deploy.py")
        cfg, _ = self.print_config("hello:app", env={"GUNICORN_CMD_ARGS": "-c deploy.py"})
        self.assertEqual(cfg["workers"], ["5"])

    def test_gunicorn_cmd_args_errors_name_the_variable(self):
        cp = run_kirin("hello:app", cwd=self.dir, env={"GUNICORN_CMD_ARGS": "--wrokers 2"})
        self.assertError(cp, "GUNICORN_CMD_ARGS", "--wrokers", status=2)

    def test_dash_c_file_and_file_prefix(self):
        path = self.conf("workers = 4\n", name="conf.py")
        for loc in (path, "conf.py", "file:conf.py"):
            cfg, _ = self.print_config("-c", loc, "hello:app")
            self.assertEqual(cfg["workers"], ["4"], loc)
        # file: executes any extension as Python, as Gunicorn does.
        self.conf("workers = 6\n", name="settings.cfg")
        cfg, _ = self.print_config("-c", "file:settings.cfg", "hello:app")
        self.assertEqual(cfg["workers"], ["6"])

    def test_python_module(self):
        os.mkdir(os.path.join(self.dir, "pkg"))
        write(os.path.join(self.dir, "pkg", "__init__.py"), "")
        write(os.path.join(self.dir, "pkg", "conf.py"), "workers = 7\n")
        cfg, _ = self.print_config("-c", "python:pkg.conf", "hello:app")
        self.assertEqual(cfg["workers"], ["7"])
        cp = run_kirin("-c", "python:pkg.nothere", "hello:app", cwd=self.dir)
        self.assertError(cp, "pkg.nothere", "not found")
        cp = run_kirin("-c", "python:nopkg.conf", "hello:app", cwd=self.dir)
        self.assertError(cp, "nopkg.conf", "not found")

    def test_py_wins_over_ini_and_says_so(self):
        self.conf("workers = 3\n")
        write(os.path.join(self.dir, "kirin.ini"), "[kirin]\nworkers = 5\n")
        cfg, err = self.print_config("hello:app")
        self.assertEqual(cfg["workers"], ["3"])
        self.assertRegex(err, r"WARNING.*gunicorn\.conf\.py.*kirin\.ini")
        os.unlink(os.path.join(self.dir, "gunicorn.conf.py"))
        cfg, _ = self.print_config("hello:app")
        self.assertEqual(cfg["workers"], ["5"])

    def test_own_names_ignored_gunicorn_names_applied(self):
        self.conf("asgi_disconnect_grace_period = 7\nworkers = 2\nmy_own_name = 1\n"
                  "_private = 2\n")
        cfg, err = self.print_config("hello:app")
        self.assertEqual(cfg["workers"], ["2"])
        self.assertEqual(cfg["asgi_disconnect_grace_period"], ["7"])
        self.assertNotIn("asgi_disconnect_grace_period", err)
        self.assertNotIn("my_own_name", err)
        self.assertNotIn("_private", err)
        self.assertNotIn("'workers'", err)

    def test_print_and_check_config_from_the_file(self):
        """As Gunicorn: print_config and check_config are settings a file may set."""
        self.conf(f"pythonpath = {APPS!r}\nworkers = 3\nprint_config = True\n")
        cp = run_kirin("hello:app", cwd=self.dir)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(settings(cp.stdout)["workers"], ["3"])
        self.conf(f"pythonpath = {APPS!r}\ncheck_config = True\n")
        cp = run_kirin("hello:app", cwd=self.dir)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("configuration OK", cp.stdout)

    def test_example_config_runs(self):
        """Gunicorn's examples/example_config.py, as it is: loads and serves."""
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gunicorn_example_config.py")
        port = free_port()
        with Kirin("-c", example, "-b", f"127.0.0.1:{port}", "hello:app", bind=False, port=port,
                   cwd=APPS) as k:
            self.assertEqual(http_get(k.port, "/").status, 200)
            self.assertIn("Server is ready. Spawning workers", k.log())  # when_ready
            pid = k.wait_workers(1)[0]
            self.assertTrue(wait_for(lambda: f"Worker spawned (pid: {pid})" in k.log(), 10))
            # Its ssl_context (with an sni_callback) is not called without certfile.
            self.assertNotRegex(k.log(), r"WARNING.*'(ssl_context|post_fork)'")

    def test_example_config_hooks_fire_in_order(self):
        """The example's when_ready, post_fork, worker_abort (a worker stuck
        past -t 2) and worker_int (QUIT) each log their line, in order."""
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gunicorn_example_config.py")
        port = free_port()
        with Kirin("-c", example, "-b", f"127.0.0.1:{port}", "-t", "2", "slow:app", bind=False,
                   port=port, cwd=APPS) as k:
            (first,) = k.wait_workers(1)
            try:
                http_get(k.port, "/?60", timeout=30)
            except OSError:
                pass
            self.assertTrue(wait_for(lambda: "worker received SIGABRT signal" in k.log(), 15),
                            k.log())
            (second,) = wait_for(lambda: (lambda w: w if w and w != [first] else None)(
                k.workers()), 15)
            self.assertTrue(wait_for(lambda: f"Worker spawned (pid: {second})" in k.log(), 10))
            self.assertEqual(http_get(k.port, "/?0", timeout=20).status, 200)  # it is up
            k.signal(signal.SIGQUIT)
            self.assertEqual(k.wait(10), 0, k.log())
        log = k.log()
        order = ["Server is ready. Spawning workers", f"Worker spawned (pid: {first})",
                 "worker received SIGABRT signal", f"Worker spawned (pid: {second})",
                 "worker received INT or QUIT signal"]
        at = [log.find(line) for line in order]
        self.assertNotIn(-1, at, log)
        self.assertEqual(at, sorted(at), log)


HOOKS = """import os
pythonpath = {apps!r}
workers = 2
def _w(*a):
    with open({log!r}, "a") as f:
        f.write(" ".join(str(x) for x in a) + "\\n")
def on_starting(server): _w("on_starting", server.pid == os.getpid(), server.cfg.workers)
def when_ready(server): server.log.info("when_ready says %s", "hello"); _w("when_ready")
def pre_fork(server, worker): _w("pre_fork", server.num_workers)
def post_fork(server, worker): _w("post_fork", worker.pid == os.getpid(), worker.ppid)
def post_worker_init(worker): _w("post_worker_init", worker.pid == os.getpid(), worker.alive)
def worker_exit(server, worker): _w("worker_exit", worker.pid == os.getpid())
def child_exit(server, worker): _w("child_exit", worker.pid)
def nworkers_changed(server, new, old): _w("nworkers_changed", new, old)
def on_reload(server): _w("on_reload")
def on_exit(server): _w("on_exit")
def pre_request(worker, req):
    _w("pre_request", worker.pid == os.getpid(), req.method, req.path, req.query,
       dict(req.headers).get("X-TEST"))
def post_request(worker, req, environ, resp):
    _w("post_request", req.path, resp.status_code, resp.sent, environ["QUERY_STRING"])
"""


class Hooks(PyConfigCase):
    def read(self):
        try:
            with open(os.path.join(self.dir, "hooks.log")) as f:
                return [line.split() for line in f]
        except FileNotFoundError:
            return []

    def test_hooks_fire_in_order(self):
        log = os.path.join(self.dir, "hooks.log")
        self.conf(HOOKS.format(apps=APPS, log=log))
        with Kirin("hello:app", cwd=self.dir) as k:
            pids = k.wait_workers(2)
            self.assertTrue(wait_for(lambda: sum(e[0] == "post_worker_init"
                                                 for e in self.read()) == 2, 10), self.read())
            self.assertIn("when_ready says hello", k.log())
            r = http_get(k.port, "/p?q=1", headers={"X-Test": "yes"})
            self.assertEqual(r.status, 200)
            self.assertTrue(wait_for(lambda: any(e[0] == "post_request" for e in self.read()),
                                     10))
            k.signal(signal.SIGTTIN)
            self.assertTrue(wait_for(lambda: ["nworkers_changed", "3", "2"] in self.read(), 10))
            k.wait_workers(3)
            k.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: ["on_reload"] in self.read(), 10))
        events = self.read()
        names = [e[0] for e in events]
        arbiter = str(k.pid)
        self.assertEqual(events[0], ["on_starting", "True", "2"])
        self.assertEqual(names[1:3], ["when_ready", "pre_fork"])
        self.assertEqual(names[-1], "on_exit")
        self.assertIn(["post_fork", "True", arbiter], events)
        self.assertIn(["post_worker_init", "True", "True"], events)
        self.assertIn(["worker_exit", "True"], events)
        self.assertIn(["pre_request", "True", "GET", "/p", "q=1", "yes"], events)
        self.assertIn(["post_request", "/p", "200", str(len(r.body)), "q=1"], events)
        self.assertLess(names.index("pre_request"), names.index("post_request"))
        for pid in pids:
            self.assertIn(["child_exit", str(pid)], events)
        # each worker: pre_fork in the arbiter, then post_fork, then post_worker_init
        self.assertLess(names.index("pre_fork"), names.index("post_fork"))
        self.assertLess(names.index("post_fork"), names.index("post_worker_init"))

    def test_worker_abort_and_worker_int(self):
        """worker_abort(worker) when the arbiter sends SIGABRT to a worker
        stuck past --timeout (faulthandler still logs its stack first),
        worker_int(worker) when a quick stop sends SIGQUIT: in the worker,
        before it exits. gevent's sleep does not get a worker stuck: only
        the quick stop is tried there."""
        log = os.path.join(self.dir, "hooks.log")
        self.conf(f"import os\npythonpath = {APPS!r}\n"
                  "def _w(*a):\n"
                  f"    with open({log!r}, 'a') as f:\n"
                  "        f.write(' '.join(str(x) for x in a) + '\\n')\n"
                  "def post_worker_init(worker): _w('post_worker_init', worker.pid)\n"
                  "def worker_abort(worker): _w('worker_abort', worker.pid, os.getpid())\n"
                  "def worker_int(worker): _w('worker_int', worker.pid, os.getpid(), worker.alive)\n"
                  "def on_exit(server): _w('on_exit')\n")
        for worker_class in [wc for wc in ("sync", "gthread", "gevent") if wc in worker_classes()]:
            with self.subTest(worker_class=worker_class):
                if os.path.exists(log):
                    os.unlink(log)
                with Kirin("-k", worker_class, "-t", "2", "slow:app", cwd=self.dir) as k:
                    (first,) = k.wait_workers(1)
                    if worker_class != "gevent":
                        try:
                            self.assertNotEqual(http_get(k.port, "/?60", timeout=30).status, 200)
                        except OSError:
                            pass  # closed without an answer, as Gunicorn
                        self.assertTrue(wait_for(lambda: ["worker_abort", str(first), str(first)]
                                                 in self.read(), 15), (self.read(), k.log()))
                        self.assertIn("WORKER TIMEOUT", k.log())
                        self.assertRegex(k.log(), r'File ".*slow\.py", line \d+ in app')
                    (last,) = wait_for(lambda: (lambda w: w if w and w != [first] else None)(
                        k.workers()), 15) if worker_class != "gevent" else (first,)
                    self.assertTrue(wait_for(lambda: ["post_worker_init", str(last)]
                                             in self.read(), 10))
                    k.signal(signal.SIGQUIT)
                    self.assertEqual(k.wait(10), 0, k.log())
                names = [e[0] for e in self.read()]
                self.assertIn(["worker_int", str(last), str(last), "False"], self.read())
                self.assertEqual(names[-2:], ["worker_int", "on_exit"])
                if worker_class != "gevent":
                    self.assertLess(names.index("worker_abort"), names.index("worker_int"))

    def test_pre_exec_on_usr2(self):
        log = os.path.join(self.dir, "hooks.log")
        self.conf(f"import os\npythonpath = {APPS!r}\n"
                  "def pre_exec(server):\n"
                  f"    open({log!r}, 'a').write(f'pre_exec {{os.getpid()}} {{os.getppid()}}\\n')\n")
        with Kirin("hello:app", cwd=self.dir) as k:
            k.wait_workers(1)
            before = set(k.workers())
            k.signal(signal.SIGUSR2)
            try:
                self.assertTrue(wait_for(lambda: ["pre_exec"] == [e[0] for e in self.read()], 10),
                                k.log())
                event = self.read()[0]
                self.assertEqual(event[2], str(k.pid))  # in the arbiter's child
                self.assertTrue(wait_for(lambda: set(k.workers()) - before, 10), k.log())
            finally:
                for pid in set(k.workers()) - before:
                    kill_tree(pid)

    def test_a_raising_hook_is_logged_and_the_server_goes_on(self):
        self.conf(f"pythonpath = {APPS!r}\n"
                  "def post_worker_init(worker):\n    raise ValueError('hook broke')\n"
                  "def when_ready(server):\n    1 / 0\n")
        with Kirin("hello:app", cwd=self.dir) as k:
            self.assertEqual(http_get(k.port, "/").status, 200)
            self.assertTrue(wait_for(lambda: "ValueError: hook broke" in k.log(), 10), k.log())
            self.assertIn("Exception in when_ready hook", k.log())

    def test_on_starting_that_raises_stops_the_server(self):
        """As Gunicorn, whose arbiter does not start when on_starting raises."""
        self.conf("def on_starting(server):\n    raise RuntimeError('not today')\n")
        cp = run_kirin("hello:app", cwd=self.dir)
        self.assertError(cp, "on_starting")
        self.assertIn("RuntimeError: not today", cp.stderr)


    def test_prometheus_multiprocess(self):
        """prometheus_client's multiprocess mode, as its docs set it up for
        Gunicorn: counters summed across 2 workers and a worker restart, and
        the live-worker gauge right because child_exit marks the dead."""
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            self.skipTest("python3-prometheus-client is not installed")
        metrics = os.path.join(self.dir, "metrics")
        os.mkdir(metrics)
        self.conf(f"pythonpath = {APPS!r}\nworkers = 2\n"
                  "from prometheus_client import multiprocess\n"
                  "def child_exit(server, worker):\n"
                  "    multiprocess.mark_process_dead(worker.pid)\n")

        def sample(k, name):
            for line in http_get(k.port, "/metrics").body.decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
            return None

        with Kirin("prom_app:app", cwd=self.dir, env={"PROMETHEUS_MULTIPROC_DIR": metrics}) as k:
            first = k.wait_workers(2)
            for _ in range(10):
                self.assertEqual(http_get(k.port, "/inc").status, 200)
            os.kill(first[0], signal.SIGTERM)
            self.assertTrue(wait_for(lambda: len(k.workers()) == 2 and first[0] not in k.workers(),
                                     15), k.log())
            for _ in range(5):
                self.assertEqual(http_get(k.port, "/inc").status, 200)
            self.assertTrue(wait_for(lambda: sample(k, "kirin_e2e_live_workers") == 2, 10),
                            sample(k, "kirin_e2e_live_workers"))
            self.assertEqual(sample(k, "kirin_e2e_requests_total"), 15)


class Hostile(PyConfigCase):
    def test_raises(self):
        self.conf("import os\nworkers = 2\nraise RuntimeError('no database')\n")
        cp = run_kirin("hello:app", cwd=self.dir)
        self.assertError(cp, "gunicorn.conf.py", "RuntimeError: no database")
        self.assertIn("Traceback", cp.stderr)
        self.assertIn('line 3, in <module>', cp.stderr)

    def test_system_exit_and_keyboard_interrupt(self):
        for stmt, what in (("import sys; sys.exit(3)", "SystemExit"),
                           ("raise KeyboardInterrupt", "KeyboardInterrupt")):
            self.conf(stmt + "\n")
            cp = run_kirin("hello:app", cwd=self.dir)
            self.assertError(cp, "gunicorn.conf.py", what)

    def test_syntax_error_names_file_and_line(self):
        self.conf("workers = 2\nbind = ['127.0.0.1:8000'\ntimeout = 3\n")
        cp = run_kirin("hello:app", cwd=self.dir)
        last = self.assertError(cp, "gunicorn.conf.py:2", "syntax error")
        self.assertEqual(cp.stderr.strip(), last)  # one line, no traceback

    def test_wrong_types_name_setting_and_file(self):
        cases = [("workers = 2.5", "workers", "float"),
                 ("workers = 'many'", "workers", "integer"),
                 ("workers = -1", "workers", "at least"),
                 ("workers = 10**100", "workers", "range"),
                 ("preload_app = 1", "preload_app", "int"),
                 ("preload_app = 'yes please'", "preload_app", "True or False"),
                 ("bind = 8000", "bind", "int"),
                 ("bind = ['127.0.0.1:8000', 8001]", "bind", "list holding int"),
                 ("raw_env = ['NOEQUALS']", "raw_env", "NOEQUALS"),
                 ("chdir = ['/tmp']", "chdir", "list"),
                 ("worker_class = 'nosuch'", "worker_class", "nosuch"),
                 ("proc_name = 'a\\0b'", "proc_name", "str"),
                 ("loglevel = {'level': 'info'}", "loglevel", "dict")]
        for line, name, needle in cases:
            self.conf(line + "\n")
            cp = run_kirin("hello:app", cwd=self.dir)
            last = self.assertError(cp, "gunicorn.conf.py", f"invalid value for {name}", needle)
            self.assertEqual(cp.stderr.strip(), last, line)

    def test_missing_directory_unreadable(self):
        cp = run_kirin("-c", "nothere.py", "hello:app", cwd=self.dir)
        self.assertError(cp, "nothere.py", "not found")
        os.mkdir(os.path.join(self.dir, "dir.py"))
        cp = run_kirin("-c", "dir.py", "hello:app", cwd=self.dir)
        self.assertError(cp, "dir.py", "directory")
        if os.geteuid() != 0:  # root reads anything
            os.chmod(self.conf("workers = 2\n", name="secret.py"), 0)
            cp = run_kirin("-c", "secret.py", "hello:app", cwd=self.dir)
            self.assertError(cp, "secret.py", "ermission denied")

    def test_huge_file(self):
        """5 MB of Python: read like any other file."""
        with open(os.path.join(self.dir, "gunicorn.conf.py"), "w") as f:
            f.write("# padding\n" * 200000)
            f.write("raw_env = [\n" + "".join(f"    'K{i}=v',\n" for i in range(100000)) + "]\n")
            f.write("workers = 3\n")
        self.assertGreater(os.path.getsize(os.path.join(self.dir, "gunicorn.conf.py")), 3 << 20)
        cfg, _ = self.print_config("hello:app")
        self.assertEqual(cfg["workers"], ["3"])
        self.assertEqual(len(cfg["raw_env"]), 100000)


class Serving(PyConfigCase):
    def test_every_worker_type_serves_under_a_python_config(self):
        """The workers fork from an arbiter whose interpreter ran the file
        (which imported threading and multiprocessing): each type boots."""
        self.conf("import multiprocessing, threading, json\n"
                  f"pythonpath = {APPS!r}\n"
                  "workers = 1\ncapture_output = True\n")
        for wc in worker_classes():
            with self.subTest(worker_class=wc):
                with Kirin("-k", wc, "worker_probe:app", cwd=self.dir) as k:
                    r = http_get(k.port, "/")
                    self.assertEqual(r.status, 200, k.log())
                    self.assertEqual(r.body.split()[0] != b"", True)

    def test_hup_rereads_all_or_nothing(self):
        path = self.conf(f"pythonpath = {APPS!r}\nworkers = 1\n")
        with Kirin("hello:app", cwd=self.dir) as k:
            k.wait_workers(1)
            write(path, f"pythonpath = {APPS!r}\nworkers = 2\n")
            k.signal(signal.SIGHUP)
            k.wait_workers(2, timeout=20)
            for broken, needle in (("workers = 3\nraise ValueError('half-written')\n",
                                    "ValueError: half-written"),
                                   ("workers = 3\nbind = [\n", "syntax error"),
                                   ("workers = 3\ntimeout = 'soon'\n", "timeout")):
                write(path, broken)
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: needle in k.log(), 10), k.log())
                self.assertRegex(k.log(), r"reload failed, keeping the running configuration")
                self.assertEqual(len(k.wait_workers(2)), 2)
                self.assertEqual(http_get(k.port, "/").status, 200)


if __name__ == "__main__":
    main()

"""kirin's command line: errors are one clear line and exit code 1, the
informational flags, --check-config, --print-config, and the precedence of
the settings' sources (defaults < INI file < KIRIN_CMD_ARGS < argv, with
WEB_CONCURRENCY and PORT as Gunicorn honours them)."""
import os
import re
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, all_worker_classes, free_port, http_get, main,  # noqa: E402
                       run_kirin, wait_for, worker_classes, worker_spellings)

LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] \S")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class Errors(unittest.TestCase):
    """Each error: exit 1 (2 for a usage error, as Gunicorn), one line on
    stderr, no Python traceback, quickly."""

    def assertCleanError(self, cp, *needles, status=1):
        self.assertFalse(cp.timed_out, f"kirin did not exit: {cp.args}\n{cp.stderr}")
        self.assertEqual(cp.returncode, status, f"{cp.args}\nstderr: {cp.stderr!r}")
        err = cp.stderr.strip()
        self.assertTrue(err, f"nothing on stderr for {cp.args}")
        self.assertEqual(len(err.splitlines()), 1, f"more than one line:\n{err}")
        self.assertNotIn("Traceback", err)
        for needle in needles:
            self.assertIn(needle, err)
        return err

    def test_unknown_flag(self):
        self.assertCleanError(run_kirin("--bogus", "hello:app", timeout=20), "--bogus", status=2)

    def test_usage_errors_exit_2(self):
        for args in (["-Z", "hello:app"], ["hello:app", "--workers"], ["--daemon=1", "hello:app"]):
            self.assertCleanError(run_kirin(*args, timeout=20), status=2)
        self.assertCleanError(run_kirin("hello:app", env={"GUNICORN_CMD_ARGS": "--bogus"},
                                        timeout=20), "GUNICORN_CMD_ARGS", status=2)

    def test_workers_not_a_number(self):
        err = self.assertCleanError(run_kirin("--workers", "abc", "hello:app", timeout=20), "abc")
        self.assertRegex(err, r"(?i)worker")

    def test_missing_app_module(self):
        self.assertCleanError(run_kirin("-w", "1", timeout=20))

    def test_unknown_ini_key_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = write(os.path.join(tmp, "bad.ini"),
                        "[kirin]\nworkers = 2\nwrokers = 3\n")
            err = self.assertCleanError(run_kirin("-c", ini, "hello:app", timeout=20),
                                        "bad.ini", "wrokers")
            self.assertRegex(err, r"(:3\b|line 3\b)", "the line number is not given")

    def test_bad_ini_value_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = write(os.path.join(tmp, "bad.ini"), "[kirin]\n\nworkers = many\n")
            err = self.assertCleanError(run_kirin("-c", ini, "hello:app", timeout=20), "bad.ini")
            self.assertRegex(err, r"(:3\b|line 3\b)", "the line number is not given")

    def test_missing_config_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = os.path.join(tmp, "nope.ini")
            self.assertCleanError(run_kirin("-c", missing, "hello:app", timeout=20), "nope.ini")

    def test_port_already_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            start = time.monotonic()
            cp = run_kirin("-b", f"127.0.0.1:{port}", "hello:app", timeout=30)
            elapsed = time.monotonic() - start
        self.assertFalse(cp.timed_out, f"kirin kept running on a port in use:\n{cp.stderr}")
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertLess(elapsed, 25, "took too long to give up")
        self.assertGreater(elapsed, 3.5, "gave up without retrying as Gunicorn does")
        self.assertEqual(cp.stderr.count("retrying in 1 second"), 4, cp.stderr)
        self.assertNotIn("Traceback", cp.stderr)
        self.assertIn(str(port), cp.stderr)
        self.assertRegex(cp.stderr, r"(?i)in use")

    def test_busy_port_is_retried_then_bound(self):
        """As Gunicorn: an address in use is tried again, 1 s apart, 5 times."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            with Kirin("-b", f"127.0.0.1:{port}", "hello:app", bind=False, port=port,
                       wait=False) as k:
                self.assertTrue(wait_for(lambda: "retrying in 1 second" in k.log(), 10),
                                k.log())
                s.close()
                k.wait_until_serving(10)
                self.assertEqual(http_get(port, "/").status, 200)
                self.assertRegex(k.log(), r"WARNING.*in use.*retrying")
        finally:
            s.close()

    def test_tcp_scheme_bind(self):
        port = free_port()
        with Kirin("-b", f"tcp://127.0.0.1:{port}", "hello:app", bind=False, port=port) as k:
            self.assertEqual(http_get(port, "/").status, 200)
            self.assertIn(f"Listening at: http://127.0.0.1:{port}", k.log())

    def test_unix_socket_in_missing_directory(self):
        cp = run_kirin("-b", "unix:/nonexistent-dir/x.sock", "hello:app", timeout=30)
        self.assertFalse(cp.timed_out, cp.stderr)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("/nonexistent-dir/x.sock", cp.stderr)
        self.assertNotIn("Traceback", cp.stderr)

    def test_unix_path_that_is_a_regular_file_is_not_removed(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = write(os.path.join(tmp, "precious.txt"), "keep me\n")
            cp = run_kirin("-b", f"unix:{path}", "hello:app", timeout=30)
            self.assertFalse(cp.timed_out, cp.stderr)
            self.assertEqual(cp.returncode, 1, cp.stderr)
            self.assertIn(path, cp.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), "keep me\n")

    def test_bad_bind_address(self):
        self.assertCleanError(run_kirin("-b", "127.0.0.1:notaport", "hello:app", timeout=20))

    def test_unknown_worker_class(self):
        self.assertCleanError(run_kirin("-k", "nosuchclass", "hello:app", timeout=20),
                              "nosuchclass", *worker_spellings())


# Gunicorn's spellings of -k and the worker type each must start.
GUNICORN_ALIASES = {
    "egg:gunicorn#sync": "sync",
    "gunicorn.workers.sync.SyncWorker": "sync",
    "egg:gunicorn#gthread": "gthread",
    "gunicorn.workers.gthread.ThreadWorker": "gthread",
    "egg:gunicorn#gevent": "gevent",
    "gunicorn.workers.ggevent.GeventWorker": "gevent",
    "gevent_pywsgi": "gevent",
    "gevent_wsgi": "gevent",
    "gunicorn.workers.ggevent.GeventPyWSGIWorker": "gevent",
    "uvicorn.workers.UvicornWorker": "asyncio",
    "uvicorn.workers.UvicornH11Worker": "asyncio",
    "uvicorn_worker.UvicornWorker": "asyncio",
    "uvicorn_worker.UvicornH11Worker": "asyncio",
}


class WorkerClasses(unittest.TestCase):
    """-k takes a worker type's name or Gunicorn's name for it, and the
    worker that serves is that type (told apart by worker_probe)."""

    def serve(self, *args):
        with Kirin(*args, "worker_probe:app") as k:
            return http_get(k.port, "/").body.decode(), k.log()

    def test_aliases_are_gunicorns(self):
        aliases = set(worker_spellings()) - set(all_worker_classes())
        self.assertEqual(aliases, set(GUNICORN_ALIASES))

    def test_each_spelling_starts_its_type(self):
        probes = {}
        for kind in worker_classes():
            probes[kind], log = self.serve("-k", kind)
            self.assertIn(f"Using worker: {kind}", log)
        self.assertEqual(len(set(probes.values())), len(probes), probes)
        for alias, kind in GUNICORN_ALIASES.items():
            if kind not in probes:
                continue  # not run in this build (AddressSanitizer)
            with self.subTest(alias=alias):
                probe, log = self.serve("-k", alias)
                self.assertIn(f"Using worker: {kind}", log)
                self.assertEqual(probe, probes[kind])

    def test_sync_alias_with_threads_is_gthread(self):
        probe, log = self.serve("-k", "gunicorn.workers.sync.SyncWorker", "--threads", "2")
        self.assertIn("Using worker: gthread", log)
        self.assertEqual(probe, self.serve("-k", "gthread")[0])


class Informational(unittest.TestCase):
    def test_version(self):
        cp = run_kirin("--version", timeout=20)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^kirin \d+\.\d+")

    def test_help(self):
        cp = run_kirin("--help", timeout=20)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        for flag in ("--bind", "--workers", "-b", "-w", "--worker-class", "--timeout",
                     "--config", "--check-config", "--print-config"):
            self.assertIn(flag, cp.stdout)

    def test_check_config_good_app(self):
        cp = run_kirin("--check-config", "hello:app", timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)

    def test_check_config_does_not_serve(self):
        port = free_port()
        cp = run_kirin("--check-config", "-b", f"127.0.0.1:{port}", "hello:app", timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with socket.socket() as s:  # nothing was left listening
            self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0)

    def test_check_config_app_that_cannot_be_imported(self):
        cp = run_kirin("--check-config", "importerror:app", timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("kirin-e2e-importerror-marker", cp.stderr)

    def test_check_config_missing_module(self):
        cp = run_kirin("--check-config", "no_such_module_here:app", timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("no_such_module_here", cp.stderr)

    def test_check_config_missing_callable(self):
        cp = run_kirin("--check-config", "hello:nothere", timeout=60)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("nothere", cp.stderr)

    def test_check_config_bad_settings(self):
        cp = run_kirin("--check-config", "-w", "abc", "hello:app", timeout=20)
        self.assertEqual(cp.returncode, 1, cp.stderr)


def parse_ini(text):
    """The [kirin] section of INI text as a dict; a key given several times
    (a list setting written one value per line) has its values joined by ','."""
    section, out = None, {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise AssertionError(f"line {n} is not 'key = value': {line!r}\n{text}")
        if section != "kirin":
            raise AssertionError(f"line {n} is outside a [kirin] section:\n{text}")
        key, value = key.strip(), value.strip()
        out[key] = f"{out[key]},{value}" if key in out else value
    if section is None:
        raise AssertionError(f"no [kirin] section in:\n{text}")
    return out


def print_config(*args, env=None, cwd=None):
    """Run --print-config and parse its [kirin] section into a dict."""
    cp = run_kirin("--print-config", *args, env=env, cwd=cwd, timeout=20)
    if cp.returncode != 0:
        raise AssertionError(f"--print-config {args} exited {cp.returncode}: {cp.stderr}")
    return parse_ini(cp.stdout)


class Settings(unittest.TestCase):
    def test_print_config_shows_effective_settings(self):
        cfg = print_config("-w", "3", "-b", "127.0.0.1:9999", "-t", "45",
                           "--graceful-timeout", "7", "hello:app")
        self.assertEqual(cfg["workers"], "3")
        self.assertIn("127.0.0.1:9999", cfg["bind"])
        self.assertEqual(cfg["timeout"], "45")
        self.assertEqual(cfg["graceful_timeout"], "7")
        self.assertEqual(cfg["worker_class"], "sync")

    def test_print_config_defaults(self):
        cfg = print_config("hello:app")
        self.assertEqual(cfg["workers"], "1")
        self.assertEqual(cfg["bind"].replace(" ", ""), "127.0.0.1:8000")
        self.assertEqual(cfg["timeout"], "30")
        self.assertEqual(cfg["graceful_timeout"], "30")
        self.assertEqual(cfg["backlog"], "2048")

    def test_print_config_is_loadable(self):
        # The output is an INI file kirin itself accepts, giving the same settings.
        with tempfile.TemporaryDirectory() as tmp:
            first = run_kirin("--print-config", "-w", "3", "-t", "44", "-b", "127.0.0.1:9999",
                              "-b", "127.0.0.1:9998", "hello:app", timeout=20)
            self.assertEqual(first.returncode, 0, first.stderr)
            ini = write(os.path.join(tmp, "printed.ini"), first.stdout)
            second = run_kirin("--print-config", "-c", ini, "hello:app", timeout=20)
            self.assertEqual(second.returncode, 0, second.stderr)
            strip = lambda text: [l for l in text.splitlines()  # noqa: E731
                                  if not re.match(r"\s*config\s*=", l)]
            self.assertEqual(strip(first.stdout), strip(second.stdout))

    def test_precedence_file_env_argv(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = write(os.path.join(tmp, "k.ini"), "[kirin]\nworkers = 2\ntimeout = 50\n")
            env = {"KIRIN_CMD_ARGS": "-w 3"}
            self.assertEqual(print_config("-c", ini, "-w", "4", "hello:app", env=env)["workers"], "4")
            self.assertEqual(print_config("-c", ini, "hello:app", env=env)["workers"], "3")
            cfg = print_config("-c", ini, "hello:app")
            self.assertEqual(cfg["workers"], "2")
            self.assertEqual(cfg["timeout"], "50")
            self.assertEqual(print_config("hello:app")["workers"], "1")
            # Settings a layer does not mention come from the layer below.
            self.assertEqual(print_config("-c", ini, "-w", "4", "hello:app", env=env)["timeout"], "50")

    def test_config_file_named_in_kirin_cmd_args(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = write(os.path.join(tmp, "k.ini"), "[kirin]\nworkers = 2\n")
            cfg = print_config("hello:app", env={"KIRIN_CMD_ARGS": f"-c {ini} -t 40"})
            self.assertEqual(cfg["workers"], "2")
            self.assertEqual(cfg["timeout"], "40")

    def test_kirin_cmd_args_are_split_like_a_shell(self):
        cfg = print_config("hello:app", env={"KIRIN_CMD_ARGS": "-w 2 -e 'KIRIN_E2E_Q=a b'"})
        self.assertEqual(cfg["workers"], "2")
        self.assertIn("KIRIN_E2E_Q=a b", cfg["raw_env"])

    def test_bad_kirin_cmd_args(self):
        cp = run_kirin("hello:app", env={"KIRIN_CMD_ARGS": "--bogus"}, timeout=20)
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)
        self.assertIn("--bogus", cp.stderr)

    def test_kirin_ini_in_cwd_is_read(self):
        with tempfile.TemporaryDirectory() as tmp:
            write(os.path.join(tmp, "kirin.ini"), "[kirin]\nworkers = 5\n")
            self.assertEqual(print_config("hello:app", cwd=tmp)["workers"], "5")
            # An explicit -c replaces ./kirin.ini.
            other = write(os.path.join(tmp, "other.ini"), "[kirin]\ntimeout = 40\n")
            cfg = print_config("-c", other, "hello:app", cwd=tmp)
            self.assertEqual(cfg["workers"], "1")
            self.assertEqual(cfg["timeout"], "40")

    def test_ini_list_and_string_keys(self):
        with tempfile.TemporaryDirectory() as tmp:
            ini = write(os.path.join(tmp, "k.ini"),
                        "[kirin]\nbind = 127.0.0.1:9001\nworker_class = sync\n"
                        "loglevel = debug\nchdir = /tmp\n")
            cfg = print_config("-c", ini, "hello:app")
            self.assertIn("127.0.0.1:9001", cfg["bind"])
            self.assertEqual(cfg["loglevel"], "debug")
            self.assertEqual(cfg["chdir"], "/tmp")

    def test_web_concurrency(self):
        self.assertEqual(print_config("hello:app", env={"WEB_CONCURRENCY": "6"})["workers"], "6")
        self.assertEqual(print_config("-w", "2", "hello:app",
                                      env={"WEB_CONCURRENCY": "6"})["workers"], "2")

    def test_port_env(self):
        cfg = print_config("hello:app", env={"PORT": "12345"})
        self.assertEqual(cfg["bind"].replace(" ", ""), "0.0.0.0:12345")
        cfg = print_config("-b", "127.0.0.1:9999", "hello:app", env={"PORT": "12345"})
        self.assertEqual(cfg["bind"].replace(" ", ""), "127.0.0.1:9999")


class Logging(unittest.TestCase):
    def test_error_log_line_format(self):
        with Kirin("hello:app") as k:
            self.assertTrue(wait_for(lambda: "Listening at" in k.log(), 10), k.log())
            lines = [l for l in k.log().splitlines() if l.strip()]
            self.assertTrue(lines)
            m = LOG_LINE.match(lines[0])
            self.assertTrue(m, f"log line does not look like Gunicorn's: {lines[0]!r}")
            self.assertEqual(int(m.group(1)), k.pid)
            self.assertEqual(m.group(2), "INFO")
            self.assertIn(f"127.0.0.1:{k.port}", k.log())

    def test_error_logfile(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "error.log")
            with Kirin("hello:app", "--error-logfile", path) as k:
                self.assertEqual(http_get(k.port, "/").status, 200)

                def logged():
                    try:
                        with open(path) as f:
                            return "Listening at" in f.read()
                    except FileNotFoundError:
                        return False
                self.assertTrue(wait_for(logged, 10), f"nothing in {path}; stderr: {k.log()}")

    def test_env_flag_reaches_the_app(self):
        with Kirin("echo_environ:app", "-e", "KIRIN_E2E_X=hello there",
                   "--env", "KIRIN_E2E_Y=a=b") as k:
            seen = http_get(k.port, "/").json()["__osenv__"]
            self.assertEqual(seen.get("KIRIN_E2E_X"), "hello there")
            self.assertEqual(seen.get("KIRIN_E2E_Y"), "a=b")


if __name__ == "__main__":
    main()

"""Application loading: the APP_MODULE forms (factories, dotted paths) and a
clear message for each way loading fails; --pythonpath, --env, --chdir;
--virtualenv and VIRTUAL_ENV with a venv made by `python3 -m venv`;
--preload (imported once in the arbiter, after-fork hooks in each worker, HUP
keeps the code, signals stay kirin's) against the default (each worker
imports, HUP reloads code); --capture-output."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (APPS, Kirin, free_port, http_get, main, request,  # noqa: E402
                       run_kirin, wait_for)

PYTHON = os.environ.get("KIRIN_PYTHON") or "/usr/bin/python3"


def system_has(module):
    return subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True).returncode == 0


class Forms(unittest.TestCase):
    def body(self, spec):
        with Kirin(spec) as k:
            r = http_get(k.port, "/")
            self.assertEqual(r.status, 200, (spec, r, k.log()))
            return r.body.decode()

    def test_factory_without_arguments(self):
        self.assertEqual(self.body("factory:create_app()"), "plain 0 []")

    def test_factory_with_literal_arguments(self):
        self.assertEqual(self.body("factory:create_app('hi', n=1, extra=[1, 'x'])"),
                         "hi 1 [('extra', [1, 'x'])]")

    def test_dotted_attribute_path(self):
        self.assertEqual(self.body("factory:Holder.inner.app"), "dotted")

    def test_dotted_factory(self):
        self.assertEqual(self.body("factory:Holder.make('z')"), "made z")


class LoadErrors(unittest.TestCase):
    """Each failure: the server stops with exit code 4 and one clear line."""

    def fails(self, spec, message, *args):
        cp = run_kirin("-b", f"127.0.0.1:{free_port()}", *args, spec, timeout=60)
        self.assertFalse(cp.timed_out, cp.stderr)
        self.assertEqual(cp.returncode, 4, cp.stderr)
        self.assertIn(message, cp.stderr)
        return cp.stderr

    def test_module_not_found(self):
        log = self.fails("kirin_no_such_module:app", "no module named 'kirin_no_such_module'")
        self.assertNotIn("Traceback", log)

    def test_attribute_missing(self):
        self.fails("factory:nothing_here", "failed to find attribute 'nothing_here' in 'factory'")

    def test_module_without_application_or_app(self):
        self.fails("factory", "it has neither application nor app")

    def test_not_callable(self):
        self.fails("factory:not_callable", "must be callable")

    def test_factory_with_non_literal_arguments(self):
        self.fails("factory:create_app(os.getcwd())", "arguments must be literals")

    def test_factory_returning_none(self):
        self.fails("factory:returns_none()", "the factory must return the application")

    def test_not_an_expression(self):
        self.fails("factory:create_app(", "failed to parse")

    def test_import_error_inside_the_app_has_its_traceback(self):
        log = self.fails("importerror:app", "Traceback")
        self.assertIn("exception while loading the application", log)

    def test_preload_failure_stops_before_any_worker(self):
        log = self.fails("kirin_no_such_module:app", "no module named", "--preload")
        self.assertNotIn("Booting worker", log)


class Paths(unittest.TestCase):
    def test_pythonpath_comma_separated_and_env(self):
        with tempfile.TemporaryDirectory() as tmp:
            one, two = os.path.join(tmp, "one"), os.path.join(tmp, "two")
            os.mkdir(one)
            os.mkdir(two)
            with open(os.path.join(one, "pp_app.py"), "w") as f:
                f.write("import os, pp_helper\n"
                        "def app(environ, start_response):\n"
                        "    body = (pp_helper.WORD + ' ' + os.environ['KIRIN_E2E_GREETING']).encode()\n"
                        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                        "    return [body]\n")
            with open(os.path.join(two, "pp_helper.py"), "w") as f:
                f.write("WORD = 'helped'\n")
            with Kirin("--pythonpath", f"{one},{two}", "--env", "KIRIN_E2E_GREETING=hi there",
                       "pp_app:app", cwd=tmp) as k:
                self.assertEqual(http_get(k.port, "/").body, b"helped hi there")

    def test_chdir_makes_the_module_importable(self):
        with tempfile.TemporaryDirectory() as elsewhere:
            with Kirin("--chdir", APPS, "factory:create_app('chdir')", cwd=elsewhere) as k:
                self.assertEqual(http_get(k.port, "/").body, b"chdir 0 []")


class Virtualenv(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.venvs = {}
        for name, system in (("with_system", True), ("isolated", False)):
            path = os.path.join(cls.tmp.name, name)
            cmd = [PYTHON, "-m", "venv", "--without-pip", path]
            if system:
                cmd.insert(3, "--system-site-packages")
            cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if cp.returncode != 0:
                raise unittest.SkipTest(f"cannot make a venv: {cp.stderr}")
            ver = "python%d.%d" % tuple(map(int, subprocess.check_output(
                [PYTHON, "-c", "import sys; print(*sys.version_info[:2])"], text=True).split()))
            site = os.path.join(path, "lib", ver, "site-packages")
            with open(os.path.join(site, "kirin_venv_only.py"), "w") as f:
                f.write(f"VALUE = {name!r}\n")
            with open(os.path.join(site, "kirin_e2e.pth"), "w") as f:
                f.write("import sys; sys.kirin_e2e_pth = 'ran'\n")
            cls.venvs[name] = path

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def probe(self, *args, env=None):
        with Kirin(*args, "venv_probe:app", env=env) as k:
            r = http_get(k.port, "/")
            self.assertEqual(r.status, 200, (r, k.log()))
            return r.json()

    def test_no_venv_does_not_see_the_module(self):
        self.assertIsNone(self.probe()["venv_only"])

    def test_virtualenv_flag(self):
        path = self.venvs["with_system"]
        e = self.probe("--virtualenv", path)
        self.assertEqual(e["venv_only"], "with_system")
        self.assertEqual(e["prefix"], path)
        self.assertEqual(e["pth"], "ran", "the venv's .pth files were not processed")
        if system_has("flask"):
            self.assertTrue(e["has_flask"], "--system-site-packages keeps system packages")

    def test_virtual_env_environment_variable(self):
        e = self.probe(env={"VIRTUAL_ENV": self.venvs["with_system"]})
        self.assertEqual(e["venv_only"], "with_system")

    def test_isolated_venv_hides_system_packages(self):
        e = self.probe("--virtualenv", self.venvs["isolated"])
        self.assertEqual(e["venv_only"], "isolated")
        self.assertFalse(e["has_flask"])

    def test_missing_venv_is_a_boot_error(self):
        missing = os.path.join(self.tmp.name, "nope")
        cp = run_kirin("-b", f"127.0.0.1:{free_port()}", "--virtualenv", missing,
                       "venv_probe:app", timeout=60)
        self.assertEqual(cp.returncode, 3, cp.stderr)
        self.assertIn("no such directory", cp.stderr)


class Preload(unittest.TestCase):
    def copy_probe(self, tmp, version="v1"):
        with open(os.path.join(APPS, "preload_probe.py")) as f:
            src = f.read().replace('VERSION = "v1"', f'VERSION = "{version}"')
        path = os.path.join(tmp, "preload_probe.py")
        with open(path + ".new", "w") as f:
            f.write(src)
        os.replace(path + ".new", path)

    def answers(self, k, n=8):
        return [request(k.port, "/").json() for _ in range(n)]

    def test_preload_imports_once_in_the_arbiter(self):
        with Kirin("--preload", "-w", "2", "preload_probe:app") as k:
            workers = k.wait_workers(2)
            for a in self.answers(k):
                self.assertEqual(a["import_pid"], k.pid)
                self.assertIn(a["pid"], workers)
                # os.register_at_fork hooks ran in the worker, once.
                self.assertEqual(a["forked_in"], [a["pid"]])
            self.assertEqual(k.log().count("kirin-e2e-imported"), 1, k.log())

    def test_without_preload_each_worker_imports(self):
        with Kirin("-w", "2", "preload_probe:app") as k:
            workers = k.wait_workers(2)
            for a in self.answers(k):
                self.assertEqual(a["import_pid"], a["pid"])
                self.assertIn(a["pid"], workers)
            self.assertTrue(wait_for(lambda: k.log().count("kirin-e2e-imported") == 2, 10),
                            k.log())

    def hup_and_wait(self, k, old_workers):
        k.signal(signal.SIGHUP)

        def replaced():
            w = k.workers()
            return len(w) == len(old_workers) and not set(w) & set(old_workers)
        self.assertTrue(wait_for(replaced, 30), k.log())

    def test_hup_reloads_code_without_preload(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.copy_probe(tmp, "v1")
            with Kirin("preload_probe:app", cwd=tmp) as k:
                old = k.wait_workers(1)
                self.assertEqual(request(k.port, "/").json()["version"], "v1")
                self.copy_probe(tmp, "v2")
                self.hup_and_wait(k, old)
                self.assertEqual(request(k.port, "/").json()["version"], "v2")

    def test_hup_with_preload_keeps_the_imported_code(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.copy_probe(tmp, "v1")
            with Kirin("--preload", "preload_probe:app", cwd=tmp) as k:
                old = k.wait_workers(1)
                self.copy_probe(tmp, "v2")
                self.hup_and_wait(k, old)
                a = request(k.port, "/").json()
                self.assertEqual((a["version"], a["import_pid"]), ("v1", k.pid))
                self.assertEqual(a["forked_in"], [a["pid"]])
                self.assertIn("preloaded", k.log())

    def test_signals_stay_kirins(self):
        # The embedded interpreter installs no handlers: INT is kirin's quick
        # stop (no KeyboardInterrupt), TERM its graceful stop.
        for sig in (signal.SIGINT, signal.SIGTERM):
            for preload in ((), ("--preload",)):
                with self.subTest(sig=sig, preload=preload):
                    with Kirin(*preload, "-w", "2", "preload_probe:app") as k:
                        k.wait_workers(2)
                        k.signal(sig)
                        self.assertEqual(k.wait(30), 0, k.log())
                        self.assertNotIn("KeyboardInterrupt", k.log())
                        self.assertNotIn("Traceback", k.log())


PASTE_INI = """[app:main]
use = call:paste_app:make_app
greeting = hello %(who)s

[app:other]
use = call:paste_app:make_app
greeting = other

[loggers]
keys = root, paste_app
[handlers]
keys = err
[formatters]
keys = plain
[logger_root]
handlers = err
[logger_paste_app]
level = WARNING
handlers = err
qualname = paste_app
[handler_err]
class = StreamHandler
args = (sys.stderr,)
formatter = plain
[formatter_plain]
format = %%(message)s
"""


@unittest.skipUnless(system_has("paste.deploy"), "python3-pastedeploy is not installed")
class Paste(unittest.TestCase):
    """Gunicorn's --paste (--paster) and --paste-global: the application
    from a PasteDeploy INI file, its %(KEY)s from --paste-global, its
    [loggers] applied, also with --preload and from a Python config file."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.ini = os.path.join(self.tmp.name, "app.ini")
        with open(self.ini, "w") as f:
            f.write(PASTE_INI)

    def tearDown(self):
        self.tmp.cleanup()

    def body(self, *args):
        with Kirin(*args) as k:
            r = http_get(k.port, "/")
            self.assertEqual(r.status, 200, (args, r, k.log()))
            return r.body.decode()

    def test_paste(self):
        self.assertEqual(self.body("--paste", self.ini, "--paste-global", "who=world"),
                         "hello world WARNING")
        self.assertEqual(self.body("--paster", self.ini + "#other", "--preload"),
                         "other WARNING")
        conf = os.path.join(self.tmp.name, "gunicorn.conf.py")
        with open(conf, "w") as f:
            f.write(f"paste = {self.ini!r}\nraw_paste_global_conf = ['who=python']\n")
        self.assertEqual(self.body("-c", conf), "hello python WARNING")

    def test_errors(self):
        missing = os.path.join(self.tmp.name, "missing.ini")
        for args, needle in ((["--paste", missing], "not found"),
                             (["--paste", self.ini, "hello:app"], "both"),
                             (["--paste", self.ini, "--paste-global", "who"], "KEY=VALUE")):
            cp = run_kirin(*args, timeout=20)
            self.assertEqual(cp.returncode, 1, (args, cp.stderr))
            self.assertIn(needle, cp.stderr)
        # %(who)s unset: PasteDeploy's error, and the app-load exit status
        with Kirin("--paste", self.ini, wait=False) as k:
            self.assertEqual(k.wait(20), 4, k.log())
            self.assertIn("who", k.log())


class CaptureOutput(unittest.TestCase):
    MARKERS = ("kirin-e2e-print", "kirin-e2e-sys-stderr", "kirin-e2e-fd1", "kirin-e2e-fd2")

    def test_capture_output_to_the_error_logfile(self):
        with tempfile.TemporaryDirectory() as tmp:
            logfile = os.path.join(tmp, "error.log")
            with Kirin("--capture-output", "--preload", "--error-logfile", logfile,
                       "noisy:app") as k:
                self.assertEqual(http_get(k.port, "/").body, b"ok\n")

                def logged():
                    with open(logfile) as f:
                        text = f.read()
                    return all(m in text for m in self.MARKERS + ("kirin-e2e-import-print",))
                self.assertTrue(wait_for(logged, 10), open(logfile).read())
                self.assertNotIn("kirin-e2e", k.stdout())

    def test_without_capture_output_stdout_is_not_the_log(self):
        with tempfile.TemporaryDirectory() as tmp:
            logfile = os.path.join(tmp, "error.log")
            with Kirin("--error-logfile", logfile, "noisy:app") as k:
                self.assertEqual(http_get(k.port, "/").body, b"ok\n")
                self.assertTrue(wait_for(lambda: "kirin-e2e-fd1" in k.stdout(), 10), k.stdout())
                with open(logfile) as f:
                    self.assertNotIn("kirin-e2e-print", f.read())


if __name__ == "__main__":
    main()

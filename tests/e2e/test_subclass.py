"""-k naming a subclass of a worker class kirin knows (a Gunicorn deployment's
myproject.workers.MyUvicornWorker): imported by the arbiter, served by the
worker of its base class, a uvicorn subclass's CONFIG_KWARGS applied where
kirin has the setting (a given setting winning); from the command line and
from gunicorn.conf.py (with --chdir / --pythonpath); and every bad class
(missing module, not a class, no known base, raising at import, bad
CONFIG_KWARGS) one clear error and exit 1, also on HUP, where the running
server keeps serving. The apps are tests/e2e/apps/subclassed/."""
import os
import signal
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (APPS, ASAN, Kirin, http_get, main, run_kirin,  # noqa: E402
                       wait_for)

ASGI_APP = "subclassed.lifespan_app:app"
SERVED = "kirin's {} worker serves it (the class's own Python methods are not called"


def settings(stdout):
    """--print-config's output as {name: value} (last value wins)."""
    return {k.strip(): v.strip() for k, eq, v in
            (line.partition("=") for line in stdout.splitlines()) if eq}


class Serving(unittest.TestCase):
    def test_uvicorn_subclass_of_a_subclass_with_config_kwargs(self):
        # AgainWorker inherits AsyncioWorker's CONFIG_KWARGS: loop asyncio
        # (uvloop is installed, so auto would pick it), lifespan off.
        with Kirin("-k", "subclassed.workers.AgainWorker", ASGI_APP) as k:
            r = http_get(k.port, "/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"lifespan=none loop=asyncio.unix_events")
            log = k.log()
        self.assertIn("worker class subclassed.workers.AgainWorker, a subclass of "
                      "uvicorn.workers.UvicornWorker: " + SERVED.format("asyncio"), log)
        self.assertIn("serving ASGI on the _UnixSelectorEventLoop event loop", log)
        self.assertIn("CONFIG_KWARGS http='h11': kirin's C HTTP/1.1 serves instead", log)
        self.assertIn("CONFIG_KWARGS 'proxy_headers' is not applied", log)
        # The class's init_process raises: it was never called.
        self.assertNotIn("AssertionError", log)

    def test_uvicorn_subclass_lifespan_on(self):
        with Kirin("-k", "subclassed.workers.LifespanOnWorker", ASGI_APP) as k:
            self.assertEqual(http_get(k.port, "/").body,
                             b"lifespan=lifespan.startup loop=asyncio.unix_events")

    def test_sync_subclass_serves_wsgi(self):
        with Kirin("-k", "subclassed.workers.MySyncWorker", "hello:app") as k:
            self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")
            log = k.log()
        self.assertIn("a subclass of gunicorn.workers.sync.SyncWorker: "
                      + SERVED.format("sync"), log)
        self.assertIn("Using worker: sync", log)

    @unittest.skipIf(ASAN, "gevent switches stacks, which AddressSanitizer cannot follow")
    def test_gevent_subclass_serves_wsgi(self):
        with Kirin("-k", "subclassed.gevented.MyGeventWorker", "hello:app") as k:
            self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")
            log = k.log()
        self.assertIn("Using worker: gevent", log)


class Settings(unittest.TestCase):
    def print_config(self, *args, cwd=None):
        cp = run_kirin("--print-config", *args, cwd=cwd, timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return settings(cp.stdout), cp.stderr

    def test_config_kwargs_fill_what_is_not_given(self):
        s, _ = self.print_config("-k", "subclassed.workers.AsyncioWorker", ASGI_APP)
        self.assertEqual(s["worker_class"], "subclassed.workers.AsyncioWorker")
        self.assertEqual((s["asgi_loop"], s["asgi_lifespan"], s["keepalive"]),
                         ("asyncio", "off", "7"))

    def test_a_given_setting_wins_with_a_warning(self):
        s, err = self.print_config("-k", "subclassed.workers.AsyncioWorker",
                                   "--asgi-loop", "uvloop", "--keep-alive", "7", ASGI_APP)
        self.assertEqual((s["asgi_loop"], s["asgi_lifespan"], s["keepalive"]),
                         ("uvloop", "off", "7"))
        self.assertIn("CONFIG_KWARGS loop='asyncio' is not applied: --asgi-loop is given "
                      "as uvloop", err)
        self.assertNotIn("timeout_keep_alive=7 is not applied", err)

    def test_gunicorn_conf_py_with_chdir_and_pythonpath(self):
        with tempfile.TemporaryDirectory(prefix="kirin-subclass-") as d:
            with open(os.path.join(d, "gunicorn.conf.py"), "w") as f:
                f.write(f"chdir = {os.path.dirname(APPS)!r}\n"
                        "pythonpath = 'apps'\n"
                        "worker_class = 'subclassed.workers.LifespanOnWorker'\n")
            s, err = self.print_config(ASGI_APP, cwd=d)
        self.assertEqual(s["worker_class"], "subclassed.workers.LifespanOnWorker")
        self.assertEqual((s["asgi_loop"], s["asgi_lifespan"]), ("asyncio", "on"))
        self.assertIn(SERVED.format("asyncio"), err)

    def test_sync_subclass_with_threads_is_gthread(self):
        s, err = self.print_config("-k", "subclassed.workers.MySyncWorker", "--threads", "2",
                                   "hello:app")
        self.assertEqual(s["worker_class"], "subclassed.workers.MySyncWorker")
        self.assertIn(SERVED.format("gthread"), err)

    def test_a_class_object_in_gunicorn_conf_py(self):
        # Gunicorn's worker_class takes the class itself too.
        with tempfile.TemporaryDirectory(prefix="kirin-subclass-") as d:
            with open(os.path.join(d, "gunicorn.conf.py"), "w") as f:
                f.write(f"import sys\nsys.path.insert(0, {APPS!r})\n"
                        "from subclassed.workers import LifespanOnWorker\n"
                        "class Inline(LifespanOnWorker):\n    pass\n"
                        "worker_class = Inline\n")
            s, err = self.print_config(ASGI_APP, cwd=d)
        self.assertEqual(s["worker_class"], "__config__.Inline")
        self.assertEqual(s["asgi_lifespan"], "on")

    def test_virtualenv_site_packages(self):
        # What a worker's sys.path will hold: a class installed in the virtualenv.
        with tempfile.TemporaryDirectory(prefix="kirin-subclass-") as d:
            ver = "python%d.%d" % sys.version_info[:2]
            sp = os.path.join(d, "lib", ver, "site-packages")
            os.makedirs(sp)
            with open(os.path.join(sp, "venv_worker.py"), "w") as f:
                f.write("from gunicorn.workers.sync import SyncWorker\n"
                        "class W(SyncWorker):\n    pass\n")
            s, _ = self.print_config("-k", "venv_worker.W", "--virtualenv", d, "hello:app")
            self.assertEqual(s["worker_class"], "venv_worker.W")
            cp = run_kirin("--print-config", "-k", "venv_worker.W", "hello:app", timeout=30)
            self.assertEqual(cp.returncode, 1, cp.stderr)
            self.assertIn("no module named 'venv_worker'", cp.stderr)


class Refused(unittest.TestCase):
    KNOWN = "kirin serves subclasses of: gunicorn.workers.sync.SyncWorker, "

    def refused(self, cls, *needles, app="hello:app"):
        cp = run_kirin("-k", cls, "--check-config", app, timeout=30)
        self.assertFalse(cp.timed_out, cp.stderr)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        last = cp.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("kirin: error: "), cp.stderr)
        self.assertIn(cls, last)
        for needle in needles:
            self.assertIn(needle, last)
        self.assertNotIn("Segmentation", cp.stderr)
        return cp

    def test_missing_module(self):
        self.refused("subclassed.nowhere.Worker", "no module named 'subclassed.nowhere'",
                     self.KNOWN)

    def test_missing_attribute(self):
        self.refused("subclassed.workers.Nothing", "has no attribute 'Nothing'")

    def test_not_a_worker_subclass(self):
        self.refused("subclassed.workers.NotAWorker",
                     "derives from no worker class kirin knows (its bases: builtins.object)",
                     self.KNOWN)

    def test_not_a_class(self):
        self.refused("subclassed.workers.not_a_class", "is not a class", "a str)")

    def test_module_raising_at_import(self):
        cp = self.refused("subclassed.raising.Worker",
                          "raised RuntimeError: subclassed.raising refuses to import")
        self.assertIn("Traceback", cp.stderr)

    def test_bad_config_kwargs(self):
        self.refused("subclassed.workers.KwargsList", "CONFIG_KWARGS is a list, not a dict")
        self.refused("subclassed.workers.BadLoop", "loop='trio' for --asgi-loop",
                     "expected one of: auto, asyncio, uvloop", app=ASGI_APP)
        self.refused("subclassed.workers.BadKeepAlive", "timeout_keep_alive='5'",
                     "expected an integer", app=ASGI_APP)
        self.refused("subclassed.workers.BadHttp", "http=11",
                     "expected one of: auto, h11, httptools", app=ASGI_APP)

    def test_not_a_python_path(self):
        for bad in ("subclassed.", ".Worker", "subclassed..Worker", "1x.Worker", "a b.C"):
            cp = run_kirin("-k", bad, "--check-config", "hello:app", timeout=30)
            self.assertEqual(cp.returncode, 1, cp.stderr)
            self.assertIn("invalid value for --worker-class", cp.stderr)
            self.assertIn("or the Python path of a subclass", cp.stderr)

    def test_reload_to_a_bad_class_keeps_serving(self):
        with tempfile.TemporaryDirectory(prefix="kirin-subclass-") as d:
            conf = os.path.join(d, "gunicorn.conf.py")
            with open(conf, "w") as f:
                f.write("worker_class = 'subclassed.workers.MySyncWorker'\n")
            with Kirin("-c", conf, "hello:app") as k:
                with open(conf, "w") as f:
                    f.write("worker_class = 'subclassed.raising.Worker'\n")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "reload failed" in k.log(), 20), k.log())
                self.assertIn("subclassed.raising refuses to import", k.log())
                self.assertEqual(http_get(k.port, "/").body, b"Hello, World!\n")
                self.assertIsNone(k.poll())


if __name__ == "__main__":
    main()

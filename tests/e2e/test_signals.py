"""The arbiter's process work: replacing a killed worker, graceful and quick
stops (TERM, QUIT, INT), stopping with exit code 4 when the application
cannot be imported, workers leaving when the arbiter dies, and TTIN/TTOU,
HUP and the worker timeout."""
import json
import os
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, group_pids, http_get, main, per_worker_class, pid_alive,  # noqa: E402
                       raw_request, wait_for)


class InFlight:
    """A request running in a background thread."""

    def __init__(self, port, path, timeout=30):
        self.response = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(port, path, timeout), daemon=True)
        self.thread.start()

    def _run(self, port, path, timeout):
        try:
            self.response = http_get(port, path, timeout=timeout)
        except Exception as e:  # reported by the test
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


def started_files(d):
    return [f for f in os.listdir(d) if f.startswith("started-")]


class Workers(unittest.TestCase):
    def test_killed_worker_is_replaced(self):
        with Kirin("hello:app", "-w", "2") as k:
            before = k.wait_workers(2)
            victim = before[0]
            os.kill(victim, signal.SIGKILL)

            def replaced():
                now = k.workers()
                return now if len(now) == 2 and victim not in now else None
            after = wait_for(replaced, 15)
            self.assertTrue(after, f"no replacement within 15 s: {k.workers()}\n{k.log()}")
            self.assertIn(before[1], after)
            self.assertIsNone(k.poll(), "the arbiter died")
            self.assertEqual(http_get(k.port, "/").status, 200)

    def test_workers_exit_when_the_arbiter_is_killed(self):
        with Kirin("hello:app", "-w", "2") as k:
            workers = k.wait_workers(2)
            os.kill(k.pid, signal.SIGKILL)
            self.assertEqual(k.wait(10), -signal.SIGKILL)
            gone = wait_for(lambda: not any(pid_alive(p) for p in workers), 10)
            self.assertTrue(gone, f"orphaned workers still running: "
                                  f"{[p for p in workers if pid_alive(p)]}")

    def test_ttin_ttou(self):
        with Kirin("hello:app", "-w", "2") as k:
            k.wait_workers(2)
            k.signal(signal.SIGTTIN)
            k.wait_workers(3, timeout=20)
            k.signal(signal.SIGTTOU)
            k.wait_workers(2, timeout=15)
            k.signal(signal.SIGTTOU)
            k.wait_workers(1, timeout=15)
            # Never below one worker.
            k.signal(signal.SIGTTOU)
            time.sleep(1)  # give a wrong implementation the chance to misbehave
            self.assertEqual(len(k.workers()), 1)
            self.assertEqual(http_get(k.port, "/").status, 200)

    def test_hup_replaces_workers(self):
        with Kirin("hello:app", "-w", "2") as k:
            before = set(k.wait_workers(2))
            k.signal(signal.SIGHUP)

            def renewed():
                now = set(k.workers())
                return now if len(now) == 2 and not (now & before) else None
            self.assertTrue(wait_for(renewed, 20), f"workers after HUP: {k.workers()} "
                                                   f"(before {before})\n{k.log()}")
            self.assertIsNone(k.poll())
            self.assertEqual(http_get(k.port, "/").status, 200)

    def test_max_requests_recycles_the_worker(self):
        with Kirin("echo_environ:app", "-w", "1", "--max-requests", "3") as k:
            # The readiness probe was request 1 of the first worker.
            first = k.wait_workers(1)
            pids = [http_get(k.port, "/").json()["__pid__"] for _ in range(5)]
            self.assertEqual(pids[:2], first * 2, pids)
            self.assertNotEqual(pids[2], first[0], pids)
            self.assertEqual(http_get(k.port, "/").status, 200)
            self.assertIsNone(k.poll())

    def test_usr1_reopens_the_error_log(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "error.log")
            with Kirin("pep3333:app", "-w", "1", "--error-logfile", path) as k:
                k.wait_workers(1)
                os.rename(path, path + ".1")
                k.signal(signal.SIGUSR1)

                def reopened():
                    # Once the arbiter and the worker have reopened, what the
                    # application writes to wsgi.errors lands in the new file.
                    http_get(k.port, "/errors")
                    try:
                        with open(path) as f:
                            return "kirin-e2e-wsgi-errors-marker" in f.read()
                    except FileNotFoundError:
                        return False
                self.assertTrue(wait_for(reopened, 15, interval=0.3),
                                f"{path} was not reopened by the worker")

    def test_worker_timeout_kills_and_replaces(self):
        with Kirin("slow:app", "-w", "1", "-t", "2") as k:
            before = k.wait_workers(1)
            start = time.monotonic()
            try:
                r = http_get(k.port, "/?60", timeout=40)
                status = r.status
            except OSError:  # closed without an answer: what Gunicorn does
                status = None
            self.assertLess(time.monotonic() - start, 30, "the stuck worker was not killed")
            self.assertNotEqual(status, 200)
            after = wait_for(lambda: (lambda w: w if len(w) == 1 and w != before else None)(
                k.workers()), 15)
            self.assertTrue(after, f"stuck worker not replaced: {k.workers()}\n{k.log()}")
            self.assertIn("WORKER TIMEOUT", k.log())
            self.assertEqual(http_get(k.port, "/", timeout=20).status, 200)


class MaxRequests:
    """--max-requests on each worker type (self.worker_class)."""

    def test_exactly_max_requests_then_replaced(self):
        """Requests one after the other, each on a new connection: the
        first worker serves exactly --max-requests (Gunicorn's rule: the
        count is reached, it accepts nothing more, and only what was in
        flight then is served), however fast the next one comes."""
        with Kirin("echo_environ:app", "-k", self.worker_class, "-w", "1",
                   "--max-requests", "5") as k:
            first = k.wait_workers(1)[0]  # the readiness probe was its request 1
            pids = []
            for _ in range(12):
                out = raw_request(k.port, b"GET / HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n", timeout=30)
                self.assertTrue(out.startswith(b"HTTP/1.1 200"), out)
                pids.append(json.loads(out.split(b"\r\n\r\n", 1)[1])["__pid__"])
            self.assertEqual(pids[:4], [first] * 4, pids)
            self.assertNotIn(first, pids[4:], pids)
            self.assertIsNone(k.poll())


per_worker_class(MaxRequests, globals())


class Stopping(unittest.TestCase):
    def test_term_finishes_in_flight_request_then_exits_0(self):
        with tempfile.TemporaryDirectory() as tmp:
            with Kirin("slow:app", "-w", "1", "--graceful-timeout", "20",
                       env={"KIRIN_TEST_STARTED_DIR": tmp}) as k:
                workers = k.wait_workers(1)
                req = InFlight(k.port, "/?1.5")
                self.assertTrue(wait_for(lambda: started_files(tmp), 15),
                                "the request never reached the application")
                k.signal(signal.SIGTERM)
                self.assertTrue(req.join(30), "the in-flight request did not finish")
                self.assertIsNone(req.error, f"in-flight request failed: {req.error!r}\n{k.log()}")
                self.assertEqual(req.response.status, 200)
                self.assertTrue(req.response.body.startswith(b"slept 1.5"))
                rc = k.wait(10)
                self.assertEqual(rc, 0, f"exit code after TERM\n{k.log()}")
                self.assertTrue(wait_for(lambda: not any(pid_alive(p) for p in workers), 15))

    def test_term_idle_exits_0_quickly(self):
        with Kirin("hello:app", "-w", "2") as k:
            workers = k.wait_workers(2)
            start = time.monotonic()
            k.signal(signal.SIGTERM)
            self.assertEqual(k.wait(20), 0, k.log())
            self.assertLess(time.monotonic() - start, 20)  # not --graceful-timeout 30
            self.assertEqual(wait_for(lambda: group_pids(k.pid) == [], 15), True,
                             f"processes left: {group_pids(k.pid)}")
            for pid in workers:  # said once, by the worker, as Gunicorn does
                self.assertEqual(k.log().count(f"[{pid}] [INFO] Worker exiting (pid: {pid})"), 1,
                                 k.log())
                self.assertEqual(k.log().count(f"Worker exiting (pid: {pid})"), 1, k.log())

    def quick_stop(self, sig):
        with Kirin("hello:app", "-w", "2") as k:
            k.wait_workers(2)
            k.signal(sig)
            rc = k.wait(10)
            self.assertIsNotNone(rc, f"{sig.name} did not stop kirin within 10 s\n{k.log()}")
            self.assertEqual(rc, 0, f"exit code after {sig.name}\n{k.log()}")
            self.assertEqual(wait_for(lambda: group_pids(k.pid) == [], 15), True,
                             f"processes left: {group_pids(k.pid)}")

    def test_quit_stops(self):
        self.quick_stop(signal.SIGQUIT)

    def test_int_stops(self):
        self.quick_stop(signal.SIGINT)

    def test_term_gives_up_after_graceful_timeout(self):
        with tempfile.TemporaryDirectory() as tmp:
            with Kirin("slow:app", "-w", "1", "--graceful-timeout", "2",
                       env={"KIRIN_TEST_STARTED_DIR": tmp}) as k:
                workers = k.wait_workers(1)
                req = InFlight(k.port, "/?60", timeout=60)
                self.assertTrue(wait_for(lambda: started_files(tmp), 15))
                start = time.monotonic()
                k.signal(signal.SIGTERM)
                rc = k.wait(20)
                self.assertIsNotNone(rc, f"TERM waited past --graceful-timeout 2\n{k.log()}")
                self.assertLess(time.monotonic() - start, 15)
                self.assertTrue(req.join(10))
                self.assertIsNone(req.response, "a 60 s request cannot have finished")
                self.assertTrue(wait_for(lambda: not any(pid_alive(p) for p in workers), 15))

    def test_quit_does_not_wait_for_slow_request(self):
        with tempfile.TemporaryDirectory() as tmp:
            with Kirin("slow:app", "-w", "1", "--graceful-timeout", "60",
                       env={"KIRIN_TEST_STARTED_DIR": tmp}) as k:
                req = InFlight(k.port, "/?60", timeout=60)
                self.assertTrue(wait_for(lambda: started_files(tmp), 15))
                k.signal(signal.SIGQUIT)
                self.assertIsNotNone(k.wait(30), f"QUIT waited for a 60 s request\n{k.log()}")
                self.assertTrue(req.join(10))


class BootFailures(unittest.TestCase):
    def assertStopsWith(self, code, app, needle, *args):
        with Kirin(app, "-w", "2", *args, wait=False) as k:
            rc = k.wait(10)
            self.assertIsNotNone(rc, f"kirin still running 10 s after a failed boot\n{k.log()}")
            self.assertEqual(rc, code, k.log())
            self.assertIn(needle, k.log())
            self.assertEqual(wait_for(lambda: group_pids(k.pid) == [], 15), True,
                             f"processes left: {group_pids(k.pid)}")
            return k.log()

    def test_import_error_exits_4(self):
        log = self.assertStopsWith(4, "importerror:app", "kirin-e2e-importerror-marker")
        self.assertIn("ImportError", log)

    def test_missing_module_exits_4(self):
        self.assertStopsWith(4, "no_such_module_here:app", "no_such_module_here")

    def test_missing_callable_exits_4(self):
        self.assertStopsWith(4, "hello:nothere", "nothere")


if __name__ == "__main__":
    main()

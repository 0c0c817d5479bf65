"""--request-timeout on every worker type: a request that runs too long is
logged with its stack and cancelled with kirin.RequestTimeout (504, or a
closed connection once its response started) while the worker and its
other requests go on; one that cannot be cancelled (stuck in C) gets the
worker aborted with its stack logged. And gthread's heartbeat stops when a
pool thread is stuck past --timeout. The app is apps/hang.py."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (KIRIN, Kirin, http_get, in_thread, main, read_to_eof,  # noqa: E402
                       skip_stack_switching, wait_for)


def timed_get(port, path):
    start = time.monotonic()
    r = http_get(port, path, timeout=20)
    return r, time.monotonic() - start


def body_pid(r):
    """(worker pid, requests that ran their finally) from a hang.py answer."""
    pid, finished = r.body.split()
    return int(pid), int(finished)


class _Cases:
    ARGS = ()
    SLEEP = "/ksleep"           # a sleep the worker type can interrupt
    SLEEP_FUNC = "hang_in_kirin_sleep"

    def kirin(self, *extra):
        return Kirin(*self.ARGS, "-w", "1", "--access-logfile", "-", *extra, "hang:app")

    def test_sleep_and_loop_get_504_while_others_are_served(self):
        with self.kirin("--request-timeout", "1") as k:
            (pid,) = k.wait_workers(1)
            for path, func in ((self.SLEEP, self.SLEEP_FUNC), ("/spin", "hang_in_loop")):
                t, out = in_thread(lambda: timed_get(k.port, path))
                time.sleep(0.2)
                oks = [http_get(k.port, "/ok", timeout=20) for _ in range(3)]
                t.join(20)
                self.assertIn("value", out, (path, out, k.log()))
                r, elapsed = out["value"]
                self.assertEqual(r.status, 504, (path, k.log()))
                self.assertGreaterEqual(elapsed, 0.9)
                self.assertLess(elapsed, 15, path)  # the app's own end: 60 s
                self.assertEqual([o.status for o in oks], [200] * 3)
                self.assertEqual({body_pid(o)[0] for o in oks}, {pid})
                log = k.log()
                self.assertIn(f"GET {path} from 127.0.0.1", log)
                self.assertIn(f"in {func}", log)  # the stack, down to the app's line
            # `except Exception` did not stop it, `finally` ran, same worker.
            self.assertEqual(body_pid(http_get(k.port, "/ok")), (pid, 2))
            self.assertEqual(k.workers(), [pid])
            self.assertTrue(wait_for(lambda: f'"GET {self.SLEEP} HTTP/1.1" 504' in k.stdout(),
                                     15), k.stdout())

    def test_started_response_is_cut_and_silent_client_gets_504(self):
        with self.kirin("--request-timeout", "1") as k:
            (pid,) = k.wait_workers(1)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                data = read_to_eof(s, 15)  # the app's own end: 60 s
            self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data)
            self.assertIn(b"started\n", data)
            self.assertNotIn(b"never", data)
            self.assertFalse(data.endswith(b"0\r\n\r\n"), data)  # cut, not ended
            # A body that never comes: the bound includes a slow client.
            with socket.create_connection(("127.0.0.1", k.port), timeout=15) as s:
                s.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n1234")
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 504 "))  # not --timeout
            self.assertEqual(body_pid(http_get(k.port, "/ok"))[0], pid)

    def test_request_stuck_in_c_aborts_the_worker_with_its_stack(self):
        with self.kirin("--request-timeout", "1", "--timeout", "60") as k:
            (pid,) = k.wait_workers(1)
            start = time.monotonic()
            in_thread(lambda: http_get(k.port, "/stuck", timeout=20))
            replaced = wait_for(lambda: (lambda w: len(w) == 1 and pid not in w)(k.workers()),
                                30)
            self.assertTrue(replaced, k.log())
            self.assertLess(time.monotonic() - start, 30)  # 1 s, a 1 s grace: not --timeout 60
            log = k.log()
            self.assertIn("GET /stuck from 127.0.0.1 did not end", log)
            self.assertIn("aborting the worker", log)
            self.assertIn("in hang_in_c", log)  # faulthandler's stack
            self.assertEqual(http_get(k.port, "/ok").status, 200)


class Settings(unittest.TestCase):
    def print_config(self, *args, env=None):
        e = {k: v for k, v in os.environ.items() if k != "KIRIN_CMD_ARGS"}
        e.update(env or {})
        out = subprocess.run([KIRIN, *args, "--print-config", "hello:app"], env=e,
                             capture_output=True, text=True, timeout=20)
        return out.returncode, out.stdout + out.stderr

    def test_off_by_default_and_set_from_every_source(self):
        self.assertIn("request_timeout = 0\n", self.print_config()[1])
        with tempfile.NamedTemporaryFile("w", suffix=".ini") as ini:
            ini.write("[kirin]\nrequest_timeout = 7\n")
            ini.flush()
            self.assertIn("request_timeout = 7\n", self.print_config("-c", ini.name)[1])
            self.assertIn("request_timeout = 9\n", self.print_config(
                "-c", ini.name, env={"KIRIN_CMD_ARGS": "--request-timeout 9"})[1])
            self.assertIn("request_timeout = 3\n", self.print_config(
                "-c", ini.name, "--request-timeout", "3",
                env={"KIRIN_CMD_ARGS": "--request-timeout 9"})[1])
        rc, out = self.print_config("--request-timeout", "-1")
        self.assertNotEqual(rc, 0)
        self.assertIn("--request-timeout", out)


class Sync(_Cases, unittest.TestCase):
    ARGS = ("-k", "sync")
    SLEEP, SLEEP_FUNC = "/sleep", "hang_in_sleep"  # the signal interrupts time.sleep


class Gthread(_Cases, unittest.TestCase):
    ARGS = ("-k", "gthread", "--threads", "4")

    def test_pool_thread_stuck_past_timeout_gets_the_worker_aborted(self):
        # No --request-timeout: the loop thread is well, one pool thread is not.
        with self.kirin("--timeout", "3") as k:
            (pid,) = k.wait_workers(1)
            start = time.monotonic()
            in_thread(lambda: http_get(k.port, "/sleep", timeout=30))
            time.sleep(0.5)
            self.assertEqual(http_get(k.port, "/ok").status, 200)  # the other threads serve
            replaced = wait_for(lambda: (lambda w: len(w) == 1 and pid not in w)(k.workers()),
                                30)
            self.assertTrue(replaced, k.log())
            self.assertLess(time.monotonic() - start, 30)  # the app's own end: 60 s
            log = k.log()
            self.assertIn(f"WORKER TIMEOUT (pid:{pid})", log)
            self.assertIn("in hang_in_sleep", log)
            self.assertEqual(http_get(k.port, "/ok").status, 200)

    def test_pool_thread_sending_to_a_slow_client_is_not_stuck(self):
        # 8 MB read over 5 s: the pool thread waits on its client, which
        # --timeout 2 must not take for a stuck thread.
        with self.kirin("--timeout", "2") as k:
            (pid,) = k.wait_workers(1)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                got, start = 0, time.monotonic()
                while got < 8 << 20:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                    time.sleep(max(0.0, start + 5 * got / (8 << 20) - time.monotonic()))
                self.assertGreater(got, 8 << 20)  # the head and all of the body
            self.assertEqual(k.workers(), [pid], k.log())
            self.assertNotIn("WORKER TIMEOUT", k.log())

    def test_pool_thread_waiting_in_kirin_is_not_stuck(self):
        # A long poll: 5 s in kirin.sleep and kirin.Queue.get, --timeout 2.
        with self.kirin("--timeout", "2") as k:
            (pid,) = k.wait_workers(1)
            r = http_get(k.port, "/longpoll", timeout=20)
            self.assertEqual((r.status, body_pid(r)[0]), (200, pid), k.log())
            self.assertEqual(k.workers(), [pid], k.log())
            self.assertNotIn("WORKER TIMEOUT", k.log())


@skip_stack_switching("greenlet")
class Greenlet(_Cases, unittest.TestCase):
    ARGS = ("-k", "greenlet")


@skip_stack_switching("gevent")
class Gevent(_Cases, unittest.TestCase):
    ARGS = ("-k", "gevent")
    SLEEP, SLEEP_FUNC = "/sleep", "hang_in_sleep"  # monkey-patched: a greenlet wait


if __name__ == "__main__":
    main()

"""The greenlet worker and the kirin module: cooperative sleeps, streaming
part by part, long polling on kirin.Queue, spawn and wait_readable; the
same app also runs (blocking) under sync and gthread."""
import os
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, concurrent_gets, heads_around_a_sleeper, http_get,  # noqa: E402
                       in_thread, main, recv_until, skip_stack_switching, wait_for,
                       worker_classes)


class AppThreadsTest(unittest.TestCase):
    def test_app_threads_run_while_the_worker_waits(self):
        # The worker holds the GIL only while it runs callbacks and the app:
        # between requests, the app's own thread counts on.
        for kind in worker_classes():
            with self.subTest(kind=kind), Kirin("-k", kind, "-w", "1", "ticker:app") as k:
                # 100 ticks a second when it runs, none while the worker
                # holds the GIL: a second with more than 10 of them, out of
                # up to 5 (a loaded machine may stall one).
                counts = []
                for _ in range(5):
                    first = int(http_get(k.port, "/", timeout=10).body)
                    time.sleep(1.0)
                    counts.append(int(http_get(k.port, "/", timeout=10).body) - first)
                    if counts[-1] > 10:
                        break
                self.assertGreater(counts[-1], 10, counts)


@skip_stack_switching("greenlet")
class GreenletTest(unittest.TestCase):
    def test_two_hundred_sleepers_in_one_worker(self):
        with Kirin("-k", "greenlet", "--log-level", "debug", "coop:app") as k:
            results, elapsed = concurrent_gets(k.port, "/sleep?1", 200)
            self.assertEqual(results, [200] * 200)
            self.assertLess(elapsed, 20)  # serially: 200 s
            # The pool gives back the greenlets the burst left, unhurt, and
            # the next burst gets new ones.
            self.assertTrue(wait_for(lambda: "gave back" in k.log(), 15), k.log())
            results, _ = concurrent_gets(k.port, "/sleep?0.2", 200)
            self.assertEqual(results, [200] * 200)
            self.assertNotIn("Error", k.log())

    def test_heads_of_one_turn_served_in_turn_around_a_sleeper(self):
        with Kirin("-k", "greenlet", "-w", "1", "coop:app") as k:
            heads_around_a_sleeper(self, k.port)

    def test_stream_reaches_the_client_part_by_part(self):
        with tempfile.TemporaryDirectory() as d, Kirin("-k", "greenlet", "coop:app") as k:
            flag = os.path.join(d, "go")
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(b"GET /stream?%s HTTP/1.1\r\nHost: x\r\n\r\n" % flag.encode())
                got = recv_until(s, b"part one")
                self.assertNotIn(b"part two", got)
                # Meanwhile the worker serves others.
                self.assertEqual(http_get(k.port, "/", timeout=5).status, 200)
                open(flag, "w").close()
                got = recv_until(s, b"0\r\n\r\n", got)
                self.assertIn(b"part two", got)

    def test_long_polling_on_a_queue(self):
        with Kirin("-k", "greenlet", "-w", "1", "coop:app") as k:
            t, out = in_thread(lambda: http_get(k.port, "/get?10", timeout=20))
            time.sleep(0.3)  # the getter is parked; nothing arrives by itself
            self.assertTrue(t.is_alive())
            self.assertEqual(http_get(k.port, "/put?hello", timeout=5).status, 200)
            t.join(10)
            self.assertEqual(out["value"].body, b"hello\n")
            # A get that times out says so.
            self.assertEqual(http_get(k.port, "/get?0.2", timeout=5).body, b"timeout\n")

    def test_spawn_and_wait_readable(self):
        # gevent: wait_readable parks on the hub's io and timer watchers from C.
        for kind in ("greenlet", "gevent"):
            with self.subTest(kind=kind), Kirin("-k", kind, "-w", "1", "coop:app") as k:
                t, out = in_thread(lambda: http_get(k.port, "/get?10", timeout=20))
                self.assertEqual(http_get(k.port, "/spawn", timeout=5).status, 200)
                t.join(10)
                self.assertEqual(out["value"].body, b"spawned\n")
                self.assertEqual(http_get(k.port, "/readable", timeout=10).body,
                                 b"True False\n")

    def test_term_waits_for_sleeping_requests(self):
        with tempfile.TemporaryDirectory() as d, \
                Kirin("-k", "greenlet", "inflight:app", env={"KIRIN_TEST_STARTED_DIR": d}) as k:
            threads = [in_thread(lambda: http_get(k.port, "/?1", timeout=20)) for _ in range(5)]
            self.assertTrue(wait_for(lambda: len(os.listdir(d)) == 5, 10))
            k.signal(15)
            for t, out in threads:
                t.join(20)
                self.assertEqual(out["value"].status, 200)
            self.assertEqual(k.wait(15), 0)

    def test_blocking_app_is_caught_by_timeout(self):
        # An app that blocks the hub without cooperating silences the heartbeat.
        with Kirin("-k", "greenlet", "--timeout", "2", "slow:app") as k:
            pid = k.workers()[0]
            in_thread(lambda: http_get(k.port, "/?30", timeout=30))
            self.assertTrue(wait_for(lambda: pid not in k.workers() and k.workers(), 15))
            self.assertIn("WORKER TIMEOUT", k.log())


class KirinModuleEverywhereTest(unittest.TestCase):
    def test_same_app_under_sync_and_gthread(self):
        for kind in ("sync", "gthread"):
            with self.subTest(kind=kind), Kirin("-k", kind, "--threads", "4", "coop:app") as k:
                self.assertEqual(http_get(k.port, "/sleep?0.05", timeout=5).body, b"slept\n")
                self.assertEqual(http_get(k.port, "/readable", timeout=10).body, b"True False\n")
                if kind == "gthread":
                    t, out = in_thread(lambda: http_get(k.port, "/get?10", timeout=20))
                    time.sleep(0.2)
                    http_get(k.port, "/put?there", timeout=5)
                    t.join(10)
                    self.assertEqual(out["value"].body, b"there\n")


if __name__ == "__main__":
    main()

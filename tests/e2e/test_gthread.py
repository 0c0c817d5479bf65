"""The gthread worker: concurrency from the pool, and sync with --threads
selecting it. What it shares with the other keep-alive workers is in
test_keepalive.py."""
import os
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, http_get, main  # noqa: E402


class GthreadTest(unittest.TestCase):
    def test_fifty_sleepers_run_concurrently(self):
        with Kirin("-k", "gthread", "--threads", "50", "slow:app") as k:
            results = []

            def one():
                results.append(http_get(k.port, "/?0.1", timeout=20).status)

            threads = [threading.Thread(target=one) for _ in range(50)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            elapsed = time.monotonic() - start
            self.assertEqual(results, [200] * 50)
            # Serially this is 5 s; the pool runs them side by side.
            self.assertLess(elapsed, 2.5)

    def test_sync_with_threads_selects_gthread(self):
        with Kirin("-k", "sync", "--threads", "4", "hello:app") as k:
            self.assertIn("Using worker: gthread", k.log())


if __name__ == "__main__":
    main()

"""The gthread worker: concurrency from the pool, and sync with --threads
selecting it. What it shares with the other keep-alive workers is in
test_keepalive.py."""
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, concurrent_gets, main  # noqa: E402


class GthreadTest(unittest.TestCase):
    def test_fifty_sleepers_run_concurrently(self):
        with Kirin("-k", "gthread", "--threads", "50", "slow:app") as k:
            results, elapsed = concurrent_gets(k.port, "/?0.1", 50)
            self.assertEqual(results, [200] * 50)
            self.assertLess(elapsed, 2.5)  # serially: 5 s

    def test_sync_with_threads_selects_gthread(self):
        with Kirin("-k", "sync", "--threads", "4", "hello:app") as k:
            self.assertIn("Using worker: gthread", k.log())


if __name__ == "__main__":
    main()

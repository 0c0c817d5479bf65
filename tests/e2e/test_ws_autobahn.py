"""Autobahn|Testsuite's server cases over the wire (tests/bench/ws_autobahn.py),
the quick subset, on each worker type: sections 1-7 whole (246 cases), ten
cases of 9 (up to 4 MiB, fragmented, chopped, 1,000 round trips), one data
set of 12 and two sizes of each 13.x offer, with 10 messages per deflate
case. Prints the pass counts by section; also -k asyncio with an ASGI echo
app. `make ws-autobahn` runs them all."""
import os
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))
import ws_autobahn  # noqa: E402
from kirintest import Kirin, main, per_worker_class, skip_stack_switching  # noqa: E402

OPTS = {"count": 10, "pause": 0.2}


class Autobahn:
    """Run with self.worker_class set (per_worker_class)."""

    def kirin(self, *args):
        extra = ("--threads", "4") if self.worker_class == "gthread" else ()
        return Kirin("-k", self.worker_class, "-w", "1", *extra, *args, "ws_apps:echo")

    def test_quick_subset(self):
        selected = ws_autobahn.cases(sorted(ws_autobahn.SECTIONS), quick=True)
        with self.kirin() as k:
            by, failures = ws_autobahn.run_cases(k.port, selected, OPTS)
        print(f"\n{self.worker_class}: " + "  ".join(
            f"{s}: {r[0]}/{r[1]}" for s, r in sorted(by.items())), file=sys.stderr)
        self.assertEqual(failures, [])
        self.assertEqual(sum(r[1] for r in by.values()), len(selected))

    def test_the_client_sees_a_refusal(self):
        """The harness can fail: with --websocket-max-message below a case's
        size, kirin answers 1009 instead of the echo, and the case says so."""
        selected = [c for c in ws_autobahn.cases([9]) if c[0] in ("9.1.1", "9.1.3")]
        with self.kirin("--websocket-max-message", "100000") as k:
            by, failures = ws_autobahn.run_cases(k.port, selected, OPTS)
        self.assertEqual(by[9][:2], [1, 2])
        self.assertEqual(failures[0][0], "9.1.3")
        self.assertIn("1009", failures[0][1])


per_worker_class(Autobahn, globals())


@skip_stack_switching("asyncio")
class AutobahnAsgi(unittest.TestCase):
    def test_quick_subset(self):
        """-k asyncio serving an ASGI echo app: the same cases, the
        permessage-deflate ones (12, 13) included."""
        selected = ws_autobahn.cases(sorted(ws_autobahn.SECTIONS), quick=True)
        with Kirin("-k", "asyncio", "-w", "1", "asgi_apps:ws_echo") as k:
            by, failures = ws_autobahn.run_cases(k.port, selected, OPTS)
        print("\nasgi: " + "  ".join(f"{s}: {r[0]}/{r[1]}" for s, r in sorted(by.items())),
              file=sys.stderr)
        self.assertEqual(failures, [])
        self.assertEqual(sum(r[1] for r in by.values()), len(selected))

if __name__ == "__main__":
    main()

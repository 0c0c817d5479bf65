"""--reload on the real binary: a change to a file of the application's
modules (or to one of --reload-extra-files) reloads as HUP does, once
however many workers saw it; an edit that does not import leaves the previous
workers serving until the next edit; without --reload nothing is watched."""
import os
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, http_get, main, wait_for  # noqa: E402

APP = '''def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%s\\n"]
'''


class Reload(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kirin-reload-")
        self.dir = self._tmp.name
        self.write("v1")

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, version, text=None):
        path = os.path.join(self.dir, "mod.py")
        with open(path, "w") as f:
            f.write(text if text is not None else APP % version)
        return path

    def body(self, k):
        """The answer, or None while the workers change over (a slow machine)."""
        try:
            return http_get(k.port, "/", timeout=3).body.decode().strip()
        except OSError:
            return None

    def test_module_change_reloads_once(self):
        with Kirin("-w", "2", "--reload", "mod:app", cwd=self.dir) as k:
            self.assertEqual(self.body(k), "v1")
            first = set(k.wait_workers(2))
            self.write("v2")
            self.assertTrue(wait_for(lambda: self.body(k) == "v2", 15), k.log())
            self.assertTrue(wait_for(lambda: not first & set(k.workers()), 15), k.log())
            time.sleep(1)
            self.assertEqual(k.log().count("saw the code change: reloading"), 1, k.log())
            self.assertIn("mod.py modified", k.log())

    def test_extra_file_change_reloads(self):
        extra = os.path.join(self.dir, "template.html")
        with open(extra, "w") as f:
            f.write("<p>one</p>\n")
        with Kirin("--reload", "--reload-extra-files", extra, "mod:app", cwd=self.dir) as k:
            first = k.wait_workers(1)
            with open(extra, "a") as f:
                f.write("<p>two</p>\n")
            self.assertTrue(wait_for(lambda: k.workers() and k.workers() != first, 15), k.log())
            self.assertIn("template.html modified", k.log())

    def test_broken_edit_keeps_serving_until_fixed(self):
        with Kirin("-w", "2", "--reload", "mod:app", cwd=self.dir) as k:
            self.assertEqual(self.body(k), "v1")
            self.write(None, "def app(environ, start_response)\n")
            self.assertTrue(wait_for(lambda: "cannot boot: the workers" in k.log(), 15), k.log())
            self.assertIsNone(k.poll(), k.log())
            self.assertEqual(self.body(k), "v1")
            self.write("v3")
            self.assertTrue(wait_for(lambda: self.body(k) == "v3", 15), k.log())
            self.assertIsNone(k.poll())

    def test_no_reload_without_the_flag(self):
        with Kirin("mod:app", cwd=self.dir) as k:
            first = k.wait_workers(1)
            self.write("v2")
            time.sleep(1.5)
            self.assertEqual(k.workers(), first)
            self.assertEqual(self.body(k), "v1")


if __name__ == "__main__":
    main()

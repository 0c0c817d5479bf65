"""Real applications run unchanged: Debian's Flask, Django, Bottle and Falcon
(python3-flask, python3-django, python3-bottle, python3-falcon) under every
worker class this build runs, and the ASGI ones (Starlette, FastAPI,
Django's ASGI handler) under the asyncio worker, with JSON in and out, a multipart upload of a
few hundred KB, a streaming response (checked by handshake: the second part
is produced only after the test has received the first), query strings and
headers. A framework that is not installed is skipped, except under CI
(CI set in the environment), where that is a failure."""
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, main, parse_raw, request, worker_classes  # noqa: E402

PYTHON = os.environ.get("KIRIN_PYTHON") or "/usr/bin/python3"
FRAMEWORKS = {"flask": "python3-flask", "django": "python3-django",
              "bottle": "python3-bottle", "falcon": "python3-falcon"}
# ASGI apps: (the module to import, its Debian package), served by -k asyncio.
ASGI_FRAMEWORKS = {"starlette": ("starlette", "python3-starlette"),
                   "fastapi": ("fastapi", "python3-fastapi"),
                   "django_asgi": ("django", "python3-django")}
_installed = {}


def installed(module):
    if module not in _installed:
        _installed[module] = subprocess.run([PYTHON, "-c", f"import {module}"],
                                            capture_output=True, timeout=60).returncode == 0
    return _installed[module]


def multipart(fields, files):
    """(body, content type) for multipart/form-data."""
    boundary = "kirin-e2e-%016x" % random.getrandbits(64)
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def dechunk(body):
    out = b""
    while body:
        line, _, rest = body.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


class Framework:
    framework = None
    module, package = None, None
    worker_class = "sync"

    @classmethod
    def setUpClass(cls):
        if not installed(cls.module):
            msg = f"{cls.module} is not installed (apt-get install {cls.package})"
            if os.environ.get("CI"):
                raise AssertionError(msg)
            raise unittest.SkipTest(msg)
        cls.k = Kirin("-k", cls.worker_class, "--timeout", "120", f"fw_{cls.framework}:app",
                      ready_timeout=60).start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def ok(self, r):
        self.assertEqual(r.status, 200, f"{r}\n{self.k.log()}")
        return r

    def test_json_in_and_out(self):
        doc = {"name": "kirin", "n": [1, 2.5, None, True], "nested": {"\u00e9": "\u263a"}}
        r = self.ok(request(self.k.port, "/json", "POST", body=json.dumps(doc).encode(),
                            headers={"Content-Type": "application/json"}, timeout=60))
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"), r.headers)
        self.assertEqual(r.json(), {"got": doc, "framework": self.framework.split("_")[0]})

    def test_multipart_upload(self):
        data = random.Random(42).randbytes(400 * 1024 + 11)
        body, ctype = multipart({"note": "caf\u00e9"}, {"file": ("blob.bin", data)})
        r = self.ok(request(self.k.port, "/upload", "POST", body=body, timeout=120,
                            headers={"Content-Type": ctype}))
        self.assertEqual(r.json(), {"name": "blob.bin", "size": len(data),
                                    "sha256": hashlib.sha256(data).hexdigest(),
                                    "note": "caf\u00e9"})

    def test_streaming_response(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(60)
        ctl = srv.getsockname()[1]
        try:
            s = socket.create_connection(("127.0.0.1", self.k.port), timeout=60)
            with s:
                s.sendall(f"GET /stream?ctl={ctl} HTTP/1.1\r\nHost: x\r\n"
                          f"Connection: close\r\n\r\n".encode())
                got = b""
                deadline = time.monotonic() + 60
                while b"chunk0\n" not in got and time.monotonic() < deadline:
                    piece = s.recv(65536)
                    if not piece:
                        break
                    got += piece
                self.assertIn(b"chunk0\n", got, f"first part not streamed:\n{self.k.log()}")
                self.assertNotIn(b"chunk1", got)
                conn, _ = srv.accept()  # the app is waiting for us
                conn.sendall(b"g")
                conn.close()
                while True:
                    piece = s.recv(65536)
                    if not piece:
                        break
                    got += piece
        finally:
            srv.close()
        status, headers, body = parse_raw(got)
        self.assertEqual(status, 200, got[:300])
        if any(k.lower() == "transfer-encoding" for k, _ in headers):
            body = dechunk(body)
        self.assertEqual(body, b"chunk0\nchunk1\nchunk2\n")

    def test_query_string(self):
        r = self.ok(request(self.k.port, "/query?x=1&y=a&y=b%20c&z"))
        self.assertEqual(r.json(), {"x": "1", "y": ["a", "b c"]})

    def test_headers(self):
        # ASCII: frameworks differ in how they map other characters to bytes.
        r = self.ok(request(self.k.port, "/headers",
                            headers={"X-Test": "some value; q=1", "User-Agent": "kirin-e2e/1"}))
        self.assertEqual(r.json(), {"x_test": "some value; q=1", "ua": "kirin-e2e/1"})
        self.assertEqual(r.header("X-Echo"), "some value; q=1")


for _fw, _pkg in FRAMEWORKS.items():
    for _wc in worker_classes():
        _name = f"{_fw.capitalize()}_{_wc}"
        globals()[_name] = type(_name, (Framework, unittest.TestCase),
                                {"framework": _fw, "module": _fw, "package": _pkg,
                                 "worker_class": _wc})
for _fw, (_mod, _pkg) in ASGI_FRAMEWORKS.items():
    if "asyncio" in worker_classes():
        _name = f"{_fw.capitalize()}_asyncio"
        globals()[_name] = type(_name, (Framework, unittest.TestCase),
                                {"framework": _fw, "module": _mod, "package": _pkg,
                                 "worker_class": "asyncio"})

if __name__ == "__main__":
    main()

"""forwarder_headers (Gunicorn's setting): from a peer in
--forwarded-allow-ips, the header names listed (default SCRIPT_NAME and
PATH_INFO; "*" every name) are kept with their underscore whatever
--header-map says, and a SCRIPT_NAME header mounts the app: WSGI SCRIPT_NAME
and PATH_INFO, ASGI root_path. A path not under it, or two of them, is a 400
on a closed connection that the app never sees. From any other peer
header_map alone applies, as before.

The server trusts 127.0.0.2 only; the tests connect from 127.0.0.2 (the
trusted front-end) or from 127.0.0.1 (a client that is not it). The core
runs on every worker class (WSGI; asyncio also with an ASGI app), the
header_map/list matrix on sync and ASGI."""
import json
import os
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (Kirin, main, parse_raw, per_worker_class, raw_request,  # noqa: E402
                       read_to_eof, run_kirin)

TRUSTED, OTHER = "127.0.0.2", "127.0.0.1"


def ask(port, fields=(), path="/app/x", source=TRUSTED, pipelined=b""):
    """One request with these extra header lines, from source; returns
    (status, the app's JSON or None, the raw answer)."""
    head = (f"GET {path} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{f}\r\n" for f in fields) +
            "Connection: close\r\n\r\n").encode()
    raw = raw_request(port, head + pipelined, timeout=20, source=source)
    status, _, body = parse_raw(raw)
    return status, json.loads(body) if status == 200 else None, raw


class Core:
    """On one worker class, the defaults but --forwarded-allow-ips."""
    worker_class = "sync"

    @classmethod
    def setUpClass(cls):
        # Two sync workers: one may sit on a client that never finishes.
        workers = ("-w", "2") if cls.worker_class == "sync" else ()
        cls.k = Kirin("-k", cls.worker_class, *workers, "--forwarded-allow-ips", TRUSTED,
                      "echo_environ:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_trusted_script_name_mounts_the_app(self):
        status, env, raw = ask(self.k.port, ["SCRIPT_NAME: /app/"], "/app/x%20y?q=1")
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/x y"))
        self.assertEqual(env["HTTP_SCRIPT_NAME"], "/app/")
        self.assertEqual(env["RAW_URI"], "/app/x%20y?q=1")
        status, env, raw = ask(self.k.port, ["SCRIPT_NAME: /app"], "/app")
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", ""))

    def test_trusted_path_info_reaches_only_http_path_info(self):
        status, env, raw = ask(self.k.port, ["PATH_INFO: /elsewhere", "X_Other: 1"])
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual(env["HTTP_PATH_INFO"], "/elsewhere")
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("", "/app/x"))
        self.assertNotIn("HTTP_X_OTHER", env)  # not listed: header_map drops it

    def test_other_peer_is_not_trusted(self):
        status, env, raw = ask(self.k.port, ["SCRIPT_NAME: /app", "PATH_INFO: /y"],
                               source=OTHER)
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("", "/app/x"))
        self.assertNotIn("HTTP_SCRIPT_NAME", env)
        self.assertNotIn("HTTP_PATH_INFO", env)

    def test_path_not_under_script_name_is_400_and_closed(self):
        # A pipelined request after it is never answered: the app sees neither.
        good = b"GET /app/x HTTP/1.1\r\nHost: x\r\n\r\n"
        for fields, path in ((["SCRIPT_NAME: /other"], "/app/x"),
                             (["SCRIPT_NAME: /ap"], "/app/x"),
                             (["SCRIPT_NAME: /app/x/y"], "/app/x"),
                             (["SCRIPT_NAME: /app", "script_name: /app"], "/app/x")):
            with self.subTest(fields=fields, path=path):
                status, _, raw = ask(self.k.port, fields, path, pipelined=good)
                self.assertEqual(status, 400, raw[:300])
                self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw)
                self.assertIn(b"connection: close", raw.lower())
        self.assertEqual(ask(self.k.port, ["SCRIPT_NAME: /app"])[0], 200)

    def test_hostile_clients_while_a_normal_one_is_served(self):
        # Byte by byte, slowly: the same verdicts as whole.
        for fields, want in ((["SCRIPT_NAME: /app"], 200), (["SCRIPT_NAME: /b"], 400)):
            head = ("GET /app/x HTTP/1.1\r\nHost: x\r\n" + "".join(f + "\r\n" for f in fields)
                    + "Connection: close\r\n\r\n").encode()
            with socket.create_connection(("127.0.0.1", self.k.port), timeout=20,
                                          source_address=(TRUSTED, 0)) as s:
                for i in range(len(head)):
                    s.sendall(head[i:i + 1])
                    time.sleep(0.002)
                got = read_to_eof(s, 20)
            self.assertEqual(parse_raw(got)[0], want, got[:300])
        # Oversize: a SCRIPT_NAME past the field size limit is 431.
        status, _, raw = ask(self.k.port, ["SCRIPT_NAME: /" + "a" * 9000])
        self.assertEqual(status, 431, raw[:300])
        # Never finished, never closed: a SCRIPT_NAME cut short stays open
        # while a normal client is served; then it goes away mid-header.
        with socket.create_connection(("127.0.0.1", self.k.port), timeout=20,
                                      source_address=(TRUSTED, 0)) as stuck:
            stuck.sendall(b"GET /app/x HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /ap")
            status, env, raw = ask(self.k.port, ["SCRIPT_NAME: /app"])
            self.assertEqual((status, env and env["SCRIPT_NAME"]), (200, "/app"), raw[:300])
        status, env, raw = ask(self.k.port, ["SCRIPT_NAME: /app"], source=OTHER)
        self.assertEqual((status, env["SCRIPT_NAME"]), (200, ""))


class Matrix(unittest.TestCase):
    """header_map refuse / dangerous with a custom list and "*" (sync)."""

    def test_refuse_with_a_custom_list(self):
        with Kirin("--forwarded-allow-ips", TRUSTED, "--header-map", "refuse",
                   "--forwarder-headers", "X_Custom, script_name", "echo_environ:app") as k:
            status, env, raw = ask(k.port, ["X_CUSTOM: c", "SCRIPT_NAME: /app"])
            self.assertEqual(status, 200, raw[:300])
            self.assertEqual((env["HTTP_X_CUSTOM"], env["SCRIPT_NAME"]), ("c", "/app"))
            # Not listed: refused, as header_map says, even from the front-end.
            self.assertEqual(ask(k.port, ["PATH_INFO: /y"])[0], 400)
            # From another peer, a listed name is refused too.
            self.assertEqual(ask(k.port, ["X_Custom: c"], source=OTHER)[0], 400)
            self.assertEqual(ask(k.port, ["X-Custom: c"], source=OTHER)[0], 200)

    def test_dangerous_with_every_name(self):
        with Kirin("--forwarded-allow-ips", TRUSTED, "--header-map", "dangerous",
                   "--forwarder-headers", "*", "echo_environ:app") as k:
            status, env, raw = ask(k.port, ["X_Any: 1", "SCRIPT_NAME: /app"])
            self.assertEqual(status, 200, raw[:300])
            self.assertEqual((env["HTTP_X_ANY"], env["SCRIPT_NAME"], env["PATH_INFO"]),
                             ("1", "/app", "/x"))
            # dangerous keeps it from anyone, but only a front-end mounts the app.
            status, env, raw = ask(k.port, ["SCRIPT_NAME: /app"], source=OTHER)
            self.assertEqual(status, 200, raw[:300])
            self.assertEqual((env["HTTP_SCRIPT_NAME"], env["SCRIPT_NAME"], env["PATH_INFO"]),
                             ("/app", "", "/app/x"))
            self.assertEqual(ask(k.port, ["SCRIPT_NAME: /b"], source=OTHER)[0], 200)

    def test_empty_list_and_root_path(self):
        with Kirin("--forwarded-allow-ips", TRUSTED, "--forwarder-headers", "",
                   "--root-path", "/app", "echo_environ:app") as k:
            status, env, raw = ask(k.port, ["SCRIPT_NAME: /other"])
            self.assertEqual(status, 200, raw[:300])
            self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/x"))
            self.assertNotIn("HTTP_SCRIPT_NAME", env)
        with Kirin("--forwarded-allow-ips", TRUSTED, "--root-path", "/mnt",
                   "echo_environ:app") as k:
            # The front-end's SCRIPT_NAME replaces --root-path for its requests.
            status, env, raw = ask(k.port, ["SCRIPT_NAME: /app"])
            self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/x"))

    def test_bad_names_are_refused_at_start(self):
        for value in ("X:Y", "a b", "SCRIPT_NAME,X Y"):
            with self.subTest(value=value):
                cp = run_kirin("--forwarder-headers", value, "hello:app", timeout=20)
                self.assertNotEqual(cp.returncode, 0)
                self.assertIn("--forwarder-headers", cp.stderr)
                self.assertIn("cannot be in a header name", cp.stderr)


class Asgi(unittest.TestCase):
    """The ASGI scope follows the same rules: root_path, and path whole."""

    def scope(self, k, fields, path="/app/x", source=TRUSTED):
        status, _, raw = ask(k.port, fields, path, source)
        self.assertEqual(status, 200, raw[:300])
        info = json.loads(parse_raw(raw)[2])
        return info["root_path"], info["path"], dict(info["headers"])

    def test_scope(self):
        with Kirin("-k", "asyncio", "--forwarded-allow-ips", TRUSTED, "asgi_apps:app") as k:
            root, path, headers = self.scope(k, ["SCRIPT_NAME: /app/", "PATH_INFO: /p"],
                                             "/app/x%20y")
            self.assertEqual((root, path), ("/app", "/app/x y"))
            self.assertEqual((headers["script_name"], headers["path_info"]), ("/app/", "/p"))
            root, path, headers = self.scope(k, ["SCRIPT_NAME: /app"], source=OTHER)
            self.assertEqual((root, path), ("", "/app/x"))
            self.assertNotIn("script_name", headers)
            status, _, raw = ask(k.port, ["SCRIPT_NAME: /other"],
                                 pipelined=b"GET /app/x HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual((status, raw.count(b"HTTP/1.1 ")), (400, 1), raw[:300])

    def test_scope_matrix(self):
        with Kirin("-k", "asyncio", "--forwarded-allow-ips", TRUSTED, "--header-map", "refuse",
                   "--forwarder-headers", "*", "asgi_apps:app") as k:
            root, path, headers = self.scope(k, ["X_Any: 1", "SCRIPT_NAME: /app"])
            self.assertEqual((root, headers["x_any"]), ("/app", "1"))
            self.assertEqual(ask(k.port, ["X_Any: 1"], source=OTHER)[0], 400)


per_worker_class(Core, globals())

if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""contrib/nginx/kirin.conf with Debian's real nginx in front of kirin's
sync worker, over the unix socket: headers, a mount point nginx sets
(SCRIPT_NAME, forwarder_headers), buffering, hostile clients."""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import types
import unittest

from kirintest import (Kirin, free_port, in_thread, kill_tree, main, raw_request, wait_for,
                       parse_raw)

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "..", "..", "contrib", "nginx", "kirin.conf")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                  else None)

TOP = """daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/kirin.conf;
}}
"""


# README's "Behind nginx": nginx mounts the app at a prefix it chooses.
MOUNT = """
    location /app/ {
        proxy_set_header Host $http_host;
        proxy_set_header SCRIPT_NAME /app;
        proxy_pass http://kirin;
    }
"""


@unittest.skipUnless(NGINX, "nginx (contrib/install-deps.sh test installs nginx-light)")
class Nginx(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="kirin-nginx-")
        d = self.tmp.name
        os.chmod(d, 0o755)  # nginx's workers run as nobody
        self.sock = os.path.join(d, "kirin.sock")
        self.port = free_port()
        with open(CONF) as f:
            conf = f.read()
        # The shipped file, with the test's socket and port, and MOUNT.
        conf, n1 = re.subn(r"server unix:/run/kirin\.sock", f"server unix:{self.sock}", conf)
        conf, n2 = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.port};", conf)
        conf, n3 = re.subn(r"\n    location / \{", lambda m: MOUNT + m.group(0), conf)
        self.assertEqual((n1, n2, n3), (1, 1, 1))
        with open(os.path.join(d, "kirin.conf"), "w") as f:
            f.write(conf)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(TOP.format(d=d))
        self.nginx = subprocess.Popen([NGINX, "-p", d, "-c", os.path.join(d, "nginx.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)

    def tearDown(self):
        kill_tree(self.nginx.pid)
        self.nginx.wait(10)
        self.nginx.stderr.close()
        self.tmp.cleanup()

    def kirin(self, app, *args):
        return Kirin(app, "-b", f"unix:{self.sock}", *args,
                     bind=False, unix=self.sock)

    def get(self, data, timeout=15):
        status, headers, body = parse_raw(raw_request(self.port, data, timeout=timeout))
        return types.SimpleNamespace(status=status, headers=headers, body=body,
                                     json=lambda: json.loads(body))

    def wait_nginx(self):
        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        self.assertTrue(wait_for(up, 15), "nginx did not start")

    def test_headers_kirin_trusts(self):
        with self.kirin("echo_environ:app"):
            self.wait_nginx()
            r = self.get(b"GET /path?q=1 HTTP/1.1\r\nHost: shop.example\r\n"
                         b"X-Forwarded-Ssl: on\r\nX-Forwarded-Protocol: ssl\r\n"
                         b"X-Forwarded-Proto: https\r\nX_Forwarded_For: 6.6.6.6\r\n"
                         b"Connection: close\r\n\r\n")
            self.assertEqual(r.status, 200, r)
            env = r.json()
            self.assertEqual(env["HTTP_HOST"], "shop.example")
            self.assertEqual(env["PATH_INFO"], "/path")
            self.assertEqual(env["QUERY_STRING"], "q=1")
            self.assertEqual(env["HTTP_X_FORWARDED_FOR"], "127.0.0.1")
            # The client's own scheme headers went nowhere: plain http.
            self.assertEqual(env["wsgi.url_scheme"], "http")
            self.assertEqual(env.get("HTTP_X_FORWARDED_PROTO"), "http")
            self.assertNotIn("HTTP_X_FORWARDED_SSL", env)
            self.assertNotIn("HTTP_X_FORWARDED_PROTOCOL", env)

    def test_mount_point_from_nginx(self):
        """nginx's SCRIPT_NAME mounts the app (forwarder_headers); a client's
        own underscore header never gets through nginx."""
        with self.kirin("echo_environ:app"):
            self.wait_nginx()
            forged = b"SCRIPT_NAME: /evil\r\nPATH_INFO: /evil\r\n"
            r = self.get(b"GET /app/x%20y HTTP/1.1\r\nHost: x\r\n" + forged +
                         b"Connection: close\r\n\r\n")
            self.assertEqual(r.status, 200, r)
            env = r.json()
            self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/x y"))
            self.assertNotIn("HTTP_PATH_INFO", env)
            r = self.get(b"GET /x HTTP/1.1\r\nHost: x\r\n" + forged +
                         b"Connection: close\r\n\r\n")
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json()["SCRIPT_NAME"], r.json()["PATH_INFO"]), ("", "/x"))

    def test_bodies_are_buffered_and_bounded(self):
        body = os.urandom(3 << 20)
        with self.kirin("upload:app"):
            self.wait_nginx()
            r = self.get(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body, timeout=30)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body.decode(), f"{len(body)} {hashlib.sha256(body).hexdigest()}")
            r = self.get(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                         b"Connection: close\r\n\r\n")
            self.assertEqual(r.status, 413)

    def test_slow_clients_do_not_hold_the_sync_worker(self):
        """One sync worker; two clients trickle a request through nginx while a
        third asks normally: nginx holds the slow ones, kirin answers the third."""
        with self.kirin("upload:app", "-w", "1") as k:
            self.wait_nginx()
            slow = []
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", self.port))
                s.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n")
                slow.append(s)
            never = socket.create_connection(("127.0.0.1", self.port))
            never.sendall(b"GET / HTTP/1.1\r\nHo")  # never finishes its head
            try:
                def trickle(s):
                    for _ in range(39):
                        s.sendall(b"x")
                        time.sleep(0.1)
                    last = time.monotonic()
                    s.sendall(b"x")
                    s.settimeout(20)
                    return s.recv(4096), last
                threads = [in_thread(lambda s=s: trickle(s)) for s in slow]
                time.sleep(0.3)
                r = self.get(b"POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                             b"Connection: close\r\n\r\nok")
                fast_done = time.monotonic()
                self.assertEqual((r.status, r.body),
                                 (200, b"2 " + hashlib.sha256(b"ok").hexdigest().encode()))
                for t, out in threads:
                    t.join(30)
                    self.assertIn("value", out, out)
                    answer, last = out["value"]
                    self.assertIn(b"HTTP/1.1 200", answer)
                    # Answered before the slow bodies' last bytes were sent (kirin
                    # alone, or nginx without request buffering, answers it only
                    # once a slow body is complete).
                    self.assertLess(fast_done, last)
                self.assertEqual(k.poll(), None)
            finally:
                never.close()
                for s in slow:
                    s.close()


if __name__ == "__main__":
    main()

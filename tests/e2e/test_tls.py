"""HTTPS: --certfile/--keyfile and friends on every worker type, with a test
CA made here by the openssl command line, Python's ssl module and curl as
clients: GET, POST, keep-alive, pipelining, file_wrapper over TLS, mutual
TLS required and refused, plain HTTP on the TLS port, hostile handshakes
(silent, byte by byte, garbage, truncated, renegotiation) while a normal
client is served, bad certificates refused at start, session resumption
across workers, HUP certificate rotation under load, and ASGI apps on the
asyncio worker (streamed, pathsend, slow and stalled readers, WebSocket,
the TLS extension); the conformance corpus through a TLS shim."""
import fcntl
import hashlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (ASAN, Kirin, main, per_worker_class, raw_request, recv_responses,  # noqa: E402
                       read_to_eof, request, run_kirin, skip_stack_switching, wait_for)

PKI = None  # the test CA's folder (setUpModule)
FILE_SIZE = 13 * 1024 * 1024
PATTERN = bytes(range(256))
LONG_DN = "CN=client long," + ",".join(f"OU={i:02d}{'u' * 60}" for i in reversed(range(20)))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """ca.pem; server.pem/.key and server2.pem/.key (both for 127.0.0.1,
    signed by the CA); big.pem/.key (the same with a 60 KB comment: a
    handshake flight larger than a small socket buffer); client.pem/.key
    and long.pem/.key (signed by the CA; long's subject is LONG_DN, over
    1,300 characters); rogue.pem/.key (self-signed)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=kirin test CA", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    with open(os.path.join(d, "big.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nnsComment=" + "x" * 60000 + "\n")
    for name, subj, ext in (("server", "/CN=server one", "san.ext"),
                            ("server2", "/CN=server two", "san.ext"),
                            ("big", "/CN=server big", "big.ext"),
                            ("client", "/O=kirin tests/CN=client one", None),
                            ("long", "".join(f"/OU={i:02d}{'u' * 60}" for i in range(20)) +
                             "/CN=client long", None)):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                *(["-extfile", ext] if ext else []), cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
            "-subj", "/CN=client one", cwd=d)


def setUpModule():
    global PKI
    if not shutil.which("openssl"):
        raise unittest.SkipTest("no openssl command to make a test CA")
    PKI = tempfile.mkdtemp(prefix="kirin-tls-")
    make_pki(PKI)


def tearDownModule():
    if PKI:
        shutil.rmtree(PKI, ignore_errors=True)


def pki(name):
    return os.path.join(PKI, name)


def tls_args(cert="server"):
    return ["--certfile", pki(f"{cert}.pem"), "--keyfile", pki(f"{cert}.key")]


def client_context(cert=None):
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    if cert:
        ctx.load_cert_chain(pki(f"{cert}.pem"), pki(f"{cert}.key"))
    return ctx


def tls_socket(port, ctx=None, session=None, timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return (ctx or client_context()).wrap_socket(raw, server_hostname="127.0.0.1",
                                                     session=session)
    except BaseException:
        raw.close()
        raise


def https(port, path="/", method="GET", body=None, ctx=None, timeout=10):
    """One request on a new connection: (status, body bytes)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=ctx or client_context())
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def client_hello():
    """The bytes of a real ClientHello, made with memory BIOs."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def get_over_bio(sock, first=b""):
    """A GET / over TLS on sock, driven through memory BIOs so that first
    (a PROXY header) and the ClientHello leave in one segment: the parsed
    JSON answer."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(inc, out, server_hostname="127.0.0.1")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(first + out.read())
            first = b""
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            inc.write(data)
    obj.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    sock.sendall(out.read())
    answer = b""
    while True:
        try:
            chunk = obj.read(65536)
            if not chunk:
                break
            answer += chunk
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            if not data:
                break
            inc.write(data)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:200]
    return json.loads(body)


def refused(port, data):
    """Send data, then the client's EOF, and read until the server closes:
    what it answered (b"" when it reset the connection while data went)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        got = b""
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk
        except OSError as e:  # a reset, or a timeout: the connection stayed
            if isinstance(e, socket.timeout):
                raise AssertionError("the server kept the connection open") from e
            return got


def small_window_socket(port):
    """A connection to port that advertises a 536-byte MSS and a receive
    buffer of about 1 KiB: the server can send it little before it waits."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def server_side_established(port, client_port):
    """Whether the server's end of 127.0.0.1:client_port -> port is still
    ESTABLISHED (/proc/net/tcp: a closed one is FIN_WAIT1 behind the data it
    could not send, or gone)."""
    want = (f"0100007F:{port:04X}", f"0100007F:{client_port:04X}")
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                return fields[3] == "01"
    return False


def queued_stopped_growing(sock, pause=0.1):
    """The bytes waiting in sock's receive queue when they stopped growing
    over pause seconds (and there were some), else 0."""
    before = queued(sock)
    time.sleep(pause)
    after = queued(sock)
    return after if after and after == before else 0


def queued(sock):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def closed_within(sock, seconds):
    """True when the server closes sock (EOF or reset) within seconds."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def wss_echo(test, websocket, port, messages, last=None):
    """Each message over wss:// to an echo app, checked as it comes back;
    then last, if any, whose answer is returned."""
    ws = websocket.create_connection(f"wss://127.0.0.1:{port}/echo", timeout=10,
                                     sslopt={"ca_certs": pki("ca.pem")})
    try:
        for message in messages:
            ws.send(message) if isinstance(message, str) else ws.send_binary(message)
            test.assertEqual(ws.recv(), message)
        if last is not None:
            ws.send(last)
            return ws.recv()
    finally:
        ws.close()


class Serve:
    """HTTPS on one worker type (self.worker_class)."""

    def kirin(self, *args, **kw):
        return Kirin("-k", self.worker_class, *tls_args(), *args, "tls_app:app",
                     env={"KIRIN_E2E_TLS_DIR": self.tmp}, **kw)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kirin-tls-app-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_get_post_keepalive_pipelining_curl(self):
        with self.kirin("--threads", "2") as k:
            self.assertIn("Listening at: https://127.0.0.1", k.log())
            status, body = https(k.port, "/x")
            self.assertEqual(status, 200)
            env = json.loads(body)
            self.assertEqual(env["wsgi.url_scheme"], "https")
            self.assertEqual(env["HTTPS"], "on")
            self.assertIsNone(env["SSL_CLIENT_S_DN"])
            data = os.urandom(300_000)
            self.assertEqual(https(k.port, "/echo", "POST", data), (200, data))
            out = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", pki("ca.pem"),
                                  f"https://127.0.0.1:{k.port}/curl"], capture_output=True,
                                 timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["PATH_INFO"], "/curl")
            if self.worker_class == "sync":
                return  # one request per connection
            conn = http.client.HTTPSConnection("127.0.0.1", k.port, timeout=10,
                                               context=client_context())
            try:
                socks = set()
                for i in range(3):
                    conn.request("POST", "/echo", body=b"%d" % i * 1000)
                    r = conn.getresponse()
                    self.assertEqual((r.status, r.read()), (200, b"%d" % i * 1000))
                    socks.add(id(conn.sock))
                self.assertEqual(len(socks), 1, "keep-alive: one connection")
            finally:
                conn.close()
            with tls_socket(k.port) as s:
                s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3)))
                got = recv_responses(s, 3, 10)
            self.assertEqual([json.loads(b)["PATH_INFO"] for _, b in got], ["/p0", "/p1", "/p2"])

    def test_file_wrapper_13mb(self):
        with self.kirin() as k:
            self.assertRegex(k.log(), r"TLS: file responses over TLS: (kernel TLS|SSL_write)")
            status, body = https(k.port, f"/file?size={FILE_SIZE}", timeout=60)
            self.assertEqual(status, 200)
            self.assertEqual(len(body), FILE_SIZE)
            want = hashlib.sha256((PATTERN * (FILE_SIZE // 256 + 1))[:FILE_SIZE]).digest()
            self.assertEqual(hashlib.sha256(body).digest(), want)

    def test_plain_http_on_the_tls_port(self):
        with self.kirin() as k:
            raw = raw_request(k.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(raw.startswith(b"HTTP/1.1 400 "), raw[:100])
            self.assertIn(b"The plain HTTP request was sent to HTTPS port", raw)
            self.assertEqual(https(k.port)[0], 200)

    def test_mutual_tls(self):
        with self.kirin("--cert-reqs", "2", "--ca-certs", pki("ca.pem")) as k:
            status, body = https(k.port, ctx=client_context("client"))
            env = json.loads(body)
            self.assertEqual(env["SSL_CLIENT_S_DN"], "CN=client one,O=kirin tests")
            self.assertEqual(env["SSL_CLIENT_VERIFY"], "SUCCESS")
            with open(pki("client.pem")) as f:
                self.assertEqual(env["SSL_CLIENT_CERT"].strip(), f.read().strip())
            # A subject of any length, whole.
            env = json.loads(https(k.port, ctx=client_context("long"))[1])
            self.assertEqual(env["SSL_CLIENT_S_DN"], LONG_DN)
            for ctx in (client_context(), client_context("rogue")):
                with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                    https(k.port, ctx=ctx)
            self.assertEqual(https(k.port, ctx=client_context("client"))[0], 200)
        # cert_reqs 1: a certificate is optional, and verified when sent.
        with self.kirin("--cert-reqs", "1", "--ca-certs", pki("ca.pem")) as k:
            self.assertIsNone(json.loads(https(k.port)[1])["SSL_CLIENT_S_DN"])
            env = json.loads(https(k.port, ctx=client_context("client"))[1])
            self.assertEqual(env["SSL_CLIENT_S_DN"], "CN=client one,O=kirin tests")
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                https(k.port, ctx=client_context("rogue"))

    def test_hostile_handshakes(self):
        hello = client_hello()
        sync = self.worker_class == "sync"
        with self.kirin("--timeout", "3", *(["-w", "2"] if sync else [])) as k:
            # Truncated: half a ClientHello, then the client's EOF; garbage:
            # a handshake record of nonsense, an oversize record (64 KiB
            # announced), or bytes that are neither TLS nor HTTP. Each is
            # closed, at most with a TLS alert record.
            for data in (hello[:len(hello) // 2], b"\x16\x03\x01\x00\x05hello" + b"\0" * 64,
                         b"\x16\x03\x01\xff\xff" + b"\x01" * 70_000, b"\x00\x01\x02\xff" * 8):
                got = refused(k.port, data)
                self.assertTrue(got == b"" or got.startswith(b"\x15\x03"), got[:40])
            silent = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            slow = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            stop = threading.Event()

            def trickle():
                try:
                    for b in hello:
                        if stop.wait(0.2):
                            return
                        slow.sendall(bytes([b]))
                except OSError:
                    pass

            t = threading.Thread(target=trickle, daemon=True)
            t.start()
            try:
                if not sync:  # a sync worker serves one connection at a time
                    for _ in range(3):
                        self.assertEqual(https(k.port)[0], 200)
                # The handshake counts against --timeout: both are cut.
                self.assertTrue(closed_within(silent, 20), "a silent client stays")
                self.assertTrue(closed_within(slow, 20), "a slow handshake stays")
            finally:
                stop.set()
                t.join(5)
                silent.close()
                slow.close()
            self.assertEqual(https(k.port)[0], 200)
            self.assertIsNone(k.poll())

    def test_handshake_that_must_wait_to_write(self):
        """A certificate larger than the socket can take at once, to a client
        that advertises a small MSS and window and reads only once the server
        is stuck: the server waits until it can write, and serves others
        meanwhile."""
        sync = self.worker_class == "sync"
        with self.kirin(*tls_args("big"), *(["-w", "2"] if sync else [])) as k:
            s = small_window_socket(k.port)
            self.addCleanup(s.close)
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = client_context().wrap_bio(inc, out, server_hostname="127.0.0.1")
            self.assertRaises(ssl.SSLWantReadError, obj.do_handshake)
            s.sendall(out.read())
            # Until the server's flight stops coming: its send is then stuck.
            seen = wait_for(lambda: queued_stopped_growing(s), 10)
            self.assertGreater(seen, 0)
            if not sync:  # a sync worker serves one connection at a time
                self.assertEqual(https(k.port)[0], 200)
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    s.sendall(out.read())
                    data = s.recv(65536)  # the old bug: nothing more came (timeout)
                    self.assertTrue(data, "closed during the handshake")
                    inc.write(data)
            obj.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            s.sendall(out.read())
            answer = b""
            while not answer.endswith(b"}"):
                try:
                    answer += obj.read(65536)
                except ssl.SSLWantReadError:
                    data = s.recv(65536)
                    self.assertTrue(data, answer)
                    inc.write(data)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:100])
            self.assertIsNone(k.poll())

    def test_a_handshake_never_read_is_cut(self):
        """The same client, which never reads: the server's wait to write
        counts against --timeout and the connection is closed; others are
        served meanwhile."""
        sync = self.worker_class == "sync"
        with self.kirin(*tls_args("big"), "--timeout", "2", *(["-w", "2"] if sync else [])) as k:
            s = small_window_socket(k.port)
            self.addCleanup(s.close)
            s.sendall(client_hello())
            self.assertGreater(wait_for(lambda: queued_stopped_growing(s), 10), 0)
            if not sync:
                self.assertEqual(https(k.port)[0], 200)
            mine = s.getsockname()[1]
            self.assertTrue(wait_for(lambda: not server_side_established(k.port, mine), 20),
                            "the server keeps a handshake it cannot send")
            self.assertEqual(https(k.port)[0], 200)
            self.assertIsNone(k.poll())

    def test_proxy_header_before_the_handshake(self):
        """As HAProxy's send-proxy and nginx's proxy_protocol send it: in the
        clear, then TLS; inside TLS (where Gunicorn reads it) still works."""
        v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n"
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c" +
              socket.inet_aton("198.51.100.9") + socket.inet_aton("10.0.0.1") +
              (40000).to_bytes(2, "big") + (443).to_bytes(2, "big"))
        sync = self.worker_class == "sync"
        with self.kirin("--proxy-protocol", "auto", "--timeout", "3",
                        *(["-w", "2"] if sync else [])) as k:
            for header, addr in ((v1, "203.0.113.7"), (v2, "198.51.100.9")):
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    self.assertEqual(get_over_bio(s, header)["REMOTE_ADDR"], addr)
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                self.assertEqual(get_over_bio(s)["REMOTE_ADDR"], "127.0.0.1")
            # Byte by byte, then the handshake.
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                for b in v1[:-1]:
                    s.sendall(bytes([b]))
                    time.sleep(0.005)
                self.assertEqual(get_over_bio(s, v1[-1:])["REMOTE_ADDR"], "203.0.113.7")
            with tls_socket(k.port) as s:
                s.sendall(v1 + b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                head, body = recv_responses(s, 1, 10)[0]
                self.assertEqual(json.loads(body)["REMOTE_ADDR"], "203.0.113.7")
            # Malformed, oversize, or a second header inside TLS: closed.
            hello = client_hello()
            for data in (b"PROXY TCP4 nonsense\r\n" + hello, b"PROXY " + b"9" * 300,
                         v2[:14] + b"\xff\xff" + b"\0" * 100):
                self.assertEqual(refused(k.port, data), b"", data[:20])
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                with self.assertRaises((ConnectionError, ssl.SSLError, AssertionError)):
                    get_over_bio(s, v1 + v1)
            # A header that trickles in is cut as a slow handshake is, and a
            # normal client is served meanwhile.
            slow = socket.create_connection(("127.0.0.1", k.port), timeout=10)
            try:
                slow.sendall(v1[:8])
                if not sync:
                    self.assertEqual(https(k.port)[0], 200)
                self.assertTrue(closed_within(slow, 20), "a slow PROXY header stays")
            finally:
                slow.close()
            self.assertEqual(https(k.port)[0], 200)
        with self.kirin("--proxy-protocol", "v1", "--proxy-allow-from", "10.9.9.9") as k:
            # From a peer not allowed to send one: closed, nothing answered.
            self.assertEqual(refused(k.port, v1 + client_hello()), b"")
            self.assertEqual(https(k.port)[0], 200)

    def test_websocket_over_tls(self):
        try:
            import websocket
        except ImportError:
            self.skipTest("python3-websocket is not installed")
        with Kirin("-k", self.worker_class, "--threads", "2", *tls_args(), "ws_apps:echo") as k:
            wss_echo(self, websocket, k.port, ("hi", "x" * 100_000, b"\0\1" * 40_000))

    def test_renegotiation_refused(self):
        with self.kirin() as k:
            # s_client renegotiates on a line "R" (TLS 1.2): kirin answers
            # with a no_renegotiation alert and serves on.
            p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{k.port}",
                                  "-tls1_2", "-CAfile", pki("ca.pem")], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                p.stdin.write(b"R\n")
                p.stdin.flush()
                p.wait(timeout=20)  # stdin stays open: only the refusal ends it
                out = p.stdout.read()
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdin.close()
                p.stdout.close()
            self.assertIn(b"RENEGOTIATING", out)
            self.assertIn(b"no renegotiation", out)
            self.assertEqual(https(k.port)[0], 200)
            self.assertIsNone(k.poll())


per_worker_class(Serve, globals())


class Asgi(unittest.TestCase):
    """ASGI apps on the asyncio worker: everything they send goes through
    TLS, also what waits for the socket, a pathsend file and WebSocket frames."""

    @classmethod
    def setUpClass(cls):
        cls.k = Kirin("-k", "asyncio", "-w", "1", "--timeout", "3", *tls_args(),
                      "asgi_apps:app").start()

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_requests_keepalive_pipelining_curl(self):
        status, body = https(self.k.port, "/x?1")
        self.assertEqual(status, 200)
        self.assertEqual((json.loads(body)["scheme"], json.loads(body)["query"]), ("https", "1"))
        data = os.urandom(300_000)
        status, body = https(self.k.port, "/upload", "POST", data)
        self.assertEqual((status, body), (200, data))
        out = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", pki("ca.pem"),
                              f"https://127.0.0.1:{self.k.port}/curl"], capture_output=True,
                             timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["path"], "/curl")
        with tls_socket(self.k.port) as s:
            s.sendall(b"".join(b"GET /p?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3)))
            got = recv_responses(s, 3, 10)
            s.sendall(b"GET /p?3 HTTP/1.1\r\nHost: x\r\n\r\n")
            got += recv_responses(s, 1, 10)
        self.assertEqual([json.loads(b)["query"] for _, b in got], ["0", "1", "2", "3"])

    def test_tls_extension(self):
        # asgiref's TLS extension: in every scope over TLS, never in plain HTTP.
        with open(pki("server.pem")) as f:
            server_pem = f.read()
        for keepalive in (False, True):
            ctx = client_context()
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # its cipher suite is the client's
            ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
            conn = http.client.HTTPSConnection("127.0.0.1", self.k.port, timeout=10, context=ctx)
            try:
                for i in range(3 if keepalive else 1):
                    conn.request("GET", "/tls")
                    tls = json.loads(conn.getresponse().read())
                    self.assertEqual(tls, {
                        "server_cert": server_pem, "client_cert_chain": [],
                        "client_cert_name": None, "client_cert_error": None,
                        "tls_version": 0x0303, "cipher_suite": 0xC02B})
            finally:
                conn.close()
        tls = json.loads(https(self.k.port, "/tls")[1])
        self.assertEqual((tls["tls_version"], tls["cipher_suite"] >> 8), (0x0304, 0x13))
        with Kirin("-k", "asyncio", "-w", "1", "asgi_apps:app") as k:
            self.assertEqual(request(k.port, "/tls").body, b"null")
        with Kirin("-k", "asyncio", "-w", "1", *tls_args(), "--cert-reqs", "2", "--ca-certs",
                   pki("ca.pem"), "asgi_apps:app") as k:
            tls = json.loads(https(k.port, "/tls", ctx=client_context("client"))[1])
            with open(pki("client.pem")) as f, open(pki("ca.pem")) as ca:
                client, authority = f.read(), ca.read()
            # OpenSSL's client sends the chain it builds from its CA file.
            self.assertIn(tls["client_cert_chain"], ([client], [client, authority]))
            self.assertEqual(tls["client_cert_name"], "CN=client one,O=kirin tests")
            tls = json.loads(https(k.port, "/tls", ctx=client_context("long"))[1])
            self.assertEqual(tls["client_cert_name"], LONG_DN)

    def test_large_responses_to_a_slow_reader(self):
        # More than the socket buffers hold, streamed and from a file: the
        # bytes OpenSSL could not write wait for the socket, and another
        # client is served meanwhile.
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            data = os.urandom(FILE_SIZE)
            f.write(data)
            f.flush()
            conn = http.client.HTTPSConnection("127.0.0.1", self.k.port, timeout=30,
                                               context=client_context())
            try:
                for path, want in ((b"/stream?64&262144", b"".join(
                        b"%c" % (97 + i % 26) * 262144 for i in range(64)) + b"end"),
                                   (b"/file?" + f.name.encode(), data)):
                    conn.request("GET", path.decode())
                    time.sleep(0.5)
                    self.assertEqual(https(self.k.port, "/other")[0], 200)
                    r = conn.getresponse()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(hashlib.sha256(r.read()).digest(),
                                     hashlib.sha256(want).digest())
            finally:
                conn.close()

    def test_a_reader_that_stops_is_cut(self):
        # A client that stops reading a 100 MiB response is given up after
        # --timeout (3 s) without progress; others are served meanwhile.
        with tls_socket(self.k.port, timeout=30) as s:
            s.sendall(b"GET /stream?400&262144 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = s.recv(1000)
            self.assertEqual(https(self.k.port, "/other")[0], 200)
            time.sleep(5)
            got += read_to_eof(s, 20)
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:100])
        self.assertLess(len(got), 100 << 20)
        self.assertEqual(https(self.k.port, "/after")[0], 200)
        self.assertIsNone(self.k.poll())

    @skip_stack_switching("asyncio")  # a WebSocket is served in a connection greenlet
    def test_websocket(self):
        try:
            import websocket
        except ImportError:
            self.skipTest("python3-websocket is not installed")
        with Kirin("-k", "asyncio", "-w", "1", *tls_args(), "asgi_apps:ws_echo") as k:
            tls = wss_echo(self, websocket, k.port, ("hi", "x" * 100_000, b"\0\1" * 400_000),
                           "tls?")
            self.assertEqual(json.loads(tls)["tls_version"], 0x0304)
            self.assertEqual(https(k.port)[0], 200)


class Operations(unittest.TestCase):
    def test_bad_certificates_refused_at_start(self):
        with tempfile.TemporaryDirectory() as d:
            junk = os.path.join(d, "junk.pem")
            with open(junk, "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
            missing = os.path.join(d, "missing.pem")
            cases = [
                (["--certfile", missing], missing),
                (["--certfile", junk, "--keyfile", pki("server.key")], junk),
                (["--certfile", pki("server.pem"), "--keyfile", junk], junk),
                (["--certfile", pki("server.pem"), "--keyfile", pki("server2.key")],
                 pki("server2.key")),
                (["--keyfile", pki("server.key")], pki("server.key")),
                (tls_args() + ["--cert-reqs", "2"], "ca_certs"),
                (tls_args() + ["--ca-certs", junk, "--cert-reqs", "1"], junk),
                (tls_args() + ["--ciphers", "NO-SUCH-CIPHER"], "NO-SUCH-CIPHER"),
                (tls_args() + ["--ssl-version", "SSLv3"], "SSLv3"),
            ]
            for args, named in cases:
                with self.subTest(args=args):
                    p = run_kirin("-b", "127.0.0.1:1", *args, "hello:app", timeout=30)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertIn(named, p.stderr)
                    self.assertNotIn("Booting worker", p.stderr)
            p = run_kirin(*tls_args(), "--check-config", "hello:app", timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_ssl_context_hook(self):
        """Gunicorn's ssl_context hook, in a Python config file with certfile:
        what it changes on the factory's context is applied (the minimum
        version of Gunicorn's example; ciphers with a maximum version); what
        kirin cannot read back is refused at start, naming it; without
        certfile it is not called, as with Gunicorn."""
        def conf(name, body, tls=True):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                if tls:
                    f.write(f"certfile = {pki('server.pem')!r}\nkeyfile = {pki('server.key')!r}\n")
                f.write("import ssl\ndef ssl_context(conf, default_ssl_context_factory):\n"
                        + "".join(f"    {line}\n" for line in body))
            return path

        def handshake(port, version):
            ctx = client_context()
            ctx.minimum_version = ctx.maximum_version = version
            with tls_socket(port, ctx) as s:
                return s.version(), s.cipher()[0]

        with tempfile.TemporaryDirectory() as d:
            v13 = conf("v13.py", ["context = default_ssl_context_factory()",
                                  "context.minimum_version = ssl.TLSVersion.TLSv1_3",
                                  "return context"])
            with Kirin("-c", v13, "hello:app") as k:
                self.assertEqual(handshake(k.port, ssl.TLSVersion.TLSv1_3)[0], "TLSv1.3")
                with self.assertRaises(ssl.SSLError):
                    handshake(k.port, ssl.TLSVersion.TLSv1_2)
            cipher = conf("cipher.py", ["context = default_ssl_context_factory()",
                                        "context.maximum_version = ssl.TLSVersion.TLSv1_2",
                                        "context.set_ciphers('ECDHE-ECDSA-AES256-GCM-SHA384')",
                                        "return context"])
            with Kirin("-c", cipher, "hello:app") as k:
                self.assertEqual(handshake(k.port, ssl.TLSVersion.TLSv1_2),
                                 ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"))
                with self.assertRaises(ssl.SSLError):
                    handshake(k.port, ssl.TLSVersion.TLSv1_3)
            factory = ["context = default_ssl_context_factory()"]
            cases = [
                (["context = default_ssl_context_factory()",
                  "context.sni_callback = lambda *args: None", "return context"], "sni_callback"),
                (factory + [f"context.load_cert_chain({pki('server2.pem')!r}, "
                            f"{pki('server2.key')!r})", "return context"], "load_cert_chain"),
                (factory + ["context.set_alpn_protocols(['h2'])", "return context"],
                 "set_alpn_protocols"),
                (["return ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)"], "did not make"),
                (["raise RuntimeError('no context today')"], "no context today"),
            ]
            for body, named in cases:
                with self.subTest(named=named):
                    p = run_kirin("-b", "127.0.0.1:1", "-c", conf("bad.py", body), "hello:app",
                                  timeout=30)
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertIn("ssl_context", p.stderr)
                    self.assertIn(named, p.stderr)
                    self.assertNotIn("Booting worker", p.stderr)
            plain = conf("plain.py", ["raise RuntimeError('called')"], tls=False)
            p = run_kirin("-c", plain, "--check-config", "hello:app", timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_session_resumption_across_workers(self):
        # sync workers serve one connection at a time: while the first
        # holds a half-sent head, another worker takes the second.
        with Kirin("-w", "3", "-k", "sync", *tls_args(), "tls_app:app") as k:
            k.wait_workers(3)
            ctx = client_context()  # a session belongs to its context
            with tls_socket(k.port, ctx) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                (_, body), = recv_responses(s, 1, 30)
                session = s.session
            with tls_socket(k.port, ctx, session=session, timeout=30) as held:
                held.sendall(b"GET / HTTP/1.1\r\n")
                with tls_socket(k.port, ctx, session=session, timeout=30) as other:
                    other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    (_, body), = recv_responses(other, 1, 30)
                    self.assertTrue(other.session_reused, "a full handshake, not a resumption")
                    pids = {json.loads(body)["pid"]}
                held.sendall(b"Host: x\r\n\r\n")
                (_, body), = recv_responses(held, 1, 30)
                self.assertTrue(held.session_reused, "a full handshake, not a resumption")
                pids.add(json.loads(body)["pid"])
            self.assertEqual(len(pids), 2, "both connections went to one worker")
            self.assertLessEqual(pids, set(k.workers()))
            # The ticket keys outlive a reload: the new workers resume it too.
            before = set(k.workers())
            k.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: len(set(k.workers()) - before) == 3 and
                                     not (set(k.workers()) & before), 30), k.log())
            with tls_socket(k.port, ctx, session=session, timeout=30) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                (_, body), = recv_responses(s, 1, 30)
                self.assertNotIn(json.loads(body)["pid"], before)
                self.assertTrue(s.session_reused, "no resumption after a reload")

    def test_hup_rotates_the_certificate_under_load(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")

            def install(name):
                for src, dst in ((pki(f"{name}.pem"), cert), (pki(f"{name}.key"), key)):
                    shutil.copy(src, dst + ".new")
                    os.replace(dst + ".new", dst)

            def subject(port):
                with tls_socket(port) as s:
                    return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]

            install("server")
            with Kirin("-w", "2", "-k", "gthread", "--certfile", cert, "--keyfile", key,
                       "tls_app:app") as k:
                k.wait_workers(2)
                self.assertEqual(subject(k.port), "server one")
                stop, results = threading.Event(), {"ok": 0, "failed": []}

                def load():
                    while not stop.is_set():
                        try:
                            status, _ = https(k.port)
                            if status == 200:
                                results["ok"] += 1
                            else:
                                results["failed"].append(status)
                        except (OSError, http.client.HTTPException) as e:
                            results["failed"].append(repr(e))

                threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
                for t in threads:
                    t.start()
                try:
                    time.sleep(0.5)
                    install("server2")
                    k.signal(signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: subject(k.port) == "server two", 30),
                                    k.log())
                    # A broken pair: refused, the running certificate stays.
                    with open(cert, "w") as f:
                        f.write("garbage\n")
                    k.signal(signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: "reload failed" in k.log(), 15), k.log())
                    time.sleep(0.5)
                finally:
                    stop.set()
                    for t in threads:
                        t.join(30)
                self.assertIn(cert, k.log().split("reload failed")[1].splitlines()[0])
                self.assertEqual(subject(k.port), "server two")
                self.assertEqual(results["failed"], [])
                self.assertGreater(results["ok"], 10)


class Conformance(unittest.TestCase):
    def test_corpus_over_tls(self):
        """The shared corpus through tls_shim.py, whole and byte by byte: on
        gthread, and an ASGI app on the asyncio worker."""
        corpus = os.environ.get("KIRIN_CONFORMANCE_DIR", "")
        if not os.path.isfile(os.path.join(corpus, "run_corpus.py")):
            if os.environ.get("CI"):
                self.fail(f"conformance corpus not found (KIRIN_CONFORMANCE_DIR={corpus!r})")
            self.skipTest("no conformance corpus")
        import test_conformance
        python = os.environ.get("KIRIN_PYTHON") or sys.executable
        shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls_shim.py")
        wrap = " ".join(shlex.quote(a) for a in (python, shim, "--listen", "{bind}", "--ca",
                                                   pki("ca.pem"), "--")) + " "
        extra = " ".join(shlex.quote(a) for a in tls_args())
        for split in (False, True):
            self.assertTrue(test_conformance.run(corpus, "gthread", split, wrap=wrap,
                                                 bind="@INNER@", extra=extra))
            if not ASAN:  # the asyncio worker refuses in a connection greenlet
                self.assertTrue(test_conformance.run(corpus, "asyncio", split, wrap=wrap,
                                                     bind="@INNER@", extra=extra, asgi=True))


if __name__ == "__main__":
    main()

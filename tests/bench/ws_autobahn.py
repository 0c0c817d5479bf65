#!/usr/bin/python3
"""Autobahn|Testsuite's server cases, over the wire, against kirin.

The fuzzing client of Autobahn|Testsuite (crossbario/autobahn-testsuite,
not in Debian) is the reference the WebSocket world checks servers with.
This is a port of its server cases for sections 1-7 (framing, pings,
reserved bits and opcodes, fragmentation, UTF-8, closing), 9 (sizes) and
12-13 (permessage-deflate), written from the case definitions: a client
on raw sockets with its own frame writer (so that it can send what a
library never would: bad bits, bad opcodes, bad UTF-8, frames cut into
single bytes), run against kirin serving an echo app on each worker type
(WSGI), and an ASGI echo app on -k asyncio ("asgi").
A case passes when kirin does what Autobahn expects: the echo, the pong,
the close code (1002, 1007, ...) and a clean close.

Differences from Autobahn, all toward fewer seconds: 5.19/5.20 and 6.4.x
wait --pause seconds (Autobahn 1 s); 12.x/13.x send --count messages per
case (Autobahn 1000) of generated data (Autobahn ships text, JSON, HTML,
a bitmap and a PDF: here JSON-like text, HTML-like text, a Faust-like
UTF-8 text, a bitmap-like and a random binary blob of the same kinds).
Section 9's per-case timings are reported, not judged.

    tests/bench/ws_autobahn.py --kirin ./kirin                  everything
    tests/bench/ws_autobahn.py --kirin ./kirin -k greenlet --sections 1,2,5

make ws-autobahn runs it on every worker type. tests/e2e/test_ws_autobahn.py
(make check) runs the quick subset (cases()'s quick=True) on each.
"""
import argparse
import base64
import hashlib
import os
import random
import socket
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import procs  # noqa: E402

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Fail(Exception):
    pass


class Client:
    """One WebSocket connection in raw frames."""

    def __init__(self, port, offer=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        ext = b"Sec-WebSocket-Extensions: " + offer.encode() + b"\r\n" if offer else b""
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n" + ext + b"\r\n")
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Fail(f"closed during the handshake: {self.buf!r}")
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101 "):
            raise Fail(f"handshake answered {lines[0]!r}")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if fields.get("sec-websocket-accept") != want:
            raise Fail("wrong Sec-WebSocket-Accept")
        self.deflate = None
        answer = fields.get("sec-websocket-extensions")
        if answer:
            if not offer:
                raise Fail(f"an extension nobody offered: {answer}")
            self.deflate = Deflate(answer)

    def send(self, data, chop=None):
        """Send bytes whole, or chop bytes at a time."""
        if not chop:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i:i + chop])

    def frame(self, op, payload=b"", fin=True, rsv=0, length=None):
        """A masked client frame (bytes); length overrides the declared length."""
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | rsv << 4 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        key = os.urandom(4)
        return head + key + mask(payload, key)

    def message_frames(self, op, payload, frag=0):
        """The frames of one data message, compressed when deflate was
        agreed, in fragments of frag bytes (0: one frame)."""
        rsv = 0
        if self.deflate:
            payload, rsv = self.deflate.compress(payload), 4
        if not frag or len(payload) <= frag:
            return self.frame(op, payload, rsv=rsv)
        parts = [payload[i:i + frag] for i in range(0, len(payload), frag)]
        out = [self.frame(op, parts[0], fin=False, rsv=rsv)]
        out += [self.frame(CONT, p, fin=False) for p in parts[1:-1]]
        out.append(self.frame(CONT, parts[-1]))
        return b"".join(out)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                raise Fail("timed out waiting for the server") from None
            except ConnectionResetError:
                return False
            if not data:
                return False
            self.buf += data
        return True

    def recv_frame(self, timeout=10):
        """(fin, rsv, opcode, payload), or None at EOF."""
        deadline = time.monotonic() + timeout
        if not self._need(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise Fail("a masked server frame")
        n, at = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4, deadline):
                return None
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10, deadline):
                return None
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._need(at + n, deadline):
            return None
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def recv(self, timeout=10):
        """The next event: ('message', opcode, payload), ('pong', payload),
        ('ping', payload), ('close', code, reason) or ('eof',)."""
        parts, first = [], None
        while True:
            f = self.recv_frame(timeout)
            if f is None:
                return ("eof",)
            fin, rsv, op, payload = f
            if op >= CLOSE:
                if op == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    return ("close", code, payload[2:])
                return ("pong" if op == PONG else "ping", payload)
            if first is None:
                if op == CONT:
                    raise Fail("a continuation frame from the server with nothing to continue")
                first = (op, rsv)
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if first[1] & 4:
                    if not self.deflate:
                        raise Fail("a compressed frame without deflate agreed")
                    data = self.deflate.decompress(data)
                return ("message", first[0], data)

    def close(self):
        self.sock.close()


class Deflate:
    """The client's side of permessage-deflate (RFC 7692), as the server answered it."""

    def __init__(self, answer):
        params = {}
        for i, p in enumerate(x.strip() for x in answer.split(";")):
            if i == 0:
                if p != "permessage-deflate":
                    raise Fail(f"an extension answered that was not offered: {p}")
                continue
            k, _, v = p.partition("=")
            if k in params:
                raise Fail(f"{k} answered twice")
            params[k] = v.strip('"')
        self.client_reset = "client_no_context_takeover" in params
        self.server_reset = "server_no_context_takeover" in params
        self.client_bits = int(params.get("client_max_window_bits") or 15)
        self.comp = self.decomp = None

    def compress(self, data):
        if self.comp is None or self.client_reset:
            self.comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                         -self.client_bits)
        out = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out

    def decompress(self, data):
        if self.decomp is None or self.server_reset:
            self.decomp = zlib.decompressobj(-15)
        return self.decomp.decompress(data + b"\x00\x00\xff\xff")


def mask(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


# What a case expects, as steps over a Client.

def expect_echo(c, op, payload, timeout=10):
    ev = c.recv(timeout)
    if ev[:2] != ("message", op):
        raise Fail(f"expected an echo (opcode {op}), got {short(ev)}")
    if ev[2] != payload:
        raise Fail(f"echo differs: {len(ev[2])} bytes, sent {len(payload)}")


def expect_pong(c, payload):
    ev = c.recv()
    if ev != ("pong", payload):
        raise Fail(f"expected a pong {payload[:20]!r}, got {short(ev)}")


def expect_fail(c, codes):
    """The server fails the connection: a close with one of codes, then EOF,
    and nothing else before it."""
    ev = c.recv()
    if ev[0] != "close" or ev[1] not in codes:
        raise Fail(f"expected a close with {codes}, got {short(ev)}")
    expect_eof(c)


def expect_eof(c):
    ev = c.recv()
    if ev != ("eof",):
        raise Fail(f"expected the server to close the TCP connection, got {short(ev)}")


def clean_close(c, code=1000, reason=b"", answers=(1000,)):
    """Our close; the server answers with one of answers, then closes TCP."""
    c.send(c.frame(CLOSE, struct.pack("!H", code) + reason))
    ev = c.recv()
    if ev[0] != "close" or ev[1] not in answers:
        raise Fail(f"expected a close answering ours with {answers}, got {short(ev)}")
    expect_eof(c)


def short(ev):
    return repr(tuple(x[:40] if isinstance(x, bytes) else x for x in ev))


# The cases: (id, function of a Client and the options).

def echo_case(op, payload, chop=None, frag=0):
    def run(c, o):
        c.send(c.message_frames(op, payload, frag), chop=chop)
        expect_echo(c, op, payload, timeout=120)
        clean_close(c)
    return run


def fail_case(frames, codes=(1002,), echoes=(), chop=None, each=False):
    """Send frames (a function of the client, so they are masked afresh) at
    once, one send each, or chop bytes at a time; expect the echoes
    (opcode, payload) in order, then a failed connection."""
    def run(c, o):
        for f in frames(c) if each else [b"".join(frames(c))]:
            c.send(f, chop=chop)
        for op, payload in echoes:
            expect_echo(c, op, payload)
        expect_fail(c, codes)
    return run


def section1():
    out = []
    for sub, op in ((1, TEXT), (2, BINARY)):
        char = b"*" if op == TEXT else b"\xfe"
        for i, n in enumerate((0, 125, 126, 127, 128, 65535, 65536), 1):
            out.append((f"1.{sub}.{i}", echo_case(op, char * n)))
        out.append((f"1.{sub}.8", echo_case(op, char * 65536, chop=997)))
    return out


def section2():
    def pings(c, o):
        c.send(b"".join(c.frame(PING, b"payload-%d" % i) for i in range(10)), chop=o.get("chop"))
        for i in range(10):
            expect_pong(c, b"payload-%d" % i)
        clean_close(c)

    def ping_case(payload, chop=None):
        def run(c, o):
            c.send(c.frame(PING, payload), chop=chop)
            expect_pong(c, payload)
            clean_close(c)
        return run

    def pong_case(payload, then_ping=False):
        def run(c, o):
            c.send(c.frame(PONG, payload))
            if then_ping:
                c.send(c.frame(PING, b"ping payload"))
                expect_pong(c, b"ping payload")
            clean_close(c)  # nothing came back for the pong
        return run

    return [
        ("2.1", ping_case(b"")),
        ("2.2", ping_case(b"Hello, world!")),
        ("2.3", ping_case(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")),
        ("2.4", ping_case(b"\xfe" * 125)),
        ("2.5", fail_case(lambda c: [c.frame(PING, b"\xfe" * 126)])),
        ("2.6", ping_case(b"\xfe" * 125, chop=1)),
        ("2.7", pong_case(b"")),
        ("2.8", pong_case(b"unsolicited pong payload")),
        ("2.9", pong_case(b"unsolicited pong payload", then_ping=True)),
        ("2.10", pings),
        ("2.11", lambda c, o: pings(c, {"chop": 1})),
    ]


def section3():
    hello = b"Hello, world!"

    def after_echo(rsv, op=TEXT, payload=hello, chop=None):
        return fail_case(lambda c: [c.frame(TEXT, hello), c.frame(op, payload, rsv=rsv),
                                    c.frame(PING)], echoes=[(TEXT, hello)], chop=chop)
    return [
        ("3.1", fail_case(lambda c: [c.frame(TEXT, hello, rsv=1)])),
        ("3.2", after_echo(2)),
        ("3.3", after_echo(3, chop=1)),
        ("3.4", after_echo(4, chop=1)),
        ("3.5", fail_case(lambda c: [c.frame(BINARY, bytes(range(256)) * 4, rsv=5)])),
        ("3.6", fail_case(lambda c: [c.frame(PING, hello, rsv=6)])),
        ("3.7", fail_case(lambda c: [c.frame(CLOSE, struct.pack("!H", 1000), rsv=7)])),
    ]


def section4():
    out = []
    for sub, ops in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
        for i, op in enumerate(ops, 1):
            payload = b"" if i in (1, 3) else b"reserved opcode payload"
            if i <= 2:
                out.append((f"4.{sub}.{i}", fail_case(lambda c, op=op, p=payload: [c.frame(op, p)])))
            else:
                out.append((f"4.{sub}.{i}", fail_case(
                    lambda c, op=op, p=payload: [c.frame(TEXT, b"Hello, world!"), c.frame(op, p),
                                                 c.frame(PING)],
                    echoes=[(TEXT, b"Hello, world!")])))
    return out


def section5():
    f1, f2 = b"fragment1", b"fragment2"

    def frames_case(frames, want, chop=None, each=False):
        """Send frames (at once, frame by frame, or chop bytes at a time);
        expect want: a list of ('pong', p) / ('echo', p) steps."""
        def run(c, o):
            fs = frames(c)
            if each:
                for f in fs:
                    c.send(f)
            else:
                c.send(b"".join(fs), chop=chop)
            for kind, p in want:
                if kind == "pong":
                    expect_pong(c, p)
                else:
                    expect_echo(c, TEXT, p)
            clean_close(c)
        return run

    def interleaved(c):
        return [c.frame(TEXT, f1, fin=False), c.frame(PING, b"ping payload"), c.frame(CONT, f2)]

    def paced(each):
        def run(c, o):
            fr = [c.frame(TEXT, b"fragment1", fin=False), c.frame(CONT, b"fragment2", fin=False),
                  c.frame(PING, b"pongme 1!"), c.frame(CONT, b"fragment3", fin=False),
                  c.frame(CONT, b"fragment4", fin=False), c.frame(PING, b"pongme 2!"),
                  c.frame(CONT, b"fragment5")]
            groups = [fr[:3], fr[3:6], fr[6:]]
            for g in groups:
                for f in g:
                    c.send(f)
                    if each:
                        time.sleep(o["pause"] / 10)
                time.sleep(o["pause"])
            expect_pong(c, b"pongme 1!")
            expect_pong(c, b"pongme 2!")
            expect_echo(c, TEXT, b"fragment1fragment2fragment3fragment4fragment5")
            clean_close(c)
        return run

    out = [
        ("5.1", fail_case(lambda c: [c.frame(PING, f1, fin=False), c.frame(CONT, f2)])),
        ("5.2", fail_case(lambda c: [c.frame(PONG, f1, fin=False), c.frame(CONT, f2)])),
        ("5.3", frames_case(lambda c: [c.frame(TEXT, f1, fin=False), c.frame(CONT, f2)],
                            [("echo", f1 + f2)])),
        ("5.4", frames_case(lambda c: [c.frame(TEXT, f1, fin=False), c.frame(CONT, f2)],
                            [("echo", f1 + f2)], each=True)),
        ("5.5", frames_case(lambda c: [c.frame(TEXT, f1, fin=False), c.frame(CONT, f2)],
                            [("echo", f1 + f2)], chop=1)),
        ("5.6", frames_case(interleaved, [("pong", b"ping payload"), ("echo", f1 + f2)])),
        ("5.7", frames_case(interleaved, [("pong", b"ping payload"), ("echo", f1 + f2)],
                            each=True)),
        ("5.8", frames_case(interleaved, [("pong", b"ping payload"), ("echo", f1 + f2)], chop=1)),
    ]
    for i, fin in ((9, True), (12, False)):
        def frames(c, fin=fin):
            return [c.frame(CONT, b"non-continuation payload", fin=fin),
                    c.frame(TEXT, b"Hello, world!")]
        out += [(f"5.{i}", fail_case(frames)),
                (f"5.{i + 1}", fail_case(frames, each=True)),
                (f"5.{i + 2}", fail_case(frames, chop=1))]
    out += [
        ("5.15", fail_case(lambda c: [c.frame(TEXT, f1, fin=False), c.frame(CONT, f2),
                                      c.frame(CONT, b"fragment3", fin=False),
                                      c.frame(TEXT, b"fragment4")],
                           echoes=[(TEXT, f1 + f2)])),
        ("5.16", fail_case(lambda c: [c.frame(CONT, f1, fin=False), c.frame(TEXT, f2, fin=False),
                                      c.frame(CONT, b"fragment3")] * 2)),
        ("5.17", fail_case(lambda c: [c.frame(CONT, f1), c.frame(TEXT, f2, fin=False),
                                      c.frame(CONT, b"fragment3")] * 2)),
        ("5.18", fail_case(lambda c: [c.frame(TEXT, f1, fin=False), c.frame(TEXT, f2)])),
        ("5.19", paced(False)),
        ("5.20", paced(True)),
    ]
    return out


def utf8_sequences():
    """Autobahn's createUtf8TestSequences() (Markus Kuhn's UTF-8 test file),
    as bytes; whether each is valid is for Python's strict decoder to say."""
    vss = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
    k = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
         b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    nonchars = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xf4 and z2 != 0x8f:
                continue
            for z3 in b"\xbe\xbf":
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                    nonchars.append(zz)
    surrogates = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                  b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    return [
        [b"hello\x24world", b"hello\xc2\xa2world", b"hello\xe2\x82\xacworld",
         b"hello\xf0\xa4\xad\xa2world", vss],
        [vss[:i] for i in range(1, len(vss) + 1)],
        [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"],
        [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"],
        [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"],
        [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"],
        [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xf4\x8f\xbf\xbf",
         b"\xf4\x90\x80\x80"],
        [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
         b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xbf))],
        [b"".join(bytes([i, 0x20]) for i in range(a, b))
         for a, b in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd))],
        k,
        [b"".join(k)],
        [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"],
        [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xf8\x80\x80\x80\xaf",
         b"\xfc\x80\x80\x80\x80\xaf"],
        [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf8\x87\xbf\xbf\xbf",
         b"\xfc\x83\xbf\xbf\xbf\xbf"],
        [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf8\x80\x80\x80\x80",
         b"\xfc\x80\x80\x80\x80\x80"],
        surrogates,
        [a + b for a, b in ((0, 4), (0, 6), (1, 4), (1, 6), (2, 4), (2, 6), (3, 4), (3, 6))
         for a, b in [(surrogates[a], surrogates[b])]],
        nonchars,
        [b"\xef\xbf\xb9", b"\xef\xbf\xba", b"\xef\xbf\xbb", b"\xef\xbf\xbc", b"\xef\xbf\xbd",
         b"\xef\xbf\xbe", b"\xef\xbf\xbf"],
    ]


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def section6():
    kosme = "κόσμε".encode()
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    bad = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"

    def bytewise(payload):
        return lambda c: ([c.frame(TEXT, payload[:1], fin=len(payload) == 1)]
                          + [c.frame(CONT, payload[i:i + 1], fin=i == len(payload) - 1)
                             for i in range(1, len(payload))])

    def frames_echo(frames, want):
        def run(c, o):
            c.send(b"".join(frames(c)))
            expect_echo(c, TEXT, want)
            clean_close(c)
        return run

    def fail_fast(pieces, frames):
        """Send all pieces but the last, expect 1007 before the last is sent."""
        def run(c, o):
            data = frames(c, pieces)
            for d in data[:-1]:
                c.send(d)
            time.sleep(o["pause"])
            expect_fail(c, (1007,))
        return run

    def as_fragments(c, pieces):
        return [c.frame(TEXT if i == 0 else CONT, p, fin=i == len(pieces) - 1)
                for i, p in enumerate(pieces)]

    def as_chops(c, pieces):
        f = c.frame(TEXT, b"".join(pieces))
        head = len(f) - len(b"".join(pieces))
        out, at = [f[:head]], head
        for p in pieces:
            out.append(f[at:at + len(p)])
            at += len(p)
        out[1] = out[0] + out[1]
        return out[1:]

    out = [
        ("6.1.1", echo_case(TEXT, b"")),
        ("6.1.2", frames_echo(lambda c: [c.frame(TEXT, b"", fin=False), c.frame(CONT, b"", False),
                                         c.frame(CONT, b"")], b"")),
        ("6.1.3", frames_echo(lambda c: [c.frame(TEXT, b"", fin=False),
                                         c.frame(CONT, b"middle frame payload", fin=False),
                                         c.frame(CONT, b"")], b"middle frame payload")),
        ("6.2.1", echo_case(TEXT, hello)),
        ("6.2.2", frames_echo(lambda c: [c.frame(TEXT, hello[:12], fin=False),
                                         c.frame(CONT, hello[12:])], hello)),
        ("6.2.3", frames_echo(bytewise(hello), hello)),
        ("6.2.4", frames_echo(bytewise(kosme), kosme)),
        ("6.3.1", fail_case(lambda c: [c.frame(TEXT, bad)], codes=(1007,))),
        ("6.3.2", fail_case(bytewise(bad), codes=(1007,))),
        ("6.4.1", fail_fast([kosme, b"\xf4\x90\x80\x80", b"edited"], as_fragments)),
        ("6.4.2", fail_fast([kosme + b"\xf4", b"\x90\x80\x80", b"edited"], as_fragments)),
        ("6.4.3", fail_fast([kosme, b"\xf4\x90\x80\x80", b"edited"], as_chops)),
        ("6.4.4", fail_fast([kosme, b"\xf4\x90", b"\x80\x80edited"], as_chops)),
    ]
    for i, seqs in enumerate(utf8_sequences(), 5):
        for j, s in enumerate(seqs, 1):
            if valid_utf8(s):
                out.append((f"6.{i}.{j}", echo_case(TEXT, s)))
            else:
                out.append((f"6.{i}.{j}", fail_case(lambda c, s=s: [c.frame(TEXT, s)],
                                                     codes=(1007,))))
    return out


def section7():
    def after_close(follow, fragment_first=False):
        def run(c, o):
            fs = [c.frame(TEXT, b"fragment1", fin=False)] if fragment_first else []
            fs.append(c.frame(CLOSE, struct.pack("!H", 1000)))
            c.send(b"".join(fs + follow(c)))
            ev = c.recv()
            if ev[:2] != ("close", 1000):
                raise Fail(f"expected the close answered, got {short(ev)}")
            expect_eof(c)
        return run

    def big_then_close(c, o):
        c.send(c.frame(TEXT, b"*" * 262144) + c.frame(CLOSE, struct.pack("!H", 1000))
               + c.frame(PING, b"ping"))
        ev = c.recv(30)
        if ev[0] == "message":
            ev = c.recv(30)
        if ev[:2] != ("close", 1000):
            raise Fail(f"expected the close answered, got {short(ev)}")
        expect_eof(c)

    def close_payload(payload, answers=None, codes=None):
        def run(c, o):
            c.send(c.frame(CLOSE, payload))
            ev = c.recv()
            if ev[0] != "close" or ev[1] not in (answers or codes):
                raise Fail(f"expected a close with {answers or codes}, got {short(ev)}")
            expect_eof(c)
        return run

    out = [
        ("7.1.1", lambda c, o: (c.send(c.frame(TEXT, b"Hello World!")),
                                expect_echo(c, TEXT, b"Hello World!"), clean_close(c))),
        ("7.1.2", after_close(lambda c: [c.frame(CLOSE, struct.pack("!H", 1000))])),
        ("7.1.3", after_close(lambda c: [c.frame(PING, b"Hello World!")])),
        ("7.1.4", after_close(lambda c: [c.frame(TEXT, b"Hello World!")])),
        ("7.1.5", after_close(lambda c: [c.frame(CONT, b"fragment2")], fragment_first=True)),
        ("7.1.6", big_then_close),
        ("7.3.1", close_payload(b"", answers=(1000, 1005))),
        ("7.3.2", close_payload(b"a", codes=(1002,))),
        ("7.3.3", close_payload(struct.pack("!H", 1000), answers=(1000,))),
        ("7.3.4", close_payload(struct.pack("!H", 1000) + b"Hello World!", answers=(1000,))),
        ("7.3.5", close_payload(struct.pack("!H", 1000) + b"*" * 123, answers=(1000,))),
        ("7.3.6", close_payload(struct.pack("!H", 1000) + b"*" * 124, codes=(1002,))),
        ("7.5.1", close_payload(struct.pack("!H", 1000) + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce"
                                b"\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
                                codes=(1002, 1007))),
    ]
    for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                              4000, 4999), 1):
        out.append((f"7.7.{i}", close_payload(struct.pack("!H", code), answers=(code, 1000))))
    for i, code in enumerate((0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999), 1):
        out.append((f"7.9.{i}", close_payload(struct.pack("!H", code), codes=(1002,))))
    for i, code in enumerate((5000, 65535), 1):
        out.append((f"7.13.{i}", close_payload(struct.pack("!H", code), codes=(1002,))))
    return out


def section9():
    out = []
    sizes = (65536, 262144, 1 << 20, 4 << 20, 8 << 20, 16 << 20)
    for sub, op in ((1, TEXT), (2, BINARY)):
        char = b"*" if op == TEXT else b"\xfe"
        for i, n in enumerate(sizes, 1):
            out.append((f"9.{sub}.{i}", echo_case(op, char * n)))
    for sub, op in ((3, TEXT), (4, BINARY)):
        char = b"*" if op == TEXT else b"\xfe"
        for i, frag in enumerate((64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20), 1):
            out.append((f"9.{sub}.{i}", echo_case(op, char * (4 << 20), frag=frag)))
    for sub, op in ((5, TEXT), (6, BINARY)):
        char = b"*" if op == TEXT else b"\xfe"
        for i, chop in enumerate((64, 128, 256, 512, 1024, 2048), 1):
            out.append((f"9.{sub}.{i}", echo_case(op, char * (1 << 20), chop=chop)))
    for sub, op in ((7, TEXT), (8, BINARY)):
        char = b"*" if op == TEXT else b"\xfe"
        for i, n in enumerate((0, 16, 64, 256, 1024, 4096), 1):
            def run(c, o, op=op, payload=char * n):
                for _ in range(1000):
                    c.send(c.frame(op, payload))
                    expect_echo(c, op, payload)
                clean_close(c)
            out.append((f"9.{sub}.{i}", run))
    return out


# 12.x/13.x: Autobahn's message sizes and auto-fragmentation (size, frag).
DEFLATE_SIZES = [(16, 0), (64, 0), (256, 0), (1024, 0), (4096, 0), (8192, 0), (16384, 0),
                 (32768, 0), (65536, 0), (131072, 0), (8192, 256), (16384, 256), (32768, 256),
                 (65536, 256), (131072, 256), (131072, 1024), (131072, 4096), (131072, 32768)]


def test_data():
    """Five payloads of the kinds Autobahn uses: (name, bytes, is_text)."""
    rnd = random.Random(20)
    words = ("kirin server websocket deflate message frame echo client value "
             "Faust Mephistopheles Gretchen Wagner Nacht Studierzimmer").split()
    json_like = ("[" + ",".join('{"id": %d, "name": "%s", "tags": ["%s", "%s"], "score": %.3f}'
                                % (i, rnd.choice(words), rnd.choice(words), rnd.choice(words),
                                   rnd.random()) for i in range(6000)) + "]").encode()
    html_like = "".join("<div class=\"%s\"><p>%s</p><a href=\"/%s/%d\">%s</a></div>\n"
                        % (rnd.choice(words), " ".join(rnd.choices(words, k=12)),
                           rnd.choice(words), i, rnd.choice(words))
                        for i in range(3000)).encode()
    faust = "\n".join(" ".join(rnd.choices(words + ["Habe", "nun", "ach!", "Philosophie",
                                                     "Juristerei", "Medizin", "Ärger", "ßüö"],
                                            k=10)) for _ in range(4000)).encode()
    bitmap = bytes(rnd.choice((0, 0, 0, 255, 128)) for _ in range(262144))
    blob = rnd.randbytes(262144)
    return [("json", json_like, True), ("bitmap", bitmap, False), ("faust", faust, True),
            ("html", html_like, True), ("blob", blob, False)]


def deflate_case(offer, data, is_text, size, frag):
    def run(c, o):
        if not c.deflate:
            raise Fail("permessage-deflate was not accepted")
        op = TEXT if is_text else BINARY
        at = 0
        for _ in range(o["count"]):
            msg = (data + data)[at:at + size]
            if is_text:  # whole code points, as Autobahn slices the decoded text
                msg = msg.decode("utf-8", "ignore").encode()
            at = (at + size) % len(data)
            c.send(c.message_frames(op, msg, frag))
            expect_echo(c, op, msg, timeout=60)
        clean_close(c)
    run.offer = offer
    return run


def section12():
    out = []
    for j, (name, data, is_text) in enumerate(test_data(), 1):
        for i, (size, frag) in enumerate(DEFLATE_SIZES, 1):
            out.append((f"12.{j}.{i}", deflate_case(
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
                data, is_text, size, frag)))
    return out


OFFERS_13 = [
    "permessage-deflate; client_no_context_takeover; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
    "server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
    "server_max_window_bits=9",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
    "server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
    "server_no_context_takeover; server_max_window_bits=9",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
    "server_no_context_takeover; server_max_window_bits=15",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=9, "
    "permessage-deflate; server_no_context_takeover, permessage-deflate",
]


def section13():
    name, data, is_text = test_data()[0]
    out = []
    for j, offer in enumerate(OFFERS_13, 1):
        for i, (size, frag) in enumerate(DEFLATE_SIZES, 1):
            out.append((f"13.{j}.{i}", deflate_case(offer, data, is_text, size, frag)))
    return out


SECTIONS = {1: section1, 2: section2, 3: section3, 4: section4, 5: section5, 6: section6,
            7: section7, 9: section9, 12: section12, 13: section13}

# make check's subset: sections 1-7 whole, the cheaper cases of 9, one data
# set of 12 and the first size of each 13.x, fewer deflate messages.
QUICK_9 = {"9.1.1", "9.1.3", "9.2.1", "9.2.3", "9.3.3", "9.4.6", "9.5.6", "9.6.6", "9.7.4",
           "9.8.4"}


def cases(sections, quick=False):
    out = []
    for s in sections:
        for cid, run in SECTIONS[s]():
            if quick and s == 9 and cid not in QUICK_9:
                continue
            if quick and s == 12 and not cid.startswith("12.1."):
                continue
            if quick and s == 13 and cid.split(".")[2] not in ("1", "16"):
                continue
            out.append((cid, run))
    return out


def run_case(port, cid, run, opts):
    """None when the case passed, else why it failed."""
    try:
        c = Client(port, offer=getattr(run, "offer", None))
    except (OSError, Fail) as e:
        return f"connect: {e}"
    try:
        run(c, opts)
        return None
    except Fail as e:
        return str(e)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        c.close()


def run_cases(port, selected, opts, verbose=False):
    """{section: [passed, total, seconds]} and the failures [(id, why)]."""
    by, failures = {}, []
    for cid, run in selected:
        sec = int(cid.split(".")[0])
        row = by.setdefault(sec, [0, 0, 0.0])
        start = time.monotonic()
        why = run_case(port, cid, run, opts)
        row[2] += time.monotonic() - start
        row[1] += 1
        if why is None:
            row[0] += 1
        else:
            failures.append((cid, why))
        if verbose:
            print(f"  {cid}: {'ok' if why is None else 'FAIL ' + why}", flush=True)
    return by, failures


def start_kirin(kirin, worker, port, args=()):
    """worker: a worker type serving the WSGI echo app, or "asgi": -k
    asyncio serving the ASGI one."""
    apps = os.path.join(os.path.dirname(HERE), "e2e", "apps")
    extra = ["--threads", "4"] if worker == "gthread" else []
    app = "asgi_apps:ws_echo" if worker == "asgi" else "ws_apps:echo"
    kind = "asyncio" if worker == "asgi" else worker
    cmd = [kirin, "-k", kind, "-w", "1", *extra, "-b", f"127.0.0.1:{port}",
           "--chdir", apps, "--log-level", "warning", *args, app]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    procs.live_groups.add(p.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None:
                raise RuntimeError(f"kirin -k {worker} exited: {p.stderr.read().decode()}")
            time.sleep(0.05)
    stop_kirin(p)
    raise RuntimeError(f"kirin -k {worker} did not listen within 20 s")


def stop_kirin(p):
    procs.kill_tree(p.pid)
    p.wait()
    procs.live_groups.discard(p.pid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kirin", required=True)
    ap.add_argument("-k", "--workers", default="sync,gthread,greenlet,gevent,asyncio,asgi",
                    help="comma-separated worker types serving a WSGI echo app, and asgi: "
                    "-k asyncio serving an ASGI one (default: all)")
    ap.add_argument("--sections", default=",".join(map(str, SECTIONS)))
    ap.add_argument("--quick", action="store_true", help="make check's subset")
    ap.add_argument("--count", type=int, default=100,
                    help="messages per 12.x/13.x case (Autobahn: 1000)")
    ap.add_argument("--pause", type=float, default=1.0,
                    help="seconds 5.19/5.20/6.4.x wait (Autobahn: 1)")
    ap.add_argument("-v", "--verbose", action="store_true")
    o = ap.parse_args()
    sections = [int(s) for s in o.sections.split(",")]
    selected = cases(sections, o.quick)
    opts = {"count": o.count, "pause": o.pause}
    bad = 0
    print(f"{len(selected)} cases; --count {o.count}, --pause {o.pause}")
    for worker in o.workers.split(","):
        port = procs.free_port()
        p = start_kirin(o.kirin, worker, port)
        try:
            by, failures = run_cases(port, selected, opts, o.verbose)
        finally:
            stop_kirin(p)
        total = sum(r[0] for r in by.values()), sum(r[1] for r in by.values())
        print(f"kirin -k {worker}: {total[0]}/{total[1]} passed  "
              + "  ".join(f"{s}: {r[0]}/{r[1]} ({r[2]:.1f} s)" for s, r in sorted(by.items())))
        for cid, why in failures:
            print(f"  FAIL {cid}: {why}")
        bad += len(failures)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

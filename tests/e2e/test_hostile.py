"""Hostile and careless clients (issue 16) against every worker type: a
handful of them must never stall a worker for the normal clients served
meanwhile. Each attack stops itself; latencies are printed for the bench
notes."""
import os
import resource
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (ASAN, Kirin, http_get, main, per_worker_class,  # noqa: E402
                       recv_responses, wait_for)

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Requests whose close must linger: one refused (obs-fold), one whose body
# the app never reads.
REFUSED = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\nContent-Length: 5\r\n\r\n"
           b"hello")
UNREAD = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
          + b"x" * 100000)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def lingering_attack(port, payload, stop, held):
    """Until stop is set: send payload, read the answer, keep the socket
    open (the 50 newest of them; held counts the answers)."""
    kept = []
    try:
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(payload)
                if recv_responses(s, 1, 5):
                    held.append(1)
            except OSError:
                continue
            kept.append(s)
            if len(kept) > 50:
                kept.pop(0).close()
    finally:
        for s in kept:
            s.close()


def normal_latencies(port, seconds):
    """GET / on a new connection, one after the other, for `seconds`;
    returns each request's time in ms (a failure counts as 10 s)."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                (head, body), = recv_responses(s, 1, 10)
                ok = head.startswith(b"HTTP/1.1 200")
        except (OSError, ValueError):
            ok = False
        out.append((time.monotonic() - start) * 1000 if ok else 10000)
        time.sleep(0.01)
    return out


def cpu_seconds(pid):
    """User + system CPU time of process pid (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_sockets(port, n, data):
    """n connections that each sent data; the caller closes them."""
    out = []
    try:
        for _ in range(n):
            out.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            out[-1].sendall(data)
    except BaseException:
        for s in out:
            s.close()
        raise
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def all_read(port, n):
    """True once at least n connections to 127.0.0.1:port are accepted
    and the server has read everything they sent: in /proc/net/tcp no
    socket of that port (the listener's count is its accept queue) has
    bytes waiting."""
    local = f"0100007F:{port:04X}"
    conns = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] != local:
                continue
            if int(fields[4].split(":")[1], 16):
                return False
            conns += fields[3] == "01"  # established
    return conns >= n


def lowest_free_fd(pid):
    used = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
    return min(n for n in range(len(used) + 1) if n not in used)


class Hostile:
    worker_class = None

    def test_lingering_closes_never_hold_up_a_normal_client(self):
        """Four clients send a refused request or a body the app does not
        read, read the answer and keep their sockets open, in a loop. A
        lingering close used to hold the worker's serving thread up to a
        second each (sync p50 ~3 s, gthread ~1.5 s)."""
        with Kirin("-k", self.worker_class, "-w", "2", "hello:app") as k:
            stop, held = threading.Event(), []
            attackers = [threading.Thread(target=lingering_attack, daemon=True,
                                          args=(k.port, (REFUSED, UNREAD)[i % 2], stop, held))
                         for i in range(4)]
            for t in attackers:
                t.start()
            try:
                time.sleep(0.5)
                ms = normal_latencies(k.port, 3)
            finally:
                stop.set()
                for t in attackers:
                    t.join(15)
            p50, p99 = percentile(ms, 50), percentile(ms, 99)
            print(f"\n{self.worker_class}: lingering attack ({len(held)} answers): normal "
                  f"client p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(ms)} requests",
                  file=sys.stderr)
            self.assertGreater(len(held), 20)
            # The targets are p50 < 20 ms (sync), p99 < 50 ms (the others);
            # the bounds leave room for a loaded 2-core machine.
            if self.worker_class == "sync":
                self.assertLess(p50, 100, ms)
            else:
                self.assertLess(p99, 300, ms)

    def test_a_refused_client_still_sending_is_not_reset(self):
        """The close lingers in the background: a refused client that goes
        on sending for a second is not reset (what it sends is discarded,
        not just the first 64 KiB), and sees the server's end once it
        closes its own."""
        with Kirin("-k", self.worker_class, "hello:app") as k:
            with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                s.sendall(REFUSED)
                (head, body), = recv_responses(s, 1, 10)
                self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
                self.assertIn(b"Connection: close", head)
                end = time.monotonic() + 1
                while time.monotonic() < end:
                    s.sendall(b"x" * 65536)
                    time.sleep(0.05)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(s.recv(10), b"")

    def test_out_of_descriptors_neither_spins_nor_floods_the_log(self):
        """With RLIMIT_NOFILE reached, accept4() fails with EMFILE while
        clients wait: the worker pauses accepting instead of burning a core
        and writing a line per failure (1.7 M lines in 5 s), and serves the
        waiting clients once descriptors are there again."""
        with Kirin("-k", self.worker_class, "-w", "1", "hello:app") as k:
            (pid,) = k.wait_workers(1)
            limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            free = lowest_free_fd(pid)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (free, limits[1]))
            clients = open_sockets(k.port, 50, b"GET / HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
            try:
                time.sleep(0.5)
                lines, cpu = k.log().count("accept4()"), cpu_seconds(pid)
                time.sleep(2)
                lines, cpu = k.log().count("accept4()") - lines, cpu_seconds(pid) - cpu
                print(f"\n{self.worker_class}: out of descriptors: {cpu / 2 * 100:.1f}% CPU, "
                      f"{lines} log lines in 2 s", file=sys.stderr)
                self.assertLess(cpu, 0.3)  # the target is < 5% of a core
                self.assertLessEqual(lines, 4)  # at most one a second
                self.assertIn("Too many open files", k.log())
                resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
                for s in clients:
                    (head, body), = recv_responses(s, 1, 10)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            finally:
                for s in clients:
                    s.close()

    @unittest.skipIf(ASAN, "AddressSanitizer's redzones and quarantine are what memory costs")
    def test_slow_heads_cost_little_memory_and_give_it_back(self):
        """1,000 sockets each holding half a head cost ~8 KiB each (a
        16 KiB buffer and a header array per socket), and the memory
        stayed after they left. Targets: <= 4 KiB each, and RSS within 10%
        of the baseline 5 s after they leave."""
        if self.worker_class == "sync":
            self.skipTest("sync holds one connection at a time; the rest wait in the backlog")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        n = min(1000, hard - 100)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 100), hard))
        with Kirin("-k", self.worker_class, "-w", "1", "--worker-connections", "2000",
                   "hello:app") as k:
            (pid,) = k.wait_workers(1)
            for _ in range(200):
                http_get(k.port, "/")
            base = rss_kib(pid)
            slow = open_sockets(k.port, n, b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n"
                                b"X-Half: ")
            try:
                self.assertTrue(wait_for(lambda: all_read(k.port, n), 30, interval=0.2))
                held = rss_kib(pid)
                self.assertEqual(http_get(k.port, "/", timeout=10).status, 200)
            finally:
                for s in slow:
                    s.close()
            # The target is 10% within 5 s; a busy machine may take longer.
            left = time.monotonic()
            wait_for(lambda: rss_kib(pid) < base * 1.15, 15, interval=0.2)
            after = rss_kib(pid)
            per_conn = (held - base) / n
            print(f"\n{self.worker_class}: {n} slow heads: {per_conn:.1f} KiB each; RSS "
                  f"{base} KiB before, {after} KiB {time.monotonic() - left:.1f} s after they "
                  f"left (+{(after - base) * 100 / base:.1f}%)", file=sys.stderr)
            self.assertLess(per_conn, 4)
            self.assertLess(after, base * 1.15)


per_worker_class(Hostile, globals())

if __name__ == "__main__":
    main()

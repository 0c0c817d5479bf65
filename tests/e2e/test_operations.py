"""What operators do every day: reload under load without a failed request,
a broken config on reload, a stuck worker's stack in the log, the pid file,
daemon mode, process titles, and the binary upgrade (USR2)."""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import (APPS, KIRIN, Kirin, children_of, free_port, http_get,  # noqa: E402
                       in_thread, kill_tree, main, pid_alive, wait_for, worker_classes)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


class Reload(unittest.TestCase):
    def test_hup_under_load_fails_no_request(self):
        for kind in worker_classes():
            with self.subTest(kind=kind):
                self.hup_under_load(kind)

    def hup_under_load(self, kind):
        with Kirin("hello:app", "-w", "2", "-k", kind) as k:
            before = set(k.wait_workers(2))
            failures, done = [], threading.Event()
            counts = [0]

            def client():
                while not done.is_set():
                    try:
                        if http_get(k.port, "/", timeout=10).status != 200:
                            failures.append("status")
                    except OSError as e:
                        failures.append(repr(e))
                    counts[0] += 1

            threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
            for t in threads:
                t.start()
            self.assertTrue(wait_for(lambda: counts[0] > 20, 10))
            k.signal(signal.SIGHUP)

            def renewed():
                now = set(k.workers())
                return len(now) == 2 and not (now & before)
            self.assertTrue(wait_for(renewed, 15), f"{k.workers()} vs {before}\n{k.log()}")
            n = counts[0]
            self.assertTrue(wait_for(lambda: counts[0] > n + 20, 10))
            done.set()
            for t in threads:
                t.join(15)
            self.assertEqual(failures, [])

    def test_broken_config_on_hup_keeps_the_running_settings(self):
        with tempfile.TemporaryDirectory() as d:
            ini = os.path.join(d, "kirin.ini")
            with open(ini, "w") as f:
                f.write("[kirin]\nworkers = 2\n")
            with Kirin("-c", ini, "hello:app") as k:
                before = set(k.wait_workers(2))
                with open(ini, "w") as f:
                    f.write("[kirin]\nworkers = many\n")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "reload failed" in k.log(), 10), k.log())
                self.assertIn("workers", k.log().split("reload failed", 1)[1])
                self.assertEqual(set(k.workers()), before)  # nothing was restarted
                self.assertEqual(http_get(k.port, "/").status, 200)
                # A good file again: now the reload happens.
                with open(ini, "w") as f:
                    f.write("[kirin]\nworkers = 3\n")
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: len(k.workers()) == 3 and
                                         not set(k.workers()) & before, 15), k.log())

    def test_hup_with_an_address_it_cannot_bind_changes_nothing(self):
        """All or nothing: an address taken by someone else fails the reload;
        a good list is then taken as a whole, the address that stays being
        the same socket."""
        with tempfile.TemporaryDirectory() as d:
            ini = os.path.join(d, "kirin.ini")
            port, other = free_port(), free_port()
            with open(ini, "w") as f:
                f.write(f"[kirin]\nworkers = 1\nbind = 127.0.0.1:{port}\n")
            with Kirin("-c", ini, "echo_environ:app", bind=False, port=port) as k:
                before = set(k.wait_workers(1))
                with socket.socket() as taken:
                    taken.bind(("127.0.0.1", other))
                    taken.listen(1)
                    with open(ini, "w") as f:
                        f.write(f"[kirin]\nworkers = 1\n"
                                f"bind = 127.0.0.1:{port}, 127.0.0.1:{other}\n")
                    k.signal(signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: "reload failed" in k.log(), 10), k.log())
                    self.assertIn(f"cannot bind to 127.0.0.1:{other}", k.log())
                    self.assertTrue(pid_alive(k.pid))
                    self.assertEqual(set(k.workers()), before)  # nothing was restarted
                    self.assertEqual(http_get(k.port, "/").status, 200)
                # Freed: the same file now reloads, and the address that
                # stays keeps its socket (and the connections queued on it).
                inode = listening_inode(port)
                self.assertTrue(inode)
                k.signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: _answers(other), 15), k.log())
                self.assertEqual(listening_inode(port), inode)
                self.assertEqual(http_get(port, "/").status, 200)
                self.assertEqual(http_get(other, "/").status, 200)


class StuckWorker(unittest.TestCase):
    def test_busy_loop_is_killed_and_its_stack_logged(self):
        with Kirin("busy:app", "-w", "1", "--timeout", "2") as k:
            (pid,) = k.wait_workers(1)
            start = time.monotonic()
            in_thread(lambda: http_get(k.port, "/spin", timeout=30))
            replaced = wait_for(lambda: (lambda w: len(w) == 1 and pid not in w)(k.workers()), 30)
            self.assertTrue(replaced, k.log())
            self.assertLess(time.monotonic() - start, 30)  # the app spins forever
            log = k.log()
            self.assertIn(f"WORKER TIMEOUT (pid:{pid})", log)
            self.assertIn("spin_forever", log)  # where the app was stuck
            self.assertIn("[CRITICAL]", log)
            self.assertEqual(http_get(k.port, "/").status, 200)


    def test_a_stalled_machine_is_not_a_stuck_worker(self):
        # Arbiter and worker stopped together for longer than --timeout (a
        # stalled VM), the arbiter resumed first: it must not take the
        # worker's silence for a hang, since it did not run either.
        with Kirin("busy:app", "-w", "1", "--timeout", "2") as k:
            (pid,) = k.wait_workers(1)
            os.kill(pid, signal.SIGSTOP)
            os.kill(k.pid, signal.SIGSTOP)
            try:
                time.sleep(3)
                os.kill(k.pid, signal.SIGCONT)
                time.sleep(0.5)
            finally:
                os.kill(k.pid, signal.SIGCONT)
                os.kill(pid, signal.SIGCONT)
            time.sleep(1.5)  # past the arbiter's next checks
            self.assertEqual(k.workers(), [pid], k.log())
            self.assertNotIn("WORKER TIMEOUT", k.log())
            self.assertEqual(http_get(k.port, "/").status, 200)


class Daemon(unittest.TestCase):
    def test_pid_file_lives_as_long_as_the_server(self):
        with tempfile.TemporaryDirectory() as d:
            pidfile = os.path.join(d, "kirin.pid")
            with Kirin("hello:app", "-p", pidfile) as k:
                with open(pidfile) as f:
                    self.assertEqual(int(f.read()), k.pid)
                k.signal(signal.SIGTERM)
                self.assertEqual(k.wait(15), 0)
            self.assertFalse(os.path.exists(pidfile))

    def test_daemon_returns_and_serves(self):
        with tempfile.TemporaryDirectory() as d:
            pidfile, log = os.path.join(d, "kirin.pid"), os.path.join(d, "error.log")
            port = free_port()
            started = time.monotonic()
            rc = subprocess.run([KIRIN, "-D", "-p", pidfile, "--error-logfile", log,
                                 "-b", f"127.0.0.1:{port}", "--chdir", APPS, "hello:app"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=20).returncode
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - started, 15)
            pid = None
            try:
                self.assertTrue(wait_for(lambda: os.path.exists(pidfile), 10))
                with open(pidfile) as f:
                    pid = int(f.read())
                self.assertTrue(wait_for(lambda: _answers(port), 15))
                self.assertEqual(http_get(port, "/").status, 200)
                os.kill(pid, signal.SIGTERM)
                self.assertTrue(wait_for(lambda: not pid_alive(pid), 15))
                self.assertFalse(os.path.exists(pidfile))
            finally:
                if pid and pid_alive(pid):
                    kill_tree(pid)

    def test_stdio_inheritance(self):
        """-D sends stdout to /dev/null; with -R (Gunicorn's
        --enable-stdio-inheritance) it stays: the access log on stdout
        reaches the file the daemon was started with."""
        for flags, kept in (([], False), (["-R"], True)):
            with tempfile.TemporaryDirectory() as d:
                pidfile, out = os.path.join(d, "kirin.pid"), os.path.join(d, "out")
                port = free_port()
                with open(out, "w") as f:
                    rc = subprocess.run([KIRIN, "-D", *flags, "-p", pidfile, "--access-logfile",
                                         "-", "-b", f"127.0.0.1:{port}", "--chdir", APPS,
                                         "hello:app"], stdin=subprocess.DEVNULL, stdout=f,
                                        stderr=subprocess.DEVNULL, timeout=20).returncode
                self.assertEqual(rc, 0)
                pid = None
                try:
                    self.assertTrue(wait_for(lambda: os.path.exists(pidfile), 10))
                    pid = int(read(pidfile))
                    self.assertTrue(wait_for(lambda: _answers(port), 15))
                    self.assertEqual(http_get(port, "/stdio-marker").status, 200)
                    os.kill(pid, signal.SIGTERM)  # a graceful stop flushes the access log
                    self.assertTrue(wait_for(lambda: not pid_alive(pid), 15))
                finally:
                    if pid and pid_alive(pid):
                        kill_tree(pid)
                self.assertEqual("/stdio-marker" in read(out), kept, (flags, read(out)))

    def test_process_titles(self):
        with Kirin("hello:app", "-w", "2", "-n", "shop") as k:
            workers = k.wait_workers(2)
            self.assertEqual(cmdline(k.pid), "kirin: master [shop]")
            for pid in workers:
                self.assertEqual(cmdline(pid), "kirin: worker [shop]")
        with Kirin("hello:app") as k:
            self.assertEqual(cmdline(k.pid), "kirin: master [hello:app]")


class Upgrade(unittest.TestCase):
    def test_usr2_starts_a_new_arbiter_on_the_same_sockets(self):
        with tempfile.TemporaryDirectory() as d:
            pidfile = os.path.join(d, "kirin.pid")
            with Kirin("echo_environ:app", "-p", pidfile) as k:
                k.wait_workers(1)
                k.signal(signal.SIGUSR2)
                new = wait_for(lambda: [p for p in k.workers() if cmdline(p).startswith(
                    "kirin: master")], 15)
                self.assertTrue(new, k.log())
                new_pid = new[0]
                try:
                    self.assertTrue(wait_for(lambda: os.path.exists(pidfile + ".oldbin"), 10))
                    self.assertTrue(wait_for(lambda: read(pidfile) == str(new_pid), 10))
                    # Stop the old arbiter: the new one keeps the port.
                    k.signal(signal.SIGTERM)
                    self.assertTrue(wait_for(lambda: not pid_alive(k.pid) or
                                             k.poll() is not None, 15))
                    r = http_get(k.port, "/", timeout=10)
                    self.assertEqual(r.status, 200)
                    self.assertNotIn(r.json()["__pid__"], (k.pid,))
                finally:
                    kill_tree(new_pid)

    def test_usr2_daemon_new_arbiter_stays_the_old_ones_child_and_serves(self):
        """-D: the re-executed arbiter is already detached; it must not detach
        again (the old arbiter would see its child exit and undo the upgrade)."""
        with tempfile.TemporaryDirectory() as d:
            pidfile, log = os.path.join(d, "kirin.pid"), os.path.join(d, "error.log")
            port = free_port()
            rc = subprocess.run([KIRIN, "-D", "-p", pidfile, "--error-logfile", log,
                                 "-b", f"127.0.0.1:{port}", "--chdir", APPS, "echo_environ:app"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, timeout=20).returncode
            self.assertEqual(rc, 0)
            started = []  # daemons are in a session of their own: kill them by pid
            try:
                self.assertTrue(wait_for(lambda: read(pidfile), 10))
                old = int(read(pidfile))
                started.append(old)
                self.assertTrue(wait_for(lambda: _answers(port), 15), _text(log))
                old_workers = children_of(old)
                os.kill(old, signal.SIGUSR2)
                new = wait_for(lambda: [p for p in children_of(old)
                                        if cmdline(p).startswith("kirin: master")], 15)
                self.assertTrue(new, _text(log))
                new_pid = new[0]
                started.append(new_pid)
                self.assertTrue(wait_for(lambda: read(pidfile) == str(new_pid), 10), _text(log))
                self.assertEqual(read(pidfile + ".oldbin"), str(old))
                self.assertTrue(wait_for(lambda: children_of(new_pid), 15), _text(log))
                # WINCH to the old arbiter: its workers go, the new ones serve.
                os.kill(old, signal.SIGWINCH)
                self.assertTrue(wait_for(lambda: children_of(old) == [new_pid], 15),
                                f"{children_of(old)}\n{_text(log)}")
                r = http_get(port, "/", timeout=10)
                self.assertIn(r.json()["__pid__"], children_of(new_pid))
                self.assertNotIn(r.json()["__pid__"], old_workers)
                # TERM the old one: the new one carries on, its pid file in place.
                os.kill(old, signal.SIGTERM)
                self.assertTrue(wait_for(lambda: not pid_alive(old), 15), _text(log))
                self.assertTrue(pid_alive(new_pid))
                self.assertEqual(read(pidfile), str(new_pid))
                self.assertFalse(os.path.exists(pidfile + ".oldbin"))  # as Gunicorn
                self.assertEqual(http_get(port, "/", timeout=10).status, 200)
                self.assertNotIn("already running", _text(log))
                # The new arbiter runs as a daemon too: WINCH stops its workers.
                os.kill(new_pid, signal.SIGWINCH)
                self.assertTrue(wait_for(lambda: not children_of(new_pid), 15), _text(log))
                self.assertTrue(pid_alive(new_pid))
                self.assertIn(f"[{new_pid}] [INFO] Handling signal: winch", _text(log))
                self.stop_arbiter(new_pid, _text(log))
                self.assertFalse(os.path.exists(pidfile))
            finally:
                for pid in started:
                    kill_tree(pid)

    def test_usr2_signal_sent_to_the_new_arbiter_at_once_is_kept(self):
        """From fork to its handlers, the new arbiter holds signals pending:
        a TTIN sent the moment its pid shows, while it imports the app
        (--preload, a second), is neither run by the old arbiter's handlers
        in the child nor the default action (stop)."""
        with Kirin("slow_import:app", "-w", "1", "--preload") as k:
            k.wait_workers(1)
            k.signal(signal.SIGUSR2)
            new = wait_for(lambda: [p for p in k.workers() if cmdline(p).startswith(
                "kirin: master")], 15, interval=0.0005)
            self.assertTrue(new, k.log())
            new_pid = new[0]
            try:
                os.kill(new_pid, signal.SIGTTIN)
                self.assertTrue(wait_for(lambda: len(children_of(new_pid)) == 2, 15),
                                f"{_state(new_pid)}\n{k.log()}")
                self.assertIn(f"[{new_pid}] [INFO] Handling signal: ttin", k.log())
            finally:
                kill_tree(new_pid)

    def stop_arbiter(self, pid, log=""):
        """TERM to an arbiter that is not k (the one USR2 started), and wait for it to go."""
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: not pid_alive(pid), 15), log)

    def upgrade(self, k):
        """USR2 to k; returns the new arbiter's pid once it has booted."""
        k.signal(signal.SIGUSR2)
        new = wait_for(lambda: [p for p in k.workers() if cmdline(p).startswith(
            "kirin: master")], 15)
        self.assertTrue(new, k.log())
        self.assertTrue(wait_for(lambda: f"Arbiter booted (pid: {new[0]})" in k.log(), 15),
                        k.log())
        return new[0]

    def test_usr2_new_arbiter_removes_the_unix_socket_it_took_over(self):
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "kirin.sock")
            with Kirin("echo_environ:app", "-b", f"unix:{sock}", bind=False, unix=sock) as k:
                k.wait_workers(1)
                new_pid = self.upgrade(k)
                try:
                    k.signal(signal.SIGTERM)
                    self.assertEqual(k.wait(15), 0, k.log())
                    # The old arbiter left the file to the new one, which serves on it.
                    self.assertTrue(os.path.exists(sock))
                    r = http_get(None, "/", unix=sock, timeout=10)
                    self.assertEqual(r.status, 200)
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                    self.stop_arbiter(new_pid)
                    self.assertFalse(os.path.exists(sock), "socket file left behind")
                finally:
                    kill_tree(new_pid)

    def test_hup_to_the_new_arbiter_keeps_the_unix_socket_it_took_over(self):
        """The socket handed over is the one --bind unix:PATH names: a HUP
        keeps it rather than finding "another server accepting on it"."""
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "kirin.sock")
            with Kirin("echo_environ:app", "-b", f"unix:{sock}", bind=False, unix=sock) as k:
                k.wait_workers(1)
                new_pid = self.upgrade(k)
                try:
                    k.signal(signal.SIGTERM)
                    self.assertEqual(k.wait(15), 0, k.log())
                    os.kill(new_pid, signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: f"[{new_pid}] [INFO] Retiring worker"
                                             in k.log(), 20), k.log())
                    self.assertNotIn("reload failed", k.log())
                    try:
                        r = http_get(None, "/", unix=sock, timeout=10)
                    except OSError as e:
                        raise AssertionError(f"{e!r} from the new arbiter:\n{k.log()}") from e
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                finally:
                    kill_tree(new_pid)

    def test_usr2_new_arbiter_stopped_first_leaves_the_unix_socket(self):
        """Rolling back: the old arbiter still serves on the file."""
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "kirin.sock")
            with Kirin("echo_environ:app", "-b", f"unix:{sock}", bind=False, unix=sock) as k:
                k.wait_workers(1)
                new_pid = self.upgrade(k)
                try:
                    self.stop_arbiter(new_pid)
                    self.assertTrue(os.path.exists(sock), "the new arbiter took the file along")
                    r = http_get(None, "/", unix=sock, timeout=10)
                    self.assertIn(r.json()["__pid__"], k.workers())
                    k.signal(signal.SIGTERM)
                    self.assertEqual(k.wait(15), 0, k.log())
                    self.assertFalse(os.path.exists(sock), "socket file left behind")
                finally:
                    kill_tree(new_pid)

    def test_usr2_resolves_relative_paths_from_where_kirin_started(self):
        """The old arbiter is in --chdir: the new one must start where kirin
        started, or a relative -c or --chdir is looked up a second time."""
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "site"))
            os.mkdir(os.path.join(d, "conf"))
            shutil.copy(os.path.join(APPS, "echo_environ.py"), os.path.join(d, "site"))
            with open(os.path.join(d, "conf", "kirin.ini"), "w") as f:
                f.write("[kirin]\nworkers = 2\nchdir = site\n")
            site = os.path.realpath(os.path.join(d, "site"))
            with Kirin("-c", "conf/kirin.ini", "echo_environ:app", cwd=d) as k:
                k.wait_workers(2)
                new_pid = self.upgrade(k)
                try:
                    workers = wait_for(lambda: (lambda w: w if len(w) == 2 else None)(
                        children_of(new_pid)), 15)
                    self.assertTrue(workers, k.log())  # workers = 2 came from conf/kirin.ini
                    for pid in workers:
                        self.assertEqual(os.readlink(f"/proc/{pid}/cwd"), site)
                    k.signal(signal.SIGTERM)
                    self.assertEqual(k.wait(15), 0, k.log())
                    r = http_get(k.port, "/", timeout=10)
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                    # The new arbiter reloads from there too.
                    os.kill(new_pid, signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: (lambda w: len(w) == 2 and not set(w) &
                                                      set(workers))(children_of(new_pid)), 15),
                                    k.log())
                    self.assertNotIn("reload failed", k.log())
                    r = http_get(k.port, "/", timeout=10)
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                    self.stop_arbiter(new_pid)
                finally:
                    kill_tree(new_pid)

    def test_hup_to_the_old_arbiter_leaves_the_socket_files_it_handed_over(self):
        """A reload that changes the addresses closes the old sockets, but the
        files handed over on USR2 are the new arbiter's while it runs."""
        with tempfile.TemporaryDirectory() as d:
            a, b = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
            ini = os.path.join(d, "kirin.ini")
            with open(ini, "w") as f:
                f.write(f"[kirin]\nbind = unix:{a}\n")
            with Kirin("-c", ini, "echo_environ:app", bind=False, unix=a) as k:
                k.wait_workers(1)
                new_pid = self.upgrade(k)
                try:
                    with open(ini, "w") as f:
                        f.write(f"[kirin]\nbind = unix:{b}\n")
                    k.signal(signal.SIGHUP)
                    self.assertTrue(wait_for(lambda: _answers_unix(b), 15), k.log())
                    r = http_get(None, "/", unix=b, timeout=10)
                    self.assertIn(r.json()["__pid__"], k.workers())
                    # The old arbiter closed a.sock but left its file: the new one serves it.
                    self.assertTrue(os.path.exists(a), f"removed a file handed over\n{k.log()}")
                    r = http_get(None, "/", unix=a, timeout=10)
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                    # The old arbiter removes the file it bound on HUP, not the other.
                    k.signal(signal.SIGTERM)
                    self.assertEqual(k.wait(15), 0, k.log())
                    self.assertFalse(os.path.exists(b), "b.sock left behind")
                    self.assertTrue(os.path.exists(a))
                    r = http_get(None, "/", unix=a, timeout=10)
                    self.assertIn(r.json()["__pid__"], children_of(new_pid))
                    self.stop_arbiter(new_pid)
                    self.assertFalse(os.path.exists(a), "a.sock left behind")
                finally:
                    kill_tree(new_pid)

    def test_usr2_never_removes_a_unix_socket_it_was_given(self):
        """fd://N: the file belongs to whoever made it, before and after USR2."""
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "given.sock")
            s = socket.socket(socket.AF_UNIX)
            try:
                s.bind(sock)
                s.listen(16)
                with Kirin("echo_environ:app", "-b", f"fd://{s.fileno()}", bind=False,
                           unix=sock, pass_fds=(s.fileno(),)) as k:
                    s.close()
                    k.wait_workers(1)
                    new_pid = self.upgrade(k)
                    try:
                        k.signal(signal.SIGTERM)
                        self.assertEqual(k.wait(15), 0, k.log())
                        r = http_get(None, "/", unix=sock, timeout=10)
                        self.assertIn(r.json()["__pid__"], children_of(new_pid))
                        self.stop_arbiter(new_pid)
                        self.assertTrue(os.path.exists(sock), "removed a file kirin did not make")
                    finally:
                        kill_tree(new_pid)
            finally:
                s.close()

    def test_new_arbiter_exiting_during_the_old_ones_graceful_stop(self):
        """TERM to the old arbiter while a request runs, then the new arbiter
        exits: the old one takes its socket file back, removes it (nobody
        serves it any more) and finishes its stop. It once handed over the
        listener array stop() had freed, crashed, and left its pid file."""
        with tempfile.TemporaryDirectory() as d:
            pidfile, sock = os.path.join(d, "kirin.pid"), os.path.join(d, "kirin.sock")
            with Kirin("slow:app", "-w", "1", "-p", pidfile, "--graceful-timeout", "30",
                       "-b", f"unix:{sock}", bind=False, unix=sock,
                       env={"KIRIN_TEST_STARTED_DIR": d}) as k:
                worker = k.wait_workers(1)[0]
                t, out = in_thread(lambda: http_get(None, "/?10", unix=sock, timeout=30))
                started = os.path.join(d, f"started-{worker}")
                self.assertTrue(wait_for(lambda: os.path.exists(started), 10), k.log())
                new_pid = self.upgrade(k)
                try:
                    k.signal(signal.SIGTERM)
                    self.assertTrue(wait_for(lambda: f"[{k.pid}] [INFO] Handling signal: term"
                                             in k.log(), 10), k.log())
                    self.stop_arbiter(new_pid, k.log())
                    # The file is stale now: removed before the old arbiter's stop ends.
                    self.assertTrue(wait_for(lambda: not os.path.exists(sock), 15), k.log())
                    self.assertIsNone(k.poll(), k.log())
                    self.assertEqual(k.wait(15), 0, k.log())
                    # The new arbiter went while the old one waited for the request.
                    log = k.log()
                    gone = log.find(f"Upgraded arbiter (pid:{new_pid}) exited")
                    self.assertTrue(0 <= gone < log.find(f"[{k.pid}] [INFO] Shutting down: Master"),
                                    log)
                    t.join(15)
                    self.assertEqual(out.get("value").status, 200, f"{out}\n{k.log()}")
                    self.assertFalse(os.path.exists(pidfile), k.log())
                    self.assertFalse(os.path.exists(pidfile + ".oldbin"), k.log())
                finally:
                    kill_tree(new_pid)

    def test_usr2_whose_fork_fails_puts_the_pid_file_back(self):
        """fork() fails: the arbiter carries on with its pid file where it
        was, not moved aside to .oldbin. RLIMIT_NPROC makes it fail for a
        user without the capability to exceed it: root runs kirin as a uid of
        its own, allowed two processes (the arbiter and its worker); anyone
        else lowers the limit once the worker runs."""
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            pidfile, log = os.path.join(d, "kirin.pid"), os.path.join(d, "error.log")
            port = free_port()
            env = {k: v for k, v in os.environ.items()
                   if k not in ("KIRIN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
            as_root = os.getuid() == 0
            limited = {}
            if as_root:
                uid = 60000 + os.getpid() % 5000  # nobody else's: counts only kirin
                limited = {"user": uid, "group": uid, "extra_groups": [], "preexec_fn":
                           lambda: resource.setrlimit(resource.RLIMIT_NPROC, (2, 2))}
            proc = subprocess.Popen([KIRIN, "-b", f"127.0.0.1:{port}", "-p", pidfile,
                                     "--error-logfile", log, "hello:app"], cwd=APPS, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True,
                                    **limited)
            try:
                self.assertTrue(wait_for(lambda: _answers(port), 15), _text(log))
                self.assertEqual(read(pidfile), str(proc.pid))
                if not as_root:
                    hard = resource.prlimit(proc.pid, resource.RLIMIT_NPROC)[1]
                    resource.prlimit(proc.pid, resource.RLIMIT_NPROC, (0, hard))
                proc.send_signal(signal.SIGUSR2)
                self.assertTrue(wait_for(lambda: "fork() for USR2" in _text(log), 10),
                                _text(log))
                self.assertEqual(read(pidfile), str(proc.pid), _text(log))
                self.assertFalse(os.path.exists(pidfile + ".oldbin"), _text(log))
                self.assertEqual(http_get(port, "/").status, 200)
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(15), 0, _text(log))
                self.assertFalse(os.path.exists(pidfile), _text(log))
            finally:
                kill_tree(proc.pid)
                proc.wait(5)


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _text(path):
    return read(path) or ""


def _state(pid):
    """The process state line of /proc/PID/status ("T (stopped)", ...)."""
    status = read(f"/proc/{pid}/status") or ""
    return next((line for line in status.splitlines() if line.startswith("State:")), "gone")


def listening_inode(port):
    """The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":  # 0A: LISTEN
                return cols[9]
    return None


def _answers_unix(path):
    try:
        return http_get(None, "/", unix=path, timeout=2).status == 200
    except OSError:
        return False


def _answers(port):
    try:
        return http_get(port, "/", timeout=2).status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()

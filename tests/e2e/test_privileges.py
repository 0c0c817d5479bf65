"""Who the workers run as and what the arbiter's files look like: --user and
--group (names or ids) dropped by the workers after the arbiter has bound,
--initgroups, --umask for unix sockets, the warning when running as root
without --user, --worker-tmp-dir accepted and unused, and Gunicorn's
FORWARDED_ALLOW_IPS environment variable. The privilege tests need root (CI
runs as root); the others run as anyone."""
import grp
import json
import os
import pwd
import signal
import socket
import stat
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import Kirin, http_get, main, raw_request, run_kirin, wait_for  # noqa: E402

ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)
ROOT_WARNING = "running as root without --user"


def whoami(port, path=""):
    r = http_get(port, "/?" + path)
    assert r.status == 200, r
    return json.loads(r.body)


@unittest.skipUnless(ROOT, "needs root to switch users")
class DropPrivileges(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kirin-priv-")
        os.chmod(self._tmp.name, 0o755)
        self.rootfile = os.path.join(self._tmp.name, "root-owned")
        with open(self.rootfile, "w") as f:
            f.write("root's\n")
        os.chmod(self.rootfile, 0o644)

    def tearDown(self):
        self._tmp.cleanup()

    def test_user_and_group_by_name(self):
        with Kirin("-u", "nobody", "-g", NOGROUP.gr_name, "whoami:app") as k:
            me = whoami(k.port, self.rootfile)
            self.assertEqual((me["uid"], me["euid"]), (NOBODY.pw_uid, NOBODY.pw_uid))
            self.assertEqual(me["gid"], NOGROUP.gr_gid)
            self.assertEqual(me["groups"], [NOGROUP.gr_gid])  # root's groups are gone
            self.assertIs(me["written"], False)
            with open(self.rootfile) as f:
                self.assertEqual(f.read(), "root's\n")
            self.assertNotIn(ROOT_WARNING, k.log())
            # The arbiter stays root: it can still bind on HUP, signal, reap.
            self.assertEqual(os.stat(f"/proc/{k.pid}").st_uid, 0)
            self.assertEqual(os.stat(f"/proc/{k.workers()[0]}").st_uid, NOBODY.pw_uid)

    def test_ids_and_the_users_own_group(self):
        with Kirin("-u", str(NOBODY.pw_uid), "whoami:app") as k:
            me = whoami(k.port)
            self.assertEqual(me["uid"], NOBODY.pw_uid)
            self.assertEqual(me["gid"], NOBODY.pw_gid)  # not root's group 0
        with Kirin("--user", "nobody", "--group", "0", "whoami:app") as k:
            self.assertEqual(whoami(k.port)["gid"], 0)

    def test_initgroups(self):
        with Kirin("-u", "nobody", "--initgroups", "whoami:app") as k:
            me = whoami(k.port)
            self.assertEqual(me["groups"],
                             sorted(set(os.getgrouplist("nobody", NOBODY.pw_gid))))

    def test_every_worker_respawned_drops_too(self):
        with Kirin("-u", "nobody", "-w", "2", "whoami:app") as k:
            first = k.wait_workers(2)
            os.kill(first[0], signal.SIGKILL)
            self.assertTrue(wait_for(lambda: len(k.workers()) == 2 and first[0] not in k.workers(),
                                     15))
            # A worker just forked is root until it drops: wait for that, not for its fork.
            for pid in k.workers():
                self.assertTrue(wait_for(lambda: os.stat(f"/proc/{pid}").st_uid == NOBODY.pw_uid,
                                         10), pid)

    def test_unix_socket_owned_by_the_user(self):
        path = os.path.join(self._tmp.name, "k.sock")
        with Kirin("-u", "nobody", "-b", f"unix:{path}", "-m", "007", "whoami:app",
                   unix=path) as k:
            st = os.stat(path)
            self.assertEqual(st.st_uid, NOBODY.pw_uid)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o770)
            self.assertTrue(k.workers())

    def test_root_without_user_warns_once(self):
        with Kirin("-w", "2", "whoami:app") as k:
            self.assertEqual(whoami(k.port)["uid"], 0)
            k.signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "Handling signal: hup" in k.log(), 10))
            self.assertEqual(http_get(k.port, "/").status, 200)
            self.assertEqual(k.log().count(ROOT_WARNING), 1, k.log())


class Settings(unittest.TestCase):
    def test_umask_gives_the_unix_socket_mode(self):
        with tempfile.TemporaryDirectory(prefix="kirin-umask-") as tmp:
            for flag, mode in ((None, 0o777), ("022", 0o755), ("0o77", 0o700)):
                path = os.path.join(tmp, "k.sock")
                args = ["-b", f"unix:{path}", "hello:app"] + (["-m", flag] if flag else [])
                with Kirin(*args, unix=path, bind=False):
                    self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode, flag)

    def test_unknown_user_and_group_are_errors(self):
        for args, needle in ((["-u", "no-such-user-k"], "no such user"),
                             (["-g", "no-such-group-k"], "no such group"),
                             # Ids past uid_t's range must not wrap (2^32 would be root).
                             (["-u", "4294967296"], "no such user"),
                             (["-g", "4294967296"], "no such group"),
                             (["-m", "0o1000"], "umask"), (["-m", "099"], "umask")):
            cp = run_kirin(*args, "hello:app", timeout=20)
            self.assertEqual(cp.returncode, 1, cp.stderr)
            self.assertIn(needle, cp.stderr)

    def test_worker_tmp_dir_accepted(self):
        with Kirin("--worker-tmp-dir", "/dev/shm", "hello:app") as k:
            self.assertEqual(http_get(k.port, "/").status, 200)

    def test_forwarded_allow_ips_from_the_environment(self):
        cp = run_kirin("--print-config", env={"FORWARDED_ALLOW_IPS": "10.1.1.1,10.2.2.2"})
        self.assertIn("forwarded_allow_ips = 10.1.1.1, 10.2.2.2", cp.stdout)
        # The command line still wins.
        cp = run_kirin("--print-config", "--forwarded-allow-ips", "*",
                       env={"FORWARDED_ALLOW_IPS": "10.1.1.1"})
        self.assertIn("forwarded_allow_ips = *", cp.stdout)
        # And it is obeyed: 127.0.0.1 is no longer trusted.
        req = (b"GET /noread HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
               b"X-Forwarded-Proto: https\r\n\r\n")
        with Kirin("http_probe:app", env={"FORWARDED_ALLOW_IPS": "10.1.1.1"}) as k:
            self.assertTrue(raw_request(k.port, req).endswith(b"noread http\n"))
        with Kirin("http_probe:app") as k:
            self.assertTrue(raw_request(k.port, req).endswith(b"noread https\n"))


if __name__ == "__main__":
    main()

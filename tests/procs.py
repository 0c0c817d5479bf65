"""Process bookkeeping shared by the end-to-end tests (tests/e2e/kirintest.py)
and the benchmark harness (tests/bench/bench.py): free ports on 127.0.0.1,
the process tree read from /proc (no psutil), and the process groups a run
started, killed by pid at exit whatever happens. Standard library only.
"""
import atexit
import os
import signal
import socket

# Process groups started and not yet reaped: killed at exit whatever happens
# to the caller (an exception, sys.exit, a failed assertion).
live_groups = set()


def kill_live_groups():
    """SIGKILL every process group in live_groups and forget it."""
    for pgid in list(live_groups):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        live_groups.discard(pgid)


atexit.register(kill_live_groups)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_stats():
    """(pid, stat fields after the command name) of every live, non-zombie
    process, from /proc/*/stat. fields[1] is the parent pid, fields[2] the
    process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[0] != b"Z":
            yield int(entry), fields


def children_of(pid):
    """Pids whose parent is pid."""
    return sorted(p for p, fields in live_stats() if int(fields[1]) == pid)


def descendants(pid):
    """All live descendants of pid (children, their children...)."""
    out, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


def kill_tree(pid):
    """SIGKILL pid, its process group and the groups of all its descendants
    (they may have started sessions of their own)."""
    groups = {pid}
    for p in descendants(pid):
        try:
            groups.add(os.getpgid(p))
        except ProcessLookupError:
            pass
    for g in groups:
        if g <= 1 or g == os.getpgrp():
            continue
        try:
            os.killpg(g, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.kill(pid, signal.SIGKILL)  # not a group leader (a USR2 child)
    except ProcessLookupError:
        pass


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] != b"Z"


def group_pids(pgid):
    """Live (non-zombie) pids in process group pgid."""
    return sorted(p for p, fields in live_stats() if int(fields[2]) == pgid)

"""Run the shared conformance corpus (valid requests the application must see
exactly, invalid ones kirin must refuse) against the real kirin, whole and
byte by byte (--split), once per worker class, and under the asyncio worker
once more with an ASGI app (apps/asgi_echo.py) in place of the corpus's
WSGI echo_app.

The corpus lives outside the source tree ($KIRIN_CONFORMANCE_DIR, by default
../shared/conformance beside it). Missing corpus: skip (77), or fail under CI.
"""
import os
import shlex
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import SKIP, _live_groups, kill_tree, require_kirin, worker_classes  # noqa: E402

# Every worker class this build is tested with (all of them, less the
# stack-switching ones under ASan); each one runs the whole corpus twice.
WORKER_CLASSES = worker_classes()
RUN_TIMEOUT = 600  # seconds, per corpus run
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")


def corpus_dir():
    d = os.environ.get("KIRIN_CONFORMANCE_DIR", "")
    if d and os.path.isfile(os.path.join(d, "run_corpus.py")):
        return d
    print(f"conformance corpus not found (KIRIN_CONFORMANCE_DIR={d!r})")
    sys.exit(1 if os.environ.get("CI") else SKIP)


def run(corpus, worker_class, split, wrap="", bind="{bind}", extra="", asgi=False):
    """One pass of the corpus; True when it passed. wrap: a command kirin's
    runs under (test_tls.py's TLS shim), which gives kirin its bind and
    extra options (--certfile...). asgi: serve apps/asgi_echo.py instead of
    the corpus's WSGI echo_app (-k asyncio)."""
    kirin = os.environ["KIRIN"]
    python = os.environ.get("KIRIN_PYTHON") or sys.executable
    app = f"--pythonpath {shlex.quote(APPS)} asgi_echo:app" if asgi else "echo_app:app"
    template = (f"{wrap}{shlex.quote(kirin)} --bind {bind} {extra} -k {shlex.quote(worker_class)} "
                f"{{flags}} --chdir {{appdir}} {app}")
    cmd = [python, os.path.join(corpus, "run_corpus.py"), "--server", template]
    if split:
        cmd.append("--split")
    label = (f"[{worker_class}{' ASGI' if asgi else ''}{' --split' if split else ''}"
             f"{' TLS' if wrap else ''}]")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for k in ("KIRIN_CMD_ARGS", "WEB_CONCURRENCY", "PORT"):
        env.pop(k, None)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    _live_groups.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        # run_corpus.py starts each server in a session of its own: kill
        # those groups too, found from the process tree before it goes.
        kill_tree(proc.pid)
        out, _ = proc.communicate()
        rc = None
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
        _live_groups.discard(proc.pid)
    text = out.decode("utf-8", "replace")
    lines = text.strip().splitlines()
    took = time.monotonic() - start
    if rc is None:
        print(f"{label} TIMEOUT after {RUN_TIMEOUT}s")
        print("\n".join(f"    {l}" for l in lines[-20:]))
        return False
    # Failures are listed one per line before the summary; show them all.
    shown = [l for l in lines if l.startswith("FAIL")] + lines[-2:]
    seen = set()
    print(f"{label} exit {rc} in {took:.0f}s")
    for l in shown:
        if l not in seen:
            seen.add(l)
            print(f"    {l}")
    return rc == 0


def main():
    require_kirin()
    corpus = corpus_dir()
    ok = True
    for worker_class in WORKER_CLASSES:
        for split in (False, True):
            ok &= run(corpus, worker_class, split)
            if worker_class == "asyncio":
                ok &= run(corpus, worker_class, split, asgi=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

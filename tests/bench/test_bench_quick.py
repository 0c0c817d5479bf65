"""make check: run the benchmark harness with --quick so that it never rots.

Runs tests/bench/bench.py --quick against $KIRIN and checks that every
scenario that applies to the kirin worker classes this build has ran and got
answers; how fast does not matter here. A worker class the build does not have
yet, kirin.sleep missing, or an unbuilt parser benchmark are skips, not
failures. Exits 77 (skip) without a kirin binary or without wrk, 1 under CI.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import SCENARIOS as BENCH_SCENARIOS  # noqa: E402  (the harness's own table)

KIRIN = os.environ.get("KIRIN", "")
SKIP = 77
SCENARIOS = "".join(letter for letter, _ in BENCH_SCENARIOS)


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(1 if os.environ.get("CI") else SKIP)


def main():
    if not (KIRIN and os.access(KIRIN, os.X_OK)):
        skip(f"no kirin binary to test (KIRIN={KIRIN!r})")
    if not shutil.which("wrk"):
        skip("wrk is not installed (contrib/install-deps.sh test installs it)")
    out = tempfile.mkdtemp(prefix="kirin-bench-quick-")
    try:
        argv = [sys.executable, os.path.join(HERE, "bench.py"), "--quick",
                "--kirin", KIRIN, "--out", out]
        if os.environ.get("KIRIN_ASAN") == "1":
            # AddressSanitizer cannot follow greenlet's stack switching.
            argv += ["--servers", "^(?!kirin-(greenlet|gevent))"]
        try:
            r = subprocess.run(argv, timeout=300)
        except subprocess.TimeoutExpired:
            print("FAIL: bench.py --quick took more than 300 s", file=sys.stderr)
            return 1
        path = os.path.join(out, "bench.json")
        if not os.path.exists(path):
            print(f"FAIL: bench.py exited {r.returncode} without writing bench.json",
                  file=sys.stderr)
            return 1
        with open(path) as f:
            data = json.load(f)
    finally:
        shutil.rmtree(out, ignore_errors=True)

    problems = list(data.get("kirin_failures", []))
    seen = {t["scenario"] for t in data["tables"]}
    for s in SCENARIOS:
        if s not in seen:
            problems.append(f"scenario ({s}) did not run")
    ran = set()
    for t in data["tables"]:
        for row in t["rows"]:
            if row.get("family") != "kirin":
                continue
            if row["status"] == "ok":
                ran.add(t["scenario"])
            elif row["status"] != "skipped":
                problems.append(f"({t['id']}) {row['server']}: {row['status']}: {row.get('note')}")
    if not any(t["scenario"] == "a" and any(
            r["status"] == "ok" for r in t["rows"]) for t in data["tables"]):
        problems.append("no kirin worker class served scenario (a)")
    if r.returncode != 0 and not problems:
        problems.append(f"bench.py exited {r.returncode}")
    print(f"scenarios with kirin results: {', '.join(sorted(ran)) or 'none'}")
    if problems:
        print("FAIL:\n  " + "\n  ".join(sorted(set(problems))), file=sys.stderr)
        return 1
    print("PASS: every scenario that applies to this build's worker classes ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())

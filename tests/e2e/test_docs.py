"""The settings table, the man pages and etc/kirin.ini agree.

The table is read through the real binary: `kirin --print-config` gives every
INI key with its default, `kirin --help` every command-line flag. Then:

* every key has an entry in man/kirin.ini.5 (a `.TP` tag) and a
  `; key = default` line in etc/kirin.ini whose default is the binary's, and
  neither documents a key the binary does not know;
* every flag has an entry in man/kirin.1 (a `.TP` tag), and kirin.1 names no
  flag the binary does not know;
* every spelling --help lists for -k (the worker types and Gunicorn's names
  for them) appears in both man pages, etc/kirin.ini and the README;
* etc/kirin.ini loads (`kirin -c etc/kirin.ini --print-config`) and, being
  all comments, changes nothing;
* `groff -man -ww -z` prints no warning for either page (skipped when groff
  is not installed).

Environment (see tests/local.mk): KIRIN, the binary; KIRIN_SRCDIR, the source
tree. Exit status 0 pass, 1 fail, 77 skipped (no binary, outside CI).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
SRCDIR = os.environ.get("KIRIN_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIRIN = os.environ.get("KIRIN", "")
MAN1 = os.path.join(SRCDIR, "man", "kirin.1")
MAN5 = os.path.join(SRCDIR, "man", "kirin.ini.5")
SAMPLE = os.path.join(SRCDIR, "etc", "kirin.ini")
README = os.path.join(SRCDIR, "README.md")

FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z](?![\w-]))")

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def run_kirin(*args):
    """Run kirin with no settings from the environment or a ./kirin.ini."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KIRIN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([KIRIN, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=30)


def parse_ini(text, commented=False):
    """[(key, value)] of the [kirin] section; with commented, of `; key = value` lines."""
    pairs, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if commented:
            m = re.match(r"^;\s*([a-z_]+)\s*=\s*(.*)$", line)
        else:
            m = None if line[:1] in (";", "#") else re.match(r"^([a-z_]+)\s*=\s*(.*)$", line)
        if m and section == "kirin":
            pairs.append((m.group(1), m.group(2).strip()))
    return pairs


def help_flags(text):
    """Every flag in the option lines of --help ("  -b, --bind ADDRESS   help...")."""
    flags = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-.*?)(?:\s{2,}|$)", line)
        if m:
            flags.update(FLAG.findall(m.group(1)))
    return flags


def roff_text(line):
    """A roff line as plain text: no font escapes, \\- as -, macro names and quotes gone."""
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\(aq", "'").replace("\\&", "")
    line = line.replace("\\%", "")
    line = re.sub(r"^\.[A-Z]{1,2}\s*", "", line)
    return line.replace('"', "")


def tags(path):
    """The tag line of every .TP entry of a man page, as plain text."""
    with open(path) as f:
        lines = f.read().splitlines()
    return [roff_text(lines[i + 1]) for i, line in enumerate(lines[:-1])
            if line.strip() == ".TP"]


def check_keys(printed, defaults):
    keys = [k for k, _ in printed]
    if not keys:
        fail("kirin --print-config printed no settings")
        return
    # man/kirin.ini.5: one .TP entry per key, and only for known keys.
    documented = {t.strip() for t in tags(MAN5) if re.fullmatch(r"\s*[a-z_]+\s*", t)}
    for key in keys:
        if key not in documented:
            fail(f"setting '{key}' has no entry in man/kirin.ini.5")
    for key in sorted(documented - set(keys)):
        fail(f"man/kirin.ini.5 documents '{key}', which kirin does not know")
    # etc/kirin.ini: a `; key = default` line per key, with the binary's default.
    with open(SAMPLE) as f:
        text = f.read()
    sample = dict(parse_ini(text, commented=True) + parse_ini(text))
    for key in keys:
        if key not in sample:
            fail(f"setting '{key}' is missing from etc/kirin.ini")
        elif sample[key] != defaults[key]:
            fail(f"etc/kirin.ini gives '{key} = {sample[key]}', "
                 f"but the default is '{defaults[key]}'")
    for key in sorted(set(sample) - set(keys)):
        fail(f"etc/kirin.ini lists '{key}', which kirin does not know")


def check_flags(flags, ctl_flags):
    if not {"--help", "--version", "--bind", "-b", "--workers", "-w"} <= flags:
        fail(f"kirin --help lists too few flags: {sorted(flags)}")
        return
    tagged = set()
    for t in tags(MAN1):
        tagged.update(FLAG.findall(t))
    for flag in sorted(flags):
        if flag not in tagged:
            fail(f"option '{flag}' has no entry in man/kirin.1")
    with open(MAN1) as f:
        mentioned = set(FLAG.findall("\n".join(roff_text(line) for line in f)))
    for flag in sorted(mentioned - flags - ctl_flags):
        fail(f"man/kirin.1 mentions '{flag}', which kirin --help does not list")


def check_worker_classes(help_text):
    m = re.search(r"--worker-class .* One of: (.*?)\.(?: \[default|$)", help_text, re.M)
    if not m:
        fail("kirin --help does not list the worker classes -k accepts")
        return
    for path in (MAN1, MAN5, SAMPLE, README):
        with open(path) as f:
            text = f.read()
        if path in (MAN1, MAN5):
            text = "\n".join(roff_text(line) for line in text.splitlines())
        text = " ".join(text.replace(";", " ").split())
        for spelling in m.group(1).split(", "):
            if not re.search(rf"(?<![\w.#:]){re.escape(spelling)}(?![\w#])", text):
                fail(f"{os.path.relpath(path, SRCDIR)} does not mention -k {spelling}")


def check_sample_loads(default_text):
    cp = run_kirin("-c", SAMPLE, "--print-config")
    if cp.returncode != 0:
        fail(f"kirin -c etc/kirin.ini --print-config exited {cp.returncode}: "
             f"{cp.stderr.strip()}")
    elif cp.stdout != default_text:
        fail("etc/kirin.ini changes settings; its lines should all be comments")


def check_groff():
    groff = shutil.which("groff")
    if not groff:
        print("groff not found: not checking that the man pages render cleanly")
        return
    for page in (MAN1, MAN5):
        cp = subprocess.run([groff, "-man", "-ww", "-z", page], capture_output=True,
                            text=True, timeout=60)
        out = (cp.stdout + cp.stderr).strip()
        if cp.returncode != 0 or out:
            fail(f"groff -man -ww -z {os.path.relpath(page, SRCDIR)} "
                 f"(exit {cp.returncode}):\n{out}")


def main():
    if not (KIRIN and os.access(KIRIN, os.X_OK)):
        print(f"no kirin binary to test (KIRIN={KIRIN!r})", file=sys.stderr)
        return 1 if os.environ.get("CI") else SKIP
    for path in (MAN1, MAN5, SAMPLE):
        if not os.path.exists(path):
            fail(f"{path} does not exist")
    if failures:
        return 1

    cp = run_kirin("--print-config")
    if cp.returncode != 0:
        fail(f"kirin --print-config exited {cp.returncode}: {cp.stderr.strip()}")
        return 1
    printed = parse_ini(cp.stdout)
    # A list may be printed as a repeated key: join as the file would.
    defaults = {}
    for key, value in printed:
        defaults[key] = f"{defaults[key]}, {value}" if key in defaults else value
    check_keys(printed, defaults)
    check_sample_loads(cp.stdout)

    hp = run_kirin("--help")
    if hp.returncode != 0:
        fail(f"kirin --help exited {hp.returncode}: {hp.stderr.strip()}")
    else:
        check_flags(help_flags(hp.stdout), help_flags(run_kirin("ctl", "--help").stdout))
        check_worker_classes(hp.stdout)

    check_groff()
    if failures:
        print(f"{len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(defaults)} settings and the options of --help are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())

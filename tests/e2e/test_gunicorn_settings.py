"""Every Gunicorn 26.1 setting is accounted for, and the binary agrees.

tests/e2e/gunicorn_settings.txt is Gunicorn's list (gunicorn/config.py) as
data. docs/gunicorn-settings.md gives each of them exactly one row with
kirin's status, and man/kirin.ini.5 lists the same names under the same
status (GUNICORN SETTINGS). Then the binary is held to the table:

* implemented and no-op: each of Gunicorn's flags for it is in kirin --help,
  and a Python config file setting all of them (to Gunicorn's default, a
  hook to a function) loads without a warning; an implemented setting with
  an INI key is in kirin --print-config;
* refused: its flag (if Gunicorn has one), its INI key and its name in a
  Python config file each stop kirin with exit status 2 and one line naming
  it and saying why, unless a file gives it Gunicorn's default or nothing
  (which asks for nothing: Gunicorn's example config sets spew = False);
* in progress: another issue adds it; nothing is checked.
"""
import ast
import os
import re
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kirintest import main, run_kirin  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("KIRIN_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "gunicorn_settings.txt")
DOC = os.path.join(SRCDIR, "docs", "gunicorn-settings.md")
MAN5 = os.path.join(SRCDIR, "man", "kirin.ini.5")
STATUSES = ("implemented", "no-op", "refused", "in progress")
GUNICORN_COUNT = 119  # Gunicorn 26.1's Setting classes


def gunicorn_settings():
    """[(name, [flags], arg, default source)] from the data file."""
    rows = []
    with open(DATA) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, flags, arg, default = line.rstrip("\n").split("\t")
            rows.append((name, [] if flags == "-" else flags.split(), arg, default))
    return rows


def doc_statuses():
    """{name: [status, ...]} from the table of docs/gunicorn-settings.md."""
    found = {}
    with open(DOC) as f:
        for line in f:
            m = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|[^|]*\|\s*([a-z -]+?)\s*\|", line)
            if m:
                found.setdefault(m.group(1), []).append(m.group(2))
    return found


def man_statuses():
    """{name: [status, ...]} from the GUNICORN SETTINGS section of kirin.ini(5)."""
    found, status, inside = {}, None, False
    with open(MAN5) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".SH"):
                inside = "GUNICORN SETTINGS" in line
                continue
            if not inside:
                continue
            if line.startswith(".SS"):
                status = line[3:].strip().strip('"').lower()
                continue
            if line.startswith(".") or not status:
                continue
            for word in re.split(r"[,.\s]+", line.replace("\\(em", " ")):
                if re.fullmatch(r"[a-z0-9_]+", word):
                    found.setdefault(word, []).append(status)
    return found


def python_value(name, default):
    """Python source setting name to a value Gunicorn accepts, or None if the
    default is not a literal (computed at import in Gunicorn)."""
    m = re.fullmatch(r"<hook (\d+)>", default)
    if m:
        args = ", ".join(f"a{i}" for i in range(int(m.group(1))))
        return f"def {name}({args}):\n    pass\n"
    try:
        ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return None
    return f"{name} = {default}\n"


class Table(unittest.TestCase):
    def setUp(self):
        self.rows = gunicorn_settings()
        self.names = [r[0] for r in self.rows]

    def test_data_is_gunicorns_list(self):
        self.assertEqual(len(self.names), GUNICORN_COUNT)
        self.assertEqual(len(set(self.names)), GUNICORN_COUNT)

    def test_doc_has_one_row_each(self):
        doc = doc_statuses()
        for name in self.names:
            self.assertEqual(len(doc.get(name, [])), 1, f"{name}: rows {doc.get(name)}")
            self.assertIn(doc[name][0], STATUSES, name)
        self.assertEqual(sorted(set(doc) - set(self.names)), [], "rows for no Gunicorn setting")

    def test_man_page_agrees(self):
        doc, man = doc_statuses(), man_statuses()
        for name in self.names:
            self.assertEqual(man.get(name), doc[name], f"{name} in man/kirin.ini.5")
        self.assertEqual(sorted(set(man) - set(self.names)), [])


class Binary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = gunicorn_settings()
        cls.status = {k: v[0] for k, v in doc_statuses().items()}
        cp = run_kirin("--help", timeout=20)
        cls.help = cp.stdout
        cp = run_kirin("--print-config", "hello:app", timeout=20)
        cls.keys = {m.group(1) for m in re.finditer(r"^([a-z_0-9]+) =", cp.stdout, re.M)}

    def of(self, *statuses):
        return [r for r in self.rows if self.status[r[0]] in statuses]

    def test_flags_in_help(self):
        for name, flags, _, _ in self.of("implemented", "no-op"):
            for flag in flags:
                self.assertRegex(self.help, rf"(?m)^\s+(-\w, )?{re.escape(flag)}\b",
                                 f"{name}: {flag} is not in kirin --help")

    def test_implemented_settings_are_known(self):
        for name, flags, _, _ in self.of("implemented"):
            if flags and name != "config" and name not in ("check_config", "print_config"):
                self.assertIn(name, self.keys, f"{name} is not in kirin --print-config")

    def test_python_file_takes_them_without_warning(self):
        src = [python_value(n, d) for n, _, _, d in self.of("implemented", "no-op")]
        src = "".join(s for s in src if s)
        self.assertIn("def worker_abort(", src)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "g.conf.py")
            with open(path, "w") as f:
                f.write(src)
            cp = run_kirin("-c", path, "--print-config", "hello:app", timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("not supported", cp.stderr)
        self.assertIn("keepalive = 2", cp.stdout)

    def assertRefused(self, cp, name):
        self.assertFalse(cp.timed_out, cp.args)
        self.assertEqual(cp.returncode, 2, f"{cp.args}: {cp.stderr!r}")
        err = cp.stderr.strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(name, err)
        self.assertIn("not supported by kirin: ", err)
        self.assertGreater(len(err.split("not supported by kirin: ", 1)[1]), 10, "no reason")

    def test_refused_flags(self):
        for name, flags, arg, _ in self.of("refused"):
            for flag in flags:
                args = [flag] + (["1"] if arg == "value" else []) + ["hello:app"]
                self.assertRefused(run_kirin(*args, timeout=20), flag)
                env = {"GUNICORN_CMD_ARGS": " ".join(args[:-1])}
                self.assertRefused(run_kirin("hello:app", env=env, timeout=20), flag)

    def test_refused_in_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, _, arg, _ in self.of("refused"):
                value = "True" if arg == "flag" else "'kirin-test'"
                ini = os.path.join(tmp, "k.ini")
                with open(ini, "w") as f:
                    f.write(f"[kirin]\n{name} = {value.strip(chr(39))}\n")
                self.assertRefused(run_kirin("-c", ini, "hello:app", timeout=20), name)
                py = os.path.join(tmp, "g.py")
                with open(py, "w") as f:
                    f.write(f"{name} = {value}\n")
                self.assertRefused(run_kirin("-c", py, "hello:app", timeout=30), name)

    def test_refused_at_gunicorns_default_asks_nothing(self):
        """Gunicorn's example config sets spew = False: a file may hold a
        refused setting at Gunicorn's default, or unset."""
        rows = self.of("refused")
        src = "".join(python_value(n, d) or f"{n} = None\n" for n, _, _, d in rows)
        self.assertIn("http_protocols = \"h1\"", src)
        ini = "[kirin]\n" + "".join(f"{n} =\n" for n, _, _, _ in rows) + "spew = false\n"
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in (("g.conf.py", src), ("k.ini", ini)):
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write(text)
                cp = run_kirin("-c", path, "--print-config", "hello:app", timeout=30)
                self.assertEqual(cp.returncode, 0, f"{name}: {cp.stderr}")
                self.assertNotIn("not supported", cp.stderr)

if __name__ == "__main__":
    main()

"""Reports what a virtualenv made importable: kirin_venv_only (installed
only in the test's venv), whether flask (a system package) imports, and
sys.prefix."""
import json
import sys

try:
    import kirin_venv_only
    VENV_ONLY = kirin_venv_only.VALUE
except ImportError:
    VENV_ONLY = None
try:
    import flask  # noqa: F401
    HAS_FLASK = True
except ImportError:
    HAS_FLASK = False


def app(environ, start_response):
    body = json.dumps({"venv_only": VENV_ONLY, "has_flask": HAS_FLASK, "prefix": sys.prefix,
                       "pth": getattr(sys, "kirin_e2e_pth", None)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

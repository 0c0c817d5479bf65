"""echo_environ's app, after a second of importing: under --preload the
arbiter is busy with it before it handles any signal."""
import time

time.sleep(1.0)

from echo_environ import app  # noqa: E402,F401

/*
 * interp — the embedded Python interpreter: initialising Debian's
 * libpython3 without its signal handlers, setting sys.path, importing the
 * application, logging Python exceptions to the error log.
 *
 * Runs in workers (and, for --check-config, in the arbiter process just
 * before it exits). interp_init() must be called once per process before
 * anything else here. Functions other than interp_init() expect the GIL to
 * be held by the calling thread.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct config;

/*
 * Start the interpreter (no Python signal handlers, Debian's prefix), put the
 * current directory and --pythonpath entries first on sys.path, and point
 * faulthandler at the error log so a SIGABRT dumps every thread's stack.
 * Returns 0, or -1 after logging why. Holds the GIL on return.
 */
int interp_init(const struct config *cfg);

/*
 * Import APP_MODULE ("module:callable", "module" for application then app).
 * Returns a new reference to the callable, or NULL after logging the reason
 * (the Python traceback for an exception in the app's import).
 */
PyObject *interp_load_app(const char *app_module);

/*
 * Log the pending Python exception with its traceback at error level,
 * under `what`, and clear it.
 */
void interp_log_exception(const char *what);

/* Drop the app and finalize the interpreter (graceful worker exit). */
void interp_finish(PyObject *app);

/*
 * interp — the embedded Python interpreter: initialising Debian's
 * libpython3 without its signal handlers, setting sys.path, importing the
 * application, logging Python exceptions to the error log.
 *
 * Runs in workers, and in the arbiter for --preload (before it forks the
 * first worker), --check-config (just before it exits) and a Python config
 * file (interp_start, then workers inherit the running interpreter).
 * interp_start() or interp_init() must be called before anything else here;
 * the other functions expect the GIL to be held by the calling thread.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>

struct config;

/*
 * Start the bare interpreter (no Python signal handlers, Debian's prefix,
 * stdio unbuffered if asked), unless this process already runs one. For the
 * arbiter's Python config file (pyconfig.h). Returns 0, or -1 after logging
 * why. Holds the GIL on return.
 */
int interp_start(bool unbuffered);

/*
 * Start the interpreter if this process (or the arbiter it forked from)
 * has not (interp_start; no Python signal handlers, Debian's prefix), add
 * the virtualenv's site-packages (--virtualenv or $VIRTUAL_ENV) ahead of the
 * system's, put the current directory and --pythonpath entries first on
 * sys.path, and point faulthandler at the error log so a SIGABRT dumps every
 * thread's stack. With --capture-output, sys.stdout and sys.stderr are
 * unbuffered (they are the error log). Last, runs what the worker type
 * needs before the app is imported (worker_type.h: gevent's monkey-patch).
 * Returns 0, or -1 after logging why.
 * Holds the GIL on return.
 */
int interp_init(const struct config *cfg);

/*
 * --preload, in the arbiter before it forks any worker: interp_init() and
 * interp_load_app(), keeping the application for the workers to inherit.
 * Returns 0, or the worker exit code that says what failed (3: the
 * interpreter, 4: the import) after logging why. The arbiter keeps the GIL
 * from then on (it runs no Python of its own).
 */
int interp_preload(const struct config *cfg);

/*
 * In the arbiter, before each fork (spawn): when cfg's worker type has a
 * preimport hook (gevent) and no app was preloaded, start the interpreter
 * (which the workers inherit) and run the hook with the sys.path a worker
 * will have (interp_init: virtualenv, --pythonpath, directory), put back
 * afterwards, so that no worker imports those modules itself. Once per
 * setting of what decides the files imported (type, virtualenv,
 * --pythonpath, directory, -e): when a reload changes it, the modules
 * imported for the old one are dropped from sys.modules first, so that the
 * new workers import what the new settings name. The imported objects are
 * then frozen (gc.freeze(), unfrozen when dropped): the workers' collections
 * and their walks over gc.get_objects() skip them. Never fails: a module that
 * cannot be imported is left for the workers to report.
 */
void interp_warm(const struct config *cfg);

/*
 * In a worker: a new reference to the application interp_preload() imported
 * in the arbiter before the fork, or NULL when there is none (no --preload:
 * the worker initialises Python and imports the app itself).
 */
PyObject *interp_preloaded_app(void);

/*
 * Around fork() in a process where Python runs (the arbiter with
 * --preload): PyOS_BeforeFork() / PyOS_AfterFork_Parent() /
 * PyOS_AfterFork_Child(), so the interpreter's locks are sane in the child
 * and os.register_at_fork() hooks run. The child calls the last one first
 * thing after fork, with the GIL held by its only thread. Each does nothing
 * when Python is not initialised in this process.
 */
void interp_before_fork(void);
void interp_after_fork_parent(void);
void interp_after_fork_child(void);

/*
 * Import cfg's APP_MODULE ("module:callable", "module" for application then
 * app), or with --paste load FILE[#name] through PasteDeploy's loadapp()
 * with the --paste-global items as its global_conf (as Gunicorn; a
 * [loggers] section in the file configures Python's logging first).
 * Returns a new reference to the callable, or NULL after logging the reason
 * (the Python traceback for an exception in the app's import).
 */
PyObject *interp_load_app(const struct config *cfg);

/*
 * Log the pending Python exception with its traceback at error level,
 * counted as an exception (statsd gunicorn.log.exception), not an error,
 * under `what`, and clear it.
 */
void interp_log_exception(const char *what);

/*
 * Install handler for signum behind faulthandler (which interp_init()
 * pointed at the error log, or the --preload arbiter did): on the signal,
 * faulthandler writes every thread's Python stack, then passes the signal
 * on to handler. Worker only, any thread (takes the GIL). Returns 0, or -1
 * after logging why (handler is installed alone then).
 */
int interp_after_faulthandler(int signum, void (*handler)(int));

/* Drop the app and finalize the interpreter (graceful worker exit). */
void interp_finish(PyObject *app);

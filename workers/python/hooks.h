/*
 * hooks — Gunicorn's server hooks, from a Python config file: on_starting,
 * when_ready, on_reload, on_exit, nworkers_changed, pre_fork, child_exit
 * (in the arbiter), pre_exec (in the child the arbiter forks on USR2),
 * post_fork, post_worker_init, worker_exit, pre_request, post_request,
 * worker_int, worker_abort (in a worker; the last two from the thread
 * worker.c wakes on SIGINT/SIGQUIT and SIGABRT), called with Gunicorn's signatures on objects with the
 * attributes applications use (server: cfg, pid, num_workers, log; worker:
 * pid, ppid, age, alive, cfg, log; log: debug, info, warning, error,
 * critical, exception, writing to kirin's error log; req: method, path,
 * query, uri, version, headers; resp: status, status_code, headers, sent).
 * ssl_context (in the arbiter, by sslctx.h) is hooks_ssl_context's.
 *
 * The hooks are those of the configuration in force: hooks_commit() takes
 * them from the file pyconfig_read() last executed, at start and after a
 * HUP that succeeded. A hook that raises is logged and the server goes on,
 * except on_starting (the server does not start, as with Gunicorn). With
 * no hook set every call is one test of a bit. Needs the GIL when a hook
 * is set (the arbiter holds it for good once it runs Python).
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>

struct config;

enum hook {
	HOOK_ON_STARTING,
	HOOK_WHEN_READY,
	HOOK_ON_RELOAD,
	HOOK_ON_EXIT,
	HOOK_NWORKERS_CHANGED,
	HOOK_PRE_FORK,
	HOOK_POST_FORK,
	HOOK_CHILD_EXIT,
	HOOK_POST_WORKER_INIT,
	HOOK_WORKER_EXIT,
	HOOK_PRE_REQUEST,
	HOOK_POST_REQUEST,
	HOOK_PRE_EXEC,
	HOOK_WORKER_INT,
	HOOK_WORKER_ABORT,
	HOOK_COUNT,
};

/* The worker a hook is about (pid 0 before it is forked: pre_fork). */
struct hook_worker {
	long pid, ppid;
	unsigned age;
	bool alive;
};

/* Is name one of the hooks above (so a config file that sets it is understood)? */
bool hooks_known(const char *name);

/*
 * Make the callables of the last executed config file the hooks, with cfg
 * as their server.cfg (a namespace of every setting). Does nothing when this
 * process runs no Python. Arbiter only.
 */
void hooks_commit(const struct config *cfg);

/* Is hook h set (a bit test)? Any thread. */
bool hooks_set(enum hook h);

/*
 * Call hook h if set: with the server (num_workers) and, per its signature,
 * w (pre_fork, post_fork, child_exit, worker_exit; alone for
 * post_worker_init, worker_int, worker_abort) or new_value, old_value
 * (nworkers_changed). Any thread: takes the GIL. Returns 0, or -1 when the hook
 * raised (logged with its traceback). post_worker_init's w is remembered as
 * the worker of this process, for the request hooks.
 */
int hooks_call(enum hook h, int num_workers, const struct hook_worker *w, int new_value,
               int old_value);

/* What Gunicorn's ssl_context hook changed, in OpenSSL's terms (hooks_ssl_context). */
struct hooks_tls {
	int min_version, max_version; /* TLS1_2_VERSION...; 0: any; -1: unchanged */
	unsigned long options_set, options_clear; /* SSL_OP_* bits it added, removed */
	char *ciphers; /* TLS 1.2 cipher list it left (malloc'd), NULL: unchanged */
	int verify;    /* 0, 1, 2 as cert_reqs; -1: unchanged */
};

/*
 * Call the ssl_context hook of the last executed config file as Gunicorn
 * does, hook(conf, default_ssl_context_factory), the factory making an
 * ssl.SSLContext from cfg's TLS settings; then read back from what it
 * returned, against a context fresh from the factory, what OpenSSL can be
 * told: versions, options, TLS 1.2 ciphers, verify mode. A hook that
 * changes what cannot be read back (another certificate, CA certificates,
 * ALPN, curves, sni_callback, ...), returns a context the factory did not
 * make, or raises, is refused. Returns 0 with *out filled, or -1 with a
 * one-line message in err (a traceback in the error log). Arbiter only,
 * with the interpreter a Python config file started.
 */
int hooks_ssl_context(const struct config *cfg, struct hooks_tls *out, char *err, size_t errlen);

/* Is a request hook set? One bit test: the WSGI glue asks before building anything. */
bool hooks_request_set(void);

/*
 * pre_request(worker, req) before the application is called with environ
 * (borrowed; req is made from it), or post_request(worker, req, environ,
 * resp) once the response is over (status and headers as given to
 * start_response, or NULL when it was not called; sent the body's bytes).
 * With the GIL held. A hook that raises is logged; the request goes on.
 */
void hooks_pre_request(PyObject *environ);
void hooks_post_request(PyObject *environ, PyObject *status, PyObject *headers, long sent);

/*
 * The same for an ASGI http request (-k asyncio), as Gunicorn's ASGI
 * worker calls them: req is made from scope (borrowed); post_request's
 * environ is None, resp has the status (0: no response: None) and the
 * headers (borrowed, (bytes, bytes) pairs, or NULL) the app gave.
 */
void hooks_pre_request_asgi(PyObject *scope);
void hooks_post_request_asgi(PyObject *scope, int status, PyObject *headers, long sent);

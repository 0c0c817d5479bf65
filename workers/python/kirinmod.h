/*
 * kirinmod — the built-in `kirin` Python module, present in every worker
 * type so one app runs everywhere: kirin.sleep, kirin.wait_readable,
 * kirin.wait_writable, kirin.spawn, kirin.Queue (put, get with timeout),
 * kirin.WebSocketError (gevent-websocket's when installed) and uWSGI's
 * WebSocket functions (websocket_handshake, websocket_recv, websocket_send,
 * websocket_send_binary) over the current request's WebSocket.
 *
 * How they wait is the worker type's backend: blocking (sync, gthread: the
 * GIL released while waiting, spawn starts a thread), the greenlet hub, or
 * gevent. Lengths of time are checked here as time.sleep checks its own
 * (NaN or negative: ValueError; past INT64_MAX nanoseconds: OverflowError),
 * so a backend only sees 0 <= seconds <= ~9.2e9, or -1 for "forever".
 * Registered before the interpreter starts (kirinmod_register) and given
 * its backend (from worker_type.h) before the app is imported. Functions
 * called from Python hold the GIL.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct kirin_backend {
	const char *name; /* "blocking", "hub", "gevent" */
	/* Sleep without blocking other work. 0, or -1 with an exception set. */
	int (*sleep)(double seconds);
	/* Wait for fd to be readable (POLLIN) or writable (POLLOUT); timeout < 0
	 * waits forever. 1 ready, 0 timed out, -1 with an exception set. */
	int (*wait_fd)(int fd, short events, double timeout);
	/* Run func(*args, **kwargs) concurrently; new ref to a handle, or NULL. */
	PyObject *(*spawn)(PyObject *func, PyObject *args, PyObject *kwargs);
	/* Park the current greenlet until kirinmod_wake() or the timeout: 1 woken,
	 * 0 timed out, -1 exception. NULL for backends whose Queue is not ours. */
	int (*park)(double timeout);
	/* Wake a parked greenlet (borrowed); false if it is not parked. */
	bool (*wake)(PyObject *greenlet);
};

/*
 * hook(false) as a wait of the blocking backend begins (kirin.sleep,
 * kirin.wait_readable/writable, kirin.Queue.get), hook(true) as it ends,
 * in the waiting thread, with or without the GIL: gthread does not count
 * a pool thread that waits there as stuck. NULL for none (the default).
 */
void kirinmod_set_wait_hook(void (*hook)(bool in_app));

/* The blocking backend (sync, gthread; the fallback where a hub cannot switch). */
const struct kirin_backend *kirinmod_blocking(void);

/* (first, *args) as a new tuple, for spawn backends; NULL with an exception. */
PyObject *kirinmod_prepend(PyObject *first, PyObject *args);

/* Add `kirin` to the interpreter's built-in modules. Before Py_Initialize. */
void kirinmod_register(void);

/*
 * Choose the backend (borrowed; static storage). Before the app imports
 * `kirin`; the blocking backend is the default.
 */
void kirinmod_set_backend(const struct kirin_backend *b);

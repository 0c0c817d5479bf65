/*
 * gevent — the gevent worker: kirin's C connection handling (conn, the
 * parser, the WSGI glue) on gevent's hub, so monkey-patched apps, gevent
 * queues as response bodies and gevent-based libraries work unchanged.
 *
 * Runs in a worker process whose interpreter was monkey-patched before the
 * app was imported (interp_init does that for this worker class). Accepting
 * is an io watcher of gevent's loop; each connection is served by a gevent
 * greenlet running C, which waits through gevent.socket.wait_read/write.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct worker;
struct kirin_backend;

/* The `kirin` module's backend for this worker type: gevent's own primitives. */
const struct kirin_backend *gevent_backend(void);

/*
 * Serve `app` (borrowed) until a graceful stop, the arbiter going away, or
 * --max-requests. Called with the GIL held in the main greenlet; returns a
 * worker exit code (channel.h) with the GIL held.
 */
int gevent_run(struct worker *w, PyObject *app);

/*
 * gevent — the gevent worker: kirin's C connection handling (conn, the
 * parser, the WSGI glue, the connection set and its greenlets) on gevent's
 * hub, so monkey-patched apps, gevent queues as response bodies and
 * gevent-based libraries work unchanged.
 *
 * Runs in a worker process whose interpreter was monkey-patched before the
 * app was imported (this type's before_import in worker_type.c, which
 * interp_init runs). The connection set runs on reactor_gevent: accepting
 * is an io watcher of gevent's loop, and so is waiting for a request: each
 * connection has an io watcher whose C callback, in gevent's hub, reads and
 * parses the head. Only a complete head takes a gevent greenlet (from a
 * small pool, or spawned) to run the app; an idle keep-alive connection, or
 * one accepted with nothing sent yet, holds no greenlet, only its socket
 * and watcher.
 * Inside a request, waits go through gevent.socket.wait_read/write.
 * Never waits in the hub: anything that may wait runs in a greenlet.
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

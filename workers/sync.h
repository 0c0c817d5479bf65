/*
 * sync — the sync worker: one request at a time, one request per
 * connection (Connection: close), as Gunicorn's sync worker; meant to run
 * behind a buffering proxy.
 *
 * Runs in a worker process, in its only thread. Waits for connections on
 * an epoll set of its own (EPOLLEXCLUSIVE on the listeners: a connection
 * wakes one idle worker) and for client bytes with poll(), the GIL released
 * and heartbeating while it waits; holds the GIL only while the
 * application runs. Lingering closes wait in the same epoll set, between
 * requests, never in front of the next client.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct worker;

/*
 * Serve `app` (borrowed) until a graceful stop, the arbiter going away, or
 * --max-requests. Called with the GIL held; returns a worker exit code
 * (channel.h) with the GIL held.
 */
int sync_run(struct worker *w, PyObject *app);

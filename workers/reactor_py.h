/*
 * reactor_py — what the reactors over a Python event loop share
 * (reactor_asyncio's asyncio loop, reactor_gevent's hub): the callables
 * the loop calls when a connection's socket or the channel is readable,
 * and the table entries of a loop that runs in the worker's main thread.
 *
 * Runs in a worker process, in its main thread, with the GIL.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "workers/reactor.h"

/*
 * A callable (new ref, or NULL with an exception) that tells the set cc is
 * readable: one watcher's callback per connection (gevent's; the asyncio
 * reactor serves its connections in batches from an epoll set instead).
 */
PyObject *reactor_py_ready_cb(struct cconn *cc);

/* A callable (new ref, or NULL with an exception) that tells the set its channel is readable. */
PyObject *reactor_py_channel_cb(void);

/* reactor.drained: accepting happens in the loop's thread, nothing is ever on its way. */
bool reactor_py_drained(void);

/* reactor.free: nothing (suspended greenlets and tasks hold the rest; no finalizing). */
void reactor_py_free(void);

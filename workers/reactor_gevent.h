/*
 * reactor_gevent — the reactor (reactor.h) on gevent's hub, for the gevent
 * worker: accepting and waiting for request heads are io watchers of
 * gevent's loop whose C callbacks run in the hub, the tick is a timer of
 * it, and run() waits on a gevent Event in the calling greenlet.
 *
 * Runs in a worker process whose interpreter has gevent; every call needs
 * the GIL.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "workers/reactor.h"

extern const struct reactor reactor_gevent;

/* The gevent hub (borrowed), once reactor_gevent is initialised. */
PyObject *reactor_gevent_hub(void);

/* attr of module `mod` (new ref), or NULL with an exception set. */
PyObject *reactor_gevent_attr(const char *mod, const char *attr);

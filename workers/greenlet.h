/*
 * greenlet — the greenlet worker: the connection set (connset.c) on the
 * libevent reactor runs in the main greenlet as the hub; each request runs
 * in a greenlet of its own (the worker's "grandchildren", gconn.c), which
 * switches to the hub whenever its socket would block, and is switched back
 * by a one-shot event. An idle keep-alive connection holds no greenlet,
 * only its buffer.
 *
 * Runs in a worker process, in one thread. Uses only greenlet's public C
 * API (PyGreenlet_Import, _New, _Switch, _GetCurrent) from Debian's
 * python3-greenlet. The hub runs libevent with the GIL released, so
 * threads an app starts are not starved; every switch takes it back.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct worker;
struct kirin_backend;

/* The `kirin` module's backend for this worker type (set before the app loads). */
const struct kirin_backend *greenlet_backend(void);

/*
 * Serve `app` (borrowed) until a graceful stop, the arbiter going away, or
 * --max-requests. Called with the GIL held in the main greenlet; returns a
 * worker exit code (channel.h) with the GIL held.
 */
int greenlet_run(struct worker *w, PyObject *app);

/*
 * gthread — the gthread worker: a libevent loop in the main thread owns
 * accept, idle keep-alive connections and reading request heads; a pool of
 * --threads threads runs the application. No thread ever waits on a slow
 * client for a request head.
 *
 * Runs in a worker process. The loop thread never holds the GIL; a pool
 * thread takes it only to call the app and pull each chunk of its response,
 * and releases it while reading a body or writing. After a response, a
 * keep-alive connection goes back to the loop.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct worker;

/*
 * Serve `app` (borrowed) until a graceful stop, the arbiter going away, or
 * --max-requests. Called with the GIL held; returns a worker exit code
 * (channel.h) with the GIL held and no pool thread running.
 */
int gthread_run(struct worker *w, PyObject *app);

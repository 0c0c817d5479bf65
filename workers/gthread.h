/*
 * gthread — the gthread worker: a pool of --threads threads runs the
 * application; its idle threads accept, one at a time waiting on the
 * listeners (leader and followers), and a new connection whose request
 * (head and body) is there at once is served start to finish in the
 * thread that accepted it, as in the sync worker. A libevent loop in the
 * main thread owns what must wait for its client: idle keep-alive
 * connections, request heads and bodies that are slow to come, the rest
 * of a response a slow reader has not taken, lingering closes. No thread ever waits on a slow client
 * for a request head (FRESH_WAIT_MS at most, once, for its first bytes).
 *
 * Runs in a worker process. The loop thread never holds the GIL; a pool
 * thread takes it only to call the app and pull each chunk of its response,
 * and releases it while reading a body or writing. After a response, a
 * keep-alive connection goes to the loop.
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

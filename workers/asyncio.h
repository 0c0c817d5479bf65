/*
 * asyncio — the asyncio worker: an asyncio event loop per worker (uvloop's
 * when --asgi-loop allows and it is importable) on which kirin's C code
 * owns accepting, parsing, keep-alive, timeouts and writing
 * (reactor_asyncio.h). An ASGI app's http request runs as a task of the
 * loop, started from the connection set's dispatch without a greenlet,
 * seeing only ASGI messages built in C (asgi.h), with lifespan events
 * (lifespan.h); a WebSocket's session and a WSGI app's request run in a
 * greenlet whose hub is the loop (gconn.h), so asyncio.get_event_loop()
 * works in the app and what it schedules there runs, while its blocking
 * calls block the worker. Gunicorn's -k uvicorn.workers.UvicornWorker
 * selects it.
 *
 * Runs in a worker process, in its main thread (the main greenlet runs the
 * loop), with the GIL held throughout.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct worker;
struct kirin_backend;

/* The `kirin` module's backend for this worker type (set before the app loads). */
const struct kirin_backend *asyncio_backend(void);

/*
 * Serve `app` (borrowed) until a graceful stop, the arbiter going away, or
 * --max-requests; ASGI lifespan startup before, shutdown after. Called with
 * the GIL held in the main greenlet; returns a worker exit code (channel.h:
 * a failed lifespan startup is a boot error).
 */
int asyncio_run(struct worker *w, PyObject *app);

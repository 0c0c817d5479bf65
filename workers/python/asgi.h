/*
 * asgi — ASGI 3.0 (spec 2.4) `http` for the asyncio worker: each request's
 * scope, receive() and send() are built here in C, and the application's
 * coroutine runs as a task of the worker's event loop. receive() streams
 * the request body (then waits for http.disconnect); send() takes
 * http.response.start and http.response.body (streamed; it awaits while
 * the socket's buffer is full: backpressure). Python sees only the ASGI
 * messages.
 *
 * Runs in the asyncio worker with the GIL held: asgi_start() from the
 * loop (http), or asgi_serve() in a connection's greenlet (gconn.h) that
 * waits for the task to end (a WebSocket, whose frames it reads);
 * receive() and send() in the loop's greenlet (the hub), where they never
 * wait: whatever would block is awaited as a future of the loop.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "workers/python/wsgi.h"

struct conn;

/*
 * Set up the per-process state for `app` on `loop` (both borrowed, kept);
 * to_hub() switches a connection greenlet to the loop's (new ref to what
 * it was switched back with, NULL when killed); a request whose client
 * went away is cancelled `grace` seconds later (--asgi-disconnect-grace-
 * period). 0, or -1 logged.
 */
int asgi_init(PyObject *app, PyObject *loop, PyObject *(*to_hub)(void), int grace);

/*
 * The lifespan's state dict (borrowed) that each request's scope["state"]
 * copies; NULL (the default) for none. lifespan.c sets it after startup.
 */
void asgi_set_state(PyObject *state);

/*
 * Serve the request parsed into c->req in the calling connection greenlet:
 * run the app's task for it and wait until it ends. Errors are logged and
 * answered with 500 when nothing was sent yet. As wsgi_serve().
 */
enum wsgi_outcome asgi_serve(struct conn *c, bool keep_alive);

/*
 * Serve the request parsed into c->req from the loop itself, without a
 * greenlet (an http request; a WebSocket needs asgi_serve()): start the
 * app's task and return. Once it has ended and its response is out,
 * done(c, outcome) is called from the loop (at once when the app could not
 * be called).
 */
void asgi_start(struct conn *c, bool keep_alive,
                void (*done)(struct conn *c, enum wsgi_outcome out));

/*
 * c's socket is readable while asgi_start()'s request runs. When its
 * response is out: the request ends at once (its done() is called; the
 * task may still run, without the connection) and true is returned (c may
 * be gone). Else false, after: when the client has gone, the app hears
 * http.disconnect, and its task is cancelled after the grace period if it
 * still runs; unless a receive() reads the socket itself, which then finds
 * the end too (a body cut short by it is refused, never a disconnect the
 * app could answer). Never waits.
 */
bool asgi_readable(struct conn *c);

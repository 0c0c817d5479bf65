/*
 * lifespan — ASGI lifespan events for the asyncio worker: the app's
 * lifespan coroutine runs as a task of the worker's loop for the worker's
 * life; startup before the first connection is accepted, shutdown after
 * the last request ended (a graceful stop). --asgi-lifespan: auto (an app
 * that fails on the lifespan scope is taken not to support it), on (then
 * that is a failed startup), off. The state dict the app fills at startup
 * is copied into every request's scope (asgi_set_state).
 *
 * Runs in the asyncio worker's main greenlet with the GIL held, while the
 * loop is not running (each call runs it until its event is answered).
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/*
 * Start `app` (borrowed)'s lifespan on `loop` as --asgi-lifespan `mode`
 * says and wait for its startup. 0 when it completed (or is not
 * supported, or off), -1 after logging why it failed: the worker exits as
 * a boot failure.
 */
int lifespan_startup(PyObject *app, PyObject *loop, const char *mode);

/*
 * Send the shutdown event and wait for its answer, at most `timeout`
 * seconds. Nothing when the startup did not complete. Errors are logged.
 */
void lifespan_shutdown(double timeout);

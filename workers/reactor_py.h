/*
 * reactor_py — what the reactors over a Python event loop share
 * (reactor_asyncio's asyncio loop, reactor_gevent's hub): the callable
 * the loop calls when the channel is readable, and the table entries of a
 * loop that runs in the worker's main thread.
 *
 * Runs in a worker process, in its main thread, with the GIL.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

/* obj.method(), its failure logged as what (run and stop of the loop). */
void reactor_py_call(PyObject *obj, const char *method, const char *what);

/* A callable (new ref, or NULL with an exception) that tells the set its channel is readable. */
PyObject *reactor_py_channel_cb(void);

/* reactor.drained: accepting happens in the loop's thread, nothing is ever on its way. */
bool reactor_py_drained(void);

/* reactor.free: nothing (suspended greenlets and tasks hold the rest; no finalizing). */
void reactor_py_free(void);

/*
 * asgi_task — running an ASGI app's coroutine on the worker's loop as
 * Python 3.12's eager task factory does: its first step runs at once, in
 * the caller, and most requests (a hello world, anything that never waits)
 * end there without a Task being created, scheduled, stepped, and its done
 * callback scheduled in turn. One that waits (a future, a sleep) goes on
 * as a Task of the loop from where it stands.
 *
 * asyncio.current_task() must be one Task for the whole request (anyio's
 * cancel scopes, asyncio.timeout and TaskGroup compare it before and after
 * a wait), so the first step runs as the current step of a "host" Task
 * made beforehand and waiting for work; the request that waits is handed
 * to that host (the Task goes on with it), and the next request gets
 * another: one that finished its request and waits for the next (a Task is
 * made once and serves many requests), or a new one. Each step runs in the request's own copy of the context, so
 * contextvars set in the first step hold for the whole request.
 *
 * Runs in the asyncio worker with the GIL held, from the loop's greenlet
 * (the hub), outside any running task. The Task's own done callbacks are
 * not a request's end (done() is).
 *
 * done.kirin_throw (an attribute of done, read when the Task throws into
 * the request) is None, or the exception the request gets instead of the
 * one the Task throws (kirin.RequestTimeout instead of the CancelledError
 * that asgi_task_interrupt() wakes it with). A plain Task (an app whose
 * call returns an awaitable that is not a coroutine) has no such step: it
 * gets the CancelledError.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Set up for `loop` (borrowed, kept). 0, or -1 with an exception. */
int asgi_task_init(PyObject *loop);

/*
 * Run `coro` (borrowed; a coroutine, or another awaitable create_task
 * takes): 0 it ended in its first step; 1 it waits: *task is a new ref to
 * the Task that goes on with it, and done(None), or done(exception), is
 * called from it when the coroutine ends (`done` is kept till then); -1 it
 * raised (the app's exception is set) or could not be started (an
 * exception is set). A Task that ends a request waits for another one
 * (hosts are made once and reused), so the Task lives on after done().
 */
int asgi_task_run(PyObject *coro, PyObject *done, PyObject **task);

/* The stack of a waiting coroutine (borrowed) as text: a new ref, or NULL with an exception. */
PyObject *asgi_task_stack(PyObject *coro);

/*
 * Wake `task` (from asgi_task_run) with CancelledError at the await it
 * waits in: by cancelling the future it awaits, which, unlike
 * Task.cancel(), leaves no cancel request on the Task (cancelling() stays
 * 0, for the app's asyncio.timeout and for the host's next requests); by
 * Task.cancel() when it awaits none. 0, or -1 with an exception.
 */
int asgi_task_interrupt(PyObject *task);

/* loop.create_task(coro): a new ref, or NULL with an exception. */
PyObject *asgi_task_start(PyObject *coro);

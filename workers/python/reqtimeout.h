/*
 * reqtimeout — --request-timeout: each request in flight holds a slot
 * (when it started, who runs it: a thread, or a greenlet of the hub's
 * thread). A watchdog thread that never touches Python finds the requests
 * that ran too long and, a grace later, aborts the worker (faulthandler
 * logs every thread's stack) if one is still running. A canceller thread
 * logs the request and its Python stack and raises kirin.RequestTimeout in
 * it: in the worker's main thread by a signal whose Python handler raises
 * it (so time.sleep and socket calls are interrupted too), in another
 * thread with PyThreadState_SetAsyncExc (seen at the next bytecode). A
 * greenlet that waits in the hub has it thrown in by reqtimeout_tick().
 *
 * Runs in workers. reqtimeout_init() and reqtimeout_stop() in the main
 * thread with the GIL; reqtimeout_begin(), reqtimeout_end() and
 * reqtimeout_tick() with the GIL, in the thread (or greenlet) of the
 * request. Never parses HTTP, never touches a connection's socket.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct config;
struct conn;

/* --request-timeout in seconds, 0 when off: wsgi checks it before anything else here. */
extern int reqtimeout_seconds;

/*
 * With --request-timeout: room for the requests a worker of cfg can run
 * at once, the kirin.RequestTimeout signal handler in this (the main)
 * thread, and the two threads. 0 (also when off), or -1 after logging why.
 */
int reqtimeout_init(const struct config *cfg);

/*
 * Requests run in greenlets of the hub's thread: current() (new ref, or
 * NULL with an exception) says which; reqtimeout_tick() throws into them.
 */
void reqtimeout_use_greenlets(PyObject *(*current)(void));

/*
 * The request in c (its head parsed) starts in the calling thread or
 * greenlet. Returns its slot, -1 when not timed (off, or no room).
 */
int reqtimeout_begin(const struct conn *c);

/* The request of slot (from reqtimeout_begin; -1 does nothing) is over. */
void reqtimeout_end(int slot);

/* kirin.RequestTimeout (borrowed), once reqtimeout_init() set it up (NULL before, or when off). */
PyObject *reqtimeout_exception(void);

/* True when the pending exception is kirin.RequestTimeout. */
bool reqtimeout_matches(void);

/*
 * True when the request of slot was cancelled: whatever error ended it,
 * it timed out. Any thread.
 */
bool reqtimeout_cancelled(int slot);

/*
 * For a wait in C that a signal interrupted (EINTR), in a thread that
 * runs requests (sync, gthread; not greenlets): true when that was the
 * cancellation of this thread's request, so the wait should give up
 * rather than go on. Without the GIL is fine.
 */
bool reqtimeout_interrupted(void);

/*
 * In a greenlet, with RequestTimeout pending: a wait of kirin's own (on
 * the client's socket) must clear it and fail instead, and the app might
 * take that failure for an ordinary one; the hub's next tick throws it
 * again, wherever the request waits then.
 */
void reqtimeout_rethrow_later(void);

/* In the hub, every tick: cancel the waiting greenlets that ran too long. */
void reqtimeout_tick(double now);

/* Stop and join the threads, before the interpreter is finalized. */
void reqtimeout_stop(void);

/*
 * reactor_asyncio — the reactor (reactor.h) on an asyncio event loop, for
 * the asyncio worker: the listeners and the channel are readers of the
 * loop (loop.add_reader with C callbacks); the connections' sockets are in
 * an epoll set of the reactor's own, itself one reader of the loop, so
 * that one wake-up serves every ready connection (as reactor_event does);
 * the tick is a call_later chain, run() is loop.run_forever(). The loop is
 * uvloop's when --asgi-loop allows and it is importable.
 *
 * Runs in a worker process, in its main thread; every call needs the GIL.
 * A reader of the loop's own on a connection's socket (a greenlet waiting
 * for a body, a receive() waiting for one) fires beside the set's: the set
 * sees a busy connection readable and stops watching it until it is back.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "workers/reactor.h"

extern const struct reactor reactor_asyncio;

/*
 * Create the worker's event loop and make it the thread's current one:
 * `choice` is --asgi-loop (auto: uvloop if importable, else asyncio;
 * uvloop; asyncio). Returns the loop (borrowed: the reactor keeps it), or
 * NULL after logging why.
 */
PyObject *reactor_asyncio_open(const char *choice);

/* The loop (borrowed), once opened. */
PyObject *reactor_asyncio_loop(void);

/* What the dispatcher keeps with a connection (the ASGI scope's, asgi_scope.c). */
struct reactor_asyncio_kept {
	PyObject *obj;     /* NULL at first; a reference, dropped when the connection is released */
	uint64_t version;  /* the dispatcher's own */
	unsigned flags;
};

/* cc's kept state, zeroed when cc is accepted. */
struct reactor_asyncio_kept *reactor_asyncio_conn_kept(struct cconn *cc);

/* loop.add_reader(fd, cb) (writer: add_writer). 0, or -1 with an exception. */
int reactor_asyncio_add(int fd, bool writer, PyObject *cb);

/* loop.remove_reader(fd) (writer: remove_writer). Never fails: an error is logged. */
void reactor_asyncio_remove(int fd, bool writer);

/* loop.call_later(seconds, cb): a new ref to the handle, or NULL with an exception. */
PyObject *reactor_asyncio_later(double seconds, PyObject *cb);

/* Cancel *handle (a call_later's) and drop it; NULL does nothing. */
void reactor_asyncio_cancel(PyObject **handle);

/*
 * wsgi — calling the application for one request (PEP 3333): environ,
 * start_response with exc_info, the write() callable, consuming the
 * returned iterable lazily (each chunk leaves when it is yielded), close()
 * always called, wsgi.file_wrapper.
 *
 * Runs in workers. wsgi_init() once per process after interp_init();
 * wsgi_serve() with the GIL held by the calling thread (it releases it while
 * waiting on the socket). Never parses HTTP: the head is already in c->req.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct conn;

enum wsgi_outcome {
	WSGI_KEEP = 0, /* response complete; the connection may carry another request */
	WSGI_CLOSE,    /* response complete or cut short; close the connection */
	WSGI_CLOSED,   /* the connection was already closed (a refusal was sent) */
};

/*
 * Prepare the per-process state for `app` (borrowed; keep it alive).
 * `cooperative`: the connection waits switch greenlets (greenlet, gevent)
 * instead of blocking the thread, so writes keep the GIL. 0 or -1 (logged).
 */
int wsgi_init(PyObject *app, bool multithread, bool multiprocess, bool cooperative);

/* --no-sendfile: wsgi.file_wrapper files are read and written, not sendfile(2)'d. */
void wsgi_set_sendfile(bool on);

/*
 * Serve the request parsed into c->req: call the app, send its response.
 * keep_alive says whether the worker type keeps connections; the request
 * and the response may still force a close. Errors in the app are logged
 * and answered with 500 when nothing was sent yet.
 */
enum wsgi_outcome wsgi_serve(struct conn *c, bool keep_alive);

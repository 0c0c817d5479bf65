/*
 * input — the file-like objects of a WSGI request: wsgi.input (streaming
 * the request body from the connection: read, readline, readlines,
 * iteration) and wsgi.errors (writing to the error log).
 *
 * Runs in workers with the GIL held; releases it while waiting for the
 * client. An input object is bound to a connection only for the duration of
 * one request: input_release() makes later reads return b"" so an object the
 * app kept cannot touch a connection that moved on.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct conn;

/* Ready the types; once per process after interp_init(). 0 or -1 (exception set). */
int input_init_types(void);

/*
 * A wsgi.input reading the body of c's current request (new ref): this
 * thread's spare one (see input_release()), or a new one.
 */
PyObject *input_new(struct conn *c);

/*
 * The request is over: unbind input from its connection and drop the
 * caller's reference (taken). Kept as this thread's spare when no one
 * else holds it.
 */
void input_release(PyObject *input);

/* A new wsgi.errors stream writing to the error log (new ref). */
PyObject *errors_new(void);

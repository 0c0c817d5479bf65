/*
 * environ — building the WSGI environ dict of one request from the parsed
 * head (PEP 3333 and Gunicorn's conventions): CGI variables, HTTP_* headers
 * (repeats joined with ","), wsgi.* entries.
 *
 * Runs in workers with the GIL held. Keys are interned once per process and
 * the per-process constants live in a template dict that is copied per
 * request.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct conn;

/*
 * Build the template: wsgi.version, wsgi.multithread, wsgi.multiprocess,
 * wsgi.run_once, wsgi.errors, wsgi.file_wrapper, SCRIPT_NAME. Once per
 * process. Returns 0 or -1 with a Python exception set.
 */
int environ_init(bool multithread, bool multiprocess, PyObject *file_wrapper);

/*
 * A new environ for c's current request, with wsgi.input set to `input`
 * (new ref), or NULL with an exception set.
 */
PyObject *environ_new(const struct conn *c, PyObject *input);

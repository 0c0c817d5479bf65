/*
 * environ — building the WSGI environ dict of one request from the parsed
 * head (PEP 3333 and Gunicorn's conventions): CGI variables, HTTP_* headers
 * (repeats joined with ","), wsgi.* entries.
 *
 * Runs in workers with the GIL held. Keys are interned once per process and
 * the per-process constants live in a template dict that is copied per
 * request; a TCP peer that sends a second request gets a copy of the
 * template with its SERVER_* and REMOTE_* values set (256 peers kept), and
 * its requests copy that instead.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

struct conn;

/*
 * Set the application's mount point (--root-path), before environ_init():
 * SCRIPT_NAME, with trailing slashes dropped ("/" means none); PATH_INFO is
 * then the rest of the decoded path. NULL (or never called) means the
 * SCRIPT_NAME environment variable, as Gunicorn. The string is copied.
 */
void environ_set_root_path(const char *root);

/* The root path as set (bytes, no trailing '/'; "" for none), and its length. */
const char *environ_root_path(size_t *len);

/*
 * Build the template: wsgi.version, wsgi.multithread, wsgi.multiprocess,
 * wsgi.run_once, wsgi.errors, wsgi.file_wrapper, SCRIPT_NAME. Once per
 * process. Returns 0 or -1 with a Python exception set.
 */
int environ_init(bool multithread, bool multiprocess, PyObject *file_wrapper);

/*
 * A new environ for c's current request, with wsgi.input set to `input`
 * (new ref), or NULL with an exception set (also when the path is not
 * under the root path: the app is not mounted there, Gunicorn answers 500).
 * A SCRIPT_NAME header from a trusted front-end (c->req.script_name, see
 * forwarder_headers) is the root path of that request: SCRIPT_NAME, and
 * stripped from PATH_INFO (the parser refused a path not under it).
 */
PyObject *environ_new(const struct conn *c, PyObject *input);

/*
 * accesslog_entry.environ_get: environ (ctx, a dict; NULL: none) [name]
 * compared without case, as str(), copied to out (at most cap bytes).
 * Returns its length, or -1 when there is none. With the GIL; leaves no
 * exception set.
 */
ssize_t environ_lookup(void *ctx, const char *name, size_t len, char *out, size_t cap);

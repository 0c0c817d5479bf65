/*
 * headcache — response header tuples seen before, with the line they gave.
 * Most applications answer with header tuples that are module constants
 * (the same tuple object on every request): checking such a tuple's name
 * and value again (token, control characters, framing and hop-by-hop
 * fields) is wasted work. A tuple response_add_header() took as a line is
 * kept with that line (a reference is held, so the object and its strs,
 * or bytes for ASGI, never change while kept); next time the line is
 * appended as it is. A worker runs one app, WSGI or ASGI, so the tuples
 * kept are of one kind (asgi_out.c asks only for (bytes, bytes) ones).
 *
 * Runs in workers with the GIL held (the GIL serialises the cache).
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stddef.h>

struct response;

/*
 * Append the line kept for header tuple h to r. Returns 0 when added, -1
 * when r refuses it (a second, different Content-Length), 1 when h is not
 * kept (check and add it with response_add_header(), then headcache_keep()).
 */
int headcache_add(struct response *r, PyObject *h);

/*
 * After response_add_header() accepted h: keep h and the line it appended
 * (r's head from `before`; `had_length`: r had a Content-Length before),
 * if it appended one that fits, in place of the slot's previous tuple.
 */
void headcache_keep(PyObject *h, const struct response *r, size_t before, bool had_length);

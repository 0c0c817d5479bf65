/*
 * mem — memory for the HTTP library: malloc, calloc and realloc that
 * abort() when memory runs out.
 *
 * Runs in workers (and in the fuzz targets), any thread. The HTTP library is
 * a leaf: it cannot log, and none of its callers could do better than stop
 * the worker (the arbiter's xmalloc exits, too). abort() stops it where the
 * failure is: faulthandler writes the Python stacks to the error log, the
 * arbiter logs the signal and forks a replacement, a fuzzer reports a crash.
 */
#pragma once

#include <stddef.h>

/* n bytes (at least 1), uninitialised; never NULL. Free with free(). */
void *mem_alloc(size_t n);

/* n zeroed elements of size bytes (at least 1 byte); never NULL. */
void *mem_calloc(size_t n, size_t size);

/* p (NULL: a new block) resized to n bytes (at least 1); never NULL. */
void *mem_realloc(void *p, size_t n);

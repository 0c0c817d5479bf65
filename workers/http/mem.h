/*
 * mem — memory for the HTTP library: malloc, calloc and realloc that
 * abort() when memory runs out, and spares: blocks given back kept for
 * reuse, per thread, with one bound for the whole process.
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

/*
 * Buffers (or header arrays) kept for reuse, each of one size: a thread's
 * own (__thread), at most MEM_SPARE_MAX blocks. 16 was too few for a
 * gthread loop, which parks a batch of connections handed back by the pool
 * in one turn: the rest were freed, glibc trimmed the heap and grew it
 * again (a brk() every ~6 requests). All the threads' spares together hold
 * at most MEM_SPARES_BYTES: a worker's --threads pool threads do not each
 * keep a mebibyte after a burst.
 */
#define MEM_SPARE_MAX    64
#define MEM_SPARES_BYTES (2u << 20)

struct mem_spares {
	void *p[MEM_SPARE_MAX];
	size_t n;
	size_t size; /* of every block in p */
};

/* A block of size bytes, from s when it holds one of that size (contents undefined). */
void *mem_spare_take(struct mem_spares *s, size_t size);

/* Keep p (size bytes, NULL: nothing) in s, or free it when s or the process bound is full. */
void mem_spare_give(struct mem_spares *s, void *p, size_t size);

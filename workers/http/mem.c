/* mem — see mem.h. */
#include "workers/http/mem.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

static _Atomic size_t spares_bytes; /* in every thread's spares */

void *mem_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

void *mem_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}

void *mem_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		abort();
	return q;
}

void *mem_spare_take(struct mem_spares *s, size_t size)
{
	if (s->n == 0 || s->size != size)
		return mem_alloc(size);
	atomic_fetch_sub_explicit(&spares_bytes, size, memory_order_relaxed);
	return s->p[--s->n];
}

void mem_spare_give(struct mem_spares *s, void *p, size_t size)
{
	bool keep;

	if (!p)
		return;
	if (s->n == 0)
		s->size = size;
	keep = s->n < MEM_SPARE_MAX && s->size == size;
	if (keep && atomic_fetch_add_explicit(&spares_bytes, size, memory_order_relaxed) + size >
	                MEM_SPARES_BYTES) {
		atomic_fetch_sub_explicit(&spares_bytes, size, memory_order_relaxed);
		keep = false;
	}
	if (keep)
		s->p[s->n++] = p;
	else
		free(p);
}

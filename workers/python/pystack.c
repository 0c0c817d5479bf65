/* pystack — see pystack.h. */
#include "workers/python/pystack.h"

#include <stdbool.h>
#include <stdlib.h>

#include "workers/http/mem.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define HAVE_DATASTACK 1
#endif

#define ROOT_SIZE   1024       /* bytes of a greenlet's root chunk */
#define CHUNK_SIZE  (16 * 1024) /* CPython's DATA_STACK_CHUNK_SIZE: the spills */
#define SPARE_CHUNKS 4          /* spill chunks kept for the next spill */

/* Touched with the GIL held: CPython allocates and frees its chunks and
 * pymalloc's arenas under it (a thread's chunks go before it lets go). */
static struct {
	bool on;
	PyObjectArenaAllocator orig;
	void *spare[SPARE_CHUNKS];
	int nspare;
} S;

#ifdef HAVE_DATASTACK
static void *arena_alloc(void *ctx, size_t size);
static void arena_free(void *ctx, void *p, size_t size);

void pystack_init(void)
{
	PyObjectArenaAllocator a = {NULL, arena_alloc, arena_free};

	if (S.on)
		return;
	PyObject_GetArenaAllocator(&S.orig);
	PyObject_SetArenaAllocator(&a);
	S.on = true;
}

void *pystack_begin(void)
{
	PyThreadState *ts = PyThreadState_Get();
	_PyStackChunk *root;

	if (!S.on || ts->datastack_chunk)
		return NULL;
	root = mem_alloc(ROOT_SIZE);
	root->previous = NULL;
	root->size = ROOT_SIZE;
	root->top = 0;
	ts->datastack_chunk = root;
	/* data[0] skipped, as CPython does on a root chunk: a frame at data[0]
	 * tells _PyThreadState_PopFrame() to free its chunk. */
	ts->datastack_top = &root->data[1];
	ts->datastack_limit = (PyObject **)((char *)root + ROOT_SIZE);
	return root;
}

void pystack_end(void *root)
{
	PyThreadState *ts = PyThreadState_Get();

	if (!root || ts->datastack_chunk != root || ts->datastack_top != &ts->datastack_chunk->data[1])
		return; /* not as begun: greenlet frees it (arena_free) with the greenlet */
	ts->datastack_chunk = NULL;
	ts->datastack_top = ts->datastack_limit = NULL;
	free(root);
}

/* CPython's chunks and pymalloc's arenas: from the spares, or as before. */
static void *arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	if (size == CHUNK_SIZE && S.nspare > 0)
		return S.spare[--S.nspare];
	return S.orig.alloc(S.orig.ctx, size);
}

static void arena_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	if (size == ROOT_SIZE)
		free(p); /* a root chunk, freed by greenlet with an unfinished greenlet */
	else if (size == CHUNK_SIZE && S.nspare < SPARE_CHUNKS)
		S.spare[S.nspare++] = p;
	else
		S.orig.free(S.orig.ctx, p, size);
}
#else
void pystack_init(void)
{
}

void *pystack_begin(void)
{
	return NULL;
}

void pystack_end(void *root)
{
	(void)root;
}
#endif

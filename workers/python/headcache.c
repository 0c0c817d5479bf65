/* headcache — see headcache.h. */
#include "workers/python/headcache.h"

#include <stdint.h>
#include <string.h>

#include "workers/http/response.h"

#define SLOTS 64 /* tuples kept */

static struct {
	PyObject *tuple; /* new ref; NULL: empty */
	int64_t length;  /* Content-Length's value; -1 for any other header */
	uint16_t len;
	char line[118];
} slots[SLOTS];

static size_t slot_of(PyObject *h)
{
	return ((uintptr_t)h >> 4) % SLOTS;
}

int headcache_add(struct response *r, PyObject *h)
{
	size_t i = slot_of(h);

	if (slots[i].tuple != h)
		return 1;
	return response_add_line(r, slots[i].line, slots[i].len, slots[i].length);
}

void headcache_keep(PyObject *h, const struct response *r, size_t before, bool had_length)
{
	size_t i = slot_of(h), n = r->head_len - before;

	if (n == 0 || n > sizeof(slots[i].line) || !PyTuple_CheckExact(h))
		return;
	Py_XSETREF(slots[i].tuple, Py_NewRef(h));
	slots[i].length = r->has_length && !had_length ? (int64_t)r->length : -1;
	slots[i].len = (uint16_t)n;
	memcpy(slots[i].line, r->head + before, n);
}

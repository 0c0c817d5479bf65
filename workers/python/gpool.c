/* gpool — see gpool.h. */
#include "workers/python/gpool.h"

#include "arbiter/log.h"

int gpool_init(struct gpool *p)
{
	p->parked = PyList_New(0); /* new ref */
	p->low = 0;
	p->next_trim = 0;
	return p->parked ? 0 : -1;
}

PyObject *gpool_take(struct gpool *p)
{
	Py_ssize_t n = PyList_GET_SIZE(p->parked);
	PyObject *g;

	if (n == 0)
		return NULL;
	g = PyList_GET_ITEM(p->parked, n - 1); /* borrowed */
	Py_INCREF(g);
	if (PyList_SetSlice(p->parked, n - 1, n, NULL) < 0) {
		Py_DECREF(g);
		return NULL;
	}
	if (n - 1 < p->low)
		p->low = n - 1;
	return g;
}

int gpool_put(struct gpool *p, PyObject *g)
{
	return PyList_Append(p->parked, g);
}

void gpool_remove(struct gpool *p, PyObject *g)
{
	for (Py_ssize_t i = PyList_GET_SIZE(p->parked) - 1; i >= 0; i--) {
		if (PyList_GET_ITEM(p->parked, i) == g) {
			PyList_SetSlice(p->parked, i, i + 1, NULL);
			if (i < p->low)
				p->low = i;
			return;
		}
	}
}

void gpool_tick(struct gpool *p, double now)
{
	Py_ssize_t n, spare;

	if (now < p->next_trim)
		return;
	n = PyList_GET_SIZE(p->parked);
	spare = p->low < n - GPOOL_KEEP ? p->low : n - GPOOL_KEEP;
	p->next_trim = now + GPOOL_TRIM_S;
	/* The oldest first: the list's head has waited longest. */
	if (spare > 0) {
		if (PyList_SetSlice(p->parked, 0, spare, NULL) < 0) {
			log_warning("cannot trim the greenlet pool");
			PyErr_Clear();
		} else {
			log_debug("greenlet pool: gave back %zd of %zd idle greenlets", spare, n);
		}
	}
	p->low = PyList_GET_SIZE(p->parked);
}

Py_ssize_t gpool_size(const struct gpool *p)
{
	return PyList_GET_SIZE(p->parked);
}

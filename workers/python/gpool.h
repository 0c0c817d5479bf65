/*
 * gpool — finished connection greenlets kept to serve the next connection,
 * for the greenlet and gevent workers. A new greenlet per request costs
 * Python 3.11 a 16 KiB data stack (an mmap() and a munmap()) and gevent a
 * Greenlet object and a scheduled start, so a greenlet that answered its
 * request parks here and the next dispatch resumes it.
 *
 * The pool grows to the concurrency the worker meets: a burst of a
 * thousand sleeping requests leaves a thousand greenlets behind. Once a
 * second it gives back those that no request needed all second (the
 * fewest parked at any moment since the last trim), down to GPOOL_KEEP.
 * A greenlet given back is dropped: greenlet raises GreenletExit in it,
 * and it must return from its park with that error.
 *
 * Runs in a worker's hub thread with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Parked greenlets never given back. */
#define GPOOL_KEEP 64
/* Seconds between trims. */
#define GPOOL_TRIM_S 1.0

struct gpool {
	PyObject *parked; /* list of greenlets, the most recently parked last */
	Py_ssize_t low;   /* fewest parked since the last trim */
	double next_trim; /* when gpool_tick() next gives back */
};

/* An empty pool. 0, or -1 with a Python exception set. */
int gpool_init(struct gpool *p);

/* The most recently parked greenlet, taken out (new ref), or NULL if none. */
PyObject *gpool_take(struct gpool *p);

/* Park g (borrowed) before it switches to the hub. 0, or -1 with an exception. */
int gpool_put(struct gpool *p, PyObject *g);

/* Take g (borrowed) out if it is parked: it was resumed by someone else. */
void gpool_remove(struct gpool *p, PyObject *g);

/* Call on every tick; gives back what the last GPOOL_TRIM_S did not use. */
void gpool_tick(struct gpool *p, double now);

/* How many greenlets are parked. */
Py_ssize_t gpool_size(const struct gpool *p);

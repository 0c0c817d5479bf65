/*
 * gconn — the connection greenlets of the greenlet, gevent and asyncio
 * workers: the connection set's dispatch hands a complete head to a
 * greenlet, which serves it and any pipelined requests after it, gives the
 * connection back to the set (to wait in the hub holding no greenlet) or
 * closes it, then parks in the pool (gpool.h) for the next connection. The
 * workers differ only in how a greenlet is found, started and switched
 * (the gconn_switch table) and in what serves a request (WSGI or ASGI).
 *
 * Runs in a worker's hub thread with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "workers/python/wsgi.h"

struct cconn;
struct worker;

struct gconn_switch {
	/* The running greenlet (new ref), or NULL with an exception. */
	PyObject *(*current)(void);
	/*
	 * From a connection greenlet: switch to the hub until switched back.
	 * New ref to what it was switched back with, NULL with an exception
	 * (killed: the pool gave it back).
	 */
	PyObject *(*to_hub)(void);
	/* From the hub: switch into g (borrowed) until it waits or ends. 0, or -1 with an exception. */
	int (*resume)(PyObject *g);
	/*
	 * From the hub: a new greenlet that calls run() (borrowed), now or
	 * soon. 0 once it owns what run() serves (an error it meets later is
	 * its own), or -1 with an exception.
	 */
	int (*start)(PyObject *run);
};

/*
 * Set up the pool for w; each request is answered by serve() (wsgi_serve,
 * or asgi_serve), in its connection's greenlet. 0, or -1 with a Python
 * exception set.
 */
int gconn_init(struct worker *w, const struct gconn_switch *sw,
	       enum wsgi_outcome (*serve)(struct conn *c, bool keep_alive));

/*
 * The connection set's dispatch: serve cc in a parked greenlet, or in a new
 * one. A connection no greenlet could take is closed.
 */
void gconn_dispatch(struct cconn *cc);

/*
 * A dispatch that waits: cc joins the connections gconn_drain() serves.
 * A greenlet that answered its request serves the next one waiting before
 * it parks, so a turn of the loop with many heads costs two greenlet
 * switches, not two per request.
 */
void gconn_queue(struct cconn *cc);

/* From the hub: gconn_dispatch() each connection gconn_queue() holds. */
void gconn_drain(void);

/* On every tick: give back greenlets the pool no longer needs. */
void gconn_tick(double now);

/* gconn — see gconn.h. */
#include "workers/python/gconn.h"

#include "arbiter/config.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/python/gpool.h"
#include "workers/python/interp.h"
#include "workers/python/pystack.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/wsgi.h"
#include "workers/worker.h"

static struct {
	struct worker *w;
	const struct gconn_switch *sw;
	enum wsgi_outcome (*serve)(struct conn *c, bool keep_alive);
	struct gpool pool;     /* greenlets waiting in run() for their next connection;
	                        * idle keep-alive connections hold none */
	struct cconn *handoff; /* the connection dispatch() hands a parked greenlet */
	struct cconn *queue, *queue_tail; /* gconn_queue()'d, first come first served */
} G;

static PyObject *run(PyObject *capsule, PyObject *unused);
static PyObject *serve_all(struct cconn *cc);
static void serve(struct cconn *cc);
static struct cconn *next_queued(void);

static PyMethodDef run_def = {"kirin_connection", run, METH_NOARGS, NULL};

int gconn_init(struct worker *w, const struct gconn_switch *sw,
	       enum wsgi_outcome (*serve_one)(struct conn *c, bool keep_alive))
{
	G.w = w;
	G.sw = sw;
	G.serve = serve_one;
	reqtimeout_use_greenlets(sw->current);
	pystack_init();
	return gpool_init(&G.pool);
}

void gconn_dispatch(struct cconn *cc)
{
	PyObject *g = gpool_take(&G.pool); /* new ref, or NULL */
	PyObject *cap, *fn;
	int rc;

	if (g) {
		/* It runs the request until that waits or is answered. */
		G.handoff = cc;
		if (G.sw->resume(g) < 0)
			interp_log_exception("Error in a connection greenlet");
		Py_DECREF(g);
		if (G.handoff) { /* the greenlet never took it */
			G.handoff = NULL;
			connset_close(cc);
		}
		return;
	}
	cap = PyCapsule_New(cc, NULL, NULL);                /* new ref */
	fn = cap ? PyCFunction_New(&run_def, cap) : NULL;   /* new ref */
	rc = fn ? G.sw->start(fn) : -1;
	Py_XDECREF(fn);
	Py_XDECREF(cap);
	if (rc < 0) {
		interp_log_exception("cannot start a greenlet for a connection");
		connset_close(cc);
	}
}

void gconn_queue(struct cconn *cc)
{
	cc->qnext = NULL;
	if (G.queue_tail)
		G.queue_tail->qnext = cc;
	else
		G.queue = cc;
	G.queue_tail = cc;
}

void gconn_drain(void)
{
	struct cconn *cc;

	while ((cc = next_queued()))
		gconn_dispatch(cc);
}

static struct cconn *next_queued(void)
{
	struct cconn *cc = G.queue;

	if (cc && !(G.queue = cc->qnext))
		G.queue_tail = NULL;
	return cc;
}

void gconn_tick(double now)
{
	gpool_tick(&G.pool, now);
	if (reqtimeout_seconds)
		reqtimeout_tick(now);
}

/* A connection greenlet's function: serve_all() on a small data stack. */
static PyObject *run(PyObject *capsule, PyObject *unused)
{
	void *root = pystack_begin();
	PyObject *r = serve_all(PyCapsule_GetPointer(capsule, NULL));

	pystack_end(root);
	return r;
}

/*
 * A connection greenlet's life: serve the connection it was started with,
 * and the ones queued meanwhile, then wait in the pool (switched out to the hub) for the next one that
 * dispatch() hands it, unless the worker is stopping. The pool holds the
 * only reference while it waits: given back, the greenlet is killed and
 * returns the GreenletExit it gets.
 */
static PyObject *serve_all(struct cconn *cc)
{
	/*
	 * Borrowed: a running greenlet is alive. A reference held here would
	 * keep it from being killed when the pool lets it go.
	 */
	PyObject *me = G.sw->current();

	if (!me)
		return NULL;
	Py_DECREF(me);
	while (cc) {
		PyObject *r;

		serve(cc);
		if (connset_stopping())
			Py_RETURN_NONE;
		if ((cc = next_queued()))
			continue; /* the next in line, without two switches */
		if (gpool_put(&G.pool, me) < 0)
			return NULL;
		r = G.sw->to_hub(); /* dispatch() switches back with a connection in G.handoff */
		if (!r)
			return NULL; /* killed while in the pool */
		Py_DECREF(r);
		cc = G.handoff;
		G.handoff = NULL;
		if (!cc) {
			/* Resumed by someone else while in the pool: leave it. */
			gpool_remove(&G.pool, me);
			PyErr_SetString(PyExc_RuntimeError,
					"a kirin connection greenlet was resumed without a connection");
		}
	}
	return NULL;
}

/*
 * In cc's greenlet: answer its request, then any pipelined ones already
 * buffered; then give the connection back to the set to wait for more, or
 * close it.
 */
static void serve(struct cconn *cc)
{
	const struct config *cfg = G.w->cfg;

	if (cc->refuse) {
		conn_refuse(&cc->c, cc->c.error_status);
		channel_count_request(cc->c.error_status, 0);
		connset_close(cc);
		return;
	}
	for (;;) {
		bool keep = cfg->keepalive > 0 && !worker_stopping(G.w) && !connset_stopping();
		enum wsgi_outcome out = G.serve(&cc->c, keep);
		int rc;

		G.w->requests++;
		connset_counted();
		if (out != WSGI_KEEP || !keep || conn_next_request(&cc->c) < 0) {
			if (out != WSGI_CLOSED)
				conn_finish(&cc->c);
			connset_close(cc);
			return;
		}
		rc = conn_poll_head(&cc->c);
		if (rc == 1)
			continue; /* pipelined */
		if (rc == -2) {
			connset_park(cc);
			return;
		}
		if (rc < 0 && cc->c.error_status) {
			conn_refuse(&cc->c, cc->c.error_status);
			channel_count_request(cc->c.error_status, 0);
		}
		connset_close(cc);
		return;
	}
}

/* gevent — see gevent.h. */
#include "workers/gevent.h"

#include <errno.h>
#include <poll.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/python/gconn.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/wsgi.h"
#include "workers/reactor_gevent.h"
#include "workers/worker.h"

static struct {
	PyObject *spawn, *getcurrent;
	PyObject *loop;                    /* the hub's loop: io and timer watchers */
	PyObject *s_switch, *s_start, *s_stop; /* interned method names */
	/* greenlet.greenlet.switch, for to_hub: NULL where gevent.Greenlet has a switch_out */
	PyObject *raw_switch;
	PyObject *run_callback, *drain; /* hub.loop.run_callback, and on_drain() for it */
	bool drain_due;                 /* on_drain() is scheduled */
} V;

static int conn_wait(struct conn *c, short events, int timeout_ms);
static int park(int fd, short events, double timeout);
static PyObject *watcher(PyObject *w, PyObject *callback, PyObject *token);
static void dispatch(struct cconn *cc);
static PyObject *on_drain(PyObject *self, PyObject *unused);
static PyObject *raw_switch(void);
static PyObject *current(void);
static PyObject *to_hub(void);
static int resume(PyObject *g);
static int start(PyObject *run);
static int gv_sleep(double seconds);
static PyObject *gv_spawn(PyObject *func, PyObject *args, PyObject *kwargs);

static const struct conn_io gevent_io = {.wait = conn_wait};
static const struct connset_ops gevent_ops = {
	.dispatch = dispatch,
	.io = &gevent_io,
	.tick = gconn_tick,
	.fresh_waits_timeout = true,
};
static const struct gconn_switch gevent_switch = {
	.current = current,
	.to_hub = to_hub,
	.resume = resume,
	.start = start,
};
static PyMethodDef drain_def = {"kirin_drain", on_drain, METH_NOARGS, NULL};
static const struct kirin_backend backend = {
	.name = "gevent",
	.sleep = gv_sleep,
	.wait_fd = park,
	.spawn = gv_spawn,
};

const struct kirin_backend *gevent_backend(void)
{
	return &backend;
}

int gevent_run(struct worker *w, PyObject *app)
{
	size_t busy;

	w->skip_finalize = true; /* suspended greenlets must not be killed into a dead hub */
	if (wsgi_init(app, false, w->cfg->workers > 1, true) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	V.spawn = reactor_gevent_attr("gevent", "spawn");
	V.getcurrent = reactor_gevent_attr("gevent", "getcurrent");
	V.s_switch = PyUnicode_InternFromString("switch");
	V.s_start = PyUnicode_InternFromString("start");
	V.s_stop = PyUnicode_InternFromString("stop");
	V.raw_switch = raw_switch();
	if (!V.spawn || !V.getcurrent || !V.s_switch || !V.s_start || !V.s_stop ||
	    gconn_init(w, &gevent_switch, wsgi_serve) < 0) {
		interp_log_exception("cannot set up gevent (is python3-gevent installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	if (connset_init(w, &gevent_ops, &reactor_gevent) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	V.loop = PyObject_GetAttrString(reactor_gevent_hub(), "loop"); /* the hub is up now */
	V.run_callback = V.loop ? PyObject_GetAttrString(V.loop, "run_callback") : NULL;
	V.drain = PyCFunction_New(&drain_def, NULL);
	if (!V.loop || !V.run_callback || !V.drain) {
		interp_log_exception("cannot set up gevent's loop and its callbacks");
		return WORKER_EXIT_BOOT_ERROR;
	}
	busy = connset_run();
	if (busy > 0)
		log_warning("%zu request(s) still running after the graceful timeout", busy);
	return WORKER_EXIT_OK;
}

/*
 * The heads of a turn of the loop are queued and served when its
 * callbacks run (after the sockets' watchers), one greenlet taking them in
 * turn (gconn_queue()).
 */
static void dispatch(struct cconn *cc)
{
	PyObject *r;

	gconn_queue(cc);
	if (V.drain_due)
		return;
	r = PyObject_CallOneArg(V.run_callback, V.drain); /* new ref */
	if (!r) {
		interp_log_exception("cannot schedule the connections' dispatch");
		gconn_drain();
		return;
	}
	Py_DECREF(r);
	V.drain_due = true;
}

static PyObject *on_drain(PyObject *self, PyObject *unused)
{
	V.drain_due = false;
	gconn_drain();
	Py_RETURN_NONE;
}

/* Wait through gevent's hub, in a connection's greenlet; the caller may have released the GIL. */
static int conn_wait(struct conn *c, short events, int timeout_ms)
{
	PyGILState_STATE st = PyGILState_Ensure();
	int rc = park(c->fd, events, timeout_ms < 0 ? -1 : timeout_ms / 1000.0);

	if (rc < 0) {
		if (reqtimeout_matches())
			reqtimeout_rethrow_later();
		PyErr_Clear(); /* the greenlet killed */
	}
	PyGILState_Release(st);
	errno = rc == 0 ? ETIMEDOUT : EPIPE;
	return rc > 0 ? 0 : -1;
}

/*
 * Park the current greenlet on an io watcher of the hub's loop for fd (and
 * a timer when timeout >= 0 seconds), as gevent.socket.wait_read() does but
 * without its Python frames and Waiter: the watcher switches back with a
 * token saying which fired. 1 ready, 0 timed out, -1 with an exception (the
 * greenlet killed, or gevent failed). With the GIL.
 */
static int park(int fd, short events, double timeout)
{
	PyObject *g = current(); /* new ref */
	PyObject *sw = g ? PyObject_GetAttr(g, V.s_switch) : NULL; /* new ref */
	PyObject *io = sw ? watcher(PyObject_CallMethod(V.loop, "io", "ii", fd,
							events & POLLIN ? 1 : 2),
				    sw, Py_True)
			  : NULL;
	PyObject *timer = io && timeout >= 0
				  ? watcher(PyObject_CallMethod(V.loop, "timer", "d", timeout), sw,
					    Py_False)
				  : NULL;
	PyObject *r = io && (timer || timeout < 0) ? to_hub() : NULL; /* new ref */
	int rc = !r ? -1 : r == Py_True ? 1 : r == Py_False ? 0 : -2;
	PyObject *type, *value, *tb;

	if (rc == -2) {
		PyErr_SetString(PyExc_RuntimeError, "a connection's greenlet was switched to "
						    "while it waited for its socket");
		rc = -1;
	}
	Py_XDECREF(r);
	PyErr_Fetch(&type, &value, &tb); /* what woke us (a kill), kept across the stops */
	for (int i = 0; i < 2; i++) {
		PyObject *w = i ? timer : io;
		PyObject *x = w ? PyObject_CallMethodNoArgs(w, V.s_stop) : NULL;

		if (w && !x)
			PyErr_Clear(); /* it stops when it is freed anyway */
		Py_XDECREF(x);
		Py_XDECREF(w);
	}
	PyErr_Restore(type, value, tb);
	Py_XDECREF(sw);
	Py_XDECREF(g);
	return rc;
}

/* Start w (a new ref it consumes, NULL passes) with callback(token): w, or NULL. */
static PyObject *watcher(PyObject *w, PyObject *callback, PyObject *token)
{
	PyObject *r = w ? PyObject_CallMethodObjArgs(w, V.s_start, callback, token, NULL) : NULL;

	if (!r)
		Py_CLEAR(w);
	Py_XDECREF(r);
	return w;
}

static PyObject *current(void)
{
	return PyObject_CallNoArgs(V.getcurrent);
}

/*
 * Hub.switch() first looks up the current greenlet's switch_out (none on a
 * gevent.Greenlet, the connections' greenlets): an AttributeError raised
 * and caught, per request. With none to call, greenlet's own switch does
 * the same. New ref, or NULL without an exception: use hub.switch().
 */
static PyObject *raw_switch(void)
{
	PyObject *glet = reactor_gevent_attr("gevent", "Greenlet"); /* new ref */
	PyObject *sw = glet && !PyObject_HasAttrString(glet, "switch_out")
			       ? reactor_gevent_attr("greenlet", "greenlet")
			       : NULL; /* new ref */
	PyObject *r = sw ? PyObject_GetAttr(sw, V.s_switch) : NULL; /* new ref */

	Py_XDECREF(glet);
	Py_XDECREF(sw);
	PyErr_Clear();
	return r;
}

static PyObject *to_hub(void)
{
	if (V.raw_switch)
		return PyObject_CallOneArg(V.raw_switch, reactor_gevent_hub());
	return PyObject_CallMethodNoArgs(reactor_gevent_hub(), V.s_switch);
}

static int resume(PyObject *g)
{
	PyObject *r = PyObject_CallMethodNoArgs(g, V.s_switch);

	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* gevent.spawn: the greenlet starts soon, from the hub. */
static int start(PyObject *run)
{
	PyObject *r = PyObject_CallOneArg(V.spawn, run);

	Py_XDECREF(r);
	return r ? 0 : -1;
}

static int gv_sleep(double seconds)
{
	PyObject *sleep = reactor_gevent_attr("gevent", "sleep");
	PyObject *r = sleep ? PyObject_CallFunction(sleep, "d", seconds) : NULL;

	Py_XDECREF(sleep);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

static PyObject *gv_spawn(PyObject *func, PyObject *args, PyObject *kwargs)
{
	PyObject *spawn = reactor_gevent_attr("gevent", "spawn");
	PyObject *all, *r;

	if (!spawn)
		return NULL;
	all = kirinmod_prepend(func, args);
	if (!all) {
		Py_DECREF(spawn);
		return NULL;
	}
	r = PyObject_Call(spawn, all, kwargs);
	Py_DECREF(all);
	Py_DECREF(spawn);
	return r;
}

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
	PyObject *wait_read, *wait_write, *spawn, *getcurrent;
	PyObject *s_switch; /* interned method name */
	/* greenlet.greenlet.switch, for to_hub: NULL where gevent.Greenlet has a switch_out */
	PyObject *raw_switch;
	PyObject *run_callback, *drain; /* hub.loop.run_callback, and on_drain() for it */
	bool drain_due;                 /* on_drain() is scheduled */
} V;

static int conn_wait(struct conn *c, short events, int timeout_ms);
static void dispatch(struct cconn *cc);
static PyObject *on_drain(PyObject *self, PyObject *unused);
static PyObject *raw_switch(void);
static PyObject *current(void);
static PyObject *to_hub(void);
static int resume(PyObject *g);
static int start(PyObject *run);
static int gv_sleep(double seconds);
static int gv_wait_fd(int fd, short events, double timeout);
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
	.wait_fd = gv_wait_fd,
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
	V.wait_read = reactor_gevent_attr("gevent.socket", "wait_read");
	V.wait_write = reactor_gevent_attr("gevent.socket", "wait_write");
	V.spawn = reactor_gevent_attr("gevent", "spawn");
	V.getcurrent = reactor_gevent_attr("gevent", "getcurrent");
	V.s_switch = PyUnicode_InternFromString("switch");
	V.raw_switch = raw_switch();
	if (!V.wait_read || !V.wait_write || !V.spawn || !V.getcurrent || !V.s_switch ||
	    gconn_init(w, &gevent_switch, wsgi_serve) < 0) {
		interp_log_exception("cannot set up gevent (is python3-gevent installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	if (connset_init(w, &gevent_ops, &reactor_gevent) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	PyObject *loop = PyObject_GetAttrString(reactor_gevent_hub(), "loop"); /* new ref */
	V.run_callback = loop ? PyObject_GetAttrString(loop, "run_callback") : NULL;
	Py_XDECREF(loop);
	V.drain = PyCFunction_New(&drain_def, NULL);
	if (!V.run_callback || !V.drain) {
		interp_log_exception("cannot set up gevent's loop callbacks");
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
	PyObject *fn = events & POLLIN ? V.wait_read : V.wait_write;
	PyObject *r = timeout_ms < 0 ? PyObject_CallFunction(fn, "i", c->fd)
				     : PyObject_CallFunction(fn, "id", c->fd, timeout_ms / 1000.0);
	int rc = r ? 0 : -1;

	if (!r) {
		errno = PyErr_ExceptionMatches(PyExc_TimeoutError) ? ETIMEDOUT : EPIPE;
		if (reqtimeout_matches())
			reqtimeout_rethrow_later();
		PyErr_Clear(); /* a timeout, or the greenlet killed */
	}
	Py_XDECREF(r);
	PyGILState_Release(st);
	return rc;
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

static int gv_wait_fd(int fd, short events, double timeout)
{
	PyObject *fn = reactor_gevent_attr("gevent.socket", events & POLLIN ? "wait_read" : "wait_write");
	PyObject *r = NULL;

	if (!fn)
		return -1;
	r = timeout < 0 ? PyObject_CallFunction(fn, "i", fd)
			: PyObject_CallFunction(fn, "id", fd, timeout);
	Py_DECREF(fn);
	if (!r && PyErr_ExceptionMatches(PyExc_TimeoutError)) {
		PyErr_Clear();
		return 0;
	}
	Py_XDECREF(r);
	return r ? 1 : -1;
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

/* greenlet — see greenlet.h. */
#include "workers/greenlet.h"

#include <errno.h>
#include <event2/event.h>
#include <greenlet.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/python/gconn.h"
#include "workers/python/gmain.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/wsgi.h"
#include "workers/reactor.h"
#include "workers/worker.h"

/* A greenlet suspended until its event fires (or it is woken: EV_READ on a timer). */
struct waiter {
	PyGreenlet *g;
	struct event *ev;
	short what; /* what resumed it */
};

/* A greenlet from kirin.spawn(), started from the hub on the next loop turn. */
struct starter {
	PyGreenlet *g;
	struct event *ev;
};

static struct {
	struct worker *w;
	PyThreadState *ts; /* the thread's state, shared by every greenlet */
	PyGreenlet *hub;   /* the main greenlet: it runs the loop */
	PyObject *parked;  /* greenlet -> capsule of its struct waiter (kirin.Queue) */
} H;

static void hub_take_gil(void);
static void hub_before_wait(void);
static void hub_tick(double now);
static bool gil_enter(void);
static void gil_leave(bool took);
static bool in_hub(void);
static int suspend(evutil_socket_t fd, short what, double timeout, PyObject *parked);
static void resume_cb(evutil_socket_t fd, short what, void *arg);
static void start_cb(evutil_socket_t fd, short what, void *arg);
static int conn_wait(struct conn *c, short events, int timeout_ms);
static void dispatch(struct cconn *cc);
static int hub_sleep(double seconds);
static int hub_wait_fd(int fd, short events, double timeout);
static PyObject *hub_spawn(PyObject *func, PyObject *args, PyObject *kwargs);
static int hub_park(double timeout);
static bool hub_wake(PyObject *g);

static const struct conn_io greenlet_io = {.wait = conn_wait};
static const struct connset_ops greenlet_ops = {
	.dispatch = dispatch,
	.io = &greenlet_io,
	.before_wait = hub_before_wait,
	.tick = hub_tick,
};
static const struct kirin_backend hub_backend = {
	.name = "hub",
	.sleep = hub_sleep,
	.wait_fd = hub_wait_fd,
	.spawn = hub_spawn,
	.park = hub_park,
	.wake = hub_wake,
};

const struct kirin_backend *greenlet_backend(void)
{
	return &hub_backend;
}

int greenlet_run(struct worker *w, PyObject *app)
{
	const struct gconn_switch *sw;
	size_t busy;

	H.w = w;
	PyGreenlet_Import();
	if (!_PyGreenlet_API) {
		interp_log_exception("cannot load greenlet's C API (is python3-greenlet installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	if (wsgi_init(app, false, w->cfg->workers > 1, true) < 0 ||
	    connset_init(w, &greenlet_ops, &reactor_event) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	H.hub = PyGreenlet_GetCurrent(); /* new ref */
	H.parked = PyDict_New();
	if (!H.hub || !H.parked || !(sw = gmain_switch((PyObject *)H.hub)) ||
	    gconn_init(w, sw, wsgi_serve) < 0) {
		interp_log_exception("cannot set up the hub");
		return WORKER_EXIT_BOOT_ERROR;
	}
	H.ts = PyThreadState_Get();
	busy = connset_run();
	hub_take_gil();
	/* Suspended greenlets would be killed during finalization, resuming
	 * into a hub that is gone: the process ends without it. */
	w->skip_finalize = true;
	if (busy > 0)
		log_warning("%zu request(s) still running after the graceful timeout", busy);
	return WORKER_EXIT_OK;
}

/*
 * The hub waits for events without the GIL, so the app's own threads run
 * meanwhile; the first callback that switches greenlets takes it, and the
 * hub keeps it for the rest of that turn of the loop (one handover per
 * batch of events, not per request).
 */
static void hub_take_gil(void)
{
	if (!PyGILState_Check())
		PyEval_RestoreThread(H.ts);
}

/* The turn's heads are served (the hub took the GIL for them), then the GIL goes. */
static void hub_before_wait(void)
{
	if (PyGILState_Check()) {
		gconn_drain();
		H.ts = PyEval_SaveThread();
	}
}

static void hub_tick(double now)
{
	hub_take_gil();
	gconn_tick(now);
}

/* Where the GIL may have been let go (a wait inside Py_BEGIN_ALLOW_THREADS): take it for now. */
static bool gil_enter(void)
{
	if (PyGILState_Check())
		return false;
	PyEval_RestoreThread(H.ts);
	return true;
}

static void gil_leave(bool took)
{
	if (took)
		PyEval_SaveThread();
}

static bool in_hub(void)
{
	PyGreenlet *cur = PyGreenlet_GetCurrent(); /* new ref */
	bool hub = !H.hub || cur == H.hub;

	Py_XDECREF(cur);
	return hub;
}

/*
 * Suspend the current greenlet (GIL held, not the hub) until fd is ready
 * for `what` (fd -1: a timer), the timeout passes (< 0: none) or someone
 * activates the waiter's event (kirin.Queue). `parked`, if not NULL, is
 * where the greenlet is registered for hub_wake() meanwhile. Returns the
 * events that resumed it, or -1 with an exception (it is being killed).
 *
 * The waiter lives on the heap: a suspended greenlet's stack is copied away
 * and its addresses hold other greenlets' frames until it runs again.
 */
static int suspend(evutil_socket_t fd, short what, double timeout, PyObject *parked)
{
	struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - floor(timeout)) * 1e6)};
	struct waiter *wt = xmalloc(sizeof(*wt));
	PyObject *r, *cap = NULL;
	int rc;

	wt->g = PyGreenlet_GetCurrent(); /* new ref */
	wt->what = 0;
	wt->ev = event_new(reactor_event_base(), fd, what, resume_cb, wt);
	if (!wt->ev) {
		PyErr_NoMemory();
		rc = -1;
		goto out;
	}
	if (parked) {
		cap = PyCapsule_New(wt, NULL, NULL); /* new ref */
		if (!cap || PyDict_SetItem(H.parked, parked, cap) < 0) {
			Py_XDECREF(cap);
			rc = -1;
			goto out;
		}
	}
	/* From now, not from the loop turn's cached time: a sleep armed late in
	 * a long turn would end early, and every timer armed in one turn would
	 * expire at once, keeping concurrent sleepers in lock-step. */
	if (timeout >= 0)
		event_base_update_cache_time(reactor_event_base());
	event_add(wt->ev, timeout >= 0 ? &tv : NULL);
	r = PyGreenlet_Switch(H.hub, NULL, NULL);
	Py_XDECREF(r);
	rc = r ? wt->what : -1;
	if (parked && PyDict_GetItemWithError(H.parked, parked) == cap && cap &&
	    PyDict_DelItem(H.parked, parked) < 0)
		rc = -1;
out:
	Py_XDECREF(cap);
	if (wt->ev)
		event_free(wt->ev);
	Py_DECREF(wt->g);
	free(wt);
	return rc;
}

/* In the hub: switch back into the greenlet that waited. */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *wt = arg;
	PyObject *r;

	hub_take_gil();
	wt->what = what;
	r = PyGreenlet_Switch(wt->g, NULL, NULL);
	if (!r)
		interp_log_exception("Error in a greenlet");
	Py_XDECREF(r);
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct starter *st = arg;
	PyObject *r;

	hub_take_gil();
	r = PyGreenlet_Switch(st->g, NULL, NULL);
	if (!r)
		interp_log_exception("Error in a spawned greenlet");
	Py_XDECREF(r);
	Py_DECREF(st->g);
	event_free(st->ev);
	free(st);
}

/* conn's wait in a connection greenlet: park until the socket is ready. */
static int conn_wait(struct conn *c, short events, int timeout_ms)
{
	bool took = gil_enter();
	int rc = hub_wait_fd(c->fd, events, timeout_ms < 0 ? -1 : timeout_ms / 1000.0);

	if (rc < 0) {
		if (reqtimeout_matches())
			reqtimeout_rethrow_later();
		PyErr_Clear(); /* killed while waiting: the connection just fails */
	}
	gil_leave(took);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}

/* From the connection set (the hub): the GIL for this turn, then a greenlet. */
static void dispatch(struct cconn *cc)
{
	hub_take_gil();
	gconn_queue(cc);
}

static int hub_sleep(double seconds)
{
	if (in_hub())
		return kirinmod_blocking()->sleep(seconds);
	return suspend(-1, 0, seconds, NULL) < 0 ? -1 : 0;
}

static int hub_wait_fd(int fd, short events, double timeout)
{
	short what = (events & POLLIN ? EV_READ : 0) | (events & POLLOUT ? EV_WRITE : 0);
	int rc;

	if (in_hub())
		return kirinmod_blocking()->wait_fd(fd, events, timeout);
	rc = suspend(fd, what, timeout, NULL);
	return rc < 0 ? -1 : (rc & (EV_READ | EV_WRITE)) != 0;
}

static PyObject *hub_spawn(PyObject *func, PyObject *args, PyObject *kwargs)
{
	PyObject *functools = PyImport_ImportModule("functools"); /* new ref */
	PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
	PyObject *pargs = NULL, *run = NULL;
	PyGreenlet *g = NULL;
	struct starter *st;

	Py_XDECREF(functools);
	if (!partial)
		return NULL;
	pargs = kirinmod_prepend(func, args);
	if (pargs)
		run = PyObject_Call(partial, pargs, kwargs);
	Py_XDECREF(pargs);
	Py_DECREF(partial);
	if (run)
		g = PyGreenlet_New(run, H.hub);
	Py_XDECREF(run);
	if (!g)
		return NULL;
	st = xmalloc(sizeof(*st));
	st->ev = event_new(reactor_event_base(), -1, 0, start_cb, st);
	if (!st->ev) {
		free(st);
		Py_DECREF(g);
		return PyErr_NoMemory();
	}
	st->g = g;
	Py_INCREF(g); /* one for the starter, one for the caller */
	event_active(st->ev, EV_TIMEOUT, 0);
	return (PyObject *)g;
}

static int hub_park(double timeout)
{
	PyObject *cur;
	int rc;

	if (in_hub()) {
		PyErr_SetString(PyExc_RuntimeError, "kirin.Queue.get() cannot wait in the hub");
		return -1;
	}
	cur = (PyObject *)PyGreenlet_GetCurrent(); /* new ref */
	rc = suspend(-1, 0, timeout, cur);
	Py_DECREF(cur);
	return rc < 0 ? -1 : (rc & EV_READ) != 0;
}

static bool hub_wake(PyObject *g)
{
	PyObject *cap = PyDict_GetItemWithError(H.parked, g); /* borrowed */
	struct waiter *wt;

	if (!cap) {
		PyErr_Clear();
		return false;
	}
	wt = PyCapsule_GetPointer(cap, NULL);
	event_del(wt->ev);
	event_active(wt->ev, EV_READ, 0);
	PyDict_DelItem(H.parked, g);
	return true;
}

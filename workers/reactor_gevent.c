/* reactor_gevent — see reactor_gevent.h. */
#include "workers/reactor_gevent.h"

#include <stdlib.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/connset.h"
#include "workers/policy.h"
#include "workers/python/interp.h"
#include "workers/reactor_py.h"
#include "workers/worker.h"

/*
 * libev priority of a connection's watcher: above the default (0) of the
 * application's timers (time.sleep), so that in a loop turn where requests
 * arrived and sleeps ended, the requests are read and started first. libev
 * runs a turn's pending watchers of one priority last-queued first, that
 * is timers before sockets: with a thousand sleepers, a turn's batch of
 * wake-ups (libev waits at least 1 ms, so sleeps ending within a
 * millisecond or more wake together) held up every request that had
 * arrived meanwhile, and the requests read late went to sleep late.
 * Only the order within a turn changes: nothing pending waits for the
 * next turn either way.
 */
#define CONN_PRIORITY 1

/*
 * A connection with its io watcher (loop.io(fd, READ), for the
 * connection's life), left started while a greenlet owns the connection
 * (stopping and starting it around every request costs more than the
 * wake-up when a request does wait); the set stops it if it fires then.
 * TLS may need to wait for writing: a second watcher, loop.io(fd, WRITE),
 * made then, started for one shot.
 */
struct vconn {
	struct cconn cc;   /* first member */
	PyObject *watcher;
	PyObject *on_ready; /* its callback, bound to a capsule of this vconn */
	PyObject *wwatcher; /* writable (gv_watch_write), or NULL */
	bool writing;       /* wwatcher is started */
};

static struct {
	const struct worker *w;
	const struct connset_ops *ops;
	const struct conn_policy *policy;
	PyObject *hub, *loop, *stop_event;
	PyObject *s_start, *s_stop; /* interned method names */
	PyObject **accept_watchers;
	PyObject *tick_timer, *channel_watcher;
	PyObject *backoff_timer; /* the end of the last pause in accepting */
	size_t room;        /* connections it may still accept */
	bool accepting;     /* the accept watchers are started */
	bool backing_off;   /* out of descriptors: accept nothing until backoff_timer */
} V;

static int gv_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p);
static void gv_run(void);
static void gv_stop(void);
static int gv_watch(struct cconn *cc);
static int gv_watch_write(struct cconn *cc);
static void gv_unwatch(struct cconn *cc);
static void gv_release(struct cconn *cc);
static void gv_room(size_t room, bool add);
static PyObject *watch(PyObject *watcher, PyObject *callback);
static int set_accepting(bool on);
static void update_accepting(void);
static void back_off(void);
static PyObject *on_accept(PyObject *capsule, PyObject *unused);
static PyObject *on_ready(PyObject *capsule, PyObject *unused);
static void stop_writing(struct vconn *vc);
static PyObject *on_tick(PyObject *self, PyObject *unused);
static PyObject *on_backoff_end(PyObject *self, PyObject *unused);

static PyMethodDef accept_def = {"kirin_accept", on_accept, METH_NOARGS, NULL};
static PyMethodDef ready_def = {"kirin_readable", on_ready, METH_NOARGS, NULL};
static PyMethodDef tick_def = {"kirin_tick", on_tick, METH_NOARGS, NULL};
static PyMethodDef backoff_def = {"kirin_backoff_end", on_backoff_end, METH_NOARGS, NULL};

const struct reactor reactor_gevent = {
	.init = gv_init,
	.run = gv_run,
	.stop = gv_stop,
	.watch = gv_watch,
	.watch_write = gv_watch_write,
	.unwatch = gv_unwatch,
	.release = gv_release,
	.room = gv_room,
	.drained = reactor_py_drained,
	.free = reactor_py_free,
};

PyObject *reactor_gevent_hub(void)
{
	return V.hub;
}

PyObject *reactor_gevent_attr(const char *mod, const char *attr)
{
	PyObject *m = PyImport_ImportModule(mod); /* new ref */
	PyObject *a = m ? PyObject_GetAttrString(m, attr) : NULL;

	Py_XDECREF(m);
	return a;
}

static int gv_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p)
{
	PyObject *event_cls = reactor_gevent_attr("gevent.event", "Event");
	PyObject *get_hub = reactor_gevent_attr("gevent", "get_hub");
	PyObject *tick_cb, *chan_cb;

	V.w = w;
	V.ops = ops;
	V.policy = p;
	V.room = (size_t)w->cfg->worker_connections;
	V.stop_event = event_cls ? PyObject_CallNoArgs(event_cls) : NULL;
	V.hub = get_hub ? PyObject_CallNoArgs(get_hub) : NULL;
	V.loop = V.hub ? PyObject_GetAttrString(V.hub, "loop") : NULL;
	V.s_start = PyUnicode_InternFromString("start");
	V.s_stop = PyUnicode_InternFromString("stop");
	Py_XDECREF(event_cls);
	Py_XDECREF(get_hub);
	if (!V.stop_event || !V.loop || !V.s_start || !V.s_stop) {
		interp_log_exception("cannot set up gevent (is python3-gevent installed?)");
		return -1;
	}
	V.accept_watchers = xcalloc(w->nlisteners, sizeof(*V.accept_watchers));
	for (size_t i = 0; i < w->nlisteners; i++)
		V.accept_watchers[i] =
			PyObject_CallMethod(V.loop, "io", "ii", w->listeners[i].fd, 1);
	tick_cb = PyCFunction_New(&tick_def, NULL);
	chan_cb = reactor_py_channel_cb();
	V.tick_timer = watch(PyObject_CallMethod(V.loop, "timer", "dd", REACTOR_TICK_MS / 1000.0,
						 REACTOR_TICK_MS / 1000.0),
			     tick_cb);
	V.channel_watcher =
		watch(PyObject_CallMethod(V.loop, "io", "ii", w->channel_fd, 1), chan_cb);
	Py_XDECREF(tick_cb);
	Py_XDECREF(chan_cb);
	if (!V.tick_timer || !V.channel_watcher || set_accepting(true) < 0) {
		interp_log_exception("cannot start gevent watchers");
		return -1;
	}
	return 0;
}

/* The calling (main) greenlet waits; gevent's hub runs the connections. */
static void gv_run(void)
{
	reactor_py_call(V.stop_event, "wait", "the gevent hub failed");
}

static void gv_stop(void)
{
	reactor_py_call(V.stop_event, "set", "cannot stop the gevent worker");
}

static int gv_watch(struct cconn *cc)
{
	struct vconn *vc = (struct vconn *)(void *)cc;
	PyObject *r = PyObject_CallMethodOneArg(vc->watcher, V.s_start, vc->on_ready);

	if (!r) {
		interp_log_exception("cannot watch a connection");
		return -1;
	}
	Py_DECREF(r);
	return 0;
}

static int gv_watch_write(struct cconn *cc)
{
	struct vconn *vc = (struct vconn *)(void *)cc;
	PyObject *r;

	if (!vc->wwatcher)
		vc->wwatcher = PyObject_CallMethod(V.loop, "io", "iiOi", cc->c.fd, 2, Py_True,
						   CONN_PRIORITY); /* new ref */
	r = vc->wwatcher ? PyObject_CallMethodOneArg(vc->wwatcher, V.s_start, vc->on_ready)
			 : NULL; /* new ref */
	if (!r) {
		interp_log_exception("cannot watch a connection for writing");
		return -1;
	}
	Py_DECREF(r);
	vc->writing = true;
	return 0;
}

static void gv_unwatch(struct cconn *cc)
{
	struct vconn *vc = (struct vconn *)(void *)cc;
	PyObject *r = PyObject_CallMethodNoArgs(vc->watcher, V.s_stop);

	if (!r)
		interp_log_exception("cannot stop watching a connection");
	Py_XDECREF(r);
	stop_writing(vc);
}

static void gv_release(struct cconn *cc)
{
	struct vconn *vc = (struct vconn *)(void *)cc;

	Py_XDECREF(vc->watcher);
	Py_XDECREF(vc->wwatcher);
	Py_XDECREF(vc->on_ready);
	free(vc);
}

static void gv_room(size_t room, bool add)
{
	V.room = add ? V.room + room : room;
	update_accepting();
}

/* watcher.start(callback); returns the watcher (its reference), or NULL. */
static PyObject *watch(PyObject *watcher, PyObject *callback)
{
	PyObject *r;

	if (!watcher || !callback)
		return NULL;
	r = PyObject_CallMethod(watcher, "start", "O", callback);
	if (!r) {
		Py_DECREF(watcher);
		return NULL;
	}
	Py_DECREF(r);
	return watcher;
}

static int set_accepting(bool on)
{
	PyObject *cb = NULL;

	for (size_t i = 0; i < V.w->nlisteners; i++) {
		PyObject *r;

		if (!V.accept_watchers[i])
			return -1;
		if (on) {
			PyObject *cap = PyCapsule_New((void *)&V.w->listeners[i], NULL, NULL);
			cb = cap ? PyCFunction_New(&accept_def, cap) : NULL;
			Py_XDECREF(cap);
			r = cb ? PyObject_CallMethod(V.accept_watchers[i], "start", "O", cb) : NULL;
			Py_XDECREF(cb);
		} else {
			r = PyObject_CallMethod(V.accept_watchers[i], "stop", NULL);
		}
		if (!r)
			return -1;
		Py_DECREF(r);
	}
	V.accepting = on;
	return 0;
}

/* Accept while there is room and no backoff. */
static void update_accepting(void)
{
	bool on = V.room > 0 && !V.backing_off;

	if (on != V.accepting && set_accepting(on) < 0)
		interp_log_exception(on ? "cannot resume accepting" : "cannot pause accepting");
}

/* Out of descriptors or memory: accept nothing for POLICY_ACCEPT_BACKOFF. */
static void back_off(void)
{
	PyObject *cb = PyCFunction_New(&backoff_def, NULL); /* new ref */

	/* A new timer each time: a libev timer that fired, started again,
	 * fires at once. */
	Py_XSETREF(V.backoff_timer,
		   watch(PyObject_CallMethod(V.loop, "timer", "d", POLICY_ACCEPT_BACKOFF), cb));
	Py_XDECREF(cb);
	if (!V.backoff_timer) {
		interp_log_exception("cannot pause accepting");
		return;
	}
	V.backing_off = true;
	update_accepting();
}

static PyObject *on_backoff_end(PyObject *self, PyObject *unused)
{
	V.backing_off = false;
	update_accepting();
	Py_RETURN_NONE;
}

/* An io watcher on a listener fired, in gevent's hub: accept, and look for first heads. */
static PyObject *on_accept(PyObject *capsule, PyObject *unused)
{
	const struct listener *l = PyCapsule_GetPointer(capsule, NULL);

	for (int i = 0; i < WORKER_ACCEPT_BATCH && V.room > 0 && !V.backing_off; i++) {
		struct vconn *vc = xcalloc(1, sizeof(*vc));
		PyObject *cap;
		int rc = policy_accept(&vc->cc.c, l, V.ops->io, V.policy);

		if (rc <= 0) {
			free(vc);
			if (rc == -2)
				back_off();
			break;
		}
		gv_room(V.room - 1, false);
		cap = PyCapsule_New(vc, NULL, NULL);                              /* new ref */
		vc->on_ready = cap ? PyCFunction_New(&ready_def, cap) : NULL;     /* new ref */
		vc->watcher = vc->on_ready ? PyObject_CallMethod(V.loop, "io", "iiOi", vc->cc.c.fd, 1,
								 Py_True, CONN_PRIORITY)
					   : NULL; /* new ref */
		Py_XDECREF(cap); /* on_ready holds it */
		if (!vc->watcher) {
			interp_log_exception("cannot watch a connection");
			conn_close(&vc->cc.c);
			gv_release(&vc->cc);
			if (!connset_stopping())
				gv_room(1, true);
			continue;
		}
		connset_accepted(&vc->cc);
	}
	Py_RETURN_NONE;
}

/* A connection's watcher fired (either: the writable one is one shot), in the hub. */
static PyObject *on_ready(PyObject *capsule, PyObject *unused)
{
	struct vconn *vc = PyCapsule_GetPointer(capsule, NULL);

	stop_writing(vc);
	connset_readable(&vc->cc);
	Py_RETURN_NONE;
}

/* Stop vc's writable watcher if it is started. */
static void stop_writing(struct vconn *vc)
{
	PyObject *r;

	if (!vc->writing)
		return;
	vc->writing = false;
	r = PyObject_CallMethodNoArgs(vc->wwatcher, V.s_stop); /* new ref */
	if (!r)
		interp_log_exception("cannot stop watching a connection for writing");
	Py_XDECREF(r);
}

static PyObject *on_tick(PyObject *self, PyObject *unused)
{
	connset_tick();
	Py_RETURN_NONE;
}


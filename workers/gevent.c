/* gevent — see gevent.h. */
#include "workers/gevent.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/http/conn.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/wsgi.h"
#include "workers/worker.h"

#define TICK 0.1        /* seconds between looks at stop flags and heartbeats */
#define ACCEPT_BATCH 64 /* connections taken per wake-up, so workers share */

struct vconn {
	struct conn c;
	struct vconn *prev, *next;
	PyObject *glet; /* the gevent greenlet serving it */
	bool idle;      /* waiting for a next request with nothing buffered */
};

static struct {
	struct worker *w;
	PyObject *wait_read, *wait_write, *spawn, *stop_event;
	PyObject **accept_watchers;
	PyObject *tick_timer, *channel_watcher;
	bool accepting, stopping;
	double deadline;
	struct vconn *all;
	size_t nconns, idle;
	struct conn_policy policy;
} V;

static int conn_wait(struct conn *c, short events, int timeout_ms);
static PyObject *on_accept(PyObject *capsule, PyObject *unused);
static PyObject *on_tick(PyObject *self, PyObject *unused);
static PyObject *on_channel(PyObject *self, PyObject *unused);
static PyObject *handle(PyObject *capsule, PyObject *unused);
static void close_vconn(struct vconn *vc);
static int set_accepting(bool on);
static void begin_stop(void);
static void stop_now(void);
static int gv_sleep(double seconds);
static int gv_wait_fd(int fd, short events, double timeout);
static PyObject *gv_spawn(PyObject *func, PyObject *args, PyObject *kwargs);

static const struct conn_io gevent_io = {.wait = conn_wait};
static PyMethodDef accept_def = {"kirin_accept", on_accept, METH_NOARGS, NULL};
static PyMethodDef tick_def = {"kirin_tick", on_tick, METH_NOARGS, NULL};
static PyMethodDef channel_def = {"kirin_channel", on_channel, METH_NOARGS, NULL};
static PyMethodDef handle_def = {"kirin_connection", handle, METH_NOARGS, NULL};
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

/* attr of module `mod` (new ref), or NULL with an exception set. */
static PyObject *import_attr(const char *mod, const char *attr)
{
	PyObject *m = PyImport_ImportModule(mod); /* new ref */
	PyObject *a = m ? PyObject_GetAttrString(m, attr) : NULL;

	Py_XDECREF(m);
	return a;
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

int gevent_run(struct worker *w, PyObject *app)
{
	const struct config *cfg = w->cfg;
	PyObject *hub = NULL, *loop = NULL, *r;
	char err[256];

	V.w = w;
	w->skip_finalize = true; /* suspended greenlets must not be killed into a dead hub */
	if (wsgi_init(app, false, cfg->workers > 1) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (conn_policy_init(&V.policy, cfg, true, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return WORKER_EXIT_BOOT_ERROR;
	}
	V.wait_read = import_attr("gevent.socket", "wait_read");
	V.wait_write = import_attr("gevent.socket", "wait_write");
	V.spawn = import_attr("gevent", "spawn");
	PyObject *event_cls = import_attr("gevent.event", "Event");
	PyObject *get_hub = import_attr("gevent", "get_hub");
	V.stop_event = event_cls ? PyObject_CallNoArgs(event_cls) : NULL;
	hub = get_hub ? PyObject_CallNoArgs(get_hub) : NULL;
	loop = hub ? PyObject_GetAttrString(hub, "loop") : NULL;
	Py_XDECREF(event_cls);
	Py_XDECREF(get_hub);
	Py_XDECREF(hub);
	if (!V.wait_read || !V.wait_write || !V.spawn || !V.stop_event || !loop) {
		Py_XDECREF(loop);
		interp_log_exception("cannot set up gevent (is python3-gevent installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	V.accept_watchers = xcalloc(w->nlisteners, sizeof(*V.accept_watchers));
	for (size_t i = 0; i < w->nlisteners; i++) {
		PyObject *cap = PyCapsule_New((void *)&w->listeners[i], NULL, NULL);
		PyObject *cb = cap ? PyCFunction_New(&accept_def, cap) : NULL;
		V.accept_watchers[i] =
			cb ? PyObject_CallMethod(loop, "io", "ii", w->listeners[i].fd, 1) : NULL;
		Py_XDECREF(cb);
		Py_XDECREF(cap);
	}
	PyObject *tick_cb = PyCFunction_New(&tick_def, NULL);
	PyObject *chan_cb = PyCFunction_New(&channel_def, NULL);
	V.tick_timer = watch(PyObject_CallMethod(loop, "timer", "dd", TICK, TICK), tick_cb);
	V.channel_watcher =
		watch(PyObject_CallMethod(loop, "io", "ii", w->channel_fd, 1), chan_cb);
	Py_XDECREF(tick_cb);
	Py_XDECREF(chan_cb);
	Py_DECREF(loop);
	if (!V.tick_timer || !V.channel_watcher || set_accepting(true) < 0) {
		interp_log_exception("cannot start gevent watchers");
		return WORKER_EXIT_BOOT_ERROR;
	}
	/* The main greenlet waits; gevent's hub runs the connections. */
	r = PyObject_CallMethod(V.stop_event, "wait", NULL);
	if (!r)
		interp_log_exception("the gevent hub failed");
	Py_XDECREF(r);
	if (V.nconns - V.idle > 0)
		log_warning("%zu request(s) still running after the graceful timeout",
			    V.nconns - V.idle);
	return WORKER_EXIT_OK;
}

/* Wait through gevent's hub; the caller may have released the GIL. */
static int conn_wait(struct conn *c, short events, int timeout_ms)
{
	PyGILState_STATE st = PyGILState_Ensure();
	PyObject *fn = events & POLLIN ? V.wait_read : V.wait_write;
	PyObject *r = timeout_ms < 0 ? PyObject_CallFunction(fn, "i", c->fd)
				     : PyObject_CallFunction(fn, "id", c->fd, timeout_ms / 1000.0);
	int rc = r ? 0 : -1;

	if (!r) {
		errno = PyErr_ExceptionMatches(PyExc_TimeoutError) ? ETIMEDOUT : EPIPE;
		PyErr_Clear(); /* a timeout, or the greenlet killed by a graceful stop */
	}
	Py_XDECREF(r);
	PyGILState_Release(st);
	return rc;
}

/* An io watcher on a listener fired, in gevent's hub: accept and spawn. */
static PyObject *on_accept(PyObject *capsule, PyObject *unused)
{
	const struct listener *l = PyCapsule_GetPointer(capsule, NULL);

	for (int i = 0; i < ACCEPT_BATCH && V.accepting; i++) {
		struct vconn *vc = xcalloc(1, sizeof(*vc));
		PyObject *cap, *fn;

		if (conn_accept(&vc->c, l, &gevent_io, &V.policy) <= 0) {
			free(vc);
			break;
		}
		vc->next = V.all;
		if (V.all)
			V.all->prev = vc;
		V.all = vc;
		V.nconns++;
		cap = PyCapsule_New(vc, NULL, NULL);
		fn = cap ? PyCFunction_New(&handle_def, cap) : NULL;
		vc->glet = fn ? PyObject_CallFunctionObjArgs(V.spawn, fn, NULL) : NULL;
		Py_XDECREF(fn);
		Py_XDECREF(cap);
		if (!vc->glet) {
			interp_log_exception("cannot spawn a greenlet for a connection");
			close_vconn(vc);
		}
		if (V.nconns >= (size_t)V.w->cfg->worker_connections && set_accepting(false) < 0)
			PyErr_Clear();
	}
	Py_RETURN_NONE;
}

/* A connection's gevent greenlet: requests until close, idle waits included. */
static PyObject *handle(PyObject *capsule, PyObject *unused)
{
	struct vconn *vc = PyCapsule_GetPointer(capsule, NULL);
	const struct config *cfg = V.w->cfg;
	bool first = true;

	for (;;) {
		int rc;

		if (!first && vc->c.len == 0) {
			vc->idle = true;
			V.idle++;
			conn_shrink(&vc->c);
			vc->c.timeout_ms = cfg->keepalive > 0 ? cfg->keepalive * 1000 : 1000;
		}
		rc = conn_read_head(&vc->c);
		if (vc->idle) {
			vc->idle = false;
			V.idle--;
			vc->c.timeout_ms = cfg->timeout > 0 ? cfg->timeout * 1000 : 30000;
		}
		if (rc <= 0) {
			if (rc < 0 && vc->c.error_status)
				conn_refuse(&vc->c, vc->c.error_status);
			break;
		}
		first = false;
		bool keep = cfg->keepalive > 0 && !worker_stopping(V.w) && !V.stopping;
		enum wsgi_outcome out = wsgi_serve(&vc->c, keep);
		V.w->requests++;
		if (out == WSGI_CLOSED)
			break;
		if (out != WSGI_KEEP || !keep || conn_next_request(&vc->c) < 0) {
			conn_finish(&vc->c);
			break;
		}
	}
	close_vconn(vc);
	Py_RETURN_NONE;
}

static void close_vconn(struct vconn *vc)
{
	if (vc->prev)
		vc->prev->next = vc->next;
	else
		V.all = vc->next;
	if (vc->next)
		vc->next->prev = vc->prev;
	conn_close(&vc->c);
	Py_XDECREF(vc->glet);
	free(vc);
	V.nconns--;
	if (!V.accepting && !V.stopping && V.nconns < (size_t)V.w->cfg->worker_connections &&
	    set_accepting(true) < 0)
		interp_log_exception("cannot resume accepting");
}

static int set_accepting(bool on)
{
	PyObject *cb = NULL;

	for (size_t i = 0; i < V.w->nlisteners; i++) {
		PyObject *r;

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

static PyObject *on_tick(PyObject *self, PyObject *unused)
{
	if (!worker_heartbeat(V.w)) {
		log_info("the arbiter is gone: stopping");
		stop_now();
		Py_RETURN_NONE;
	}
	if (!V.stopping && worker_stopping(V.w))
		begin_stop();
	if (V.stopping && (V.nconns - V.idle == 0 || worker_now() > V.deadline))
		stop_now();
	Py_RETURN_NONE;
}

static PyObject *on_channel(PyObject *self, PyObject *unused)
{
	char b;
	ssize_t r = recv(V.w->channel_fd, &b, 1, MSG_DONTWAIT);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		log_info("the arbiter is gone: stopping");
		stop_now();
	}
	Py_RETURN_NONE;
}

/* Graceful stop: accept nothing more, end idle connections, let requests finish. */
static void begin_stop(void)
{
	V.stopping = true;
	V.deadline = worker_now() + V.w->cfg->graceful_timeout;
	if (set_accepting(false) < 0)
		PyErr_Clear();
	for (struct vconn *vc = V.all; vc; vc = vc->next) {
		if (vc->idle && vc->glet) {
			PyObject *r = PyObject_CallMethod(vc->glet, "kill", "OO", Py_None, Py_False);
			if (!r)
				PyErr_Clear();
			Py_XDECREF(r);
		}
	}
}

static void stop_now(void)
{
	PyObject *r = PyObject_CallMethod(V.stop_event, "set", NULL);

	if (!r)
		interp_log_exception("cannot stop the gevent worker");
	Py_XDECREF(r);
}

static int gv_sleep(double seconds)
{
	PyObject *sleep = import_attr("gevent", "sleep");
	PyObject *r = sleep ? PyObject_CallFunction(sleep, "d", seconds) : NULL;

	Py_XDECREF(sleep);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

static int gv_wait_fd(int fd, short events, double timeout)
{
	PyObject *fn = import_attr("gevent.socket", events & POLLIN ? "wait_read" : "wait_write");
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
	PyObject *spawn = import_attr("gevent", "spawn");
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

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
#include "workers/policy.h"
#include "workers/python/gpool.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/wsgi.h"
#include "workers/waitlist.h"
#include "workers/worker.h"

#define TICK 0.1        /* seconds between looks at stop flags, timeouts and heartbeats */
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

struct vconn {
	struct conn c;
	struct vconn *prev, *next;   /* every open connection */
	struct wait_node wait;       /* while waiting in the hub for bytes */
	PyObject *cap;               /* capsule of this vconn: what a greenlet is handed */
	PyObject *watcher;           /* loop.io(fd, READ), for the connection's life */
	PyObject *on_ready;          /* its callback, bound to cap */
	bool watching;               /* watcher started: left so while busy, stopped if it fires */
	bool busy;                   /* a greenlet owns it */
	bool served;                 /* a head was dispatched (not a fresh connection) */
	bool refuse;                 /* for the greenlet: answer c.error_status, then close */
};

static struct {
	struct worker *w;
	PyObject *loop, *hub, *getcurrent;
	PyObject *wait_read, *wait_write, *spawn, *stop_event;
	PyObject *run;     /* run_conn as a callable: what a new greenlet runs */
	struct gpool pool; /* greenlets waiting in run_conn for their next connection */
	PyObject *s_start, *s_stop, *s_switch; /* interned method names */
	PyObject **accept_watchers;
	PyObject *tick_timer, *channel_watcher;
	bool accepting, stopping;
	double deadline;
	struct vconn *all;
	size_t nconns;
	size_t busy;        /* owned by a greenlet */
	size_t fresh;       /* accepted, first head not dispatched yet */
	struct wait_list idle;  /* served, nothing buffered: --keep-alive */
	struct wait_list heads; /* fresh, or a head in progress: --timeout */
	struct conn_policy policy;
} V;

static int conn_wait(struct conn *c, short events, int timeout_ms);
static PyObject *on_accept(PyObject *capsule, PyObject *unused);
static PyObject *on_ready(PyObject *capsule, PyObject *unused);
static PyObject *on_tick(PyObject *self, PyObject *unused);
static PyObject *on_channel(PyObject *self, PyObject *unused);
static PyObject *run_conn(PyObject *self, PyObject *capsule);
static void resume(struct vconn *vc);
static void wait_bytes(struct vconn *vc, struct wait_list *wl);
static void park(struct vconn *vc);
static void dispatch(struct vconn *vc, bool refuse);
static void serve(struct vconn *vc);
static void unwatch(struct vconn *vc);
static void expire(struct wait_list *wl, double now);
static void close_vconn(struct vconn *vc);
static void forget(struct conn *c);
static int set_accepting(bool on);
static void begin_stop(void);
static void stop_now(void);
static int gv_sleep(double seconds);
static int gv_wait_fd(int fd, short events, double timeout);
static PyObject *gv_spawn(PyObject *func, PyObject *args, PyObject *kwargs);

static const struct conn_io gevent_io = {.wait = conn_wait, .closing = forget};
static PyMethodDef accept_def = {"kirin_accept", on_accept, METH_NOARGS, NULL};
static PyMethodDef ready_def = {"kirin_readable", on_ready, METH_NOARGS, NULL};
static PyMethodDef tick_def = {"kirin_tick", on_tick, METH_NOARGS, NULL};
static PyMethodDef channel_def = {"kirin_channel", on_channel, METH_NOARGS, NULL};
static PyMethodDef run_def = {"kirin_connection", run_conn, METH_O, NULL};
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
	PyObject *event_cls, *get_hub, *r;
	char err[256];

	V.w = w;
	w->skip_finalize = true; /* suspended greenlets must not be killed into a dead hub */
	if (wsgi_init(app, false, cfg->workers > 1) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (policy_from_config(&V.policy, cfg, true, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return WORKER_EXIT_BOOT_ERROR;
	}
	V.idle.span = cfg->keepalive > 0 ? cfg->keepalive : 1;
	V.heads.span = V.policy.timeout_ms / 1000.0;
	V.wait_read = import_attr("gevent.socket", "wait_read");
	V.wait_write = import_attr("gevent.socket", "wait_write");
	V.spawn = import_attr("gevent", "spawn");
	V.getcurrent = import_attr("gevent", "getcurrent");
	event_cls = import_attr("gevent.event", "Event");
	get_hub = import_attr("gevent", "get_hub");
	V.stop_event = event_cls ? PyObject_CallNoArgs(event_cls) : NULL;
	V.hub = get_hub ? PyObject_CallNoArgs(get_hub) : NULL;
	V.loop = V.hub ? PyObject_GetAttrString(V.hub, "loop") : NULL;
	V.run = PyCFunction_New(&run_def, NULL);
	V.s_start = PyUnicode_InternFromString("start");
	V.s_stop = PyUnicode_InternFromString("stop");
	V.s_switch = PyUnicode_InternFromString("switch");
	Py_XDECREF(event_cls);
	Py_XDECREF(get_hub);
	if (!V.wait_read || !V.wait_write || !V.spawn || !V.getcurrent || !V.stop_event ||
	    !V.loop || !V.run || gpool_init(&V.pool) < 0 || !V.s_start || !V.s_stop || !V.s_switch) {
		interp_log_exception("cannot set up gevent (is python3-gevent installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	V.accept_watchers = xcalloc(w->nlisteners, sizeof(*V.accept_watchers));
	for (size_t i = 0; i < w->nlisteners; i++)
		V.accept_watchers[i] =
			PyObject_CallMethod(V.loop, "io", "ii", w->listeners[i].fd, 1);
	PyObject *tick_cb = PyCFunction_New(&tick_def, NULL);
	PyObject *chan_cb = PyCFunction_New(&channel_def, NULL);
	V.tick_timer = watch(PyObject_CallMethod(V.loop, "timer", "dd", TICK, TICK), tick_cb);
	V.channel_watcher =
		watch(PyObject_CallMethod(V.loop, "io", "ii", w->channel_fd, 1), chan_cb);
	Py_XDECREF(tick_cb);
	Py_XDECREF(chan_cb);
	if (!V.tick_timer || !V.channel_watcher || set_accepting(true) < 0) {
		interp_log_exception("cannot start gevent watchers");
		return WORKER_EXIT_BOOT_ERROR;
	}
	/* The main greenlet waits; gevent's hub runs the connections. */
	r = PyObject_CallMethod(V.stop_event, "wait", NULL);
	if (!r)
		interp_log_exception("the gevent hub failed");
	Py_XDECREF(r);
	if (V.busy > 0)
		log_warning("%zu request(s) still running after the graceful timeout", V.busy);
	return WORKER_EXIT_OK;
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
		PyErr_Clear(); /* a timeout, or the greenlet killed */
	}
	Py_XDECREF(r);
	PyGILState_Release(st);
	return rc;
}

/* An io watcher on a listener fired, in gevent's hub: accept, and look for first heads. */
static PyObject *on_accept(PyObject *capsule, PyObject *unused)
{
	const struct listener *l = PyCapsule_GetPointer(capsule, NULL);

	for (int i = 0; i < WORKER_ACCEPT_BATCH && V.accepting; i++) {
		struct vconn *vc = xcalloc(1, sizeof(*vc));

		if (policy_accept(&vc->c, l, &gevent_io, &V.policy) <= 0) {
			free(vc);
			break;
		}
		vc->next = V.all;
		if (V.all)
			V.all->prev = vc;
		V.all = vc;
		V.nconns++;
		V.fresh++;
		vc->cap = PyCapsule_New(vc, NULL, NULL);                              /* new ref */
		vc->on_ready = vc->cap ? PyCFunction_New(&ready_def, vc->cap) : NULL; /* new ref */
		vc->watcher = vc->on_ready ? PyObject_CallMethod(V.loop, "io", "iiOi", vc->c.fd, 1,
								 Py_True, CONN_PRIORITY)
					   : NULL; /* new ref */
		if (V.nconns >= (size_t)V.w->cfg->worker_connections && set_accepting(false) < 0)
			interp_log_exception("cannot pause accepting");
		if (!vc->watcher) {
			interp_log_exception("cannot watch a connection");
			close_vconn(vc);
			continue;
		}
		resume(vc); /* its request may be there already */
	}
	Py_RETURN_NONE;
}

/*
 * A connection's watcher fired, in the hub. Waiting for bytes: read and
 * parse them. Owned by a greenlet: the watcher was left started when the
 * greenlet took the connection (stopping and starting it around every
 * request costs more than this wake-up when a request does wait); stop it.
 */
static PyObject *on_ready(PyObject *capsule, PyObject *unused)
{
	struct vconn *vc = PyCapsule_GetPointer(capsule, NULL);

	if (vc->busy) {
		unwatch(vc);
	} else {
		waitlist_remove(&vc->wait);
		resume(vc);
	}
	Py_RETURN_NONE;
}

/*
 * In the hub, for a connection no greenlet owns: parse what is buffered
 * and what the socket has, never waiting. A complete head (or one to
 * refuse) goes to a greenlet; otherwise the connection waits for bytes.
 */
static void resume(struct vconn *vc)
{
	switch (conn_poll_head(&vc->c)) {
	case 1:
		dispatch(vc, false);
		break;
	case -2:
		if (conn_idle(&vc->c))
			park(vc);
		else /* a head in progress: --timeout from the last bytes */
			wait_bytes(vc, &V.heads);
		break;
	case -1:
		if (vc->c.error_status) {
			dispatch(vc, true); /* the answer and the lingering close may wait */
			break;
		}
		/* fall through */
	default:
		close_vconn(vc);
		break;
	}
}

/* Wait in the hub for vc's next bytes; closed once wl's timeout passes first. */
static void wait_bytes(struct vconn *vc, struct wait_list *wl)
{
	if (!vc->watching) {
		PyObject *r = PyObject_CallMethodOneArg(vc->watcher, V.s_start, vc->on_ready);

		if (!r) {
			interp_log_exception("cannot watch a connection");
			close_vconn(vc);
			return;
		}
		Py_DECREF(r);
		vc->watching = true;
	}
	waitlist_add(wl, &vc->wait, worker_now());
}

/*
 * Nothing of a next request yet (conn_idle): wait for a head holding only
 * the socket and the watcher. While stopping, a connection that was served
 * is closed instead; a fresh one still gets its first request answered.
 */
static void park(struct vconn *vc)
{
	if (V.stopping && vc->served) {
		close_vconn(vc);
		return;
	}
	conn_shrink(&vc->c);
	wait_bytes(vc, vc->served ? &V.idle : &V.heads);
}

/* In the hub: hand vc to a greenlet of the pool, or to a new one. */
static void dispatch(struct vconn *vc, bool refuse)
{
	PyObject *g = gpool_take(&V.pool); /* new ref, or NULL */
	PyObject *r;

	if (!vc->served) {
		vc->served = true;
		V.fresh--;
	}
	vc->busy = true;
	V.busy++;
	vc->refuse = refuse;
	if (g) {
		/* It runs the request until that waits or is answered. */
		r = PyObject_CallMethodOneArg(g, V.s_switch, vc->cap);
		Py_DECREF(g);
		if (!r)
			interp_log_exception("Error in a connection greenlet");
	} else {
		r = PyObject_CallFunctionObjArgs(V.spawn, V.run, vc->cap, NULL); /* starts soon */
		if (!r) {
			interp_log_exception("cannot spawn a greenlet for a connection");
			close_vconn(vc);
		}
	}
	Py_XDECREF(r);
}

/*
 * A connection greenlet's life: serve the connection it was given, then
 * wait in the pool (switched out to the hub) for the next one dispatch()
 * hands it, unless the worker is stopping.
 */
static PyObject *run_conn(PyObject *self, PyObject *capsule)
{
	PyObject *next = capsule;

	Py_INCREF(next);
	for (;;) {
		struct vconn *vc =
			PyCapsule_CheckExact(next) ? PyCapsule_GetPointer(next, NULL) : NULL;
		PyObject *me;

		Py_DECREF(next);
		if (!vc) {
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_RuntimeError, "a kirin connection greenlet "
								    "was resumed without a connection");
			return NULL;
		}
		serve(vc);
		if (V.stopping)
			Py_RETURN_NONE;
		me = PyObject_CallNoArgs(V.getcurrent); /* new ref */
		if (!me || gpool_put(&V.pool, me) < 0) {
			Py_XDECREF(me);
			return NULL;
		}
		/* Wait there; dispatch() switches back with the next connection's capsule. */
		next = PyObject_CallMethodNoArgs(V.hub, V.s_switch);
		/* Killed, or resumed by someone else, while in the pool: leave it. */
		if (!next || !PyCapsule_CheckExact(next))
			gpool_remove(&V.pool, me);
		Py_DECREF(me);
		if (!next)
			return NULL;
	}
}

/*
 * In vc's greenlet: answer its request, then any pipelined ones already
 * buffered; then give the connection back to the hub to wait for more, or
 * close it.
 */
static void serve(struct vconn *vc)
{
	const struct config *cfg = V.w->cfg;

	if (vc->refuse) {
		conn_refuse(&vc->c, vc->c.error_status);
		close_vconn(vc);
		return;
	}
	for (;;) {
		bool keep = cfg->keepalive > 0 && !worker_stopping(V.w) && !V.stopping;
		enum wsgi_outcome out = wsgi_serve(&vc->c, keep);
		int rc;

		V.w->requests++;
		if (out != WSGI_KEEP || !keep || conn_next_request(&vc->c) < 0) {
			if (out != WSGI_CLOSED)
				conn_finish(&vc->c);
			close_vconn(vc);
			return;
		}
		rc = conn_poll_head(&vc->c);
		if (rc == 1)
			continue; /* pipelined */
		if (rc == -2) {
			vc->busy = false;
			V.busy--;
			if (conn_idle(&vc->c))
				park(vc);
			else
				wait_bytes(vc, &V.heads);
		} else if (rc < 0 && vc->c.error_status) {
			conn_refuse(&vc->c, vc->c.error_status);
			close_vconn(vc);
		} else {
			close_vconn(vc);
		}
		return;
	}
}

static void unwatch(struct vconn *vc)
{
	PyObject *r;

	if (!vc->watching)
		return;
	vc->watching = false;
	r = PyObject_CallMethodNoArgs(vc->watcher, V.s_stop);
	if (!r)
		interp_log_exception("cannot stop watching a connection");
	Py_XDECREF(r);
}

/* Close the connections of wl whose deadline has passed (idle, or too slow). */
static void expire(struct wait_list *wl, double now)
{
	struct wait_node *n;

	while ((n = waitlist_expired(wl, now)))
		close_vconn(waitlist_entry(n, struct vconn, wait));
}

/*
 * conn's closing hook (GIL held): the watcher stops before the fd closes,
 * wherever that happens (a refusal, a lingering close, inside the WSGI
 * glue), so a new connection given the same number is not confused with it.
 */
static void forget(struct conn *c)
{
	unwatch((struct vconn *)(void *)c); /* c is vc's first member */
}

/* Close and free vc, wherever it is: waiting in the hub, or in its greenlet. */
static void close_vconn(struct vconn *vc)
{
	waitlist_remove(&vc->wait);
	unwatch(vc);
	Py_XDECREF(vc->watcher);
	Py_XDECREF(vc->on_ready);
	Py_XDECREF(vc->cap);
	if (vc->busy)
		V.busy--;
	if (!vc->served)
		V.fresh--;
	if (vc->prev)
		vc->prev->next = vc->next;
	else
		V.all = vc->next;
	if (vc->next)
		vc->next->prev = vc->prev;
	conn_close(&vc->c);
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

static PyObject *on_tick(PyObject *self, PyObject *unused)
{
	double now = worker_now();

	if (!worker_heartbeat(V.w)) {
		log_info("the arbiter is gone: stopping");
		stop_now();
		Py_RETURN_NONE;
	}
	if (!V.stopping && worker_stopping(V.w))
		begin_stop();
	expire(&V.idle, now);
	expire(&V.heads, now);
	gpool_tick(&V.pool, now);
	if (V.stopping && ((V.busy == 0 && V.fresh == 0) || now > V.deadline))
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

/*
 * Graceful stop: accept nothing more, close connections idle between
 * requests, let requests finish. A connection accepted but not asked
 * anything yet keeps waiting (--timeout); its request is answered, with
 * Connection: close.
 */
static void begin_stop(void)
{
	V.stopping = true;
	V.deadline = worker_now() + V.w->cfg->graceful_timeout;
	if (set_accepting(false) < 0)
		interp_log_exception("cannot stop accepting");
	while (V.idle.head)
		close_vconn(waitlist_entry(V.idle.head, struct vconn, wait));
	/* A fresh connection that has said nothing yet gets --keep-alive from
	 * now to ask (and is answered with Connection: close), as in the loop
	 * of the other worker types, not the rest of --timeout. */
	for (struct wait_node *n = V.heads.head, *next; n; n = next) {
		struct vconn *vc = waitlist_entry(n, struct vconn, wait);

		next = n->next;
		if (!vc->served && conn_idle(&vc->c))
			wait_bytes(vc, &V.idle);
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

/* reactor_asyncio — see reactor_asyncio.h. */
#include "workers/reactor_asyncio.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/connset.h"
#include "workers/policy.h"
#include "workers/python/interp.h"
#include "workers/reactor_py.h"
#include "workers/worker.h"

#define BATCH 1024 /* ready connections served per wake-up of the loop, at most (as libuv) */

/* A connection, and what the ASGI glue keeps with it. */
struct aconn {
	struct cconn cc; /* first member */
	struct reactor_asyncio_kept kept;
	bool writing;    /* the set waits for it to be writable too (one shot) */
};

static struct {
	const struct worker *w;
	const struct connset_ops *ops;
	const struct conn_policy *policy;
	PyObject *loop;
	/* the loop's bound methods, looked up once */
	PyObject *add_reader, *remove_reader, *add_writer, *remove_writer, *call_later;
	PyObject **on_accept; /* per listener */
	PyObject *tick_cb, *tick_handle, *backoff_cb;
	/* The connections' sockets: an epoll set of ours, one reader of the
	 * loop, so that a wake-up serves every ready connection in one
	 * callback (the loop takes the GIL and makes a call per callback). */
	int ep;
	/* The batch being served (not on the stack: a greenlet dispatched from
	 * it may run where the hub's stack was); a closed one's entry is cleared. */
	struct epoll_event batch[BATCH];
	int nbatch;
	size_t room;      /* connections it may still accept */
	bool accepting;   /* the listeners are readers */
	bool backing_off; /* out of descriptors: accept nothing for a while */
} V;

static int as_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p);
static void as_run(void);
static void as_stop(void);
static int as_watch(struct cconn *cc);
static int as_watch_write(struct cconn *cc);
static void as_unwatch(struct cconn *cc);
static void as_release(struct cconn *cc);
static void as_room(size_t room, bool add);
static int sock(const struct cconn *cc);
static PyObject *new_loop(const char *module);
static int set_accepting(bool on);
static void update_accepting(void);
static PyObject *call_void(PyObject *r);
static PyObject *on_accept(PyObject *capsule, PyObject *unused);
static PyObject *on_ready(PyObject *self, PyObject *unused);
static PyObject *on_tick(PyObject *self, PyObject *unused);
static PyObject *on_backoff_end(PyObject *self, PyObject *unused);

static PyMethodDef accept_def = {"kirin_accept", on_accept, METH_NOARGS, NULL};
static PyMethodDef ready_def = {"kirin_readable", on_ready, METH_NOARGS, NULL};
static PyMethodDef tick_def = {"kirin_tick", on_tick, METH_NOARGS, NULL};
static PyMethodDef backoff_def = {"kirin_backoff_end", on_backoff_end, METH_NOARGS, NULL};

const struct reactor reactor_asyncio = {
    .init = as_init,
    .run = as_run,
    .stop = as_stop,
    .watch = as_watch,
    .watch_write = as_watch_write,
    .unwatch = as_unwatch,
    .release = as_release,
    .room = as_room,
    .drained = reactor_py_drained,
    .free = reactor_py_free,
};

PyObject *reactor_asyncio_open(const char *choice)
{
	PyObject *asyncio, *r;
	bool uv = !choice || strcmp(choice, "asyncio") != 0;

	V.loop = uv ? new_loop("uvloop") : NULL;
	if (!V.loop && uv && choice && strcmp(choice, "uvloop") == 0) {
		interp_log_exception("--asgi-loop uvloop: cannot create a uvloop loop "
		                     "(is python3-uvloop installed?)");
		return NULL;
	}
	PyErr_Clear(); /* auto: no uvloop, asyncio's loop then */
	if (!V.loop)
		V.loop = new_loop("asyncio");
	asyncio = V.loop ? PyImport_ImportModule("asyncio") : NULL; /* new ref */
	r = asyncio ? PyObject_CallMethod(asyncio, "set_event_loop", "O", V.loop) : NULL;
	Py_XDECREF(asyncio);
	Py_XDECREF(r);
	if (r) {
		V.add_reader = PyObject_GetAttrString(V.loop, "add_reader");
		V.remove_reader = PyObject_GetAttrString(V.loop, "remove_reader");
		V.add_writer = PyObject_GetAttrString(V.loop, "add_writer");
		V.remove_writer = PyObject_GetAttrString(V.loop, "remove_writer");
		V.call_later = PyObject_GetAttrString(V.loop, "call_later");
	}
	if (!r || !V.add_reader || !V.remove_reader || !V.add_writer || !V.remove_writer ||
	    !V.call_later) {
		interp_log_exception("cannot create the asyncio event loop");
		return NULL;
	}
	return V.loop;
}

PyObject *reactor_asyncio_loop(void)
{
	return V.loop;
}

struct reactor_asyncio_kept *reactor_asyncio_conn_kept(struct cconn *cc)
{
	return &((struct aconn *)(void *)cc)->kept;
}

int reactor_asyncio_add(int fd, bool writer, PyObject *cb)
{
	PyObject *args[] = {NULL, NULL, cb};
	PyObject *r;

	args[1] = PyLong_FromLong(fd); /* new ref */
	if (!args[1])
		return -1;
	r = PyObject_Vectorcall(writer ? V.add_writer : V.add_reader, args + 1,
	                        2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
	Py_DECREF(args[1]);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

void reactor_asyncio_remove(int fd, bool writer)
{
	PyObject *r = PyObject_CallFunction(writer ? V.remove_writer : V.remove_reader, "i", fd);

	if (!r)
		interp_log_exception("cannot stop watching a socket");
	Py_XDECREF(r);
}

PyObject *reactor_asyncio_later(double seconds, PyObject *cb)
{
	return PyObject_CallFunction(V.call_later, "dO", seconds, cb);
}

void reactor_asyncio_cancel(PyObject **handle)
{
	PyObject *r;

	if (!*handle)
		return;
	r = PyObject_CallMethod(*handle, "cancel", NULL);
	if (!r)
		PyErr_Clear();
	Py_XDECREF(r);
	Py_CLEAR(*handle);
}

static int as_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p)
{
	PyObject *chan_cb, *ready_cb;

	V.w = w;
	V.ops = ops;
	V.policy = p;
	V.room = (size_t)w->cfg->worker_connections;
	V.on_accept = xcalloc(w->nlisteners, sizeof(*V.on_accept));
	for (size_t i = 0; i < w->nlisteners; i++) {
		PyObject *cap = PyCapsule_New((void *)&w->listeners[i], NULL, NULL); /* new ref */
		V.on_accept[i] = cap ? PyCFunction_New(&accept_def, cap) : NULL;
		Py_XDECREF(cap);
		if (!V.on_accept[i])
			goto fail;
	}
	V.tick_cb = PyCFunction_New(&tick_def, NULL);
	V.backoff_cb = PyCFunction_New(&backoff_def, NULL);
	chan_cb = reactor_py_channel_cb();            /* new ref */
	ready_cb = PyCFunction_New(&ready_def, NULL); /* new ref */
	V.ep = epoll_create1(EPOLL_CLOEXEC);
	if (V.ep < 0)
		log_error(errno, "epoll_create1() for the connections");
	if (!V.tick_cb || !V.backoff_cb || !chan_cb || !ready_cb || V.ep < 0 ||
	    reactor_asyncio_add(w->channel_fd, false, chan_cb) < 0 ||
	    reactor_asyncio_add(V.ep, false, ready_cb) < 0) {
		Py_XDECREF(chan_cb);
		Py_XDECREF(ready_cb);
		goto fail;
	}
	Py_DECREF(chan_cb);
	Py_DECREF(ready_cb);
	V.tick_handle = reactor_asyncio_later(REACTOR_TICK_MS / 1000.0, V.tick_cb);
	if (!V.tick_handle || set_accepting(true) < 0)
		goto fail;
	return 0;
fail:
	interp_log_exception("cannot set up the asyncio loop's readers");
	return -1;
}

static void as_run(void)
{
	reactor_py_call(V.loop, "run_forever", "the asyncio loop failed");
}

static void as_stop(void)
{
	reactor_py_call(V.loop, "stop", "cannot stop the asyncio loop");
}

static int as_watch(struct cconn *cc)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = cc};

	if (epoll_ctl(V.ep, EPOLL_CTL_ADD, sock(cc), &e) < 0) {
		log_error(errno, "epoll_ctl() to watch a connection");
		return -1;
	}
	return 0;
}

/* TLS must write first: EPOLLOUT too, until the socket next fires (on_ready). */
static int as_watch_write(struct cconn *cc)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = cc};

	if (epoll_ctl(V.ep, EPOLL_CTL_MOD, sock(cc), &e) < 0) {
		log_error(errno, "epoll_ctl() to watch a connection for writing");
		return -1;
	}
	((struct aconn *)(void *)cc)->writing = true;
	return 0;
}

/* Out of the set, and out of the batch being served (it may be closed and freed next). */
static void as_unwatch(struct cconn *cc)
{
	((struct aconn *)(void *)cc)->writing = false;
	if (sock(cc) >= 0 && epoll_ctl(V.ep, EPOLL_CTL_DEL, sock(cc), NULL) < 0)
		log_error(errno, "epoll_ctl() to stop watching a connection");
	for (int i = 0; i < V.nbatch; i++) {
		if (V.batch[i].data.ptr == cc)
			V.batch[i].data.ptr = NULL;
	}
}

/* cc's descriptor: its socket, or what a deferred close left (a lingering close). */
static int sock(const struct cconn *cc)
{
	return cc->c.fd >= 0 ? cc->c.fd : cc->c.deferred_fd;
}

static void as_release(struct cconn *cc)
{
	struct aconn *ac = (struct aconn *)(void *)cc;

	Py_XDECREF(ac->kept.obj);
	free(ac);
}

static void as_room(size_t room, bool add)
{
	V.room = add ? V.room + room : room;
	update_accepting();
}

/* module.new_event_loop(): new ref, or NULL with an exception. */
static PyObject *new_loop(const char *module)
{
	PyObject *m = PyImport_ImportModule(module); /* new ref */
	PyObject *loop = m ? PyObject_CallMethod(m, "new_event_loop", NULL) : NULL;

	Py_XDECREF(m);
	return loop;
}

static int set_accepting(bool on)
{
	for (size_t i = 0; i < V.w->nlisteners; i++) {
		if (!on) {
			reactor_asyncio_remove(V.w->listeners[i].fd, false);
			continue;
		}
		if (reactor_asyncio_add(V.w->listeners[i].fd, false, V.on_accept[i]) < 0)
			return -1;
	}
	V.accepting = on;
	return 0;
}

/* Accept while there is room and no backoff. */
static void update_accepting(void)
{
	bool on = V.room > 0 && !V.backing_off;

	if (on != V.accepting && set_accepting(on) < 0)
		interp_log_exception("cannot resume accepting");
}

/* r (a call's result, new ref) dropped; an error logged. */
static PyObject *call_void(PyObject *r)
{
	if (!r)
		interp_log_exception("Error in the asyncio loop's callback");
	Py_XDECREF(r);
	Py_RETURN_NONE;
}

/* A listener is readable: accept a batch, and look for first heads. */
static PyObject *on_accept(PyObject *capsule, PyObject *unused)
{
	const struct listener *l = PyCapsule_GetPointer(capsule, NULL);

	for (int i = 0; i < WORKER_ACCEPT_BATCH && V.room > 0 && !V.backing_off; i++) {
		struct aconn *ac = xcalloc(1, sizeof(*ac));
		int rc = policy_accept(&ac->cc.c, l, V.ops->io, V.policy);

		if (rc <= 0) {
			free(ac);
			if (rc == -2) {
				V.backing_off = true;
				update_accepting();
				return call_void(
				    reactor_asyncio_later(POLICY_ACCEPT_BACKOFF, V.backoff_cb));
			}
			break;
		}
		as_room(V.room - 1, false);
		connset_accepted(&ac->cc);
	}
	Py_RETURN_NONE;
}

/*
 * Our set is readable: serve every ready connection (a batch, in one
 * callback of the loop); one that was watched for writing too (TLS) is
 * watched for reading only again, as_watch_write() being one shot.
 */
static PyObject *on_ready(PyObject *self, PyObject *unused)
{
	int n = epoll_wait(V.ep, V.batch, BATCH, 0);

	if (n < 0 && errno != EINTR)
		log_error(errno, "epoll_wait() on the connections");
	V.nbatch = n > 0 ? n : 0;
	for (int i = 0; i < V.nbatch; i++) {
		struct aconn *ac = V.batch[i].data.ptr;

		if (ac && ac->writing) {
			struct epoll_event e = {.events = EPOLLIN, .data.ptr = ac};

			ac->writing = false;
			if (epoll_ctl(V.ep, EPOLL_CTL_MOD, sock(&ac->cc), &e) < 0)
				log_error(errno, "epoll_ctl() to stop watching for writing");
		}
		if (ac)
			connset_readable(&ac->cc);
	}
	V.nbatch = 0;
	Py_RETURN_NONE;
}

static PyObject *on_tick(PyObject *self, PyObject *unused)
{
	Py_XSETREF(V.tick_handle, reactor_asyncio_later(REACTOR_TICK_MS / 1000.0, V.tick_cb));
	if (!V.tick_handle)
		interp_log_exception("cannot arm the asyncio worker's tick");
	connset_tick();
	Py_RETURN_NONE;
}

static PyObject *on_backoff_end(PyObject *self, PyObject *unused)
{
	V.backing_off = false;
	update_accepting();
	Py_RETURN_NONE;
}

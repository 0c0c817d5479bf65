/* asyncio — see asyncio.h. */
#include "workers/asyncio.h"

#include <errno.h>
#include <greenlet.h>
#include <poll.h>
#include <stdlib.h>
#include <strings.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/python/asgi.h"
#include "workers/python/asgi_scope.h"
#include "workers/python/asgi_ws.h"
#include "workers/python/gconn.h"
#include "workers/python/gmain.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/lifespan.h"
#include "workers/python/wsgi.h"
#include "workers/reactor_asyncio.h"
#include "workers/worker.h"

/*
 * Requests of one connection served inside one another: an ASGI request
 * that ends in its first step resumes its connection from the dispatch
 * that started it, which dispatches a pipelined request at once. Past this
 * depth the resume waits for the loop's next turn (and others get theirs).
 */
#define NESTED_MAX 16

/* A greenlet suspended until its socket is ready or its time is up (heap: see suspend()). */
struct waiter {
	PyGreenlet *g;
	int what; /* 1: ready, 0: timed out */
};

static struct {
	struct worker *w;
	PyGreenlet *hub; /* the main greenlet: it runs the loop */
	PyObject *call_soon;
	bool asgi; /* the app is ASGI: http requests are served from the loop */
	int depth; /* ASGI dispatches in progress, one inside another */
} A;

static int suspend(int fd, short events, double timeout);
static PyObject *wake(PyObject *capsule, PyObject *unused);
static PyObject *wake_timeout(PyObject *capsule, PyObject *unused);
static PyObject *wake_with(PyObject *capsule, int what);
static bool in_hub(void);
static int conn_wait(struct conn *c, short events, int timeout_ms);
static void dispatch(struct cconn *cc);
static void asgi_done(struct conn *c, enum wsgi_outcome out);
static bool busy_readable(struct cconn *cc);
static bool keep_alive(void);
static PyObject *resume_later(PyObject *capsule, PyObject *unused);
static int loop_sleep(double seconds);
static int loop_wait_fd(int fd, short events, double timeout);
static PyObject *loop_spawn(PyObject *func, PyObject *args, PyObject *kwargs);

static PyMethodDef wake_def = {"kirin_wake", wake, METH_NOARGS, NULL};
static PyMethodDef wake_timeout_def = {"kirin_wake_timeout", wake_timeout, METH_NOARGS, NULL};
static PyMethodDef resume_def = {"kirin_resume", resume_later, METH_NOARGS, NULL};

static const struct conn_io asyncio_io = {.wait = conn_wait};
static const struct connset_ops asyncio_ops = {
    .dispatch = dispatch,
    .busy_readable = busy_readable,
    .io = &asyncio_io,
    .tick = gconn_tick,
};
static const struct kirin_backend backend = {
    .name = "asyncio",
    .sleep = loop_sleep,
    .wait_fd = loop_wait_fd,
    .spawn = loop_spawn,
};

const struct kirin_backend *asyncio_backend(void)
{
	return &backend;
}

int asyncio_run(struct worker *w, PyObject *app)
{
	const struct config *cfg = w->cfg;
	const struct gconn_switch *sw;
	PyObject *loop;
	int is_asgi;
	size_t busy;

	A.w = w;
	w->skip_finalize = true; /* suspended greenlets and tasks: no finalization */
	if (!cfg->worker_subclass && cfg->worker_class &&
	    strncasecmp(cfg->worker_class, "uvicorn.", 8) == 0)
		log_info("-k %s: kirin's asyncio worker serves it", cfg->worker_class);
	PyGreenlet_Import();
	if (!_PyGreenlet_API) {
		interp_log_exception(
		    "cannot load greenlet's C API (is python3-greenlet installed?)");
		return WORKER_EXIT_BOOT_ERROR;
	}
	loop = reactor_asyncio_open(cfg->asgi_loop);
	if (!loop)
		return WORKER_EXIT_BOOT_ERROR;
	is_asgi = asgi_detect(app, cfg->interface);
	if (is_asgi < 0)
		return WORKER_EXIT_BOOT_ERROR;
	A.asgi = is_asgi;
	log_info("serving %s on the %s event loop", is_asgi ? "ASGI" : "WSGI",
	         Py_TYPE(loop)->tp_name);
	A.hub = PyGreenlet_GetCurrent(); /* new ref */
	A.call_soon = PyObject_GetAttrString(loop, "call_soon");
	if (!A.hub || !A.call_soon || !(sw = gmain_switch((PyObject *)A.hub))) {
		interp_log_exception("cannot set up the hub");
		return WORKER_EXIT_BOOT_ERROR;
	}
	asgi_ws_configure((uint64_t)cfg->websocket_max_message, cfg->websocket_ping);
	if (is_asgi ? asgi_init(app, loop, sw->to_hub, cfg->asgi_disconnect_grace) < 0
	            : wsgi_init(app, false, cfg->workers > 1, true) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (is_asgi && lifespan_startup(app, loop, cfg->asgi_lifespan) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (gconn_init(w, sw, is_asgi ? asgi_serve : wsgi_serve) < 0) {
		interp_log_exception("cannot set up the connection greenlets");
		return WORKER_EXIT_BOOT_ERROR;
	}
	if (connset_init(w, &asyncio_ops, &reactor_asyncio) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	busy = connset_run();
	if (busy > 0)
		log_warning("%zu request(s) still running after the graceful timeout", busy);
	if (is_asgi)
		lifespan_shutdown(cfg->graceful_timeout);
	return WORKER_EXIT_OK;
}

/*
 * Suspend the current greenlet (not the hub) until fd (-1: none) is ready
 * for `events` or `timeout` seconds pass (< 0: no limit). 1 ready, 0 timed
 * out, -1 with an exception (killed).
 */
static int suspend(int fd, short events, double timeout)
{
	struct waiter *wt = xmalloc(sizeof(*wt));
	PyObject *cap = PyCapsule_New(wt, NULL, NULL); /* new ref */
	PyObject *on_ready = NULL, *on_time = NULL, *handle = NULL, *r = NULL;
	bool writer = events & POLLOUT;
	int rc = -1;

	wt->g = PyGreenlet_GetCurrent(); /* new ref */
	wt->what = 0;
	if (!cap)
		goto out;
	if (fd >= 0) {
		on_ready = PyCFunction_New(&wake_def, cap);
		if (!on_ready || reactor_asyncio_add(fd, writer, on_ready) < 0)
			goto out;
	}
	if (timeout >= 0) {
		on_time = PyCFunction_New(&wake_timeout_def, cap);
		handle = on_time ? reactor_asyncio_later(timeout, on_time) : NULL;
		if (!handle)
			goto out;
	}
	r = PyGreenlet_Switch(A.hub, NULL, NULL);
	if (r)
		rc = wt->what;
out:
	if (on_ready)
		reactor_asyncio_remove(fd, writer);
	reactor_asyncio_cancel(&handle);
	Py_XDECREF(r);
	Py_XDECREF(on_ready);
	Py_XDECREF(on_time);
	Py_XDECREF(cap);
	Py_DECREF(wt->g);
	free(wt);
	return rc;
}

/* In the hub: the socket is ready; switch back into the greenlet that waited. */
static PyObject *wake(PyObject *capsule, PyObject *unused)
{
	return wake_with(capsule, 1);
}

/* In the hub: the wait timed out; the same, saying so. */
static PyObject *wake_timeout(PyObject *capsule, PyObject *unused)
{
	return wake_with(capsule, 0);
}

static PyObject *wake_with(PyObject *capsule, int what)
{
	struct waiter *wt = PyCapsule_GetPointer(capsule, NULL);
	PyObject *r;

	wt->what = what;
	r = PyGreenlet_Switch(wt->g, NULL, NULL);
	if (!r)
		interp_log_exception("Error in a greenlet");
	Py_XDECREF(r);
	Py_RETURN_NONE;
}

static bool in_hub(void)
{
	PyGreenlet *cur = PyGreenlet_GetCurrent(); /* new ref */
	bool hub = cur == A.hub;

	Py_XDECREF(cur);
	return hub;
}

/*
 * conn's wait. In a connection greenlet: suspend until the socket is
 * ready. In the hub (an ASGI receive() or send() in a task): never wait,
 * fail with EAGAIN; the caller awaits readiness through the loop instead.
 */
static int conn_wait(struct conn *c, short events, int timeout_ms)
{
	PyGILState_STATE st = PyGILState_Ensure(); /* the WSGI glue may have let it go */
	int rc;

	if (in_hub()) {
		PyGILState_Release(st);
		errno = EAGAIN;
		return -1;
	}
	rc = suspend(c->fd, events, timeout_ms < 0 ? -1 : timeout_ms / 1000.0);
	if (rc < 0)
		PyErr_Clear(); /* killed while waiting: the connection just fails */
	PyGILState_Release(st);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}

/*
 * The connection set's dispatch: an ASGI http request is served from the
 * loop (a task, no greenlet); a WebSocket, a refusal, and every WSGI
 * request go to a connection greenlet.
 */
static void dispatch(struct cconn *cc)
{
	if (A.asgi && !cc->refuse && !asgi_ws_requested(&cc->c)) {
		A.depth++;
		asgi_start(&cc->c, keep_alive(), asgi_done);
		A.depth--;
	} else {
		gconn_dispatch(cc);
	}
}

/* Readable while dispatched: an ASGI request served from the loop may have lost its client. */
static bool busy_readable(struct cconn *cc)
{
	return cc->request && asgi_readable(&cc->c);
}

/* An ASGI request served from the loop is over: as gconn does after a request. */
static void asgi_done(struct conn *c, enum wsgi_outcome out)
{
	struct cconn *cc = (struct cconn *)(void *)c;

	A.w->requests++;
	connset_counted();
	if (out != WSGI_KEEP || !keep_alive() || conn_next_request(c) < 0) {
		if (out != WSGI_CLOSED)
			conn_finish(c);
		connset_close(cc);
		return;
	}
	if (A.depth < NESTED_MAX) {
		connset_resume(cc); /* a pipelined request, or wait for the next */
		return;
	}
	PyObject *cap = PyCapsule_New(cc, NULL, NULL); /* new ref */
	PyObject *cb = cap ? PyCFunction_New(&resume_def, cap) : NULL;
	PyObject *r = cb ? PyObject_CallOneArg(A.call_soon, cb) : NULL;

	Py_XDECREF(cap);
	Py_XDECREF(cb);
	if (!r) {
		interp_log_exception("cannot resume a connection");
		conn_finish(c);
		connset_close(cc);
	}
	Py_XDECREF(r);
}

/* The loop's next turn after NESTED_MAX requests in one another: go on with the connection. */
static PyObject *resume_later(PyObject *capsule, PyObject *unused)
{
	connset_resume(PyCapsule_GetPointer(capsule, NULL));
	Py_RETURN_NONE;
}

/* Whether a connection may carry another request (--keep-alive, no stop). */
static bool keep_alive(void)
{
	return A.w->cfg->keepalive > 0 && !worker_stopping(A.w) && !connset_stopping();
}

static int loop_sleep(double seconds)
{
	if (in_hub())
		return kirinmod_blocking()->sleep(seconds);
	return suspend(-1, 0, seconds) < 0 ? -1 : 0;
}

static int loop_wait_fd(int fd, short events, double timeout)
{
	if (in_hub())
		return kirinmod_blocking()->wait_fd(fd, events, timeout);
	return suspend(fd, events, timeout);
}

/* A greenlet started from the loop's next turn (call_soon(g.switch)). */
static PyObject *loop_spawn(PyObject *func, PyObject *args, PyObject *kwargs)
{
	PyObject *functools = PyImport_ImportModule("functools"); /* new ref */
	PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
	PyObject *pargs = NULL, *run = NULL, *sw = NULL, *r = NULL;
	PyGreenlet *g = NULL;

	Py_XDECREF(functools);
	if (!partial)
		return NULL;
	pargs = kirinmod_prepend(func, args);
	if (pargs)
		run = PyObject_Call(partial, pargs, kwargs);
	Py_XDECREF(pargs);
	Py_DECREF(partial);
	if (run)
		g = PyGreenlet_New(run, A.hub);
	Py_XDECREF(run);
	sw = g ? PyObject_GetAttrString((PyObject *)g, "switch") : NULL;
	r = sw ? PyObject_CallOneArg(A.call_soon, sw) : NULL;
	Py_XDECREF(sw);
	if (!r) {
		Py_XDECREF(g);
		return NULL;
	}
	Py_DECREF(r);
	return (PyObject *)g;
}

/* asgi — see asgi.h. */
#include "workers/python/asgi.h"

#include <errno.h>
#include <greenlet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/accesslog.h"
#include "workers/connset.h"
#include "workers/http/conn.h"
#include "workers/http/response.h"
#include "workers/python/asgi_req.h"
#include "workers/python/asgi_scope.h"
#include "workers/python/asgi_task.h"
#include "workers/python/asgi_ws.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/python/reqtimeout.h"
#include "workers/reactor_asyncio.h"

#define BODY_CHUNK 65536 /* request body bytes per http.request message, at most */
#define SPARE_REQS 64    /* Req objects kept for reuse */

static struct {
	PyObject *app, *loop, *create_future, *state;
	PyObject *disconnected_exc; /* kirin.ClientDisconnected, an OSError */
	PyObject *empty;
	PyObject *k_type;
	PyObject *t_request, *t_disconnect, *t_start, *t_body;
	PyObject *seen[2]; /* the app's own str equal to t_start, t_body, last sent (held) */
	PyObject *s_add_done_callback, *s_result, *s_cancel;
	PyObject *(*to_hub)(void);
	int grace;              /* --asgi-disconnect-grace-period */
	Req *spare[SPARE_REQS]; /* done with, held by nobody else: the next requests' */
	size_t nspare;
} S;

static PyObject *req_receive(Req *r, PyObject *unused);
static PyObject *req_send(Req *r, PyObject *msg);
static PyObject *req_done(Req *r, PyObject *task);
static PyObject *req_readable(Req *r, PyObject *unused);
static PyObject *req_read_timeout(Req *r, PyObject *unused);
static PyObject *req_grace_over(Req *r, PyObject *unused);
static void client_gone(Req *r);
static PyObject *body_message(Req *r);
static int watch_body(Req *r);
static void stop_reading(Req *r);
static void watch_client(Req *r);
static PyObject *bound(PyMethodDef *def, Req *r);
static bool same_str(PyObject *s, PyObject *ascii);
static int http_type(PyObject *type);
static void finish(Req *r, enum wsgi_outcome *out);
static Req *req_new(struct conn *c, bool keep_alive);
static void req_put(Req *r);
static void req_clear(Req *r);
static void begin(Req *r, PyObject *scope, bool eager);
static void app_failed(Req *r);
static PyObject *req_timed_out(Req *r, PyObject *unused);
static PyObject *req_call(Req *r, PyObject *args, PyObject *kwargs);
static PyObject *req_get_throw(Req *r, void *unused);
static void req_dealloc(Req *r);

static PyMethodDef receive_def = {"receive", (PyCFunction)req_receive, METH_NOARGS, NULL};
static PyMethodDef send_def = {"send", (PyCFunction)req_send, METH_O, NULL};
static PyMethodDef done_def = {"kirin_task_done", (PyCFunction)req_done, METH_O, NULL};
static PyMethodDef readable_def = {"kirin_readable", (PyCFunction)req_readable, METH_NOARGS, NULL};
static PyMethodDef read_timeout_def = {"kirin_read_timeout", (PyCFunction)req_read_timeout,
                                       METH_NOARGS, NULL};
static PyMethodDef grace_def = {"kirin_grace_over", (PyCFunction)req_grace_over, METH_NOARGS, NULL};
static PyMethodDef timed_out_def = {"kirin_timed_out", (PyCFunction)req_timed_out, METH_NOARGS,
                                    NULL};

static PyGetSetDef req_getset[] = {
    {"kirin_throw", (getter)req_get_throw, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReqType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.ASGIRequest",
    .tp_basicsize = sizeof(Req),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)req_dealloc,
    .tp_call = (ternaryfunc)req_call,
    .tp_getset = req_getset,
};

int asgi_init(PyObject *app, PyObject *loop, PyObject *(*to_hub)(void), int grace)
{
	PyGreenlet_Import();
	S.grace = grace;
	S.to_hub = to_hub;
	S.app = app;
	S.loop = loop;
	S.create_future = PyObject_GetAttrString(loop, "create_future");
	S.disconnected_exc = PyErr_NewExceptionWithDoc(
	    "kirin.ClientDisconnected", "send() after the client went away", PyExc_OSError, NULL);
#define INTERN(f, s) (S.f = PyUnicode_InternFromString(s))
	INTERN(k_type, "type");
	INTERN(t_request, "http.request");
	INTERN(t_disconnect, "http.disconnect"), INTERN(t_start, "http.response.start");
	INTERN(t_body, "http.response.body"), INTERN(s_add_done_callback, "add_done_callback");
	INTERN(s_result, "result");
	INTERN(s_cancel, "cancel");
#undef INTERN
	if (!_PyGreenlet_API || PyType_Ready(&ReqType) < 0 || !S.create_future ||
	    !S.disconnected_exc || !S.s_cancel || asgi_scope_init() < 0 || asgi_out_init() < 0 ||
	    asgi_task_init(loop) < 0) {
		interp_log_exception("cannot set up ASGI");
		return -1;
	}
	S.empty = PyBytes_FromStringAndSize("", 0);
	return S.empty ? 0 : -1;
}

void asgi_set_state(PyObject *state)
{
	Py_XINCREF(state);
	Py_XSETREF(S.state, state);
}

enum wsgi_outcome asgi_serve(struct conn *c, bool keep_alive)
{
	Req *r = req_new(c, keep_alive);
	PyObject *scope, *res;
	enum wsgi_outcome out = WSGI_CLOSE;

	if (!r)
		return WSGI_CLOSED;
	r->g = (PyObject *)PyGreenlet_GetCurrent(); /* new ref */
	scope = asgi_scope_new(c, S.state);
	if (scope && asgi_ws_requested(c) && asgi_ws_begin(r, scope) < 0) {
		if (PyErr_Occurred())
			interp_log_exception("cannot set up a WebSocket request");
		Py_DECREF(scope);
		req_put(r);
		return c->fd < 0 ? WSGI_CLOSED : WSGI_CLOSE;
	}
	begin(r, scope, false);
	Py_XDECREF(scope);
	/* The task's end (req_done) switches back here. */
	while (!r->task_done) {
		if (asgi_ws_read(r))
			continue;
		res = S.to_hub();
		if (!res) { /* killed: the worker is going away */
			PyErr_Clear();
			res = PyObject_CallMethodNoArgs(r->task, S.s_cancel);
			PyErr_Clear();
			r->broken = r->failed = true;
			r->task_done = true;
		}
		Py_XDECREF(res);
	}
	finish(r, &out);
	Py_CLEAR(r->task);
	req_put(r);
	if (c->fd < 0)
		return WSGI_CLOSED;
	return out;
}

void asgi_start(struct conn *c, bool keep_alive,
                void (*done)(struct conn *c, enum wsgi_outcome out))
{
	Req *r = req_new(c, keep_alive);
	PyObject *scope;

	if (!r) {
		done(c, WSGI_CLOSED);
		return;
	}
	r->done_cb = done;
	((struct cconn *)(void *)c)->request = r;
	scope = asgi_scope_new(c, S.state);
	begin(r, scope, true);
	Py_XDECREF(scope);
	if (r->task_done)
		asgi_req_end(r);
}

/*
 * A request object for c's request (new ref: req_put() drops it), or NULL
 * after answering 500. It holds its receive and send, which hold it: a
 * cycle that req_put() keeps or breaks.
 */
static Req *req_new(struct conn *c, bool keep_alive)
{
	Req *r = S.nspare ? S.spare[--S.nspare] : NULL;

	if (!r && (r = PyObject_New(Req, &ReqType))) {
		memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
		r->receive = bound(&receive_def, r);
		r->send = r->receive ? bound(&send_def, r) : NULL;
		if (!r->send) {
			Py_CLEAR(r->receive);
			Py_CLEAR(r);
		}
	}
	if (!r) {
		interp_log_exception("cannot serve an ASGI request");
		conn_refuse(c, 500);
		return NULL;
	}
	r->c = c;
	r->resp.keep_alive = keep_alive && c->req.keep_alive;
	if (accesslog_enabled())
		clock_gettime(CLOCK_MONOTONIC, &r->start);
	return r;
}

/*
 * Call the app with scope (NULL: its building failed) and run its
 * coroutine: with `eager`, its first step here (asgi_task.h), and as a
 * task in r->task only when it waits; else all of it as a task.
 * r->task_done once it ended; req_done() is the task's done callback.
 */
static void begin(Req *r, PyObject *scope, bool eager)
{
	PyObject *coro = NULL, *done, *res = NULL;
	int rc = -1;

	if (scope) {
		PyObject *args[] = {scope, r->receive, r->send};

		if (r->done_cb && hooks_request_set()) { /* an http request: Gunicorn's hooks */
			r->scope = (Py_INCREF(scope), scope);
			hooks_pre_request_asgi(scope);
		}
		coro = PyObject_Vectorcall(S.app, args, 3, NULL);
	}
	if (coro && eager) {
		rc = asgi_task_run(coro, (PyObject *)r, &r->task); /* r(exc) at its end */
	} else if (coro && (r->task = asgi_task_start(coro))) {
		done = bound(&done_def, r);
		res = done ? PyObject_CallMethodOneArg(r->task, S.s_add_done_callback, done) : NULL;
		Py_XDECREF(done);
		if (!res)
			Py_CLEAR(r->task);
		Py_XDECREF(res);
		rc = r->task ? 1 : -1;
	}
	if (rc == 1) {
		watch_client(r);
		if (r->task && r->done_cb && reqtimeout_seconds) {
			done = bound(&timed_out_def, r);
			r->ttimer = done ? reactor_asyncio_later(reqtimeout_seconds, done) : NULL;
			r->coro = r->ttimer ? (Py_INCREF(coro), coro) : NULL; /* for its stack */
			Py_XDECREF(done);
			if (!r->ttimer)
				interp_log_exception("cannot time an ASGI request");
		}
	}
	Py_XDECREF(coro);
	if (!r->task) {
		r->task_done = true;
		if (rc != 0)
			app_failed(r);
	}
}

/* The app raised (the exception is set): logged, unless the client is gone. */
static void app_failed(Req *r)
{
	r->failed = true;
	if (!r->broken && !r->timed_out)
		interp_log_exception("Exception in ASGI application");
	PyErr_Clear();
}

void asgi_req_end(Req *r)
{
	struct conn *c = r->c;
	enum wsgi_outcome out = WSGI_CLOSE;

	if (!r->broken && (r->pend_off < r->pend_len || r->file_left)) {
		r->finishing = true; /* flush_pending() calls again */
		return;
	}
	r->finishing = false;
	r->ended = true;
	finish(r, &out);
	Py_CLEAR(r->task);
	r->done_cb(c, c->fd < 0 ? WSGI_CLOSED : out);
	req_put(r);
}

/*
 * After the task: write what it left pending, answer 500 when it sent
 * nothing (an error, or no response at all), log, and decide whether the
 * connection stays. In the connection greenlet (writes may wait).
 */
static void finish(Req *r, enum wsgi_outcome *out)
{
	struct conn *c = r->c;
	bool failed = r->failed, ws = r->ws != NULL;

	stop_reading(r);
	asgi_req_stop_writing(r);
	reactor_asyncio_cancel(&r->timer);
	reactor_asyncio_cancel(&r->rtimer);
	reactor_asyncio_cancel(&r->gtimer);
	reactor_asyncio_cancel(&r->ttimer);
	Py_CLEAR(r->coro);
	asgi_out_flush(r);
	asgi_file_close(r);
	asgi_settle(&r->send_fut, Py_None, r->broken ? S.disconnected_exc : NULL,
	            "the client is gone");
	if (r->ws) {
		bool accepted = asgi_ws_accepted(r);

		asgi_ws_finish(r, failed);
		if (accepted) /* a WebSocket session: its close is said */
			goto out;
	}
	if (!r->head_sent && !r->broken) {
		/* A WebSocket the app did not accept: refused (403), as it asked. */
		int status = r->refuse ? r->refuse : r->timed_out ? 504 : ws && !failed ? 403 : 500;

		if (!failed && !r->refuse && !ws)
			log_msg(LOG_ERROR, "ASGI callable returned without %s",
			        r->started ? "sending the response body" : "starting the response");
		if (r->refuse)
			log_info("refusing request: %s", c->error ? c->error : "bad body framing");
		asgi_req_access_log(r, status);
		conn_refuse(c, status);
	} else if (r->head_sent && !r->complete && !r->broken && !r->timed_out) {
		log_msg(LOG_ERROR, "ASGI callable returned without completing the response");
	}
	if (r->complete && !r->broken && !r->refuse && response_reusable(&r->resp) &&
	    c->error_status == 0)
		*out = WSGI_KEEP;
	if (r->head_sent)
		asgi_req_access_log(r, r->resp.status);
	if (r->scope) {
		hooks_post_request_asgi(r->scope, r->head_sent ? r->resp.status : 0,
		                        r->resp_headers, (long)r->resp.body_sent);
		Py_CLEAR(r->scope);
	}
out:
	/* From now on a late receive() sees a disconnect, a late send() raises. */
	asgi_settle(&r->recv_fut, NULL, NULL, NULL);
	((struct cconn *)(void *)c)->request = NULL;
	r->c = NULL;
	free(r->pend);
	r->pend = NULL;
	response_free(&r->resp);
}

/* receive(): the next body bytes, or a disconnect; awaits what has not come. */
static PyObject *req_receive(Req *r, PyObject *unused)
{
	PyObject *msg;

	if (r->ws)
		return asgi_ws_receive(r);
	if (!r->c || r->disconnected || r->complete || r->broken)
		return asgi_ready_take(asgi_message(S.t_disconnect, NULL, false));
	if (asgi_future_pending(r->recv_fut)) {
		PyErr_SetString(PyExc_RuntimeError, "receive() called while another one waits");
		return NULL;
	}
	Py_CLEAR(r->recv_fut);
	if (!r->body_told) {
		msg = body_message(r);
		if (msg || PyErr_Occurred())
			return asgi_ready_take(msg);
	}
	/* Wait for body bytes, or for the client to go. */
	r->recv_fut = PyObject_CallNoArgs(S.create_future);
	if (!r->recv_fut || watch_body(r) < 0) {
		Py_CLEAR(r->recv_fut);
		return NULL;
	}
	if (!r->body_told) { /* body bytes are due within --timeout */
		PyObject *cb = bound(&read_timeout_def, r);
		reactor_asyncio_cancel(&r->rtimer);
		r->rtimer = cb ? reactor_asyncio_later(r->c->timeout_ms / 1000.0, cb) : NULL;
		Py_XDECREF(cb);
		if (!r->rtimer)
			return NULL;
	}
	Py_INCREF(r->recv_fut);
	return r->recv_fut;
}

/* Our reader fired (the hub): body bytes, a disconnect, or the next request. */
static PyObject *req_readable(Req *r, PyObject *unused)
{
	PyObject *msg;
	char b;
	ssize_t n;

	if (!r->c || !asgi_future_pending(r->recv_fut)) {
		stop_reading(r);
		Py_RETURN_NONE;
	}
	if (!r->body_told) {
		msg = body_message(r);
		if (!msg && !PyErr_Occurred()) /* not yet: TLS may now wait the other way */
			return watch_body(r) < 0 ? NULL : Py_NewRef(Py_None);
		stop_reading(r);
		reactor_asyncio_cancel(&r->rtimer);
		asgi_settle(&r->recv_fut, msg, msg ? NULL : PyExc_RuntimeError,
		            "cannot read the body");
		Py_XDECREF(msg);
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	n = recv(r->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		Py_RETURN_NONE;
	stop_reading(r);
	if (n <= 0)
		client_gone(r);
	/* n > 0: the next request came; a disconnect is told when this one ends. */
	Py_RETURN_NONE;
}

/*
 * An http.request message with the body bytes the socket has (new ref);
 * NULL without an exception when none came yet. A framing error or a lost
 * client is an http.disconnect (a framing error is answered at the end).
 */
static PyObject *body_message(Req *r)
{
	struct conn *c = r->c;
	size_t want = BODY_CHUNK;
	PyObject *body, *msg;
	ssize_t n;

	if (c->body_done) {
		r->body_told = true;
		return asgi_message(S.t_request, S.empty, false);
	}
	if (c->req.body == HTTP_BODY_LENGTH && c->body_left < want)
		want = (size_t)c->body_left;
	body = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)want);
	if (!body)
		return NULL;
	n = conn_body_read(c, PyBytes_AS_STRING(body), want);
	if (n < 0) {
		int e = errno;
		Py_DECREF(body);
		if (c->error_status == 0 && e == EAGAIN)
			return NULL;
		r->refuse = c->error_status;
		r->disconnected = true;
		return asgi_message(S.t_disconnect, NULL, false);
	}
	if (_PyBytes_Resize(&body, n) < 0)
		return NULL;
	r->body_told = c->body_done;
	msg = asgi_message(S.t_request, body, !c->body_done);
	Py_DECREF(body);
	return msg;
}

/* send(message). */
static PyObject *req_send(Req *r, PyObject *msg)
{
	struct asgi_msg m;
	PyObject *type;

	if (r->c && !r->broken && !r->refuse && (type = asgi_response_start_again(r, msg)))
		return type;
	if (asgi_msg_read(msg, &m) < 0)
		return NULL;
	type = m.type;
	if (!r->c || r->broken || r->refuse) {
		PyErr_SetString(S.disconnected_exc, r->refuse ? "the request was refused (bad body)"
		                                              : "the client is gone");
		return NULL;
	}
	if (r->ws && !asgi_ws_accepted(r) && PyUnicode_Check(type) &&
	    PyUnicode_CompareWithASCIIString(type, "websocket.http.response.start") == 0)
		return asgi_response_start(r, &m);
	if (r->ws && !asgi_ws_accepted(r) && PyUnicode_Check(type) &&
	    PyUnicode_CompareWithASCIIString(type, "websocket.http.response.body") == 0)
		return asgi_response_body(r, &m);
	if (r->ws && PyUnicode_Check(type)) {
		PyObject *res = asgi_ws_send(r, type, msg);
		if (res || PyErr_Occurred())
			return res;
	} else if (http_type(type) == 1) {
		return asgi_response_start(r, &m);
	} else if (http_type(type) == 2) {
		return asgi_response_body(r, &m);
	} else if (PyUnicode_Check(type) &&
	           PyUnicode_CompareWithASCIIString(type, "http.response.pathsend") == 0) {
		return asgi_pathsend(r, msg);
	}
	if (!PyErr_Occurred())
		PyErr_Format(PyExc_ValueError, "unexpected ASGI message type %R for http", type);
	return NULL;
}

/* --timeout passed without the body bytes a receive() waits for: the client is gone. */
static PyObject *req_read_timeout(Req *r, PyObject *unused)
{
	Py_CLEAR(r->rtimer);
	if (r->c && asgi_future_pending(r->recv_fut)) {
		r->broken = r->disconnected = true;
		stop_reading(r);
		asgi_settle(&r->recv_fut, NULL, NULL, NULL);
	}
	Py_RETURN_NONE;
}

bool asgi_readable(struct conn *c)
{
	Req *r = ((struct cconn *)(void *)c)->request;
	ssize_t n;
	char b;

	if (!r || r->disconnected || r->reading) /* reading: req_readable() hears it all */
		return false;
	if (r->complete && r->pend_off == r->pend_len && !r->file_left) {
		/* The response is out and the client asks again before the task's
		 * done callback came: end the request now (what the task still
		 * does cannot reach the client) rather than stop watching the
		 * socket, only to watch it again a moment later. */
		asgi_req_end(r);
		return true;
	}
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		client_gone(r);
	/* n > 0: the next request; read when this one ends. */
	return false;
}

/* The client went away: receive() hears http.disconnect (now and later), and the task is
 * cancelled after Gunicorn's asgi_disconnect_grace_period (time for the app to clean up). */
static void client_gone(Req *r)
{
	PyObject *cb;

	r->disconnected = true;
	asgi_settle(&r->recv_fut, NULL, NULL, NULL);
	if (!r->task || r->task_done || r->gtimer)
		return;
	cb = bound(&grace_def, r);
	r->gtimer = cb ? reactor_asyncio_later(S.grace, cb) : NULL;
	Py_XDECREF(cb);
	if (!r->gtimer)
		interp_log_exception("cannot arm the disconnect grace period");
}

/* The grace period after the client went away is over: cancel what still runs. */
static PyObject *req_grace_over(Req *r, PyObject *unused)
{
	PyObject *res;

	Py_CLEAR(r->gtimer);
	if (!r->task || r->task_done)
		Py_RETURN_NONE;
	log_info("cancelling an ASGI request whose client went away %d s ago", S.grace);
	r->broken = true; /* its CancelledError is no error of the app's */
	res = PyObject_CallMethodNoArgs(r->task, S.s_cancel);
	if (!res)
		interp_log_exception("cannot cancel an ASGI request");
	Py_XDECREF(res);
	Py_RETURN_NONE;
}

/*
 * --request-timeout passed while the task waits: log it and its stack, and
 * throw kirin.RequestTimeout in where it waits, as the other workers raise
 * it (asgi_task.h: a plain Task gets CancelledError).
 */
static PyObject *req_timed_out(Req *r, PyObject *unused)
{
	PyObject *stack;
	Py_ssize_t len = 0;
	const char *s;
	char header[320];

	Py_CLEAR(r->ttimer);
	if (!r->task || r->task_done)
		Py_RETURN_NONE;
	stack = asgi_task_stack(r->coro); /* new ref */
	s = stack ? PyUnicode_AsUTF8AndSize(stack, &len) : NULL;
	snprintf(header, sizeof(header),
	         "Request timed out after %d s (--request-timeout): %.*s %.*s from %s; "
	         "raising kirin.RequestTimeout in it. Its stack:",
	         reqtimeout_seconds, (int)r->c->req.method_len, r->c->req.method,
	         (int)(r->c->req.path_len < 200 ? r->c->req.path_len : 200), r->c->req.path,
	         r->c->peer_addr[0] ? r->c->peer_addr : "a unix socket");
	if (!s)
		PyErr_Clear();
	log_block(LOG_ERROR, header, s ? s : "(not available)", s ? (size_t)len : 15);
	Py_XDECREF(stack);
	r->timed_out = true; /* 504, or a closed connection; no application error */
	Py_XSETREF(r->throw, PyObject_CallNoArgs(reqtimeout_exception()));
	if (!r->throw) /* then it gets the CancelledError */
		interp_log_exception("cannot make a kirin.RequestTimeout");
	if (asgi_task_interrupt(r->task) < 0)
		interp_log_exception("cannot interrupt an ASGI request");
	Py_RETURN_NONE;
}

/* r.kirin_throw: what the task's host throws in instead of its Task's exception (once), or None. */
static PyObject *req_get_throw(Req *r, void *unused)
{
	PyObject *t = r->throw;

	r->throw = NULL;
	return t ? t : Py_NewRef(Py_None);
}

/*
 * r(exception or None): the coroutine run by asgi_task_run() ended, in the
 * Task that ran it (which goes on with another request): as req_done().
 */
static PyObject *req_call(Req *r, PyObject *args, PyObject *kwargs)
{
	PyObject *exc;

	if (kwargs) {
		PyErr_SetString(PyExc_TypeError, "done() takes no keyword arguments");
		return NULL;
	}
	if (!PyArg_UnpackTuple(args, "done", 1, 1, &exc))
		return NULL;
	if (exc != Py_None) {
		PyErr_Restore(Py_NewRef(Py_TYPE(exc)), Py_NewRef(exc),
		              PyException_GetTraceback(exc));
		app_failed(r);
	}
	r->task_done = true;
	if (!r->ended)
		asgi_req_end(r);
	Py_RETURN_NONE;
}

/* The task ended (the hub): finish, or wake the connection greenlet waiting in asgi_serve(). */
static PyObject *req_done(Req *r, PyObject *task)
{
	PyObject *res = PyObject_CallMethodNoArgs(task, S.s_result); /* new ref */

	if (!res)
		app_failed(r);
	Py_XDECREF(res);
	r->task_done = true;
	if (r->ended) /* its response was over, and its connection back with the set */
		Py_RETURN_NONE;
	if (r->done_cb)
		asgi_req_end(r);
	else
		asgi_req_resume(r);
	Py_RETURN_NONE;
}

void asgi_req_resume(Req *r)
{
	PyObject *res = PyGreenlet_Switch((PyGreenlet *)r->g, NULL, NULL);

	if (!res)
		interp_log_exception("Error in a connection greenlet");
	Py_XDECREF(res);
}

/* Our reader on the socket for the body: writable when TLS must write first. 0, or -1. */
static int watch_body(Req *r)
{
	short want = conn_read_wants(r->c) == POLLOUT && !r->writing ? POLLOUT : POLLIN;
	PyObject *cb = r->reading == want ? NULL : bound(&readable_def, r);

	if (r->reading == want)
		return 0;
	stop_reading(r);
	r->reading = cb && reactor_asyncio_add(r->c->fd, want == POLLOUT, cb) == 0 ? want : 0;
	Py_XDECREF(cb);
	return r->reading ? 0 : -1;
}

/* Give the set its reader back (a send()'s writer may have replaced ours). */
static void stop_reading(Req *r)
{
	if (!r->reading)
		return;
	if (r->reading == POLLIN || !r->writing)
		reactor_asyncio_remove(r->c->fd, r->reading == POLLOUT);
	r->reading = 0;
	watch_client(r);
}

/* A task served from the loop waits without our reader: the set watches (asgi_readable()). */
static void watch_client(Req *r)
{
	if (r->done_cb && r->task && !r->task_done && !r->reading)
		connset_watch((struct cconn *)(void *)r->c);
}

PyObject *asgi_req_disconnected(void)
{
	return S.disconnected_exc;
}

PyObject *asgi_req_future(void)
{
	return PyObject_CallNoArgs(S.create_future);
}

/* s is a str equal to ascii (an ASCII str): cheaper than PyUnicode_Compare(). */
static bool same_str(PyObject *s, PyObject *ascii)
{
	return s == ascii || (PyUnicode_Check(s) && PyUnicode_IS_ASCII(s) &&
	                      PyUnicode_GET_LENGTH(s) == PyUnicode_GET_LENGTH(ascii) &&
	                      memcmp(PyUnicode_DATA(s), PyUnicode_DATA(ascii),
	                             (size_t)PyUnicode_GET_LENGTH(s)) == 0);
}

/* 1: type is "http.response.start", 2: "http.response.body", 0: neither; the
 * app's equal str (its literal, one object) is kept: later ones compare by identity. */
static int http_type(PyObject *type)
{
	PyObject *want[2] = {S.t_start, S.t_body};

	for (int i = 0; i < 2; i++) {
		if (type == want[i] || type == S.seen[i])
			return i + 1;
	}
	for (int i = 0; i < 2; i++) {
		if (same_str(type, want[i])) {
			Py_XSETREF(S.seen[i], Py_NewRef(type));
			return i + 1;
		}
	}
	return 0;
}

/* def bound to r: new ref, or NULL. */
static PyObject *bound(PyMethodDef *def, Req *r)
{
	return PyCFunction_New(def, (PyObject *)r);
}

/*
 * Drop the reference req_new() gave. A Req that nobody else holds, nor its
 * receive and send, is kept for another request; else its cycle with them
 * is broken, and what still holds them keeps a request that is over.
 */
static void req_put(Req *r)
{
	PyObject *receive = r->receive, *send = r->send;

	if (Py_REFCNT(r) == 3 && Py_REFCNT(receive) == 1 && Py_REFCNT(send) == 1 && !r->ws &&
	    S.nspare < SPARE_REQS) {
		r->receive = r->send = NULL;
		req_clear(r);
		memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
		r->receive = receive;
		r->send = send;
		S.spare[S.nspare++] = r;
		return;
	}
	Py_CLEAR(r->receive);
	Py_CLEAR(r->send);
	Py_DECREF(r);
}

/* Drop what r holds. */
static void req_clear(Req *r)
{
	Py_CLEAR(r->receive);
	Py_CLEAR(r->send);
	Py_CLEAR(r->recv_fut);
	Py_CLEAR(r->send_fut);
	Py_CLEAR(r->timer);
	Py_CLEAR(r->rtimer);
	Py_CLEAR(r->gtimer);
	Py_CLEAR(r->ttimer);
	Py_CLEAR(r->coro);
	Py_CLEAR(r->throw);
	Py_CLEAR(r->scope);
	Py_CLEAR(r->resp_headers);
	Py_CLEAR(r->g);
	Py_CLEAR(r->task);
	free(r->pend);
	r->pend = NULL;
}

static void req_dealloc(Req *r)
{
	req_clear(r);
	PyObject_Free(r);
}

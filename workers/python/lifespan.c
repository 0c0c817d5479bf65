/* lifespan — see lifespan.h. */
#include "workers/python/lifespan.h"

#include <stdbool.h>
#include <string.h>

#include "arbiter/log.h"
#include "workers/python/asgi.h"
#include "workers/python/asgi_scope.h"
#include "workers/python/interp.h"
#include "workers/reactor_asyncio.h"

static struct {
	PyObject *loop, *task;
	PyObject *startup,
	    *shutdown;     /* futures: True complete, False failed, None the task ended */
	PyObject *waiting; /* a receive() waiting for the shutdown event */
	int sent;          /* events given to receive(): 0, 1 startup, 2 shutdown */
	bool stopping;     /* the shutdown event is due */
} L;

static PyObject *receive(PyObject *self, PyObject *unused);
static PyObject *send(PyObject *self, PyObject *msg);
static PyObject *task_done(PyObject *self, PyObject *task);
static PyObject *event(const char *type);
static PyObject *ready_event(const char *type);
static void resolve(PyObject *fut, PyObject *value);
static PyObject *run_until(PyObject *fut);

static PyMethodDef receive_def = {"receive", receive, METH_NOARGS, NULL};
static PyMethodDef send_def = {"send", send, METH_O, NULL};
static PyMethodDef done_def = {"kirin_lifespan_done", task_done, METH_O, NULL};

int lifespan_startup(PyObject *app, PyObject *loop, const char *mode)
{
	PyObject *state = PyDict_New(), *scope = NULL, *recv = NULL, *snd = NULL, *done = NULL;
	PyObject *coro = NULL, *res = NULL, *version = asgi_scope_version("2.0");
	bool on = mode && strcmp(mode, "on") == 0;
	int rc = -1;

	if (mode && strcmp(mode, "off") == 0) {
		Py_XDECREF(state);
		Py_XDECREF(version);
		return 0;
	}
	L.loop = loop;
	scope = state && version ? Py_BuildValue("{s:s,s:O,s:O}", "type", "lifespan", "asgi",
	                                         version, "state", state)
	                         : NULL;
	recv = PyCFunction_New(&receive_def, NULL);
	snd = PyCFunction_New(&send_def, NULL);
	done = PyCFunction_New(&done_def, NULL);
	L.startup = PyObject_CallMethod(loop, "create_future", NULL);
	L.shutdown = PyObject_CallMethod(loop, "create_future", NULL);
	if (!scope || !recv || !snd || !done || !L.startup || !L.shutdown) {
		interp_log_exception("cannot start the ASGI lifespan");
		goto out;
	}
	coro = PyObject_CallFunctionObjArgs(app, scope, recv, snd, NULL);
	L.task = coro ? PyObject_CallMethod(loop, "create_task", "O", coro) : NULL;
	res = L.task ? PyObject_CallMethod(L.task, "add_done_callback", "O", done) : NULL;
	Py_XDECREF(res);
	res = res ? run_until(L.startup) : NULL;
	if (res == Py_True) {
		asgi_set_state(state);
		log_info("ASGI lifespan startup complete");
		rc = 0;
	} else if (res == Py_False) {
		rc = -1; /* send() logged the message */
	} else if (on) {
		PyObject *r = L.task ? PyObject_CallMethod(L.task, "result", NULL) : NULL;
		if (r || !PyErr_Occurred())
			log_msg(LOG_ERROR, "ASGI lifespan startup failed: the app returned without "
			                   "completing it");
		else
			interp_log_exception("ASGI lifespan startup failed");
		Py_XDECREF(r);
	} else {
		PyErr_Clear();
		if (L.task) { /* its exception is retrieved: asyncio does not log it */
			PyObject *r = PyObject_CallMethod(L.task, "exception", NULL);
			Py_XDECREF(r);
			PyErr_Clear();
		}
		log_info("ASGI 'lifespan' protocol appears unsupported");
		Py_CLEAR(L.task);
		rc = 0;
	}
out:
	Py_XDECREF(res);
	Py_XDECREF(coro);
	Py_XDECREF(done);
	Py_XDECREF(snd);
	Py_XDECREF(recv);
	Py_XDECREF(scope);
	Py_XDECREF(version);
	Py_XDECREF(state);
	return rc;
}

void lifespan_shutdown(double timeout)
{
	PyObject *res, *cb, *timer;

	if (!L.task)
		return;
	L.stopping = true;
	if (L.waiting) {
		PyObject *ev = event("lifespan.shutdown");
		L.sent = 2;
		resolve(L.waiting, ev);
		Py_XDECREF(ev);
		Py_CLEAR(L.waiting);
	}
	cb = PyObject_GetAttrString(L.shutdown, "cancel"); /* the timeout gives up waiting */
	timer = cb ? reactor_asyncio_later(timeout, cb) : NULL;
	Py_XDECREF(cb);
	res = run_until(L.shutdown);
	reactor_asyncio_cancel(&timer);
	if (res == Py_True)
		log_info("ASGI lifespan shutdown complete");
	else if (!res)
		log_warning("ASGI lifespan shutdown did not complete within %.0f s", timeout);
	PyErr_Clear();
	Py_XDECREF(res);
}

/* The app's receive(): startup, then shutdown when it is due. */
static PyObject *receive(PyObject *self, PyObject *unused)
{
	if (L.sent == 0) {
		L.sent = 1;
		return ready_event("lifespan.startup");
	}
	if (L.stopping && L.sent == 1) {
		L.sent = 2;
		return ready_event("lifespan.shutdown");
	}
	Py_XSETREF(L.waiting, PyObject_CallMethod(L.loop, "create_future", NULL));
	Py_XINCREF(L.waiting);
	return L.waiting;
}

static PyObject *send(PyObject *self, PyObject *msg)
{
	PyObject *type = PyDict_Check(msg) ? PyDict_GetItemString(msg, "type") : NULL;
	PyObject *text = PyDict_Check(msg) ? PyDict_GetItemString(msg, "message") : NULL;
	const char *t = type && PyUnicode_Check(type) ? PyUnicode_AsUTF8(type) : NULL;
	const char *why = text && PyUnicode_Check(text) ? PyUnicode_AsUTF8(text) : "";

	if (!t) {
		PyErr_SetString(PyExc_TypeError, "a lifespan message is a dict with a 'type'");
		return NULL;
	}
	if (strcmp(t, "lifespan.startup.complete") == 0) {
		resolve(L.startup, Py_True);
	} else if (strcmp(t, "lifespan.startup.failed") == 0) {
		log_msg(LOG_ERROR, "ASGI lifespan startup failed: %s", why);
		resolve(L.startup, Py_False);
	} else if (strcmp(t, "lifespan.shutdown.complete") == 0) {
		resolve(L.shutdown, Py_True);
	} else if (strcmp(t, "lifespan.shutdown.failed") == 0) {
		log_msg(LOG_ERROR, "ASGI lifespan shutdown failed: %s", why);
		resolve(L.shutdown, Py_False);
	} else {
		PyErr_Format(PyExc_ValueError, "unexpected lifespan message type %R", type);
		return NULL;
	}
	return asgi_ready(Py_None);
}

/* The lifespan task ended: whoever waits for an answer gets None. */
static PyObject *task_done(PyObject *self, PyObject *task)
{
	resolve(L.startup, Py_None);
	resolve(L.shutdown, Py_None);
	Py_RETURN_NONE;
}

/* {"type": type}: new ref, or NULL. */
static PyObject *event(const char *type)
{
	return Py_BuildValue("{s:s}", "type", type);
}

/* An awaitable done at once with {"type": type}: new ref, or NULL. */
static PyObject *ready_event(const char *type)
{
	PyObject *ev = event(type);
	PyObject *r = ev ? asgi_ready(ev) : NULL;

	Py_XDECREF(ev);
	return r;
}

/* fut.set_result(value) unless fut is done; errors logged. */
static void resolve(PyObject *fut, PyObject *value)
{
	PyObject *d = fut ? PyObject_CallMethod(fut, "done", NULL) : NULL;
	PyObject *r =
	    d == Py_False && value ? PyObject_CallMethod(fut, "set_result", "O", value) : NULL;

	if (d == Py_False && !r)
		interp_log_exception("cannot answer a lifespan event");
	Py_XDECREF(d);
	Py_XDECREF(r);
}

/* loop.run_until_complete(fut): new ref to its result, or NULL with an exception. */
static PyObject *run_until(PyObject *fut)
{
	return PyObject_CallMethod(L.loop, "run_until_complete", "O", fut);
}

/* kirinmod — see kirinmod.h. */
#include "workers/python/kirinmod.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include "workers/python/reqtimeout.h"

/* The longest length time.sleep takes: INT64_MAX nanoseconds (~292 years). */
#define MAX_SECONDS ((double)INT64_MAX / 1e9)

static int seconds_arg(PyObject *o, const char *what, double *out);
static int timeout_arg(PyObject *o, double *out);
static int poll_ms(double seconds);
static double monotonic(void);
static int blocking_sleep(double seconds);
static int blocking_wait_fd(int fd, short events, double timeout);
static PyObject *blocking_spawn(PyObject *func, PyObject *args, PyObject *kwargs);

static const struct kirin_backend blocking = {
	.name = "blocking",
	.sleep = blocking_sleep,
	.wait_fd = blocking_wait_fd,
	.spawn = blocking_spawn,
};

static const struct kirin_backend *backend = &blocking;
static void (*wait_hook)(bool in_app);

/*
 * kirin.Queue: with a backend that parks greenlets, a deque and a list of
 * parked getters; otherwise a thread-safe queue (or gevent's own, which
 * the gevent backend's module source substitutes).
 */
static const char module_src[] =
	"import collections as _collections, queue as _queue, threading as _threading, time as _time\n"
	"Empty = _queue.Empty\n"
	"class RequestTimeout(BaseException):\n"
	"    '''Raised in a request that ran longer than --request-timeout.'''\n"
	"class Queue:\n"
	"    '''FIFO queue for long polling: put(item), get(timeout=None) raises kirin.Empty.'''\n"
	"    def __init__(self):\n"
	"        self._items = _collections.deque()\n"
	"        self._waiters = _collections.deque()\n"
	"        self._cond = None if _parks() else _threading.Condition()\n"
	"    def put(self, item):\n"
	"        if self._cond is not None:\n"
	"            with self._cond:\n"
	"                self._items.append(item)\n"
	"                self._cond.notify()\n"
	"            return\n"
	"        self._items.append(item)\n"
	"        while self._waiters and not _wake(self._waiters.popleft()):\n"
	"            pass\n"
	"    def get(self, timeout=None):\n"
	"        if self._cond is not None:\n"
	"            with self._cond:\n"
	"                _in_app(False)\n"
	"                try:\n"
	"                    ready = self._cond.wait_for(lambda: self._items, timeout)\n"
	"                finally:\n"
	"                    _in_app(True)\n"
	"                if not ready:\n"
	"                    raise Empty\n"
	"                return self._items.popleft()\n"
	"        deadline = None if timeout is None else _time.monotonic() + timeout\n"
	"        while not self._items:\n"
	"            left = -1.0 if deadline is None else deadline - _time.monotonic()\n"
	"            if deadline is not None and left <= 0:\n"
	"                raise Empty\n"
	"            me = _current()\n"
	"            self._waiters.append(me)\n"
	"            if not _park(left):\n"
	"                try:\n"
	"                    self._waiters.remove(me)\n"
	"                except ValueError:\n"
	"                    pass\n"
	"        item = self._items.popleft()\n"
	"        if self._items:\n"
	"            while self._waiters and not _wake(self._waiters.popleft()):\n"
	"                pass\n"
	"        return item\n"
	"    def qsize(self):\n"
	"        return len(self._items)\n"
	"    def empty(self):\n"
	"        return not self._items\n"
	"if _backend() == 'gevent':\n"
	"    from gevent.queue import Queue, Empty\n"
	"import contextvars as _contextvars\n"
	"_websocket = _contextvars.ContextVar('kirin.websocket', default=None)\n"
	"def _current_websocket():\n"
	"    ws = _websocket.get()\n"
	"    if ws is None:\n"
	"        raise OSError('not serving a WebSocket request')\n"
	"    return ws\n"
	"def websocket_handshake(key=None, origin=None, proto=None):\n"
	"    '''uWSGI's: answer the current request's WebSocket handshake (101),\n"
	"    with proto as its subprotocol when given.'''\n"
	"    env = _current_websocket().environ\n"
	"    if proto:\n"
	"        env['kirin.websocket_protocol'] = proto.decode() if isinstance(proto, bytes) else proto\n"
	"    env['wsgi.websocket']\n"
	"def websocket_recv():\n"
	"    '''uWSGI's: the next message as bytes; OSError once closed.'''\n"
	"    message = _current_websocket().receive()\n"
	"    if message is None:\n"
	"        raise OSError('unable to receive websocket message')\n"
	"    return message.encode() if isinstance(message, str) else message\n"
	"def websocket_send(message):\n"
	"    '''uWSGI's: send a text message.'''\n"
	"    _current_websocket().send(message, binary=False)\n"
	"def websocket_send_binary(message):\n"
	"    '''uWSGI's: send a binary message.'''\n"
	"    _current_websocket().send(message, binary=True)\n"
	"def __getattr__(name):\n"
	"    '''WebSocketError: gevent-websocket's when it is installed, so that its\n"
	"    apps catch what environ['wsgi.websocket'] raises; else kirin's own.'''\n"
	"    global WebSocketError\n"
	"    if name != 'WebSocketError':\n"
	"        raise AttributeError(f'module kirin has no attribute {name!r}')\n"
	"    try:\n"
	"        from geventwebsocket.exceptions import WebSocketError\n"
	"    except ImportError:\n"
	"        class WebSocketError(OSError):\n"
	"            '''Raised by a closed or broken environ['wsgi.websocket'].'''\n"
	"        WebSocketError.__module__ = 'kirin'\n"
	"    return WebSocketError\n";

/*
 * A length of time in seconds from Python, checked as time.sleep checks
 * its own: NaN or negative raises ValueError, longer than time.sleep takes
 * raises OverflowError. 0 with *out set, or -1 with an exception set.
 */
static int seconds_arg(PyObject *o, const char *what, double *out)
{
	double s = PyFloat_AsDouble(o);

	if (s == -1 && PyErr_Occurred())
		return -1;
	if (isnan(s)) {
		PyErr_Format(PyExc_ValueError, "%s: invalid value NaN (not a number)", what);
		return -1;
	}
	if (s < 0) {
		PyErr_Format(PyExc_ValueError, "%s must be non-negative", what);
		return -1;
	}
	if (s > MAX_SECONDS) {
		PyErr_Format(PyExc_OverflowError, "%s too large", what);
		return -1;
	}
	*out = s;
	return 0;
}

/* A wait's timeout: None (or absent) waits forever (-1), else seconds_arg. */
static int timeout_arg(PyObject *o, double *out)
{
	if (!o || o == Py_None) {
		*out = -1;
		return 0;
	}
	return seconds_arg(o, "timeout", out);
}

static PyObject *k_sleep(PyObject *self, PyObject *arg)
{
	double s;

	if (seconds_arg(arg, "sleep length", &s) < 0)
		return NULL;
	if (backend->sleep(s) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *wait_common(PyObject *args, PyObject *kwds, short events, const char *fmt)
{
	static char *kwlist[] = {"fd", "timeout", NULL};
	PyObject *fdobj, *tobj = Py_None;
	int fd, rc;
	double t;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &fdobj, &tobj))
		return NULL;
	fd = PyObject_AsFileDescriptor(fdobj);
	if (fd < 0)
		return NULL;
	if (timeout_arg(tobj, &t) < 0)
		return NULL;
	rc = backend->wait_fd(fd, events, t);
	if (rc < 0)
		return NULL;
	return PyBool_FromLong(rc);
}

static PyObject *k_wait_readable(PyObject *self, PyObject *args, PyObject *kwds)
{
	return wait_common(args, kwds, POLLIN, "O|O:wait_readable");
}

static PyObject *k_wait_writable(PyObject *self, PyObject *args, PyObject *kwds)
{
	return wait_common(args, kwds, POLLOUT, "O|O:wait_writable");
}

static PyObject *k_spawn(PyObject *self, PyObject *args, PyObject *kwds)
{
	PyObject *func, *rest, *r;

	if (PyTuple_GET_SIZE(args) < 1) {
		PyErr_SetString(PyExc_TypeError, "spawn() needs a function to run");
		return NULL;
	}
	func = PyTuple_GET_ITEM(args, 0); /* borrowed */
	if (!PyCallable_Check(func)) {
		PyErr_SetString(PyExc_TypeError, "spawn(): the first argument must be callable");
		return NULL;
	}
	rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args)); /* new ref */
	if (!rest)
		return NULL;
	r = backend->spawn(func, rest, kwds);
	Py_DECREF(rest);
	return r;
}

/* _in_app(bool): kirin.Queue's thread-safe get() around its wait (kirinmod_set_wait_hook). */
static PyObject *k_in_app(PyObject *self, PyObject *in)
{
	if (wait_hook)
		wait_hook(PyObject_IsTrue(in) == 1);
	Py_RETURN_NONE;
}

static PyObject *k_parks(PyObject *self, PyObject *unused)
{
	return PyBool_FromLong(backend->park != NULL);
}

static PyObject *k_backend(PyObject *self, PyObject *unused)
{
	return PyUnicode_FromString(backend->name);
}

static PyObject *k_park(PyObject *self, PyObject *arg)
{
	double t = PyFloat_AsDouble(arg);
	int rc;

	if (t == -1 && PyErr_Occurred())
		return NULL;
	if (!backend->park) {
		PyErr_SetString(PyExc_RuntimeError, "this worker type does not park greenlets");
		return NULL;
	}
	rc = backend->park(t);
	return rc < 0 ? NULL : PyBool_FromLong(rc);
}

static PyObject *k_wake(PyObject *self, PyObject *g)
{
	return PyBool_FromLong(backend->wake && backend->wake(g));
}

static PyObject *k_current(PyObject *self, PyObject *unused)
{
	PyObject *mod = PyImport_ImportModule("greenlet"); /* new ref */
	PyObject *r = mod ? PyObject_CallMethod(mod, "getcurrent", NULL) : NULL;

	Py_XDECREF(mod);
	return r;
}

static PyMethodDef methods[] = {
	{"sleep", (PyCFunction)k_sleep, METH_O,
	 "sleep(seconds): pause this request without holding up others"},
	{"wait_readable", (PyCFunction)(void (*)(void))k_wait_readable, METH_VARARGS | METH_KEYWORDS,
	 "wait_readable(fd, timeout=None) -> bool: True once fd is readable, False on timeout"},
	{"wait_writable", (PyCFunction)(void (*)(void))k_wait_writable, METH_VARARGS | METH_KEYWORDS,
	 "wait_writable(fd, timeout=None) -> bool: True once fd is writable, False on timeout"},
	{"spawn", (PyCFunction)(void (*)(void))k_spawn, METH_VARARGS | METH_KEYWORDS,
	 "spawn(func, *args, **kwargs): run func concurrently; returns its greenlet or thread"},
	{"_parks", k_parks, METH_NOARGS, NULL},
	{"_backend", k_backend, METH_NOARGS, NULL},
	{"_park", k_park, METH_O, NULL},
	{"_wake", k_wake, METH_O, NULL},
	{"_current", k_current, METH_NOARGS, NULL},
	{"_in_app", k_in_app, METH_O, NULL},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT,
	.m_name = "kirin",
	.m_doc = "Cooperative helpers that work the same under every kirin worker type.",
	.m_size = -1,
	.m_methods = methods,
};

static PyObject *kirinmod_init(void)
{
	PyObject *m = PyModule_Create(&moddef); /* new ref */
	PyObject *d, *r;

	if (!m)
		return NULL;
	d = PyModule_GetDict(m); /* borrowed */
	PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins());
	r = PyRun_String(module_src, Py_file_input, d, d);
	if (!r) {
		Py_DECREF(m);
		return NULL;
	}
	Py_DECREF(r);
	return m;
}

const struct kirin_backend *kirinmod_blocking(void)
{
	return &blocking;
}

PyObject *kirinmod_prepend(PyObject *first, PyObject *args)
{
	PyObject *all = PyTuple_New(PyTuple_GET_SIZE(args) + 1);

	if (!all)
		return NULL;
	Py_INCREF(first);
	PyTuple_SET_ITEM(all, 0, first);
	for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
		Py_INCREF(PyTuple_GET_ITEM(args, i));
		PyTuple_SET_ITEM(all, i + 1, PyTuple_GET_ITEM(args, i));
	}
	return all;
}

void kirinmod_register(void)
{
	PyImport_AppendInittab("kirin", kirinmod_init);
}

void kirinmod_set_wait_hook(void (*hook)(bool in_app))
{
	wait_hook = hook;
}

void kirinmod_set_backend(const struct kirin_backend *b)
{
	backend = b ? b : &blocking;
}

static int blocking_sleep(double seconds)
{
	struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
	int rc;

	for (;;) {
		bool cancelled;

		Py_BEGIN_ALLOW_THREADS;
		if (wait_hook)
			wait_hook(false);
		rc = nanosleep(&ts, &ts);
		if (wait_hook)
			wait_hook(true);
		cancelled = rc < 0 && errno == EINTR && reqtimeout_interrupted();
		Py_END_ALLOW_THREADS;
		if (rc == 0 || errno != EINTR)
			return 0;
		/* The main thread's RequestTimeout comes from a signal handler;
		 * another thread's is raised at its next bytecode. */
		if (PyErr_CheckSignals() < 0)
			return -1;
		if (cancelled)
			return 0;
	}
}

/* poll(2)'s timeout for a wait of `seconds`: rounded up, at most INT_MAX. */
static int poll_ms(double seconds)
{
	double ms = ceil(seconds * 1000);

	return ms >= INT_MAX ? INT_MAX : (int)ms;
}

static double monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits longer than poll(2) can take (~24.8 days) go on until the deadline. */
static int blocking_wait_fd(int fd, short events, double timeout)
{
	struct pollfd p = {.fd = fd, .events = events};
	double deadline = timeout < 0 ? 0 : monotonic() + timeout;
	int rc;

	Py_BEGIN_ALLOW_THREADS;
	if (wait_hook)
		wait_hook(false);
	do
		rc = poll(&p, 1, timeout < 0 ? -1 : poll_ms(deadline - monotonic()));
	while ((rc < 0 && errno == EINTR && !reqtimeout_interrupted()) ||
	       (rc == 0 && timeout > 0 && monotonic() < deadline));
	if (wait_hook)
		wait_hook(true);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	return rc > 0;
}

static PyObject *blocking_spawn(PyObject *func, PyObject *args, PyObject *kwargs)
{
	PyObject *threading = PyImport_ImportModule("threading"); /* new ref */
	PyObject *thread = NULL, *kw = NULL, *r;

	if (!threading)
		return NULL;
	kw = Py_BuildValue("{sOsOsOsO}", "target", func, "args", args, "kwargs",
			   kwargs ? kwargs : Py_None, "daemon", Py_True);
	if (kw) {
		PyObject *cls = PyObject_GetAttrString(threading, "Thread"); /* new ref */
		PyObject *empty = PyTuple_New(0);
		thread = cls && empty ? PyObject_Call(cls, empty, kw) : NULL;
		Py_XDECREF(cls);
		Py_XDECREF(empty);
	}
	Py_XDECREF(kw);
	Py_DECREF(threading);
	if (!thread)
		return NULL;
	r = PyObject_CallMethod(thread, "start", NULL);
	if (!r) {
		Py_DECREF(thread);
		return NULL;
	}
	Py_DECREF(r);
	return thread;
}

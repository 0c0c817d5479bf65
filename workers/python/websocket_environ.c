/*
 * websocket_environ — websocket_environ() (see websocket.h): the environ of
 * an upgrade request, a dict whose 'wsgi.websocket' answers the handshake
 * when the app reads it (environ[...] or environ.get(...)), so an app that
 * never asks sees a plain GET.
 */
#include "workers/http/conn.h"
#include "workers/http/ws_handshake.h"
#include "workers/python/websocket.h"
#include "workers/python/websocket_object.h"

static PyObject *env_subscript(PyObject *self, PyObject *key);
static PyObject *env_get(PyObject *self, PyObject *const *args, Py_ssize_t n);
static void touch(PyObject *env, PyObject *key, PyObject *value);

static PyObject *k_websocket, *k_version, *v_version;

static PyMethodDef env_methods[] = {
	{"get", (PyCFunction)(void (*)(void))env_get, METH_FASTCALL,
	 "D.get(k[,d]): 'wsgi.websocket' answers the handshake"},
	{NULL, NULL, 0, NULL},
};

static PyMappingMethods env_mapping; /* dict's, with env_subscript */

/* The environ of an upgrade request: a dict whose websocket key upgrades when read. */
static PyTypeObject EnvironType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.Environ",
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "a WSGI environ whose 'wsgi.websocket' answers the handshake when read",
	.tp_methods = env_methods,
	.tp_as_mapping = &env_mapping,
};

int websocket_environ_init(void)
{
	EnvironType.tp_base = &PyDict_Type;
	EnvironType.tp_basicsize = PyDict_Type.tp_basicsize;
	env_mapping = *PyDict_Type.tp_as_mapping;
	env_mapping.mp_subscript = env_subscript;
	k_websocket = PyUnicode_InternFromString("wsgi.websocket");
	k_version = PyUnicode_InternFromString("wsgi.websocket_version");
	v_version = PyUnicode_InternFromString("13");
	if (!k_websocket || !k_version || !v_version)
		return -1;
	return PyType_Ready(&EnvironType);
}

PyObject *websocket_environ(struct conn *c, PyObject *env, const bool *head_sent,
			    PyObject **ws_out)
{
	WebSocket *ws;
	PyObject *e;

	*ws_out = NULL;
	if (!ws_handshake_requested(c->req.headers, c->req.num_headers)) {
		Py_INCREF(env);
		return env; /* a plain GET, to the app */
	}
	e = PyObject_CallNoArgs((PyObject *)&EnvironType); /* new ref */
	ws = e ? websocket_new(c, head_sent, e) : NULL;
	if (!ws) {
		Py_XDECREF(e);
		return NULL;
	}
	if (PyDict_Update(e, env) < 0 || PyDict_SetItem(e, k_websocket, (PyObject *)ws) < 0 ||
	    PyDict_SetItem(e, k_version, v_version) < 0) {
		websocket_finish((PyObject *)ws);
		Py_DECREF(ws);
		Py_DECREF(e);
		return NULL;
	}
	*ws_out = (PyObject *)ws;
	return e;
}

/* environ['wsgi.websocket']: the app asks for the WebSocket, so the handshake is answered. */
static PyObject *env_subscript(PyObject *self, PyObject *key)
{
	PyObject *v = PyDict_Type.tp_as_mapping->mp_subscript(self, key); /* new ref */

	if (v)
		touch(self, key, v);
	return v;
}

static PyObject *env_get(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
	PyObject *v;

	if (n < 1 || n > 2) {
		PyErr_SetString(PyExc_TypeError, "get expected 1 or 2 arguments");
		return NULL;
	}
	v = PyDict_GetItemWithError(self, args[0]); /* borrowed */
	if (!v && PyErr_Occurred())
		return NULL;
	if (!v)
		v = n == 2 ? args[1] : Py_None;
	Py_INCREF(v);
	touch(self, args[0], v);
	return v;
}

/* The value read for key is our WebSocket: answer its handshake now (a failure shows later). */
static void touch(PyObject *env, PyObject *key, PyObject *value)
{
	(void)env;
	if (Py_TYPE(value) != &websocket_type || ((WebSocket *)value)->upgraded)
		return;
	if (key != k_websocket && !(PyUnicode_Check(key) &&
				    PyUnicode_Compare(key, k_websocket) == 0))
		return;
	websocket_upgrade((WebSocket *)value);
}

/* ws_choice — see ws_choice.h. */
#include "workers/python/ws_choice.h"

#include <stdbool.h>
#include <string.h>

#include "arbiter/log.h"
#include "workers/python/interp.h"

static bool offered(const struct ws_handshake *hs, const char *name, size_t len);

PyObject *ws_choice(const struct ws_handshake *hs, PyObject *environ, PyObject *choice_key,
		    PyObject *app, char *const *protocols, size_t n)
{
	PyObject *v = NULL;
	const char *name;
	Py_ssize_t len;

	if (hs->num_protocols == 0)
		return NULL;
	v = PyDict_GetItemWithError(environ, choice_key); /* borrowed */
	Py_XINCREF(v);
	if (!v && !PyErr_Occurred() && PyObject_HasAttrString(app, "app_protocol")) {
		PyObject *path = PyDict_GetItemString(environ, "PATH_INFO"); /* borrowed */
		v = PyObject_CallMethod(app, "app_protocol", "O", path ? path : Py_None);
	}
	if (!v && PyErr_Occurred()) {
		interp_log_exception("Error choosing a WebSocket subprotocol");
		return NULL;
	}
	if (v && v != Py_None) {
		name = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &len) : NULL;
		if (name && offered(hs, name, (size_t)len))
			return v;
		PyErr_Clear();
		log_warning("the app chose a WebSocket subprotocol the client did not offer: "
			    "answering none");
		Py_DECREF(v);
		return NULL;
	}
	Py_XDECREF(v);
	for (size_t i = 0; i < n; i++) {
		if (offered(hs, protocols[i], strlen(protocols[i])))
			return PyUnicode_FromString(protocols[i]); /* new ref */
	}
	return NULL;
}

static bool offered(const struct ws_handshake *hs, const char *name, size_t len)
{
	for (size_t i = 0; i < hs->num_protocols; i++) {
		if (hs->protocols[i].len == len && memcmp(hs->protocols[i].name, name, len) == 0)
			return true;
	}
	return false;
}

/* reactor_py — see reactor_py.h. */
#include "workers/reactor_py.h"

#include "workers/connset.h"
#include "workers/python/interp.h"

static PyObject *on_channel(PyObject *self, PyObject *unused);

static PyMethodDef channel_def = {"kirin_channel", on_channel, METH_NOARGS, NULL};

void reactor_py_call(PyObject *obj, const char *method, const char *what)
{
	PyObject *r = PyObject_CallMethod(obj, method, NULL);

	if (!r)
		interp_log_exception(what);
	Py_XDECREF(r);
}

PyObject *reactor_py_channel_cb(void)
{
	return PyCFunction_New(&channel_def, NULL);
}

bool reactor_py_drained(void)
{
	return true;
}

void reactor_py_free(void)
{
}

static PyObject *on_channel(PyObject *self, PyObject *unused)
{
	connset_channel();
	Py_RETURN_NONE;
}

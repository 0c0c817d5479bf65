/* reactor_py — see reactor_py.h. */
#include "workers/reactor_py.h"

#include "workers/connset.h"

static PyObject *on_channel(PyObject *self, PyObject *unused);

static PyMethodDef channel_def = {"kirin_channel", on_channel, METH_NOARGS, NULL};

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

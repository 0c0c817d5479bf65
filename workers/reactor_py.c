/* reactor_py — see reactor_py.h. */
#include "workers/reactor_py.h"

#include "workers/connset.h"

static PyObject *on_ready(PyObject *capsule, PyObject *unused);
static PyObject *on_channel(PyObject *self, PyObject *unused);

static PyMethodDef ready_def = {"kirin_readable", on_ready, METH_NOARGS, NULL};
static PyMethodDef channel_def = {"kirin_channel", on_channel, METH_NOARGS, NULL};

PyObject *reactor_py_ready_cb(struct cconn *cc)
{
	PyObject *cap = PyCapsule_New(cc, NULL, NULL); /* new ref */
	PyObject *cb = cap ? PyCFunction_New(&ready_def, cap) : NULL;

	Py_XDECREF(cap); /* cb holds it */
	return cb;
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

static PyObject *on_ready(PyObject *capsule, PyObject *unused)
{
	connset_readable(PyCapsule_GetPointer(capsule, NULL));
	Py_RETURN_NONE;
}

static PyObject *on_channel(PyObject *self, PyObject *unused)
{
	connset_channel();
	Py_RETURN_NONE;
}

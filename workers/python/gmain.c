/* gmain — see gmain.h. */
#include "workers/python/gmain.h"

#include <greenlet.h>

#include "workers/python/gconn.h"
#include "workers/python/interp.h"

static PyObject *current(void);
static PyObject *to_hub(void);
static int resume(PyObject *g);
static int start(PyObject *run);

static PyGreenlet *hub;
static const struct gconn_switch main_switch = {
	.current = current,
	.to_hub = to_hub,
	.resume = resume,
	.start = start,
};

const struct gconn_switch *gmain_switch(PyObject *h)
{
	PyGreenlet_Import(); /* greenlet's API pointer is per translation unit */
	if (!_PyGreenlet_API)
		return NULL;
	hub = (PyGreenlet *)h;
	return &main_switch;
}

static PyObject *current(void)
{
	return (PyObject *)PyGreenlet_GetCurrent();
}

static PyObject *to_hub(void)
{
	return PyGreenlet_Switch(hub, NULL, NULL);
}

static int resume(PyObject *g)
{
	PyObject *r = PyGreenlet_Switch((PyGreenlet *)g, NULL, NULL);

	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* The new greenlet runs at once, until its request waits or is answered. */
static int start(PyObject *run)
{
	PyGreenlet *g = PyGreenlet_New(run, hub); /* new ref */
	PyObject *r;

	if (!g)
		return -1;
	r = PyGreenlet_Switch(g, NULL, NULL);
	if (!r)
		interp_log_exception("Error in a connection greenlet");
	Py_XDECREF(r);
	Py_DECREF(g);
	return 0;
}

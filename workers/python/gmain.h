/*
 * gmain — how the workers whose hub is the main greenlet (greenlet, on
 * libevent; asyncio, on the asyncio loop) find, start and switch their
 * connection greenlets: greenlet's own, children of the hub, switched with
 * greenlet's C API. gevent switches through its own hub instead (gevent.c).
 *
 * Runs in a worker's hub thread with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct gconn_switch;

/*
 * The gconn_switch whose hub is hub (borrowed: the worker keeps it for its
 * life), or NULL with an exception when greenlet's C API cannot load.
 */
const struct gconn_switch *gmain_switch(PyObject *hub);

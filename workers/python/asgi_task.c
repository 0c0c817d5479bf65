/* asgi_task — see asgi_task.h. */
#include "workers/python/asgi_task.h"

#include <assert.h>

#include "workers/python/interp.h"

#define SPARE_HOSTS 64 /* hosts kept waiting beyond the next one */

/*
 * host(wake, idle, me): a host Task's coroutine (me: [the Task], so that it
 * need not ask asyncio, which costs a getpid() each time). It waits until a request is
 * handed to it (wake's result: the request's context, its coroutine, what
 * its first step yielded, and done), then steps that coroutine in that
 * context with what the Task sends or throws in (done.kirin_throw instead
 * of what it throws, when that is set), until it ends, and tells
 * done(None) or done(exception). Then idle(task) may give it a new wake
 * future: it waits for the next request (a Task made once serves many),
 * else it ends. Cancelled while it hosts nothing, it ends cancelled;
 * cancelled in the same turn as a hand-over, the cancel goes into the
 * request. run(coro, done): the same for a coroutine that is not handed
 * over (a plain Task).
 */
static const char host_src[] =
    "import types\n"
    "from asyncio import CancelledError\n"
    "async def host(wake, idle, me):\n"
    "    while True:\n"
    "        try:\n"
    "            ctx, coro, yielded, done = await wake\n"
    "            exc = None\n"
    "        except CancelledError as e:\n"
    "            if not wake.done() or wake.cancelled():\n"
    "                raise\n"
    "            (ctx, coro, yielded, done), exc = wake.result(), e\n"
    "        try:\n"
    "            await steps(ctx, coro, yielded, exc, done)\n"
    "        except GeneratorExit:\n"
    "            raise\n"
    "        except BaseException as e:\n"
    "            wake = idle(me[0])\n"
    "            done(e)\n"
    "        else:\n"
    "            wake = idle(me[0])\n"
    "            done(None)\n"
    "        if wake is None:\n"
    "            return\n"
    "async def run(coro, done):\n"
    "    try:\n"
    "        await coro\n"
    "    except GeneratorExit:\n"
    "        raise\n"
    "    except BaseException as e:\n"
    "        done(e)\n"
    "    else:\n"
    "        done(None)\n"
    "@types.coroutine\n"
    "def steps(ctx, coro, yielded, exc, done):\n"
    "    while True:\n"
    "        if exc is None:\n"
    "            try:\n"
    "                value = yield yielded\n"
    "            except BaseException as e:\n"
    "                exc = done.kirin_throw or e\n"
    "        try:\n"
    "            if exc is None:\n"
    "                yielded = ctx.run(coro.send, value)\n"
    "            else:\n"
    "                yielded, exc = ctx.run(coro.throw, exc), None\n"
    "        except StopIteration as stop:\n"
    "            return stop.value\n"
    "def stack(coro):\n"
    "    import traceback\n"
    "    frames = []\n"
    "    while coro is not None:\n"
    "        f = getattr(coro, 'cr_frame', getattr(coro, 'gi_frame', None))\n"
    "        if f is None:\n"
    "            break\n"
    "        frames.append((f, f.f_lineno))\n"
    "        coro = getattr(coro, 'cr_await', getattr(coro, 'gi_yieldfrom', None))\n"
    "    return ''.join(traceback.StackSummary.extract(frames).format())\n";

static struct {
	PyObject *loop, *create_task, *create_future, *host_fn, *run_fn, *steps_fn, *stack_fn,
	    *cancelled_exc, *ended, *idle;
	PyObject *enter, *leave; /* asyncio's _enter_task(loop, task), _leave_task(loop, task) */
	PyObject *current;       /* the dict those two change, when they are seen to: or NULL */
	PyObject *host, *wake;   /* the Task waiting for a request, and its future */
	PyObject *cancelling, *cancelling_of; /* a host's bound cancelling(), and that host */
	struct {
		PyObject *host, *wake;
	} spare[SPARE_HOSTS]; /* more such, done with a request: the next ones */
	size_t nspare;
	PyObject *s_add_done_callback, *s_set_result, *s_cancelling, *s_fut_waiter, *s_cancel;
} S;

static int new_host(void);
static PyObject *hand_over(PyObject *ctx, PyObject *coro, PyObject *yielded, PyObject *done);
static PyObject *start(PyObject *coro, PyObject *done);
static PyObject *host_idle(PyObject *self, PyObject *task);
static PyObject *call2(PyObject *f, PyObject *a, PyObject *b);
static PyObject *find_current(PyObject *tasks);
static int enter(PyObject *host);
static int leave(PyObject *host);
static PyObject *host_ended(PyObject *self, PyObject *task);

static PyMethodDef ended_def = {"kirin_host_ended", host_ended, METH_O, NULL};
static PyMethodDef idle_def = {"kirin_host_idle", host_idle, METH_O, NULL};

int asgi_task_init(PyObject *loop)
{
	PyObject *tasks = PyImport_ImportModule("asyncio.tasks"); /* new ref */
	PyObject *globals = PyDict_New(), *res = NULL;

	S.loop = loop;
	S.create_task = PyObject_GetAttrString(loop, "create_task");
	S.create_future = PyObject_GetAttrString(loop, "create_future");
	S.enter = tasks ? PyObject_GetAttrString(tasks, "_enter_task") : NULL;
	S.leave = tasks ? PyObject_GetAttrString(tasks, "_leave_task") : NULL;
	S.current = S.enter && S.leave ? find_current(tasks) : NULL;
	S.ended = PyCFunction_New(&ended_def, NULL);
	S.idle = PyCFunction_New(&idle_def, NULL);
	S.s_add_done_callback = PyUnicode_InternFromString("add_done_callback");
	S.s_set_result = PyUnicode_InternFromString("set_result");
	S.s_cancelling = PyUnicode_InternFromString("cancelling");
	S.s_fut_waiter = PyUnicode_InternFromString("_fut_waiter");
	S.s_cancel = PyUnicode_InternFromString("cancel");
	if (globals && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
		res = PyRun_String(host_src, Py_file_input, globals, globals); /* new ref */
	S.host_fn = res ? PyDict_GetItemString(globals, "host") : NULL;        /* borrowed */
	S.steps_fn = res ? PyDict_GetItemString(globals, "steps") : NULL;
	S.run_fn = res ? PyDict_GetItemString(globals, "run") : NULL;
	S.stack_fn = res ? PyDict_GetItemString(globals, "stack") : NULL;
	S.cancelled_exc = res ? PyDict_GetItemString(globals, "CancelledError") : NULL;
	Py_XINCREF(S.host_fn);
	Py_XINCREF(S.steps_fn);
	Py_XINCREF(S.run_fn);
	Py_XINCREF(S.stack_fn);
	Py_XINCREF(S.cancelled_exc);
	Py_XDECREF(res);
	Py_XDECREF(globals);
	Py_XDECREF(tasks);
	return S.create_task && S.create_future && S.enter && S.leave && S.ended &&
	               S.s_cancelling && S.s_fut_waiter && S.s_cancel && S.host_fn && S.run_fn &&
	               S.steps_fn && S.stack_fn && S.cancelled_exc && S.idle
	           ? 0
	           : -1;
}

PyObject *asgi_task_stack(PyObject *coro)
{
	return PyObject_CallOneArg(S.stack_fn, coro);
}

int asgi_task_interrupt(PyObject *task)
{
	PyObject *fut = PyObject_GetAttr(task, S.s_fut_waiter); /* new ref */
	PyObject *r = NULL;

	if (fut && fut != Py_None)
		r = PyObject_CallMethodNoArgs(fut, S.s_cancel); /* new ref */
	if (r != Py_True) {
		/* Nothing it awaits could be cancelled (it is about to step, or
		 * it is not asyncio's Task): it is thrown in at its next step. */
		PyErr_Clear();
		Py_XSETREF(r, PyObject_CallMethodNoArgs(task, S.s_cancel));
	}
	Py_XDECREF(fut);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

PyObject *asgi_task_start(PyObject *coro)
{
	return PyObject_CallOneArg(S.create_task, coro);
}

int asgi_task_run(PyObject *coro, PyObject *done, PyObject **task)
{
	PyObject *ctx, *host, *yielded = NULL, *r, *et, *ev, *tb;
	PySendResult sent;
	int rc;

	*task = NULL;
	if (!S.host && S.nspare) {
		S.nspare--;
		S.host = S.spare[S.nspare].host;
		S.wake = S.spare[S.nspare].wake;
	}
	if (!PyCoro_CheckExact(coro) || (!S.host && new_host() < 0))
		return (*task = start(coro, done)) ? 1 : -1;
	ctx = PyContext_CopyCurrent(); /* new ref */
	if (!ctx || PyContext_Enter(ctx) < 0) {
		Py_XDECREF(ctx);
		return -1;
	}
	host = S.host;
	Py_INCREF(host);
	if (enter(host) <
	    0) { /* a task runs already (not expected here): no first step of our own */
		PyErr_Clear();
		PyContext_Exit(ctx);
		Py_DECREF(ctx);
		Py_DECREF(host);
		return (*task = start(coro, done)) ? 1 : -1;
	}
	sent = PyIter_Send(coro, Py_None, &yielded);
	/* The app's exception, if any, waits while the step's task and context are left. */
	et = ev = tb = NULL;
	if (sent == PYGEN_ERROR)
		PyErr_Fetch(&et, &ev, &tb);
	if (leave(host) < 0)
		interp_log_exception("cannot leave an ASGI request's task");
	PyContext_Exit(ctx);
	if (sent == PYGEN_ERROR)
		PyErr_Restore(et, ev, tb);
	if (sent == PYGEN_NEXT) {
		assert(host == S.host); /* host_ended() runs from the loop, not in a step */
		*task = hand_over(ctx, coro, yielded, done);
		rc = *task ? 1 : -1;
	} else {
		rc = sent == PYGEN_RETURN ? 0 : -1;
		/* The app cancelled its task: that host is done for. */
		PyErr_Fetch(&et, &ev, &tb);
		if (host != S.cancelling_of) { /* its bound cancelling(), kept while it is the host */
			Py_XSETREF(S.cancelling, PyObject_GetAttr(host, S.s_cancelling));
			Py_XSETREF(S.cancelling_of, S.cancelling ? Py_NewRef(host) : NULL);
		}
		r = S.cancelling ? PyObject_CallNoArgs(S.cancelling) : NULL; /* new ref */
		if ((!r || PyLong_AsLong(r) != 0) && host == S.host) {
			Py_CLEAR(S.host);
			Py_CLEAR(S.wake);
		}
		Py_XDECREF(r);
		PyErr_Clear();
		PyErr_Restore(et, ev, tb);
	}
	Py_XDECREF(yielded);
	Py_XDECREF(host);
	Py_DECREF(ctx);
	return rc;
}

/* A host Task waiting for a request, in S.host and S.wake. 0, or -1 with an exception. */
static int new_host(void)
{
	PyObject *me = PyList_New(0), *coro = NULL, *r; /* new refs */

	S.wake = me ? PyObject_CallNoArgs(S.create_future) : NULL;
	if (S.wake)
		coro = PyObject_CallFunctionObjArgs(S.host_fn, S.wake, S.idle, me, NULL);
	S.host = coro ? asgi_task_start(coro) : NULL;
	Py_XDECREF(coro);
	r = S.host && PyList_Append(me, S.host) == 0
	        ? PyObject_CallMethodOneArg(S.host, S.s_add_done_callback, S.ended)
	        : NULL;
	Py_XDECREF(me);
	if (!r) {
		Py_CLEAR(S.host);
		Py_CLEAR(S.wake);
		return -1;
	}
	Py_DECREF(r);
	return 0;
}

/*
 * The request whose first step yielded `yielded` waits: its host goes on
 * with it (a new ref to it), and the next request gets a new host. NULL
 * with an exception.
 *
 * An app that cancelled its own task in that step finds the CancelledError
 * at its wait, as in a Task, but in a Task of its own: the host, cancelled
 * maybe before its first step, dies of it.
 */
static PyObject *hand_over(PyObject *ctx, PyObject *coro, PyObject *yielded, PyObject *done)
{
	PyObject *n = PyObject_CallMethodNoArgs(S.host, S.s_cancelling); /* new ref */
	PyObject *task = NULL, *job, *exc, *r;

	if (n && PyLong_AsLong(n) == 0) {
		job = PyTuple_Pack(4, ctx, coro, yielded, done); /* new ref */
		r = job ? PyObject_CallMethodOneArg(S.wake, S.s_set_result, job) : NULL;
		if (r)
			task = (Py_INCREF(S.host), S.host);
		Py_XDECREF(job);
		Py_XDECREF(r);
	} else if (n) {
		exc = PyObject_CallNoArgs(S.cancelled_exc); /* new ref */
		r = exc ? PyObject_CallFunctionObjArgs(S.steps_fn, ctx, coro, Py_None, exc, done,
		                                       NULL)
		        : NULL;
		task = r ? start(r, done) : NULL;
		Py_XDECREF(exc);
		Py_XDECREF(r);
	}
	Py_XDECREF(n);
	Py_CLEAR(S.host);
	Py_CLEAR(S.wake);
	return task;
}

/* A Task of its own for coro, telling done(exception or None) at its end: new ref, or NULL. */
static PyObject *start(PyObject *coro, PyObject *done)
{
	PyObject *run = PyObject_CallFunctionObjArgs(S.run_fn, coro, done, NULL); /* new ref */
	PyObject *task = run ? asgi_task_start(run) : NULL;

	Py_XDECREF(run);
	return task;
}

/*
 * A host is done with its request: it waits for the next one (a new ref
 * to its new wake future), as the next host or a spare, unless there are
 * enough spares or it was cancelled (None: it ends).
 */
static PyObject *host_idle(PyObject *self, PyObject *task)
{
	PyObject *n, *wake = NULL;
	bool fit = !S.host || S.nspare < SPARE_HOSTS;

	if (fit) {
		n = PyObject_CallMethodNoArgs(task, S.s_cancelling); /* new ref */
		fit = n && PyLong_AsLong(n) == 0;
		Py_XDECREF(n);
	}
	wake = fit ? PyObject_CallNoArgs(S.create_future) : NULL;
	if (!wake) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	if (!S.host) {
		S.host = Py_NewRef(task);
		S.wake = Py_NewRef(wake);
	} else {
		S.spare[S.nspare].host = Py_NewRef(task);
		S.spare[S.nspare].wake = Py_NewRef(wake);
		S.nspare++;
	}
	return wake;
}

/*
 * asyncio.tasks._current_tasks (new ref) if _enter_task and _leave_task
 * are seen to keep the loop's current task there (CPython 3.11's C
 * versions do), else NULL (no exception): then they are called.
 */
static PyObject *find_current(PyObject *tasks)
{
	PyObject *d = PyObject_GetAttrString(tasks, "_current_tasks"); /* new ref */
	PyObject *r = d && PyDict_CheckExact(d) ? call2(S.enter, S.loop, tasks) : NULL;
	bool seen = r && PyDict_GetItemWithError(d, S.loop) == tasks;

	Py_XDECREF(r);
	if (r)
		r = call2(S.leave, S.loop, tasks);
	seen = seen && r && !PyDict_Contains(d, S.loop);
	Py_XDECREF(r);
	PyErr_Clear();
	if (!seen)
		Py_CLEAR(d);
	return d;
}

/*
 * Make host the loop's current task (enter) or no longer (leave), as
 * asyncio's _enter_task and _leave_task do: in their dict when
 * find_current() found it (two calls with their argument parsing fewer
 * per request), else by calling them. 0, or -1 with an exception (enter: a
 * task runs already).
 */
static int enter(PyObject *host)
{
	PyObject *r;
	Py_ssize_t size;

	if (!S.current) {
		r = call2(S.enter, S.loop, host);
		Py_XDECREF(r);
		return r ? 0 : -1;
	}
	/* Entered only if it was not there (host itself, running a step, may be:
	 * host_idle() made it the next host, and done() dispatches the next request). */
	size = PyDict_GET_SIZE(S.current);
	r = PyDict_SetDefault(S.current, S.loop, host); /* borrowed: what is there now */
	if (r == host && PyDict_GET_SIZE(S.current) > size)
		return 0;
	if (r)
		PyErr_SetString(PyExc_RuntimeError, "another task is being executed");
	return -1;
}

static int leave(PyObject *host)
{
	PyObject *r;

	if (S.current)
		return PyDict_DelItem(S.current, S.loop);
	r = call2(S.leave, S.loop, host);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* f(a, b): new ref, or NULL with an exception. */
static PyObject *call2(PyObject *f, PyObject *a, PyObject *b)
{
	PyObject *args[] = {a, b};

	return PyObject_Vectorcall(f, args, 2, NULL);
}

/* A host Task ended: one that hosted nothing (cancelled) is replaced at the next request. */
static PyObject *host_ended(PyObject *self, PyObject *task)
{
	if (task == S.host) {
		Py_CLEAR(S.host);
		Py_CLEAR(S.wake);
	}
	for (size_t i = 0; i < S.nspare; i++) {
		if (S.spare[i].host != task)
			continue;
		Py_DECREF(S.spare[i].host);
		Py_DECREF(S.spare[i].wake);
		S.spare[i] = S.spare[--S.nspare];
		break;
	}
	Py_RETURN_NONE;
}

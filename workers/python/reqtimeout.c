/* reqtimeout — see reqtimeout.h. */
#include "workers/python/reqtimeout.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/http/conn.h"
#include "workers/python/interp.h"

/* The signal that carries the exception into the main thread (and wakes kirin.sleep elsewhere). */
#define CANCEL_SIGNAL SIGVTALRM
/* How often the watchdog looks, in nanoseconds. */
#define WATCH_NS 100000000L
/* A greenlet still uncancelled this long after it was due: the hub is not ticking, it computes. */
#define HUB_LATE 0.3
/* The longest grace between the cancellation and the abort, in seconds. */
#define MAX_GRACE 5
/* The most requests the canceller handles per wake-up (it is kicked again for the rest). */
#define BATCH 8

/* One request in flight, or a free room for one. */
struct slot {
	bool busy;
	bool cancelled;      /* its RequestTimeout is on its way */
	bool rethrow;        /* a greenlet's wait in C swallowed it: throw it again */
	bool signalled;      /* its thread was sent CANCEL_SIGNAL: send it again until it ends */
	uint32_t gen;        /* which request of this slot */
	double start, due;   /* monotime: began, found too long (0: not yet) */
	unsigned long ident; /* the thread that runs it */
	pthread_t thread;
	PyObject *greenlet; /* new ref: the greenlet that runs it, or NULL */
	int next_free;
	char what[128]; /* "GET /path", cut short */
	char peer[64];
};

/* What the canceller or the tick needs of a slot, copied under the lock. */
struct target {
	int slot;
	uint32_t gen;
	bool again; /* thrown before (and logged) */
	double elapsed;
	unsigned long ident;
	pthread_t thread;
	PyObject *greenlet; /* new ref, or NULL */
	char what[128];
	char peer[64];
};

int reqtimeout_seconds;

/* The slot of the request this thread runs, -1 for none (greenlets use none). */
static _Thread_local int this_slot = -1;

static struct {
	pthread_mutex_t mu;  /* never held across a Python call: GIL first, then mu */
	pthread_cond_t kick; /* the canceller has work, or stop */
	struct slot *slots;
	int nslots, free_head;
	int pending; /* slot whose exception the main thread's signal handler raises, or -1 */
	bool want_cancel, stop;
	double grace;
	unsigned long main_ident;
	pthread_t main_thread, watchdog, canceller;
	bool threads_started;
	PyObject *(*current)(void);
	PyObject *exc;   /* kirin.RequestTimeout */
	PyObject *stack; /* stack(ident, greenlet) -> str */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .kick = PTHREAD_COND_INITIALIZER, .pending = -1};

static void *watchdog_main(void *arg);
static void *canceller_main(void *arg);
static int take(struct target *t, int i, double now, bool hub);
static void log_target(const struct target *t);
static void cancel_thread(const struct target *t);
static PyObject *on_signal(PyObject *self, PyObject *args);

static PyMethodDef on_signal_def = {"_request_timeout", on_signal, METH_VARARGS, NULL};

static const char stack_src[] =
    "import sys as _sys, traceback as _tb\n"
    "def stack(ident, g):\n"
    "    f = getattr(g, 'gr_frame', None) if g is not None else None\n"
    "    if f is None:\n"
    "        f = _sys._current_frames().get(ident)\n"
    "    return ''.join(_tb.format_stack(f)) if f is not None else '(no Python frame)\\n'\n";

int reqtimeout_init(const struct config *cfg)
{
	PyObject *kirin, *d, *r, *signal_mod, *fn;
	int e;

	if (cfg->request_timeout <= 0)
		return 0;
	kirin = PyImport_ImportModule("kirin");                                 /* new ref */
	R.exc = kirin ? PyObject_GetAttrString(kirin, "RequestTimeout") : NULL; /* new ref */
	Py_XDECREF(kirin);
	d = R.exc ? PyDict_New() : NULL; /* new ref */
	if (d)
		PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins());
	r = d ? PyRun_String(stack_src, Py_file_input, d, d) : NULL; /* new ref */
	Py_XDECREF(r);
	R.stack = r ? PyDict_GetItemString(d, "stack") : NULL; /* borrowed */
	Py_XINCREF(R.stack);
	Py_XDECREF(d);
	/* The main thread's handler: Python runs it at the next bytecode, and
	 * time.sleep or a socket call interrupted by the signal runs it too. */
	signal_mod = R.stack ? PyImport_ImportModule("signal") : NULL;  /* new ref */
	fn = signal_mod ? PyCFunction_New(&on_signal_def, NULL) : NULL; /* new ref */
	r = fn ? PyObject_CallMethod(signal_mod, "signal", "iO", CANCEL_SIGNAL, fn) : NULL;
	Py_XDECREF(r);
	Py_XDECREF(fn);
	Py_XDECREF(signal_mod);
	if (!r) {
		interp_log_exception("cannot set up --request-timeout");
		return -1;
	}
	R.nslots =
	    (cfg->threads > cfg->worker_connections ? cfg->threads : cfg->worker_connections) + 1;
	R.slots = xcalloc((size_t)R.nslots, sizeof(*R.slots));
	for (int i = 0; i < R.nslots; i++)
		R.slots[i].next_free = i + 1 < R.nslots ? i + 1 : -1;
	R.free_head = 0;
	R.grace = cfg->request_timeout < MAX_GRACE ? cfg->request_timeout : MAX_GRACE;
	R.main_ident = PyThread_get_thread_ident();
	R.main_thread = pthread_self();
	e = pthread_create(&R.watchdog, NULL, watchdog_main, NULL);
	if (!e) {
		e = pthread_create(&R.canceller, NULL, canceller_main, NULL);
		if (e) {
			R.stop = true;
			pthread_join(R.watchdog, NULL);
		}
	}
	if (e) {
		log_error(e, "pthread_create() for --request-timeout");
		return -1;
	}
	R.threads_started = true;
	reqtimeout_seconds = cfg->request_timeout;
	return 0;
}

void reqtimeout_use_greenlets(PyObject *(*current)(void))
{
	R.current = current;
}

int reqtimeout_begin(const struct conn *c)
{
	PyObject *g = NULL;
	struct slot *s;
	int i;

	if (R.current && !(g = R.current())) /* new ref */
		PyErr_Clear();
	pthread_mutex_lock(&R.mu);
	i = R.free_head;
	if (i < 0) {
		pthread_mutex_unlock(&R.mu);
		Py_XDECREF(g);
		return -1;
	}
	s = &R.slots[i];
	R.free_head = s->next_free;
	s->busy = true;
	s->cancelled = false;
	s->rethrow = false;
	s->signalled = false;
	s->gen++;
	s->start = monotime_now();
	s->due = 0;
	s->ident = PyThread_get_thread_ident();
	s->thread = pthread_self();
	s->greenlet = g;
	snprintf(s->what, sizeof(s->what), "%.*s %.*s", (int)c->req.method_len, c->req.method,
	         (int)c->req.target_len, c->req.target);
	snprintf(s->peer, sizeof(s->peer), "%s", c->peer_addr[0] ? c->peer_addr : "-");
	pthread_mutex_unlock(&R.mu);
	if (!g)
		this_slot = i;
	return i;
}

void reqtimeout_end(int i)
{
	struct slot *s;
	unsigned long ident;
	PyObject *g;
	bool cancelled;

	if (i < 0)
		return;
	s = &R.slots[i];
	this_slot = -1;
	pthread_mutex_lock(&R.mu);
	ident = s->ident;
	g = s->greenlet;
	s->greenlet = NULL;
	cancelled = s->cancelled;
	if (R.pending == i)
		R.pending = -1;
	s->busy = false;
	s->next_free = R.free_head;
	R.free_head = i;
	pthread_mutex_unlock(&R.mu);
	/* Ended before its exception was seen: it must not hit what this thread runs next. */
	if (cancelled && !g && ident != R.main_ident)
		PyThreadState_SetAsyncExc(ident, NULL);
	Py_XDECREF(g);
}

PyObject *reqtimeout_exception(void)
{
	return R.exc;
}

bool reqtimeout_matches(void)
{
	return R.exc && PyErr_ExceptionMatches(R.exc);
}

bool reqtimeout_cancelled(int slot)
{
	bool c;

	if (slot < 0)
		return false;
	pthread_mutex_lock(&R.mu);
	c = R.slots[slot].cancelled;
	pthread_mutex_unlock(&R.mu);
	return c;
}

bool reqtimeout_interrupted(void)
{
	return reqtimeout_cancelled(this_slot);
}

void reqtimeout_rethrow_later(void)
{
	PyObject *type, *value, *tb, *g;

	PyErr_Fetch(&type, &value, &tb);    /* current() calls Python */
	g = R.current ? R.current() : NULL; /* new ref */
	PyErr_Clear();
	PyErr_Restore(type, value, tb);
	if (!g)
		return;
	pthread_mutex_lock(&R.mu);
	for (int i = 0; i < R.nslots; i++)
		if (R.slots[i].busy && R.slots[i].cancelled && R.slots[i].greenlet == g)
			R.slots[i].rethrow = true;
	pthread_mutex_unlock(&R.mu);
	Py_DECREF(g);
}

void reqtimeout_tick(double now)
{
	for (int i = 0; i < R.nslots; i++) {
		struct target t;
		PyObject *r;

		if (!take(&t, i, now, true))
			continue;
		if (!t.again)
			log_target(&t);
		/* The greenlet runs until it waits again or ends; its slot may be another request's
		 * after. */
		r = PyObject_CallMethod(t.greenlet, "throw", "O", R.exc); /* new ref */
		if (!r)
			interp_log_exception("Error in a greenlet cancelled by --request-timeout");
		Py_XDECREF(r);
		Py_DECREF(t.greenlet);
	}
}

void reqtimeout_stop(void)
{
	if (!R.threads_started)
		return;
	pthread_mutex_lock(&R.mu);
	R.stop = true;
	pthread_cond_signal(&R.kick);
	pthread_mutex_unlock(&R.mu);
	Py_BEGIN_ALLOW_THREADS;
	pthread_join(R.watchdog, NULL);
	pthread_join(R.canceller, NULL);
	Py_END_ALLOW_THREADS;
	R.threads_started = false;
}

/*
 * Never touches Python, so that a request holding the GIL cannot stop it:
 * marks the requests that ran too long, wakes the canceller for them, and
 * aborts the worker when one is still running a grace after it was due.
 */
static void *watchdog_main(void *arg)
{
	struct timespec nap = {0, WATCH_NS};

	for (;;) {
		double now = monotime_now();
		bool kick = false;

		pthread_mutex_lock(&R.mu);
		if (R.stop) {
			pthread_mutex_unlock(&R.mu);
			return NULL;
		}
		for (int i = 0; i < R.nslots; i++) {
			struct slot *s = &R.slots[i];

			if (!s->busy)
				continue;
			if (!s->due && now - s->start >= reqtimeout_seconds)
				s->due = now;
			if (!s->due)
				continue;
			if (now - s->due >= R.grace) {
				log_critical(
				    "%s from %s did not end %.1f s after its --request-timeout "
				    "(%.1f s in all): aborting the worker",
				    s->what, s->peer, now - s->due, now - s->start);
				abort(); /* faulthandler logs every thread's stack */
			}
			if (!s->cancelled && (!s->greenlet || now - s->due >= HUB_LATE))
				kick = true;
			/* Once more: the first one may have come before a wait began
			 * (the app caught what a read that gave up raised, then sleeps). */
			if (s->signalled && (!s->greenlet || R.pending == i))
				pthread_kill(s->thread, CANCEL_SIGNAL);
		}
		if (kick) {
			R.want_cancel = true;
			pthread_cond_signal(&R.kick);
		}
		pthread_mutex_unlock(&R.mu);
		nanosleep(&nap, NULL);
	}
}

/*
 * Logs and cancels what the watchdog found: requests in threads, and a
 * greenlet that keeps the hub from ticking (it computes; it is the one the
 * main thread runs, so the signal reaches it).
 */
static void *canceller_main(void *arg)
{
	for (;;) {
		struct target t[BATCH];
		PyGILState_STATE gil;
		double now;
		int n = 0;

		pthread_mutex_lock(&R.mu);
		while (!R.want_cancel && !R.stop)
			pthread_cond_wait(&R.kick, &R.mu);
		R.want_cancel = false;
		if (R.stop) {
			pthread_mutex_unlock(&R.mu);
			return NULL;
		}
		pthread_mutex_unlock(&R.mu);
		gil = PyGILState_Ensure();
		now = monotime_now();
		for (int i = 0; i < R.nslots && n < BATCH; i++)
			n += take(&t[n], i, now, false);
		for (int k = 0; k < n; k++) {
			log_target(&t[k]);
			cancel_thread(&t[k]);
			Py_XDECREF(t[k].greenlet);
		}
		if (n == BATCH) {
			pthread_mutex_lock(&R.mu);
			R.want_cancel = true;
			pthread_mutex_unlock(&R.mu);
		}
		PyGILState_Release(gil);
	}
}

/*
 * With the GIL: if slot i is due for cancelling by the hub (greenlets that
 * wait) or by the canceller (threads; greenlets the hub is late for), mark
 * it cancelled and copy it to t. Returns 1 if so, else 0.
 */
static int take(struct target *t, int i, double now, bool hub)
{
	struct slot *s = &R.slots[i];
	int found = 0;

	pthread_mutex_lock(&R.mu);
	if (hub && s->busy && s->rethrow) {
		s->rethrow = false;
		*t = (struct target){
		    .slot = i, .gen = s->gen, .again = true, .greenlet = s->greenlet};
		Py_INCREF(t->greenlet);
		found = 1;
	} else if (s->busy && !s->cancelled && now - s->start >= reqtimeout_seconds &&
	           (hub ? s->greenlet != NULL
	                : !s->greenlet || (s->due && now - s->due >= HUB_LATE))) {
		s->cancelled = true;
		if (!s->due)
			s->due = now;
		*t = (struct target){.slot = i,
		                     .gen = s->gen,
		                     .elapsed = now - s->start,
		                     .ident = s->ident,
		                     .thread = s->thread,
		                     .greenlet = s->greenlet};
		memcpy(t->what, s->what, sizeof(t->what));
		memcpy(t->peer, s->peer, sizeof(t->peer));
		Py_XINCREF(t->greenlet);
		found = 1;
	}
	pthread_mutex_unlock(&R.mu);
	return found;
}

/* With the GIL: the request and the stack of what runs it. */
static void log_target(const struct target *t)
{
	PyObject *text = PyObject_CallFunction(R.stack, "kO", t->ident,
	                                       t->greenlet ? t->greenlet : Py_None); /* new ref */
	Py_ssize_t len = 0;
	const char *s = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
	char header[320];

	snprintf(
	    header, sizeof(header),
	    "Request timed out after %.1f s (--request-timeout %d): %s from %s; cancelling it. "
	    "Its stack:",
	    t->elapsed, reqtimeout_seconds, t->what, t->peer);
	if (s)
		log_block(LOG_ERROR, header, s, (size_t)len);
	else {
		PyErr_Clear();
		log_msg(LOG_ERROR, "%s (not available)", header);
	}
	Py_XDECREF(text);
}

/*
 * With the GIL: raise RequestTimeout in the thread that runs t, if it
 * still runs that request. The main thread gets the signal (its handler
 * raises); another thread an asynchronous exception, and the signal too,
 * which wakes a kirin.sleep.
 */
static void cancel_thread(const struct target *t)
{
	struct slot *s = &R.slots[t->slot];
	bool main_thread = pthread_equal(t->thread, R.main_thread);

	pthread_mutex_lock(&R.mu);
	if (s->busy && s->gen == t->gen) {
		if (main_thread)
			R.pending = t->slot;
		else
			PyThreadState_SetAsyncExc(t->ident, R.exc);
		pthread_kill(t->thread, CANCEL_SIGNAL);
		s->signalled = true;
	}
	pthread_mutex_unlock(&R.mu);
}

/*
 * The main thread's CANCEL_SIGNAL handler, in Python's signal machinery
 * (with the GIL). For a greenlet, only in that greenlet: if the hub or
 * another greenlet runs now, the exception waits for the watchdog's next
 * signal.
 */
static PyObject *on_signal(PyObject *self, PyObject *args)
{
	PyObject *g = NULL, *cur = NULL;
	bool raise;

	pthread_mutex_lock(&R.mu);
	if (R.pending >= 0) {
		g = R.slots[R.pending].greenlet;
		Py_XINCREF(g);
	}
	raise = R.pending >= 0;
	pthread_mutex_unlock(&R.mu);
	if (g && !(cur = R.current())) /* new ref */
		PyErr_Clear();
	pthread_mutex_lock(&R.mu);
	raise = raise && R.pending >= 0 && (!g || (cur == g && R.slots[R.pending].greenlet == g));
	if (raise)
		R.pending = -1;
	pthread_mutex_unlock(&R.mu);
	Py_XDECREF(cur);
	Py_XDECREF(g);
	if (!raise)
		Py_RETURN_NONE;
	PyErr_SetNone(R.exc);
	return NULL;
}

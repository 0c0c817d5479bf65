/* wsgi — see wsgi.h. */
#include "workers/python/wsgi.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arbiter/log.h"
#include "workers/accesslog.h"
#include "workers/channel.h"
#include "workers/http/conn.h"
#include "workers/http/response.h"
#include "workers/python/environ.h"
#include "workers/python/headcache.h"
#include "workers/python/input.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/websocket.h"

#define FILE_BLOCK 8192

/* One request in flight: what start_response and write() act on. */
struct request {
	struct conn *c;
	bool started;   /* start_response was called (resp holds the head so far) */
	bool head_sent;
	bool broken;    /* a write failed: the client is gone */
	bool logged;    /* its access-log line is written */
	bool held;      /* accesslog_hold() until the line is written */
	bool lent;      /* its output is the worker's loop's to send (next_chunk()) */
	PyObject *env;  /* borrowed, for %({var}e)s; NULL if none */
	PyObject *ws;   /* new ref: the WebSocket an upgrade request may become; NULL if none */
	PyObject *status, *headers; /* post_request's resp (new refs), only when it is set */
	struct timespec start; /* CLOCK_MONOTONIC, when the request reached us */
	int answered;   /* the status of an answer made here (error, 101), 0: the app's */
	int timer;      /* its reqtimeout slot, -1: not timed */
	struct response resp;
};

typedef struct {
	PyObject_HEAD
	struct request *r; /* NULL once the request is over */
	vectorcallfunc vectorcall;
	PyObject *write;   /* new ref: its write() callable, once built (it refers back) */
} StartResponse;

typedef struct {
	PyObject_HEAD
	PyObject *filelike;
	Py_ssize_t blksize;
} FileWrapper;

static PyObject *app_obj;
static PyObject *str_close; /* interned attribute name */
static bool cooperative;    /* greenlet or gevent worker: see wsgi_init() */
static bool use_sendfile = true; /* --no-sendfile clears it */
/* A start_response (with its write()) that no one kept, for this thread's next request. */
static __thread StartResponse *spare_sr;

static PyObject *start_response(StartResponse *self, PyObject *status, PyObject *headers,
				PyObject *exc_info);
static PyObject *start_response_call(StartResponse *self, PyObject *args, PyObject *kwds);
static PyObject *start_response_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
					   PyObject *kwnames);
static PyObject *start_response_write(StartResponse *self, PyObject *data);
static StartResponse *start_response_new(struct request *r);
static void start_response_done(StartResponse *sr);
static PyObject *file_wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
static void file_wrapper_dealloc(FileWrapper *self);
static PyObject *file_wrapper_next(FileWrapper *self);
static PyObject *file_wrapper_close(FileWrapper *self, PyObject *unused);
static int send_body(struct request *r, const char *data, size_t len, int64_t known_length);
static int send_file(struct request *r, PyObject *wrapper);
static int write_iov(struct conn *c, struct iovec *iov, int n);
static PyObject *next_chunk(struct request *r, PyObject *it);
static void take_back(struct request *r);
static void finish_error(struct request *r, const char *what);
static void close_iterable(PyObject *result);
static void access_log(struct request *r, int status, uint64_t body, bool head_sent);
static void hold_line(struct request *r);
static void count_request(const struct request *r);
static const char *latin1_view(PyObject *str, Py_ssize_t *len, const char *what);

static PyMethodDef start_response_methods[] = {
	{"write", (PyCFunction)start_response_write, METH_O, "the WSGI write() callable"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject StartResponseType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.StartResponse",
	.tp_basicsize = sizeof(StartResponse),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
	.tp_doc = "start_response(status, headers, exc_info=None)",
	.tp_call = (ternaryfunc)start_response_call,
	.tp_vectorcall_offset = offsetof(StartResponse, vectorcall),
	.tp_methods = start_response_methods,
};

static PyMethodDef file_wrapper_methods[] = {
	{"close", (PyCFunction)file_wrapper_close, METH_NOARGS, "close the wrapped file"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject FileWrapperType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.FileWrapper",
	.tp_basicsize = sizeof(FileWrapper),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.file_wrapper(filelike, blksize=8192)",
	.tp_new = file_wrapper_new,
	.tp_dealloc = (destructor)file_wrapper_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)file_wrapper_next,
	.tp_methods = file_wrapper_methods,
};

void wsgi_set_sendfile(bool on)
{
	use_sendfile = on;
}

int wsgi_init(PyObject *app, bool multithread, bool multiprocess, bool coop)
{
	app_obj = app;
	cooperative = coop;
	str_close = PyUnicode_InternFromString("close");
	if (PyType_Ready(&StartResponseType) < 0 || PyType_Ready(&FileWrapperType) < 0 ||
	    input_init_types() < 0 || websocket_init(app) < 0 ||
	    environ_init(multithread, multiprocess, (PyObject *)&FileWrapperType) < 0) {
		interp_log_exception("cannot set up WSGI");
		return -1;
	}
	return 0;
}

enum wsgi_outcome wsgi_serve(struct conn *c, bool keep_alive)
{
	struct request r;
	PyObject *input = NULL, *env = NULL, *result = NULL, *it = NULL, *item;
	StartResponse *sr = NULL;
	enum wsgi_outcome out = WSGI_CLOSE;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.timer = -1;
	r.resp.keep_alive = keep_alive && c->req.keep_alive;
	clock_gettime(CLOCK_MONOTONIC, &r.start); /* vDSO: no system call */
	channel_in_flight(1);
	/* A WebSocket's app call lasts as long as the session: not bounded. */
	if (reqtimeout_seconds && !c->req.upgrade)
		r.timer = reqtimeout_begin(c);
	input = input_new(c);
	env = input ? environ_new(c, input) : NULL;
	if (env && c->req.upgrade) {
		PyObject *wenv = websocket_environ(c, env, &r.head_sent, &r.ws); /* new ref */
		Py_SETREF(env, wenv);
	}
	r.env = env;
	sr = env ? start_response_new(&r) : NULL;
	if (!sr) {
		finish_error(&r, "cannot build the WSGI environ");
		goto done;
	}
	if (hooks_request_set())
		hooks_pre_request(env);
	PyObject *args[] = {env, (PyObject *)sr};
	result = PyObject_Vectorcall(app_obj, args, 2, NULL); /* new ref */
	if ((r.answered = websocket_status(r.ws)) != 0) {
		/* The WebSocket answered, 101 or a refusal: no HTTP response
		 * (what the app returns is closed, not sent, as under
		 * gevent-websocket). */
		if (!result)
			interp_log_exception("Error in a WebSocket application");
		if (accesslog_enabled())
			access_log(&r, r.answered, 0, false);
		goto done;
	}
	if (!result) {
		finish_error(&r, "Error handling request");
		goto done;
	}
	if ((PyList_CheckExact(result) || PyTuple_CheckExact(result)) &&
	    PySequence_Fast_GET_SIZE(result) == 1 &&
	    PyBytes_Check(PySequence_Fast_GET_ITEM(result, 0)) && r.started && !r.head_sent) {
		/* The common case: one known chunk, sent with its length in one writev. */
		PyObject *b = PySequence_Fast_GET_ITEM(result, 0); /* borrowed */
		hold_line(&r);
		send_body(&r, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b),
			  PyBytes_GET_SIZE(b));
	} else if (Py_TYPE(result) == &FileWrapperType && r.started && !r.head_sent &&
		   send_file(&r, result) == 0) {
		/* sent with sendfile(2) (over TLS: conn_sendfile) */
	} else {
		it = PyObject_GetIter(result); /* new ref */
		while (it && !r.broken && (item = next_chunk(&r, it))) {
			if (!PyBytes_Check(item)) {
				PyErr_Format(PyExc_TypeError,
					     "the application yielded %.100s, not bytes",
					     Py_TYPE(item)->tp_name);
				Py_DECREF(item);
				break;
			}
			if (!r.started) {
				Py_DECREF(item);
				PyErr_SetString(PyExc_RuntimeError,
						"the application produced a body before calling "
						"start_response()");
				break;
			}
			if (PyBytes_GET_SIZE(item) > 0)
				send_body(&r, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item),
					  -1);
			Py_DECREF(item);
		}
		if (PyErr_Occurred()) {
			finish_error(&r, "Error handling request");
			goto done;
		}
		if (!r.started) {
			PyErr_SetString(PyExc_RuntimeError,
					"the application returned without calling start_response()");
			finish_error(&r, "Error handling request");
			goto done;
		}
		hold_line(&r);
		if (!r.head_sent)
			send_body(&r, "", 0, 0);
	}
	if (!r.broken) {
		size_t tl;
		const char *t = response_trailer(&r.resp, &tl);
		struct iovec iov = {(void *)t, tl};
		if (t) {
			r.broken = write_iov(c, &iov, 1) < 0;
		}
	}
	if (!r.broken && response_reusable(&r.resp) && c->error_status == 0)
		out = WSGI_KEEP;
done:
	if (accesslog_enabled() && !r.logged && c->fd >= 0)
		access_log(&r, r.started ? r.resp.status : 500, r.resp.body_sent, r.head_sent);
	count_request(&r);
	if (r.ws) {
		websocket_finish(r.ws);
		Py_DECREF(r.ws);
	}
	if (r.held)
		accesslog_release();
	Py_XDECREF(it);
	close_iterable(result);
	Py_XDECREF(result);
	if (env && hooks_request_set())
		hooks_post_request(env, r.status, r.headers, (long)r.resp.body_sent);
	Py_XDECREF(r.status);
	Py_XDECREF(r.headers);
	if (sr)
		start_response_done(sr);
	Py_XDECREF(env); /* first: it holds input too */
	if (input)
		input_release(input);
	response_free(&r.resp);
	if (r.timer >= 0)
		reqtimeout_end(r.timer);
	if (c->fd < 0)
		return WSGI_CLOSED;
	return out;
}

/*
 * conn_writev() without the GIL, unless waits switch greenlets rather than
 * block the thread (then the GIL is let go only where the hub waits).
 */
static int write_iov(struct conn *c, struct iovec *iov, int n)
{
	int rc;

	if (cooperative)
		return conn_writev(c, iov, n);
	Py_BEGIN_ALLOW_THREADS;
	rc = conn_writev(c, iov, n);
	Py_END_ALLOW_THREADS;
	return rc;
}

/*
 * The app's next chunk (new ref), or NULL at the end or on an error. The
 * worker's loop sends what a slow client has not taken yet meanwhile
 * (conn_lend()): the app may take long to make it (events, long polls).
 */
static PyObject *next_chunk(struct request *r, PyObject *it)
{
	PyObject *item;

	r->lent = conn_lend(r->c);
	item = PyIter_Next(it); /* new ref */
	take_back(r);
	return item;
}

/* The output is the thread's again (before a write() too); no GIL: the loop may be sending. */
static void take_back(struct request *r)
{
	if (!r->lent)
		return;
	r->lent = false;
	Py_BEGIN_ALLOW_THREADS;
	r->c->io->reclaim(r->c);
	Py_END_ALLOW_THREADS;
}

/* A start_response for r: this thread's spare, or a new one. New ref, or NULL. */
static StartResponse *start_response_new(struct request *r)
{
	StartResponse *sr = spare_sr;

	spare_sr = NULL;
	if (!sr) {
		sr = PyObject_New(StartResponse, &StartResponseType);
		if (!sr)
			return NULL;
		sr->vectorcall = start_response_vectorcall;
		sr->write = NULL;
	}
	sr->r = r;
	return sr;
}

/*
 * The request is over: sr (whose reference it takes) becomes the spare when
 * no one else holds it or its write(); otherwise their cycle is broken and
 * it lives as long as the app keeps it (calls then raise).
 */
static void start_response_done(StartResponse *sr)
{
	sr->r = NULL;
	if (!spare_sr && Py_REFCNT(sr) == 1 + (sr->write != NULL) &&
	    (!sr->write || Py_REFCNT(sr->write) == 1)) {
		spare_sr = sr;
		return;
	}
	Py_CLEAR(sr->write);
	Py_DECREF(sr);
}

/*
 * The bytes of a native string (PEP 3333: status and headers are str whose
 * code points are the bytes, latin-1), borrowed from the str itself; NULL
 * with ValueError when it holds a code point above U+00FF.
 */
static const char *latin1_view(PyObject *str, Py_ssize_t *len, const char *what)
{
	if (PyUnicode_KIND(str) != PyUnicode_1BYTE_KIND) {
		PyErr_Format(PyExc_ValueError, "%s %R is not latin-1 (PEP 3333 native string)", what,
			     str);
		return NULL;
	}
	*len = PyUnicode_GET_LENGTH(str);
	return (const char *)PyUnicode_1BYTE_DATA(str);
}

/* start_response(status, headers): the common call, without a tuple. */
static PyObject *start_response_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
					   PyObject *kwnames)
{
	Py_ssize_t n = PyVectorcall_NARGS(nargsf), nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	PyObject *tuple, *kwds = NULL, *r = NULL;

	if (nkw == 0 && (n == 2 || n == 3) && PyUnicode_Check(args[0]))
		return start_response((StartResponse *)self, args[0], args[1],
				      n == 3 ? args[2] : Py_None);
	/* Keywords, or something to complain about: the general parser. */
	tuple = PyTuple_New(n);
	if (!tuple)
		return NULL;
	for (Py_ssize_t i = 0; i < n; i++) {
		Py_INCREF(args[i]);
		PyTuple_SET_ITEM(tuple, i, args[i]);
	}
	kwds = nkw ? PyDict_New() : NULL;
	for (Py_ssize_t i = 0; kwds && i < nkw; i++) {
		if (PyDict_SetItem(kwds, PyTuple_GET_ITEM(kwnames, i), args[n + i]) < 0)
			Py_CLEAR(kwds);
	}
	if (!nkw || kwds)
		r = start_response_call((StartResponse *)self, tuple, kwds);
	Py_DECREF(tuple);
	Py_XDECREF(kwds);
	return r;
}

static PyObject *start_response_call(StartResponse *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"status", "headers", "exc_info", NULL};
	PyObject *status, *headers, *exc_info = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "UO|O:start_response", kwlist, &status,
					 &headers, &exc_info))
		return NULL;
	return start_response(self, status, headers, exc_info);
}

/* PEP 3333's start_response(); returns write(). */
static PyObject *start_response(StartResponse *self, PyObject *status, PyObject *headers,
				PyObject *exc_info)
{
	struct request *r = self->r;
	Py_ssize_t slen;
	const char *s;

	if (!r) {
		PyErr_SetString(PyExc_RuntimeError, "start_response() called after the response");
		return NULL;
	}
	if (exc_info != Py_None) {
		if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
			PyErr_SetString(PyExc_TypeError, "exc_info must be a 3-tuple");
			return NULL;
		}
		if (r->head_sent) {
			/* Too late to change the response: re-raise (PEP 3333). */
			PyObject *t = PyTuple_GET_ITEM(exc_info, 0), *v = PyTuple_GET_ITEM(exc_info, 1),
				 *tb = PyTuple_GET_ITEM(exc_info, 2);
			Py_INCREF(t);
			Py_INCREF(v);
			Py_INCREF(tb);
			PyErr_Restore(t, v, tb == Py_None ? NULL : tb);
			if (tb == Py_None)
				Py_DECREF(tb);
			return NULL;
		}
	} else if (r->started) {
		PyErr_SetString(PyExc_AssertionError,
				"start_response() called twice without exc_info");
		return NULL;
	}
	if (!PyList_Check(headers)) {
		PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
			     Py_TYPE(headers)->tp_name);
		return NULL;
	}
	s = latin1_view(status, &slen, "status");
	if (!s)
		return NULL;
	if (response_begin(&r->resp, s, (size_t)slen, r->c->req.version_minor,
			   r->c->req.method_len == 4 && memcmp(r->c->req.method, "HEAD", 4) == 0,
			   r->resp.keep_alive) < 0) {
		PyErr_Format(PyExc_ValueError, "invalid status line %R", status);
		return NULL;
	}
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
		PyObject *h = PyList_GET_ITEM(headers, i); /* borrowed */
		Py_ssize_t nl, vl;
		const char *n, *v;
		int rc = headcache_add(&r->resp, h);
		size_t before = r->resp.head_len;
		bool had_length = r->resp.has_length;

		if (rc <= 0) {
			if (rc == 0)
				continue;
			PyErr_Format(PyExc_ValueError, "invalid header %R", h);
			return NULL;
		}
		if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2 ||
		    !PyUnicode_Check(PyTuple_GET_ITEM(h, 0)) ||
		    !PyUnicode_Check(PyTuple_GET_ITEM(h, 1))) {
			PyErr_Format(PyExc_TypeError, "header %R is not a (str, str) tuple", h);
			return NULL;
		}
		n = latin1_view(PyTuple_GET_ITEM(h, 0), &nl, "header name");
		v = n ? latin1_view(PyTuple_GET_ITEM(h, 1), &vl, "header value") : NULL;
		if (!v)
			return NULL;
		if (response_add_header(&r->resp, n, (size_t)nl, v, (size_t)vl) < 0) {
			PyErr_Format(PyExc_ValueError, "invalid header %R", h);
			return NULL;
		}
		headcache_keep(h, &r->resp, before, had_length);
	}
	r->started = true;
	if (hooks_request_set()) {
		Py_XSETREF(r->status, Py_NewRef(status));
		Py_XSETREF(r->headers, Py_NewRef(headers));
	}
	if (!self->write)
		self->write = PyCFunction_New(&start_response_methods[0], (PyObject *)self);
	Py_XINCREF(self->write);
	return self->write;
}

static PyObject *start_response_write(StartResponse *self, PyObject *data)
{
	struct request *r = self->r;
	Py_buffer view;

	if (!r || !r->started) {
		PyErr_SetString(PyExc_AssertionError, "write() called before start_response()");
		return NULL;
	}
	if (!PyBytes_Check(data)) {
		PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s",
			     Py_TYPE(data)->tp_name);
		return NULL;
	}
	if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (view.len > 0 || !r->head_sent)
		send_body(r, view.buf, (size_t)view.len, -1);
	PyBuffer_Release(&view);
	if (r->broken) {
		PyErr_SetString(PyExc_OSError, "client disconnected");
		return NULL;
	}
	Py_RETURN_NONE;
}

/*
 * Send a body chunk, preceded by the head the first time (then known_length,
 * if >= 0, is the whole body's length). Waits on the socket without the GIL.
 */
static int send_body(struct request *r, const char *data, size_t len, int64_t known_length)
{
	struct iovec iov[4];
	int n = 0, rc;

	if (r->broken)
		return -1;
	take_back(r);
	if (websocket_status(r->ws) != 0) {
		r->broken = true; /* the WebSocket answered: HTTP bytes would follow its answer */
		return -1;
	}
	if (!r->head_sent) {
		if (!conn_reusable(r->c))
			r->resp.keep_alive = false; /* say so: the connection will close */
		response_end_head(&r->resp, known_length);
		r->c->continue_sent = true; /* none after the final response */
		iov[n++] = (struct iovec){r->resp.head, r->resp.head_len};
		r->head_sent = true;
	}
	n += response_body_iov(&r->resp, data, len, iov + n);
	if (n == 0)
		return 0;
	rc = write_iov(r->c, iov, n);
	if (rc < 0)
		r->broken = true;
	return rc;
}

/*
 * wsgi.file_wrapper around a regular file with a usable fileno(): send it
 * from its current offset with sendfile(2), without the GIL, bounded by the
 * app's Content-Length if it gave one. Returns 0 when handled (sent, or the
 * client is gone), -1 to fall back to iterating the wrapper.
 */
static int send_file(struct request *r, PyObject *wrapper)
{
	PyObject *filelike = ((FileWrapper *)wrapper)->filelike;
	PyObject *fno, *pos;
	struct stat st;
	long long offset;
	int fd;

	if (!use_sendfile)
		return -1;
	fno = PyObject_CallMethod(filelike, "fileno", NULL); /* new ref */
	if (!fno) {
		PyErr_Clear();
		return -1;
	}
	fd = (int)PyLong_AsLong(fno);
	Py_DECREF(fno);
	if (PyErr_Occurred() || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		PyErr_Clear();
		return -1;
	}
	/* tell() accounts for what Python's own buffering has read ahead; a
	 * file-like without a working tell() is iterated instead. */
	pos = PyObject_CallMethod(filelike, "tell", NULL); /* new ref */
	offset = pos ? PyLong_AsLongLong(pos) : -1;
	Py_XDECREF(pos);
	if (PyErr_Occurred() || offset < 0) {
		PyErr_Clear();
		return -1;
	}
	uint64_t left = (uint64_t)(st.st_size > offset ? st.st_size - offset : 0);
	if (r->resp.has_length && r->resp.length < left)
		left = r->resp.length;
	hold_line(r);
	if (send_body(r, "", 0, (int64_t)left) < 0)
		return 0;
	if (r->resp.no_body)
		return 0;
	off_t off = (off_t)offset;
	uint64_t total = left;
	int rc;
	Py_BEGIN_ALLOW_THREADS;
	rc = conn_sendfile(r->c, fd, &off, &left);
	Py_END_ALLOW_THREADS;
	r->resp.body_sent = total - left;
	if (rc < 0 || left > 0)
		r->broken = true;
	log_debug("sendfile: %llu bytes of fd %d from offset %lld", (unsigned long long)(total - left),
		  fd, offset);
	return 0;
}

/*
 * The app failed (exception pending): log it; answer 500 (504 for
 * kirin.RequestTimeout, whose stack reqtimeout logged; or the body framing
 * error that made wsgi.input raise) if nothing was sent, else the response
 * is cut short and the connection must close.
 */
static void finish_error(struct request *r, const char *what)
{
	struct conn *c = r->c;
	bool timed_out = reqtimeout_matches() || reqtimeout_cancelled(r->timer);

	if (c->error_status) {
		PyErr_Clear();
		log_info("refusing request: %s", c->error ? c->error : "bad body framing");
	} else if (timed_out) {
		PyErr_Clear();
	} else if (!r->broken) {
		interp_log_exception(what);
	} else {
		PyErr_Clear();
	}
	r->resp.keep_alive = false;
	if (!r->head_sent && !r->broken) {
		int status = c->error_status ? c->error_status : timed_out ? 504 : 500;

		r->head_sent = true;
		r->answered = status;
		/* Now: the refusal closes the connection and frees the request. */
		if (accesslog_enabled())
			access_log(r, status, strlen(http_reason(status)) + 1, false);
		conn_refuse(c, status);
	}
}

/*
 * The request's access-log line; head_sent says whether r->resp.head went
 * out (for %({name}o)s). With the GIL (the environ may be looked up).
 */
/* The response's last bytes are about to leave: its line must follow (see accesslog_hold()). */
static void hold_line(struct request *r)
{
	if (accesslog_enabled() && !r->held) {
		accesslog_hold();
		r->held = true;
	}
}

/* The request leaves the application: its status and duration go to the arbiter's counters. */
static void count_request(const struct request *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	channel_in_flight(-1);
	channel_count_request(r->answered ? r->answered : r->started ? r->resp.status : 500,
			      (int64_t)(now.tv_sec - r->start.tv_sec) * 1000000 +
				      (now.tv_nsec - r->start.tv_nsec) / 1000);
}

static void access_log(struct request *r, int status, uint64_t body, bool head_sent)
{
	struct timespec now;
	PyObject *type, *value, *tb;

	clock_gettime(CLOCK_MONOTONIC, &now);
	struct accesslog_entry e = {
		.c = r->c,
		.status = status,
		.body_bytes = body,
		.resp_head = head_sent ? r->resp.head : NULL,
		.resp_head_len = head_sent ? r->resp.head_len : 0,
		.duration_us = (int64_t)(now.tv_sec - r->start.tv_sec) * 1000000 +
			       (now.tv_nsec - r->start.tv_nsec) / 1000,
		.environ_get = environ_lookup,
		.environ_ctx = r->env,
	};
	r->logged = true;
	PyErr_Fetch(&type, &value, &tb); /* a lookup must not eat a pending error */
	accesslog_request(&e);
	PyErr_Restore(type, value, tb);
}

static void close_iterable(PyObject *result)
{
	PyObject *close, *r;

	if (!result)
		return;
	/* Plain lists and tuples have no close(): skip the failed lookup. */
	if (PyList_CheckExact(result) || PyTuple_CheckExact(result))
		return;
	close = PyObject_GetAttr(result, str_close); /* new ref */
	if (!close) {
		PyErr_Clear();
		return;
	}
	r = PyObject_CallNoArgs(close);
	if (!r)
		interp_log_exception("Error closing the response iterable");
	Py_XDECREF(r);
	Py_DECREF(close);
}

static PyObject *file_wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"filelike", "blksize", NULL};
	PyObject *filelike;
	Py_ssize_t blksize = FILE_BLOCK;
	FileWrapper *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:file_wrapper", kwlist, &filelike,
					 &blksize))
		return NULL;
	self = (FileWrapper *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	Py_INCREF(filelike);
	self->filelike = filelike;
	self->blksize = blksize > 0 ? blksize : FILE_BLOCK;
	return (PyObject *)self;
}

static void file_wrapper_dealloc(FileWrapper *self)
{
	Py_XDECREF(self->filelike);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *file_wrapper_next(FileWrapper *self)
{
	PyObject *data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);

	if (data && PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
		Py_DECREF(data);
		return NULL;
	}
	return data;
}

static PyObject *file_wrapper_close(FileWrapper *self, PyObject *unused)
{
	PyObject *close = PyObject_GetAttrString(self->filelike, "close");

	if (!close) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	PyObject *r = PyObject_CallNoArgs(close);
	Py_DECREF(close);
	return r;
}

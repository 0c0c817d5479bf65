/*
 * asgi_out — the writing side of the ASGI glue (declared in asgi_req.h):
 * http.response.start and http.response.body (the head is built at the
 * start and goes out with the first body bytes), bytes a send() gives are
 * written at once, what the socket does not take
 * is kept and written when it is writable (send() awaits that, bounded by
 * --timeout per wait), and the http.response.pathsend extension: a file as
 * the response body, sent from the page cache with sendfile(2), never
 * through Python.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arbiter/log.h"
#include "workers/accesslog.h"
#include "workers/http/conn.h"
#include "workers/python/asgi_req.h"
#include "workers/python/asgi_scope.h"
#include "workers/python/headcache.h"
#include "workers/python/interp.h"
#include "workers/reactor_asyncio.h"

#define SENDFILE_CHUNK (1 << 20) /* bytes per sendfile(2): other connections get a turn */
#define TLS_FILE_CHUNK 65536    /* file bytes read and encrypted at a time over TLS */
#define START_ITEMS    16        /* headers of an http.response.start kept to start again */

static struct {
	PyObject *type, *status, *headers, *trailers, *body, *more_body;
	PyObject *t_disconnect, *s_done, *s_set_result, *s_set_exception;
	PyObject *ready_none; /* what a send() that need not wait returns */
} K;

/*
 * The last http.response.start that began an http response, when it may
 * be sent again (asgi_response_start_again()): the dict, with its version
 * then, its headers and their tuples (references held, so none of them can
 * be another object at the same address), what the request was, and the
 * response as begun, headers added.
 */
static struct {
	PyObject *msg, *headers, *items[START_ITEMS];
	Py_ssize_t nitems;
	uint64_t version;
	int version_minor;
	bool head_request, keep_alive;
	struct response resp;
} START;

static void keep_start(Req *r, const struct asgi_msg *m, bool head_request, bool keep_alive);
static bool is_head(const Req *r);
static int file_pump(Req *r);
static int file_pump_tls(Req *r);
static int write_nb(Req *r, struct iovec *iov, int n);
static int pend_out(Req *r);
static int drain(Req *r);
static void flush_pending(Req *r);
static int arm_write_timer(Req *r);
static PyObject *req_writable(PyObject *self, PyObject *unused);
static PyObject *req_write_timeout(PyObject *self, PyObject *unused);

static PyMethodDef writable_def = {"kirin_writable", req_writable, METH_NOARGS, NULL};
static PyMethodDef timeout_def = {"kirin_write_timeout", req_write_timeout, METH_NOARGS, NULL};

int asgi_out_init(void)
{
	K.type = PyUnicode_InternFromString("type");
	K.t_disconnect = PyUnicode_InternFromString("http.disconnect");
	K.s_done = PyUnicode_InternFromString("done");
	K.s_set_result = PyUnicode_InternFromString("set_result");
	K.s_set_exception = PyUnicode_InternFromString("set_exception");
	K.status = PyUnicode_InternFromString("status");
	K.headers = PyUnicode_InternFromString("headers");
	K.trailers = PyUnicode_InternFromString("trailers");
	K.body = PyUnicode_InternFromString("body");
	K.more_body = PyUnicode_InternFromString("more_body");
	K.ready_none = asgi_ready(Py_None);
	return K.type && K.t_disconnect && K.s_done && K.s_set_result && K.s_set_exception &&
	               K.status && K.headers && K.trailers && K.body && K.more_body && K.ready_none
	           ? 0
	           : -1;
}

int asgi_msg_read(PyObject *msg, struct asgi_msg *m)
{
	PyObject *keys[] = {K.type, K.status, K.headers, K.trailers, K.body, K.more_body};
	PyObject **vals[] = {&m->type, &m->status, &m->headers, &m->trailers, &m->body,
	                     &m->more_body};
	PyObject *k, *v;
	Py_ssize_t pos = 0;
	size_t i;

	*m = (struct asgi_msg){.dict = msg};
	while (PyDict_Check(msg) && PyDict_Next(msg, &pos, &k, &v)) {
		/* The app's literals are interned: the same objects as ours. */
		for (i = 0; i < 6 && k != keys[i]; i++)
			;
		for (size_t j = 0; i == 6 && j < 6 && PyUnicode_Check(k); j++) {
			if (PyUnicode_GET_LENGTH(k) == PyUnicode_GET_LENGTH(keys[j]) &&
			    PyUnicode_Compare(k, keys[j]) == 0)
				i = j;
		}
		if (i < 6)
			*vals[i] = v;
	}
	if (m->type)
		return 0;
	PyErr_SetString(PyExc_TypeError, "an ASGI message is a dict with a 'type'");
	return -1;
}

PyObject *asgi_message(PyObject *type, PyObject *body, bool more)
{
	PyObject *m = _PyDict_NewPresized(3);

	if (m && (PyDict_SetItem(m, K.type, type) < 0 ||
	          (body && (PyDict_SetItem(m, K.body, body) < 0 ||
	                    PyDict_SetItem(m, K.more_body, more ? Py_True : Py_False) < 0))))
		Py_CLEAR(m);
	return m;
}

void asgi_settle(PyObject **fut, PyObject *result, PyObject *exc_type, const char *why)
{
	PyObject *arg = NULL, *res = NULL;

	if (!*fut)
		return;
	if (asgi_future_pending(*fut)) {
		if (exc_type)
			arg = PyObject_CallFunction(exc_type, "s", why);
		else
			arg = result ? (Py_INCREF(result), result)
			             : asgi_message(K.t_disconnect, NULL, false);
		if (arg)
			res = PyObject_CallMethodOneArg(
			    *fut, exc_type ? K.s_set_exception : K.s_set_result, arg);
		if (!res)
			interp_log_exception("cannot complete an ASGI future");
		Py_XDECREF(res);
		Py_XDECREF(arg);
	}
	PyErr_Clear();
	Py_CLEAR(*fut);
}

bool asgi_future_pending(PyObject *fut)
{
	PyObject *d;
	bool pending;

	if (!fut)
		return false;
	d = PyObject_CallMethodNoArgs(fut, K.s_done);
	pending = d == Py_False;
	Py_XDECREF(d);
	PyErr_Clear();
	return pending;
}

PyObject *asgi_response_start(Req *r, const struct asgi_msg *m)
{
	PyObject *status = m->status, *headers = m->headers, *trailers = m->trailers;
	PyObject *seq;
	const char *reason;
	char line[64];
	size_t rlen;
	long code;
	bool head_request = is_head(r), keep_alive = r->resp.keep_alive, constant = !r->ws;

	if (r->started) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.start sent twice");
		return NULL;
	}
	code = status && PyLong_Check(status) ? PyLong_AsLong(status) : -1;
	if (code < 100 || code > 999) {
		PyErr_SetString(PyExc_ValueError, "http.response.start needs an int 'status'");
		return NULL;
	}
	if (trailers && PyObject_IsTrue(trailers)) {
		PyErr_SetString(PyExc_ValueError, "trailers: the http.response.trailers extension "
		                                  "is not in the scope");
		return NULL;
	}
	reason = http_reason((int)code);
	rlen = strlen(reason) < sizeof(line) - 4 ? strlen(reason) : sizeof(line) - 4;
	line[0] = (char)('0' + code / 100);
	line[1] = (char)('0' + code / 10 % 10);
	line[2] = (char)('0' + code % 10);
	line[3] = ' ';
	memcpy(line + 4, reason, rlen);
	if (response_begin(&r->resp, line, 4 + rlen, r->c->req.version_minor, head_request,
	                   keep_alive) < 0) {
		PyErr_SetString(PyExc_ValueError, "bad status");
		return NULL;
	}
	/* A list or a tuple (the usual) as it is, anything else as a list. */
	seq = headers ? PySequence_Fast(headers, "http.response.start's headers: not iterable")
	              : NULL;
	if (headers && !seq)
		return NULL;
	for (Py_ssize_t i = 0; seq && i < PySequence_Fast_GET_SIZE(seq); i++) {
		PyObject *n = NULL, *v = NULL, *item = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
		bool pair = PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2;
		int ok = pair ? 1 : PySequence_Check(item) && PySequence_Size(item) == 2;
		size_t before = r->resp.head_len;
		bool had_length = r->resp.has_length;
		bool bytes = pair && PyBytes_Check(PyTuple_GET_ITEM(item, 0)) &&
		             PyBytes_Check(PyTuple_GET_ITEM(item, 1));

		constant = constant && bytes;
		/* A (bytes, bytes) tuple seen before (a constant of the app's):
		 * its line as it was checked then (headcache.h). */
		if (bytes && (ok = headcache_add(&r->resp, item)) <= 0) {
			ok = ok == 0;
		} else if (ok) {
			/* A tuple, the usual, without a call per item. */
			n = pair ? Py_NewRef(PyTuple_GET_ITEM(item, 0)) : PySequence_GetItem(item, 0);
			v = pair ? Py_NewRef(PyTuple_GET_ITEM(item, 1)) : PySequence_GetItem(item, 1);
			ok = n && v && PyBytes_Check(n) && PyBytes_Check(v) &&
			     response_add_header(&r->resp, PyBytes_AS_STRING(n),
			                         (size_t)PyBytes_GET_SIZE(n), PyBytes_AS_STRING(v),
			                         (size_t)PyBytes_GET_SIZE(v)) == 0;
			if (ok && pair)
				headcache_keep(item, &r->resp, before, had_length);
		}
		Py_XDECREF(n);
		Py_XDECREF(v);
		if (!ok) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError, "invalid response header %R", item);
			Py_DECREF(item);
			break;
		}
		Py_DECREF(item);
	}
	Py_XDECREF(seq);
	if (PyErr_Occurred())
		return NULL;
	if (constant)
		keep_start(r, m, head_request, keep_alive);
	r->started = true;
	if (r->scope) /* for post_request */
		Py_XSETREF(r->resp_headers, Py_XNewRef(headers));
	Py_INCREF(K.ready_none);
	return K.ready_none;
}

PyObject *asgi_response_start_again(Req *r, PyObject *msg)
{
	PyObject *seq = START.headers;

	if (msg != START.msg || ((PyDictObject *)msg)->ma_version_tag != START.version ||
	    r->started || r->ws || START.version_minor != r->c->req.version_minor ||
	    START.keep_alive != r->resp.keep_alive || START.head_request != is_head(r))
		return NULL;
	/* The same dict, unchanged, holds the same headers object: a list may
	 * have changed. */
	if (seq && (PySequence_Fast_GET_SIZE(seq) != START.nitems ||
	            memcmp(PySequence_Fast_ITEMS(seq), START.items,
	                   (size_t)START.nitems * sizeof(PyObject *)) != 0))
		return NULL;
	response_begin_as(&r->resp, &START.resp);
	r->started = true;
	if (r->scope) /* for post_request */
		Py_XSETREF(r->resp_headers, Py_XNewRef(seq));
	Py_INCREF(K.ready_none);
	return K.ready_none;
}

/*
 * The http.response.start that began r's response (for a request that
 * allowed keep_alive) may be sent again if it is a dict whose values
 * cannot change without changing its version: no trailers (or a constant
 * false), headers a list or a tuple of (bytes, bytes) tuples (checked by
 * the caller).
 */
static void keep_start(Req *r, const struct asgi_msg *m, bool head_request, bool keep_alive)
{
	PyObject *h = m->headers;
	Py_ssize_t n = h ? PySequence_Fast_GET_SIZE(h) : 0;

	if (!PyDict_CheckExact(m->dict) || (h && !PyList_CheckExact(h) && !PyTuple_CheckExact(h)) ||
	    n > START_ITEMS ||
	    (m->trailers && m->trailers != Py_None && m->trailers != Py_False))
		return;
	for (Py_ssize_t i = 0; i < START.nitems; i++)
		Py_CLEAR(START.items[i]);
	for (Py_ssize_t i = 0; i < n; i++)
		START.items[i] = Py_NewRef(PySequence_Fast_GET_ITEM(h, i));
	START.nitems = n;
	Py_XSETREF(START.msg, Py_NewRef(m->dict));
	Py_XSETREF(START.headers, Py_XNewRef(h));
	START.version = ((PyDictObject *)m->dict)->ma_version_tag;
	START.version_minor = r->c->req.version_minor;
	START.head_request = head_request;
	START.keep_alive = keep_alive; /* as the request allowed (a header may say close) */
	response_begin_as(&START.resp, &r->resp);
}

/* r's request is a HEAD. */
static bool is_head(const Req *r)
{
	return r->c->req.method_len == 4 && memcmp(r->c->req.method, "HEAD", 4) == 0;
}

PyObject *asgi_response_body(Req *r, const struct asgi_msg *m)
{
	PyObject *body = m->body, *more = m->more_body;
	struct iovec iov[5];
	const char *data = "";
	Py_ssize_t len = 0;
	bool last;
	int n = 0;
	size_t tl;
	const char *t;

	if (!r->started || r->complete) {
		PyErr_SetString(PyExc_RuntimeError,
		                r->complete ? "http.response.body after the response completed"
		                            : "http.response.body before http.response.start");
		return NULL;
	}
	if (body && PyBytes_AsStringAndSize(body, (char **)&data, &len) < 0)
		return NULL;
	last = !more || !PyObject_IsTrue(more);
	if (!r->head_sent) {
		response_end_head(&r->resp, last ? len : -1);
		iov[n++] = (struct iovec){r->resp.head, r->resp.head_len};
		r->head_sent = true;
		r->c->continue_sent = true; /* a final answer: no 100 Continue now */
	}
	n += response_body_iov(&r->resp, data, (size_t)len, iov + n);
	t = last ? response_trailer(&r->resp, &tl) : NULL;
	if (t)
		iov[n++] = (struct iovec){(void *)t, tl};
	if (last) {
		r->complete = true;
		if (accesslog_enabled())
			accesslog_hold();
	}
	if (last)
		asgi_settle(&r->recv_fut, NULL, NULL, NULL); /* a waiting receive() hears the end */
	return asgi_req_write(r, iov, n);
}

PyObject *asgi_pathsend(Req *r, PyObject *msg)
{
	PyObject *path = PyDict_GetItemString(msg, "path"); /* borrowed */
	PyObject *fs = NULL;
	struct iovec iov[1];
	struct stat st;
	uint64_t size;
	int n = 0, fd;

	if (!r->started || r->complete || r->head_sent) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.pathsend must follow "
		                                    "http.response.start, and end the response");
		return NULL;
	}
	if (!path || !PyUnicode_FSConverter(path, &fs)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response.pathsend needs a 'path'");
		return NULL;
	}
	fd = open(PyBytes_AS_STRING(fs), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd), errno = EISDIR;
		PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
		Py_DECREF(fs);
		return NULL;
	}
	Py_DECREF(fs);
	size = (uint64_t)st.st_size;
	response_end_head(&r->resp, (int64_t)size);
	iov[n++] = (struct iovec){r->resp.head, r->resp.head_len};
	r->head_sent = r->complete = true;
	r->c->continue_sent = true;
	if (!r->resp.no_body && r->resp.has_length && r->resp.length < size)
		size = r->resp.length; /* the app said less: only that much */
	r->has_file = true;
	r->file_fd = fd;
	r->file_off = 0;
	r->file_left = r->resp.no_body ? 0 : size;
	r->resp.body_sent = r->file_left;
	if (accesslog_enabled())
		accesslog_hold();
	asgi_settle(&r->recv_fut, NULL, NULL, NULL); /* a waiting receive() hears the end */
	return asgi_req_write(r, iov, n);
}

/*
 * Send what is left of r's file without waiting: 0 all sent, 1 the socket
 * is full (call again when writable), -1 the client is gone (r->broken).
 */
static int file_pump(Req *r)
{
	if (r->c->ssl)
		return file_pump_tls(r);
	while (r->file_left > 0) {
		size_t want = r->file_left < SENDFILE_CHUNK ? (size_t)r->file_left : SENDFILE_CHUNK;
		ssize_t w = sendfile(r->c->fd, r->file_fd, &r->file_off, want);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 1;
		if (w <= 0) { /* an error, or the file got shorter: the response is cut */
			r->broken = true;
			return -1;
		}
		r->file_left -= (uint64_t)w;
	}
	return 0;
}

/* Over TLS the file is read into r->pend a chunk at a time and encrypted from there. */
static int file_pump_tls(Req *r)
{
	while (r->file_left > 0) {
		int rc = pend_out(r);
		size_t want = r->file_left < TLS_FILE_CHUNK ? (size_t)r->file_left : TLS_FILE_CHUNK;
		ssize_t got;

		if (rc != 0)
			return rc;
		r->pend = xrealloc(r->pend, want);
		r->pend_off = r->pend_len = 0;
		do
			got = pread(r->file_fd, r->pend, want, r->file_off);
		while (got < 0 && errno == EINTR);
		if (got <= 0) { /* an error, or the file got shorter: the response is cut */
			r->broken = true;
			return -1;
		}
		r->pend_len = (size_t)got;
		r->file_off += got;
		r->file_left -= (uint64_t)got;
	}
	return pend_out(r);
}

void asgi_out_flush(Req *r)
{
	while (!r->broken && drain(r) == 1)
		r->broken = r->c->io->wait(r->c, POLLOUT, r->c->timeout_ms) < 0;
}

void asgi_file_close(Req *r)
{
	if (r->has_file)
		close(r->file_fd);
	r->has_file = false;
	r->file_left = 0;
}

PyObject *asgi_req_write(Req *r, struct iovec *iov, int n)
{
	int rc = n ? write_nb(r, iov, n) : 0;

	if (rc < 0) {
		PyErr_SetString(asgi_req_disconnected(), "the client is gone");
		return NULL;
	}
	if (rc == 0)
		return Py_NewRef(K.ready_none);
	if (!r->send_fut) {
		PyObject *cb = PyCFunction_New(&writable_def, (PyObject *)r);
		r->send_fut = asgi_req_future();
		if (!cb || !r->send_fut || reactor_asyncio_add(r->c->fd, true, cb) < 0 ||
		    arm_write_timer(r) < 0) {
			Py_XDECREF(cb);
			return NULL;
		}
		Py_DECREF(cb);
		r->writing = true;
	}
	Py_INCREF(r->send_fut);
	return r->send_fut;
}

/*
 * Write iov[0..n) without waiting; what the socket does not take goes to
 * r->pend (after what is there already). 0 all written, 1 some pending, -1
 * the client is gone (r->broken). Over TLS everything is gathered into
 * r->pend first: OpenSSL takes one buffer, and a retry must offer the
 * same bytes again.
 */
static int write_nb(Req *r, struct iovec *iov, int n)
{
	bool idle = r->pend_off == r->pend_len;
	size_t total = 0, off;
	ssize_t w = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (idle && !r->c->ssl) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		do
			w = sendmsg(r->c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			r->broken = true;
			return -1;
		}
		if (w < 0)
			w = 0;
		if ((size_t)w == total)
			return r->file_left ? file_pump(r) : 0;
	}
	if (idle) {
		free(r->pend);
		r->pend = NULL;
		r->pend_len = r->pend_off = 0;
	}
	r->pend = xrealloc(r->pend, r->pend_len + total - (size_t)w);
	off = (size_t)w;
	for (int i = 0; i < n; i++) {
		size_t skip = off < iov[i].iov_len ? off : iov[i].iov_len;
		memcpy(r->pend + r->pend_len, (char *)iov[i].iov_base + skip,
		       iov[i].iov_len - skip);
		r->pend_len += iov[i].iov_len - skip;
		off -= skip;
	}
	return idle && r->c->ssl ? drain(r) : 1;
}

/* Write what is pending, never waiting: 0 all written, 1 the socket is full, -1 the client is gone. */
static int pend_out(Req *r)
{
	while (r->pend_off < r->pend_len) {
		ssize_t w = conn_send_some(r->c, r->pend + r->pend_off, r->pend_len - r->pend_off);

		if (w < 0 && errno == EAGAIN)
			return 1;
		if (w < 0) {
			r->broken = true;
			return -1;
		}
		r->pend_off += (size_t)w;
	}
	return 0;
}

/* pend_out(), then the rest of the file. */
static int drain(Req *r)
{
	int rc = pend_out(r);

	return rc == 0 && r->file_left ? file_pump(r) : rc;
}

/* Our writer fired (the hub): write more of what is pending. */
static PyObject *req_writable(PyObject *self, PyObject *unused)
{
	Req *r = (Req *)self;

	if (r->c)
		flush_pending(r);
	Py_RETURN_NONE;
}

static void flush_pending(Req *r)
{
	size_t off = r->pend_off;
	uint64_t file_left = r->file_left;

	if (drain(r) == 1) {
		/* --timeout bounds each wait, not the whole */
		if (r->pend_off != off || r->file_left != file_left)
			arm_write_timer(r);
		return; /* more when writable again */
	}
	asgi_req_stop_writing(r);
	reactor_asyncio_cancel(&r->timer);
	asgi_settle(&r->send_fut, Py_None, r->broken ? asgi_req_disconnected() : NULL,
	            "the client is gone");
	if (r->finishing)
		asgi_req_end(r);
}

/* (Re)start the --timeout of a wait to write. 0, or -1 with an exception. */
static int arm_write_timer(Req *r)
{
	PyObject *cb = PyCFunction_New(&timeout_def, (PyObject *)r);

	reactor_asyncio_cancel(&r->timer);
	r->timer = cb ? reactor_asyncio_later(r->c->timeout_ms / 1000.0, cb) : NULL;
	Py_XDECREF(cb);
	return r->timer ? 0 : -1;
}

/* --timeout passed with bytes pending: the client is too slow, give it up. */
static PyObject *req_write_timeout(PyObject *self, PyObject *unused)
{
	Req *r = (Req *)self;

	Py_CLEAR(r->timer);
	if (r->c && (r->pend_off < r->pend_len || r->file_left)) {
		r->broken = true;
		asgi_req_stop_writing(r);
		asgi_settle(&r->send_fut, NULL, asgi_req_disconnected(),
		            "the client did not read in time");
		if (r->finishing)
			asgi_req_end(r);
	}
	Py_RETURN_NONE;
}

void asgi_req_stop_writing(Req *r)
{
	if (!r->writing)
		return;
	r->writing = false;
	reactor_asyncio_remove(r->c->fd, true);
}

void asgi_req_access_log(Req *r, int status)
{
	struct timespec now;

	if (!accesslog_enabled())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct accesslog_entry e = {
	    .c = r->c,
	    .status = status,
	    .body_bytes = r->resp.body_sent,
	    .resp_head = r->head_sent ? r->resp.head : NULL,
	    .resp_head_len = r->head_sent ? r->resp.head_len : 0,
	    .duration_us = (int64_t)(now.tv_sec - r->start.tv_sec) * 1000000 +
	                   (now.tv_nsec - r->start.tv_nsec) / 1000,
	};
	accesslog_request(&e);
	if (r->complete)
		accesslog_release();
}

/* websocket — see websocket.h. */
#include "workers/python/websocket.h"
#include "workers/python/websocket_object.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <structmember.h>

#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/accesslog.h"
#include "workers/http/conn.h"
#include "workers/http/mem.h"
#include "workers/http/utf8.h"
#include "workers/http/ws_handshake.h"
#include "workers/python/interp.h"
#include "workers/python/ws_choice.h"

#define HEAD_MAX     1024  /* the 101 response */
#define INFLATE_OUT  16384 /* inflated bytes per ws_message_feed() call */
#define WRITER_WAIT  20    /* ms a second writer waits between looks */
#define ASSEMBLY_MAX 65536 /* an assembly buffer kept between messages, at most */
#define IDLE_ROOM    256   /* read buffer kept past the head between messages */
#define WARN_EVERY   60.0  /* seconds between two warnings that WebSockets hold the pool */

/* What gevent-websocket says where it raises. */
#define MSG_ALREADY_CLOSED "Connection is already closed"
#define MSG_SOCKET_DEAD    "Socket is dead"

static PyObject *ws_receive(WebSocket *self, PyObject *unused);
static PyObject *ws_send(WebSocket *self, PyObject *const *args, Py_ssize_t nargs,
			 PyObject *kwnames);
static PyObject *ws_close(WebSocket *self, PyObject *args, PyObject *kwds);
static PyObject *ws_get_closed(WebSocket *self, void *unused);
static PyObject *ws_get_env(WebSocket *self, void *key);
static PyObject *ws_get_subprotocol(WebSocket *self, void *unused);
static void ws_dealloc(WebSocket *self);
static int refuse(WebSocket *self, const struct ws_handshake *hs);
static PyObject *read_message(WebSocket *self);
static PyObject *deliver(WebSocket *self, const struct ws_event *ev);
static int read_more(WebSocket *self);
static int write_frame(WebSocket *self, unsigned opcode, const uint8_t *data, size_t len);
static void answer_ping(WebSocket *self, const uint8_t *data, size_t len);
static void flush_pong(WebSocket *self);
static void send_close(WebSocket *self, unsigned code, const char *reason, size_t len);
static PyObject *ws_error(const char *msg);

static struct {
	uint64_t max_message;
	int ping_s;
	char *const *protocols; /* --websocket-protocols, in preference order */
	size_t num_protocols;
	PyObject *app;          /* borrowed: the app, for gevent-websocket's app_protocol() */
	int pool_threads;       /* 0: WebSockets hold no pool thread */
	int open;               /* upgraded WebSockets in this process */
	double warned;          /* monotime of the last warning that they hold the pool */
	PyObject *k_choice;     /* 'kirin.websocket_protocol': the app's choice */
	PyObject *error;        /* WebSocketError: gevent-websocket's, or kirin's */
	PyObject *current;      /* kirin._websocket: the ContextVar uWSGI's functions read */
	uint8_t inflate_out[INFLATE_OUT]; /* shared: feeds happen under the GIL */
} W = {.max_message = 16u << 20};

static PyMethodDef ws_methods[] = {
	{"receive", (PyCFunction)ws_receive, METH_NOARGS,
	 "receive() -> str, bytes, or None once closed"},
	{"send", (PyCFunction)(void (*)(void))ws_send, METH_FASTCALL | METH_KEYWORDS,
	 "send(message, binary=None)"},
	{"close", (PyCFunction)(void (*)(void))ws_close, METH_VARARGS | METH_KEYWORDS,
	 "close(code=1000, message=b'')"},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef ws_getset[] = {
	{"closed", (getter)ws_get_closed, NULL, "no more messages either way", NULL},
	{"path", (getter)ws_get_env, NULL, "PATH_INFO", "PATH_INFO"},
	{"origin", (getter)ws_get_env, NULL, "the Origin header", "HTTP_ORIGIN"},
	{"protocol", (getter)ws_get_env, NULL, "the Sec-WebSocket-Protocol header",
	 "HTTP_SEC_WEBSOCKET_PROTOCOL"},
	{"version", (getter)ws_get_env, NULL, "the Sec-WebSocket-Version header",
	 "HTTP_SEC_WEBSOCKET_VERSION"},
	{"subprotocol", (getter)ws_get_subprotocol, NULL,
	 "the subprotocol the handshake answered, None if none", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef ws_members[] = {
	{"environ", T_OBJECT, offsetof(WebSocket, environ), READONLY,
	 "the request's environ; None once the request is over"},
	{NULL, 0, 0, 0, NULL},
};

PyTypeObject websocket_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.WebSocket",
	.tp_basicsize = sizeof(WebSocket),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "environ['wsgi.websocket']: gevent-websocket's WebSocket API",
	.tp_dealloc = (destructor)ws_dealloc,
	.tp_methods = ws_methods,
	.tp_getset = ws_getset,
	.tp_members = ws_members,
};

void websocket_configure(uint64_t max_message, int ping_seconds, char *const *protocols,
			 size_t num_protocols)
{
	W.max_message = max_message;
	W.ping_s = ping_seconds;
	W.protocols = protocols;
	W.num_protocols = num_protocols;
}

void websocket_pool_threads(int n)
{
	W.pool_threads = n;
}

int websocket_init(PyObject *app)
{
	W.app = app;
	W.k_choice = PyUnicode_InternFromString("kirin.websocket_protocol");
	if (!W.k_choice)
		return -1;
	return PyType_Ready(&websocket_type) < 0 || websocket_environ_init() < 0 ? -1 : 0;
}

WebSocket *websocket_new(struct conn *c, const bool *head_sent, PyObject *environ)
{
	WebSocket *ws;

	if (!W.error) {
		PyObject *kirin = PyImport_ImportModule("kirin"); /* new ref */
		W.error = kirin ? PyObject_GetAttrString(kirin, "WebSocketError") : NULL;
		W.current = W.error ? PyObject_GetAttrString(kirin, "_websocket") : NULL;
		Py_XDECREF(kirin);
		if (!W.current) {
			Py_CLEAR(W.error);
			return NULL;
		}
	}
	ws = PyObject_New(WebSocket, &websocket_type);
	if (!ws)
		return NULL;
	memset((char *)ws + sizeof(PyObject), 0, sizeof(*ws) - sizeof(PyObject));
	ws->c = c;
	ws->head_sent = head_sent;
	ws->environ = environ;
	Py_INCREF(environ);
	/* For uWSGI's functions; the greenlet's or thread's context, reset after. */
	ws->token = PyContextVar_Set(W.current, (PyObject *)ws); /* new ref */
	if (!ws->token) {
		Py_DECREF(ws);
		return NULL;
	}
	return ws;
}

int websocket_status(PyObject *obj)
{
	WebSocket *ws = (WebSocket *)obj;

	return !ws ? 0 : ws->upgraded ? 101 : ws->refused;
}

void websocket_finish(PyObject *obj)
{
	WebSocket *self = (WebSocket *)obj;
	struct conn *c = self->c;

	if (self->token) {
		if (PyContextVar_Reset(W.current, self->token) < 0)
			PyErr_Clear(); /* the app switched contexts: nothing to undo here */
		Py_CLEAR(self->token);
	}
	if (!c)
		return;
	if (self->upgraded && !self->close_sent && !self->dead)
		send_close(self, WS_CLOSE_NORMAL, NULL, 0);
	if (self->upgraded || self->refused) {
		conn_linger(c); /* the connection set lingers on it, in the background */
		conn_close(c);
	}
	if (self->upgraded) {
		self->closed = true;
		ws_message_free(&self->msg);
		ws_deflater_free(&self->defl);
		W.open--;
	}
	self->c = NULL;
	/* The environ holds the WebSocket and the WebSocket the environ: a cycle
	 * the collector cannot see. Broken here (gevent-websocket's close()
	 * drops its environ too). */
	Py_CLEAR(self->environ);
	free(self->asm_);
	self->asm_ = NULL;
	self->asm_cap = self->asm_len = 0;
	free(self->pong);
	self->pong = NULL;
}

static void ws_dealloc(WebSocket *self)
{
	/* websocket_finish() ran: the request that made it is over. */
	Py_XDECREF(self->environ);
	Py_XDECREF(self->token);
	Py_XDECREF(self->subprotocol);
	free(self->asm_);
	free(self->pong);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * Send the 101, with the subprotocol chosen now, and take the connection
 * over: from now on its bytes are frames. An invalid handshake gets the
 * RFC's refusal instead (400, or 426 for a version other than 13), and the
 * connection closes after the app. 0, or -1 when the connection is gone,
 * failed or refused (self->dead).
 */
int websocket_upgrade(WebSocket *self)
{
	struct conn *c = self->c;
	struct ws_handshake hs;
	char head[HEAD_MAX];
	const char *name = NULL;
	Py_ssize_t name_len = 0;
	ssize_t hl;
	struct iovec iov;
	int rc;

	if (self->upgraded || self->refused || !c)
		return self->dead || !c ? -1 : 0;
	if (*self->head_sent) {
		/* A 101 now would follow the app's own HTTP answer. */
		log_warning("the app asked for the WebSocket after its HTTP head went out: "
			    "no handshake answered");
		self->dead = true; /* as a refused one: receive() None, send() raises */
		return -1;
	}
	/* The head is still in c->buf. */
	if (ws_handshake_parse(&hs, c->req.method, c->req.method_len, c->req.version_minor,
			       c->req.headers, c->req.num_headers) < 0)
		return refuse(self, &hs);
	/* Our deflater restarts with each message, so an idle connection can
	 * give its zlib state back (RFC 7692 section 7.1.1.1 lets us say so). */
	hs.params.server_no_context_takeover = true;
	self->deflate = hs.deflate;
	self->params = hs.params;
	self->subprotocol = ws_choice(&hs, self->environ, W.k_choice, W.app, W.protocols,
				      W.num_protocols); /* new ref */
	if (self->subprotocol)
		name = PyUnicode_AsUTF8AndSize(self->subprotocol, &name_len);
	hl = ws_handshake_response(&hs, name, (size_t)name_len, NULL, 0, head, sizeof(head));
	if (hl < 0) {
		log_error(0, "cannot write a WebSocket handshake");
		self->dead = self->closed = true;
		return -1;
	}
	iov = (struct iovec){head, (size_t)hl};
	self->upgraded = c->upgraded = true;
	self->last_rx = monotime_now();
	self->raw = c->raw;
	ws_message_init(&self->msg, W.max_message, self->deflate ? &self->params : NULL,
			W.inflate_out, sizeof(W.inflate_out));
	if (self->deflate)
		ws_deflater_init(&self->defl, &self->params);
	if (++W.open == W.pool_threads && self->last_rx - W.warned >= WARN_EVERY) {
		W.warned = self->last_rx;
		log_warning("%d WebSocket(s) hold all %d threads of this worker's pool: "
			    "new requests wait for one to close (each WebSocket holds a "
			    "thread under gthread; see --threads)",
			    W.open, W.pool_threads);
	}
	Py_BEGIN_ALLOW_THREADS;
	rc = conn_writev(c, &iov, 1);
	Py_END_ALLOW_THREADS;
	if (rc < 0) {
		self->dead = self->closed = true;
		return -1;
	}
	return 0;
}

/* Answer an invalid handshake (hs from ws_handshake_parse()) with its refusal. -1. */
static int refuse(WebSocket *self, const struct ws_handshake *hs)
{
	char out[512];
	ssize_t n = ws_handshake_refusal(hs, out, sizeof(out));
	struct iovec iov = {out, n > 0 ? (size_t)n : 0};

	log_info("refusing a WebSocket handshake with %d: %s", hs->status, hs->error);
	self->refused = hs->status;
	self->dead = true;
	if (n > 0) {
		Py_BEGIN_ALLOW_THREADS;
		conn_writev(self->c, &iov, 1);
		Py_END_ALLOW_THREADS;
	}
	return -1;
}

static PyObject *ws_error(const char *msg)
{
	PyErr_SetString(W.error, msg);
	return NULL;
}

static PyObject *ws_receive(WebSocket *self, PyObject *unused)
{
	PyObject *r;

	if (!self->c || self->closed)
		return ws_error(MSG_ALREADY_CLOSED);
	if (websocket_upgrade(self) < 0)
		Py_RETURN_NONE;
	if (self->reading) {
		PyErr_SetString(PyExc_RuntimeError,
				"another greenlet or thread is in this WebSocket's receive()");
		return NULL;
	}
	self->reading = true;
	r = read_message(self);
	self->reading = false;
	return r;
}

/*
 * The next message (new ref: str for text, bytes for binary), or None once
 * the connection is closed (the client's close answered, a protocol error
 * answered with its close code, the client gone or silent). Pings are
 * answered on the way.
 */
static PyObject *read_message(WebSocket *self)
{
	for (;;) {
		struct conn *c = self->c;
		struct ws_event ev;
		ssize_t n = ws_message_feed(&self->msg, (uint8_t *)c->buf + self->raw,
					    c->len - self->raw, &ev);

		if (n < 0) {
			log_info("closing a WebSocket with %u: %s", self->msg.code,
				 self->msg.error ? self->msg.error : "bad frames");
			send_close(self, self->msg.code, self->msg.error,
				   self->msg.error ? strlen(self->msg.error) : 0);
			self->closed = true;
			Py_RETURN_NONE;
		}
		self->raw += (size_t)n;
		switch (ev.kind) {
		case WS_EV_NONE:
			if (n == 0 && read_more(self) < 0) {
				self->closed = true;
				Py_RETURN_NONE;
			}
			break;
		case WS_EV_DATA: {
			PyObject *m = deliver(self, &ev);
			if (m || PyErr_Occurred())
				return m;
			break;
		}
		case WS_EV_PING:
			answer_ping(self, ev.data, ev.len);
			break;
		case WS_EV_PONG:
			self->ping_sent = 0;
			break;
		case WS_EV_CLOSE: {
			/* Answer with the client's code (none: none), and end. */
			uint8_t p[2] = {(uint8_t)(ev.code >> 8), (uint8_t)ev.code};
			if (!self->close_sent) {
				self->close_sent = true;
				write_frame(self, WS_OP_CLOSE, p,
					    ev.code == WS_CLOSE_NO_STATUS ? 0 : 2);
			}
			self->closed = true;
			Py_RETURN_NONE;
		}
		}
	}
}

/*
 * A piece of a message: the whole message as str or bytes (new ref) when
 * it is the last, NULL when more pieces follow (or with an exception).
 */
static PyObject *deliver(WebSocket *self, const struct ws_event *ev)
{
	const uint8_t *data = ev->data;
	size_t len = ev->len;
	PyObject *m;

	if (ev->first)
		self->asm_len = 0;
	if (!(ev->first && ev->last)) {
		/* In pieces: gather them (bounded by --websocket-max-message). */
		if (self->asm_len + len > self->asm_cap) {
			size_t cap = self->asm_cap ? self->asm_cap : 4096;
			while (cap < self->asm_len + len)
				cap *= 2;
			self->asm_ = mem_realloc(self->asm_, cap);
			self->asm_cap = cap;
		}
		memcpy(self->asm_ + self->asm_len, data, len);
		self->asm_len += len;
		if (!ev->last)
			return NULL;
		data = self->asm_;
		len = self->asm_len;
	}
	if (ev->opcode == WS_OP_TEXT)
		m = PyUnicode_DecodeUTF8((const char *)data, (Py_ssize_t)len, NULL); /* new ref */
	else
		m = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len); /* new ref */
	if (self->asm_cap > ASSEMBLY_MAX) {
		free(self->asm_);
		self->asm_ = NULL;
		self->asm_cap = 0;
	}
	self->asm_len = 0;
	return m;
}

/*
 * Wait for more client bytes, with the GIL released: between frames as
 * long as the client likes, or until our ping is due (--websocket-ping);
 * inside a frame --timeout, or the ping's deadline. Sends the ping when
 * due, and 1001 when the worker stops (conn_going_away). Returns 0 with
 * bytes added, -1 when the connection ends (EOF, an error, a timeout, a
 * ping unanswered, the stop).
 */
static int read_more(WebSocket *self)
{
	struct conn *c = self->c;
	size_t base;

	if (self->raw == c->len) {
		/* Between messages: an idle WebSocket keeps a small buffer, and
		 * the head only for the access log's line at the end. */
		c->len = c->head_len;
		if (c->head_len > 0 && !accesslog_enabled())
			conn_drop_head(c);
		self->raw = c->len;
		conn_trim(c, IDLE_ROOM);
	}
	base = c->head_len;
	if (self->raw > base) {
		memmove(c->buf + base, c->buf + self->raw, c->len - self->raw);
		c->len = base + (c->len - self->raw);
		self->raw = base;
	}
	for (;;) {
		int timeout = -1, err;
		ssize_t n;

		if (W.ping_s > 0) {
			double now = monotime_now(), left;

			if (self->ping_sent > 0) {
				left = self->ping_sent + W.ping_s - now;
				if (left <= 0) {
					log_info("closing a WebSocket: no pong within %d s",
						 W.ping_s);
					self->dead = true;
					return -1;
				}
			} else {
				left = self->last_rx + W.ping_s - now;
				if (left <= 0) {
					self->ping_sent = now;
					if (write_frame(self, WS_OP_PING, NULL, 0) < 0)
						return -1;
					continue;
				}
			}
			timeout = (int)(left * 1000) + 1;
		} else if (ws_message_in_frame(&self->msg)) {
			timeout = c->timeout_ms;
		}
		Py_BEGIN_ALLOW_THREADS;
		n = conn_read_some(c, timeout);
		err = errno;
		Py_END_ALLOW_THREADS;
		if (n > 0) {
			self->last_rx = monotime_now();
			return 0;
		}
		if (n < 0 && err == ETIMEDOUT && W.ping_s > 0)
			continue; /* a ping is due, or overdue */
		if (n == 0 && __atomic_load_n(&c->going_away, __ATOMIC_ACQUIRE))
			send_close(self, WS_CLOSE_GOING_AWAY, "server stopping", 15);
		self->dead = true;
		return -1;
	}
}

/* send(message, binary=None), parsed by hand: it runs once per message. */
static PyObject *ws_send(WebSocket *self, PyObject *const *args, Py_ssize_t nargs,
			 PyObject *kwnames)
{
	PyObject *message = nargs > 0 ? args[0] : NULL;
	PyObject *binary = nargs > 1 ? args[1] : Py_None;
	Py_buffer view = {0};
	const char *data;
	Py_ssize_t len;
	int rc, bin;

	for (Py_ssize_t i = 0; kwnames && i < PyTuple_GET_SIZE(kwnames) && nargs <= 2; i++) {
		PyObject *k = PyTuple_GET_ITEM(kwnames, i); /* borrowed */

		if (PyUnicode_CompareWithASCIIString(k, "message") == 0 && nargs == 0 && !message)
			message = args[nargs + i];
		else if (PyUnicode_CompareWithASCIIString(k, "binary") == 0 && nargs < 2)
			binary = args[nargs + i];
		else
			nargs = 3; /* an unknown or repeated keyword */
	}
	if (!message || nargs > 2)
		return PyErr_Format(PyExc_TypeError, "send(message, binary=None): bad arguments");
	if (!self->c || self->closed)
		return ws_error(MSG_ALREADY_CLOSED);
	bin = binary == Py_None ? !PyUnicode_Check(message) : PyObject_IsTrue(binary);
	if (bin < 0)
		return NULL;
	if (PyUnicode_Check(message)) {
		data = PyUnicode_AsUTF8AndSize(message, &len);
		if (!data)
			return NULL;
	} else if (PyObject_GetBuffer(message, &view, PyBUF_SIMPLE) == 0) {
		data = view.buf;
		len = view.len;
		if (!bin && !utf8_valid(view.buf, (size_t)view.len)) {
			PyBuffer_Release(&view);
			PyErr_SetString(PyExc_ValueError, "a text message must be UTF-8");
			return NULL;
		}
	} else {
		return NULL;
	}
	rc = websocket_upgrade(self) < 0 ? -1
			       : write_frame(self, bin ? WS_OP_BINARY : WS_OP_TEXT,
					     (const uint8_t *)data, (size_t)len);
	if (view.obj)
		PyBuffer_Release(&view);
	if (rc < 0) {
		self->closed = true;
		return ws_error(MSG_SOCKET_DEAD);
	}
	Py_RETURN_NONE;
}

static PyObject *ws_close(WebSocket *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"code", "message", NULL};
	unsigned code = WS_CLOSE_NORMAL;
	PyObject *message = NULL;
	const char *reason = "";
	Py_ssize_t len = 0;
	Py_buffer view = {0};

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|IO:close", kwlist, &code, &message))
		return NULL;
	if (message && message != Py_None) {
		if (PyUnicode_Check(message)) {
			reason = PyUnicode_AsUTF8AndSize(message, &len);
			if (!reason)
				return NULL;
		} else if (PyObject_GetBuffer(message, &view, PyBUF_SIMPLE) == 0) {
			reason = view.buf;
			len = view.len;
		} else {
			return NULL;
		}
	}
	if (!ws_frame_close_code_valid(code) || len > WS_CLOSE_REASON_MAX ||
	    !utf8_valid((const uint8_t *)reason, (size_t)len)) {
		if (view.obj)
			PyBuffer_Release(&view);
		PyErr_Format(PyExc_ValueError,
			     "close(%u, ...): not a code a close frame may carry, or the "
			     "reason is not UTF-8 of at most 123 bytes",
			     code);
		return NULL;
	}
	if (self->c && !self->close_sent && websocket_upgrade(self) == 0)
		send_close(self, code, reason, (size_t)len);
	self->closed = true;
	if (view.obj)
		PyBuffer_Release(&view);
	Py_RETURN_NONE;
}

static PyObject *ws_get_closed(WebSocket *self, void *unused)
{
	return PyBool_FromLong(self->closed || self->refused || self->dead || !self->c);
}

/* path, origin, protocol, version: from the environ, as gevent-websocket. */
static PyObject *ws_get_env(WebSocket *self, void *key)
{
	PyObject *v = self->environ ? PyDict_GetItemString(self->environ, key) : NULL;

	v = v ? v : Py_None; /* borrowed */
	Py_INCREF(v);
	return v;
}

static PyObject *ws_get_subprotocol(WebSocket *self, void *unused)
{
	PyObject *v = self->subprotocol ? self->subprotocol : Py_None;

	Py_INCREF(v);
	return v;
}

/* Our close frame, once: code and reason (truncated to what fits). */
static void send_close(WebSocket *self, unsigned code, const char *reason, size_t len)
{
	uint8_t p[WS_CONTROL_MAX];
	ssize_t n;

	if (self->close_sent || self->dead)
		return;
	self->close_sent = true;
	if (len > WS_CLOSE_REASON_MAX)
		len = WS_CLOSE_REASON_MAX;
	n = ws_frame_close_payload(p, code, reason, len);
	if (n < 0)
		n = ws_frame_close_payload(p, code, NULL, 0);
	write_frame(self, WS_OP_CLOSE, p, n < 0 ? 0 : (size_t)n);
}

/* The pong a ping asked for, now, or after the frame a writer is busy with. */
static void answer_ping(WebSocket *self, const uint8_t *data, size_t len)
{
	if (!self->writing) {
		free(self->pong); /* answered by this one */
		self->pong = NULL;
		write_frame(self, WS_OP_PONG, data, len);
		return;
	}
	if (!self->pong)
		self->pong = xmalloc(1 + WS_CONTROL_MAX);
	self->pong[0] = (uint8_t)len;
	memcpy(self->pong + 1, data, len);
}

/* The pong owed since a writer was busy, if any. */
static void flush_pong(WebSocket *self)
{
	uint8_t p[WS_CONTROL_MAX];
	size_t n;

	if (!self->pong || self->writing)
		return;
	n = self->pong[0];
	memcpy(p, self->pong + 1, n);
	free(self->pong);
	self->pong = NULL;
	write_frame(self, WS_OP_PONG, p, n);
}

/*
 * Write one whole frame, compressed for a data frame when permessage-deflate
 * was negotiated, after any other writer's frame (one writer at a time, so
 * frames never interleave). What the socket takes at once goes with the GIL
 * held; the GIL is released to compress and to wait. Returns 0, or -1 when
 * the connection failed (self->dead).
 */
static int write_frame(WebSocket *self, unsigned opcode, const uint8_t *data, size_t len)
{
	struct conn *c = self->c;
	bool compress = self->deflate && opcode < WS_OP_CLOSE;
	uint8_t head[WS_HEADER_MAX], *packed = NULL;
	struct iovec iov[2], *v = iov;
	int n, rc = 0;

	while (self->writing && !self->dead && self->c) {
		Py_BEGIN_ALLOW_THREADS;
		c->io->wait(c, POLLOUT, WRITER_WAIT);
		Py_END_ALLOW_THREADS;
	}
	if (self->dead || !self->c)
		return -1;
	self->writing = true;
	if (compress) {
		size_t bound = ws_deflate_bound(len);
		ssize_t m;

		packed = xmalloc(bound);
		Py_BEGIN_ALLOW_THREADS;
		m = ws_deflate(&self->defl, data, len, packed, bound);
		if (self->params.server_no_context_takeover)
			ws_deflater_free(&self->defl); /* an idle connection keeps no zlib state */
		Py_END_ALLOW_THREADS;
		rc = m < 0 ? -1 : 0;
		data = packed;
		len = m < 0 ? 0 : (size_t)m;
	}
	iov[0] = (struct iovec){head, ws_frame_header(head, true, compress ? WS_RSV1 : 0, opcode, len)};
	iov[1] = (struct iovec){(void *)data, len};
	n = len ? 2 : 1;
	if (rc == 0)
		rc = conn_writev_now(c, &v, &n);
	if (rc == -2) {
		Py_BEGIN_ALLOW_THREADS;
		rc = conn_writev(c, v, n);
		Py_END_ALLOW_THREADS;
	}
	free(packed);
	self->writing = false;
	if (rc < 0)
		self->dead = true;
	else
		flush_pong(self);
	return rc;
}

/* asgi_ws — see asgi_ws.h. */
#include "workers/python/asgi_ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/http/chars.h"
#include "workers/http/conn.h"
#include "workers/http/ws_deflate.h"
#include "workers/http/ws_frame.h"
#include "workers/http/ws_handshake.h"
#include "workers/http/ws_message.h"
#include "workers/python/asgi_scope.h"
#include "workers/python/interp.h"
#include "workers/reactor_asyncio.h"

#define INFLATE_OUT 16384 /* inflated bytes per ws_message_feed() call */

struct asgi_ws {
	struct ws_handshake hs;
	struct ws_message m;
	struct ws_deflater defl; /* when hs.deflate */
	size_t off;      /* bytes of c->buf already fed to m */
	PyObject *queue; /* messages that came before receive() asked */
	uint8_t *msg;    /* the message being assembled */
	size_t msg_len, msg_cap;
	uint8_t opcode; /* its opcode */
	unsigned code;  /* the disconnect's close code */
	bool connect_told, accepted, closed_sent, read_done;
	bool failing; /* bad frames came: the app answers what came before, then the close */
	double last_rx;   /* monotime of the last bytes from the client */
	double ping_sent; /* monotime of our unanswered ping, 0: none */
};

static uint64_t max_message;
static int ping_s;
static uint8_t inflate_out[INFLATE_OUT]; /* shared: each event is copied before the next feed */

static PyObject *event(const char *type);
static void deliver(Req *r, PyObject *msg);
static void disconnect(Req *r, unsigned code);
static int close_frame(Req *r, unsigned code, const char *reason, size_t n);
static void on_event(Req *r, const struct ws_event *ev);
static void control(Req *r, unsigned opcode, const uint8_t *data, size_t len);
static ssize_t read_more(Req *r);
static PyObject *accept_ws(Req *r, PyObject *msg);
static PyObject *send_data(Req *r, PyObject *msg);
static PyObject *wake(PyObject *self, PyObject *unused);
static void wake_soon(Req *r);

static PyMethodDef wake_def = {"kirin_ws_accepted", wake, METH_NOARGS, NULL};

void asgi_ws_configure(uint64_t max, int ping_seconds)
{
	max_message = max;
	ping_s = ping_seconds;
}

bool asgi_ws_requested(const struct conn *c)
{
	return c->req.upgrade && ws_handshake_requested(c->req.headers, c->req.num_headers);
}

int asgi_ws_begin(Req *r, PyObject *scope)
{
	const struct http_request *req = &r->c->req;
	struct asgi_ws *ws = xcalloc(1, sizeof(*ws));
	PyObject *protos, *ext;
	int rc;

	if (ws_handshake_parse(&ws->hs, req->method, req->method_len, req->version_minor,
	                       req->headers, req->num_headers) < 0) {
		char out[512];
		ssize_t n = ws_handshake_refusal(&ws->hs, out, sizeof(out));
		struct iovec iov = {out, n > 0 ? (size_t)n : 0};

		if (n > 0)
			conn_writev(r->c, &iov, 1);
		free(ws);
		return -1;
	}
	/* Our deflater restarts with each message, as under WSGI (websocket.c). */
	ws->hs.params.server_no_context_takeover = true;
	if (ws->hs.deflate)
		ws_deflater_init(&ws->defl, &ws->hs.params);
	ws->queue = PyList_New(0);
	protos = PyList_New((Py_ssize_t)ws->hs.num_protocols);
	for (size_t i = 0; protos && i < ws->hs.num_protocols; i++) {
		PyObject *p = PyUnicode_DecodeLatin1(ws->hs.protocols[i].name,
		                                     (Py_ssize_t)ws->hs.protocols[i].len, NULL);
		if (!p) {
			Py_CLEAR(protos);
			break;
		}
		PyList_SET_ITEM(protos, (Py_ssize_t)i, p);
	}
	ext = Py_BuildValue("{s:{},s:s,s:s}", "websocket.http.response", "type", "websocket",
	                    "scheme", r->c->https ? "wss" : "ws"); /* the last two are scope's */
	r->ws = ws;
	ws_message_init(&ws->m, max_message, ws->hs.deflate ? &ws->hs.params : NULL, inflate_out,
	                sizeof(inflate_out));
	ws->off = r->c->head_len;
	rc = !ws->queue || !protos || !ext ||
	             PyDict_SetItemString(scope, "subprotocols", protos) < 0 ||
	             PyDict_SetItemString(scope, "type", PyDict_GetItemString(ext, "type")) < 0 ||
	             PyDict_SetItemString(scope, "scheme", PyDict_GetItemString(ext, "scheme")) <
	                 0 ||
	             PyDict_DelItemString(ext, "type") < 0 ||
	             PyDict_DelItemString(ext, "scheme") < 0 ||
	             (r->c->ssl && asgi_tls_extension(r->c, ext) < 0) ||
	             PyDict_SetItemString(scope, "extensions", ext) < 0 ||
	             PyDict_DelItemString(scope, "method") < 0
	         ? -1
	         : 0;
	Py_XDECREF(protos);
	Py_XDECREF(ext);
	return rc;
}

PyObject *asgi_ws_receive(Req *r)
{
	struct asgi_ws *ws = r->ws;

	if (!ws->connect_told) {
		ws->connect_told = true;
		return asgi_ready_take(event("websocket.connect"));
	}
	if (PyList_GET_SIZE(ws->queue) > 0) {
		PyObject *msg = PyList_GET_ITEM(ws->queue, 0); /* borrowed */
		PyObject *ready = asgi_ready(msg);
		if (ready && PySequence_DelItem(ws->queue, 0) < 0)
			Py_CLEAR(ready);
		return ready;
	}
	if (!r->c || ws->read_done || r->broken) {
		PyObject *m = event("websocket.disconnect");
		PyObject *code = PyLong_FromLong(ws->code ? ws->code : 1006);
		if (m && (!code || PyDict_SetItemString(m, "code", code) < 0))
			Py_CLEAR(m);
		Py_XDECREF(code);
		return asgi_ready_take(m);
	}
	if (asgi_future_pending(r->recv_fut)) {
		PyErr_SetString(PyExc_RuntimeError, "receive() called while another one waits");
		return NULL;
	}
	Py_XSETREF(r->recv_fut, asgi_req_future());
	Py_XINCREF(r->recv_fut);
	return r->recv_fut;
}

PyObject *asgi_ws_send(Req *r, PyObject *type, PyObject *msg)
{
	struct asgi_ws *ws = r->ws;
	const char *t = PyUnicode_AsUTF8(type);

	if (!t)
		return NULL;
	if (strcmp(t, "websocket.accept") == 0)
		return accept_ws(r, msg);
	if (strcmp(t, "websocket.send") == 0)
		return send_data(r, msg);
	if (strcmp(t, "websocket.close") != 0)
		return NULL;
	if (!ws->accepted) { /* a refusal: 403 when the task ends */
		ws->closed_sent = true;
		return asgi_ready(Py_None);
	}
	if (!ws->closed_sent) {
		PyObject *code = PyDict_GetItemString(msg, "code");     /* borrowed */
		PyObject *reason = PyDict_GetItemString(msg, "reason"); /* borrowed */
		Py_ssize_t n = 0;
		const char *why =
		    reason && reason != Py_None ? PyUnicode_AsUTF8AndSize(reason, &n) : "";
		long c = code && code != Py_None ? PyLong_AsLong(code) : WS_CLOSE_NORMAL;

		if (!why || PyErr_Occurred())
			return NULL;
		if (close_frame(r, (unsigned)c, why, (size_t)n) < 0) {
			PyErr_Format(PyExc_ValueError, "invalid close code %ld or reason", c);
			return NULL;
		}
	}
	return asgi_ready(Py_None);
}

bool asgi_ws_accepted(const Req *r)
{
	return r->ws && r->ws->accepted;
}

bool asgi_ws_read(Req *r)
{
	struct asgi_ws *ws = r->ws;
	struct conn *c = r->c;

	if (!ws || !ws->accepted || ws->read_done || r->broken)
		return false;
	while (ws->accepted && !ws->read_done && !r->task_done && !r->broken) {
		struct ws_event ev;
		ssize_t used =
		    ws_message_feed(&ws->m, (uint8_t *)c->buf + ws->off, c->len - ws->off, &ev);

		if (used < 0 && !ws->failing) {
			/* One turn of the loop first, so that the app's answers to
			 * the messages before go out before the close (Autobahn's
			 * 3.x, 4.x, 5.15). The feed fails again after. */
			ws->failing = true;
			wake_soon(r);
			return false;
		}
		if (used < 0) {
			close_frame(r, ws->m.code, ws->m.error, strlen(ws->m.error));
			disconnect(r, ws->m.code);
			break;
		}
		ws->off += (size_t)used;
		if (ev.kind != WS_EV_NONE) {
			on_event(r, &ev);
			continue;
		}
		if (used > 0)
			continue;
		/* More bytes are needed: keep the rest at the start, then read. */
		memmove(c->buf, c->buf + ws->off, c->len - ws->off);
		c->len -= ws->off;
		ws->off = 0;
		if (read_more(r) <= 0 && !r->task_done) {
			if (c->going_away)
				close_frame(r, WS_CLOSE_GOING_AWAY, "", 0);
			disconnect(r, c->going_away ? WS_CLOSE_GOING_AWAY : 1006);
		}
	}
	return true;
}

void asgi_ws_finish(Req *r, bool failed)
{
	struct asgi_ws *ws = r->ws;

	if (ws->accepted && !ws->closed_sent && !r->broken && ws->failing)
		close_frame(r, ws->m.code, ws->m.error, strlen(ws->m.error));
	if (ws->accepted && !ws->closed_sent && !r->broken)
		close_frame(r, failed ? WS_CLOSE_INTERNAL_ERROR : WS_CLOSE_NORMAL, "", 0);
	if (ws->accepted)
		asgi_out_flush(r);
	if (ws->accepted)
		conn_linger(r->c);
	ws_message_free(&ws->m);
	ws_deflater_free(&ws->defl);
	Py_XDECREF(ws->queue);
	free(ws->msg);
	free(ws);
	r->ws = NULL;
}

/* {"type": type}: new ref, or NULL. */
static PyObject *event(const char *type)
{
	return Py_BuildValue("{s:s}", "type", type);
}

/* A message for receive() (a new ref it consumes): to the one waiting, or queued. */
static void deliver(Req *r, PyObject *msg)
{
	if (!msg) {
		interp_log_exception("cannot build a WebSocket message");
		return;
	}
	if (asgi_future_pending(r->recv_fut))
		asgi_settle(&r->recv_fut, msg, NULL, NULL);
	else if (PyList_Append(r->ws->queue, msg) < 0)
		interp_log_exception("cannot queue a WebSocket message");
	Py_DECREF(msg);
}

/* The client is gone, or closed with `code`: the app hears it; nothing more is read. */
static void disconnect(Req *r, unsigned code)
{
	PyObject *m = event("websocket.disconnect");
	PyObject *c = PyLong_FromLong(code);

	r->ws->read_done = true;
	r->ws->code = code;
	if (m && (!c || PyDict_SetItemString(m, "code", c) < 0))
		Py_CLEAR(m);
	Py_XDECREF(c);
	deliver(r, m);
}

/*
 * Wait for more client bytes: between frames as long as the client likes,
 * or until our ping is due (--websocket-ping); inside a frame --timeout, or
 * the ping's deadline. Sends the ping when due. The bytes read (> 0), or 0
 * when the connection ends (EOF, an error, a timeout, a ping unanswered).
 */
static ssize_t read_more(Req *r)
{
	struct asgi_ws *ws = r->ws;
	struct conn *c = r->c;

	for (;;) {
		int timeout = -1;
		ssize_t n;

		if (ping_s > 0) {
			double now = monotime_now(), left;

			if (ws->ping_sent > 0) {
				left = ws->ping_sent + ping_s - now;
				if (left <= 0) {
					log_info("closing a WebSocket: no pong within %d s", ping_s);
					return 0;
				}
			} else {
				left = ws->last_rx + ping_s - now;
				if (left <= 0) {
					ws->ping_sent = now;
					control(r, WS_OP_PING, NULL, 0);
					continue;
				}
			}
			timeout = (int)(left * 1000) + 1;
		} else if (ws_message_in_frame(&ws->m)) {
			timeout = c->timeout_ms;
		}
		n = conn_read_some(c, timeout);
		if (n > 0) {
			ws->last_rx = monotime_now();
			return n;
		}
		if (n < 0 && errno == ETIMEDOUT && ping_s > 0)
			continue; /* a ping is due, or overdue */
		return 0;
	}
}

/* A ping or a pong, unless our close frame went. */
static void control(Req *r, unsigned opcode, const uint8_t *data, size_t len)
{
	uint8_t frame[WS_CONTROL_MAX + 2];
	ssize_t n = ws_frame_control(frame, opcode, data, len);
	struct iovec iov = {frame, n > 0 ? (size_t)n : 0};
	PyObject *res = n > 0 && !r->ws->closed_sent ? asgi_req_write(r, &iov, 1) : NULL;

	Py_XDECREF(res);
	PyErr_Clear(); /* the client is gone: the read says so */
}

/* Send a close frame (once). 0, or -1 when code or reason may not be sent. */
static int close_frame(Req *r, unsigned code, const char *reason, size_t n)
{
	uint8_t payload[WS_CONTROL_MAX], frame[WS_CONTROL_MAX + 2];
	ssize_t pl = ws_frame_close_payload(payload, code, reason, n);
	ssize_t fl = pl < 0 ? -1 : ws_frame_control(frame, WS_OP_CLOSE, payload, (size_t)pl);
	struct iovec iov = {frame, fl > 0 ? (size_t)fl : 0};
	PyObject *res;

	if (fl < 0)
		return -1;
	r->ws->closed_sent = true;
	res = asgi_req_write(r, &iov, 1);
	Py_XDECREF(res);
	PyErr_Clear(); /* the client is gone: nothing to close */
	return 0;
}

/* One event from the client's frames, in the connection greenlet. */
static void on_event(Req *r, const struct ws_event *ev)
{
	struct asgi_ws *ws = r->ws;
	PyObject *m, *v;

	switch (ev->kind) {
	case WS_EV_DATA:
		if (ev->first) {
			ws->opcode = ev->opcode;
			ws->msg_len = 0;
		}
		if (ws->msg_len + ev->len > ws->msg_cap) {
			ws->msg_cap = (ws->msg_len + ev->len) * 2;
			ws->msg = xrealloc(ws->msg, ws->msg_cap);
		}
		memcpy(ws->msg + ws->msg_len, ev->data, ev->len);
		ws->msg_len += ev->len;
		if (!ev->last)
			break;
		m = event("websocket.receive");
		v = ws->opcode == WS_OP_TEXT
		        ? PyUnicode_DecodeUTF8((char *)ws->msg, (Py_ssize_t)ws->msg_len, NULL)
		        : PyBytes_FromStringAndSize((char *)ws->msg, (Py_ssize_t)ws->msg_len);
		if (m && (!v || PyDict_SetItemString(m, ws->opcode == WS_OP_TEXT ? "text" : "bytes",
		                                     v) < 0))
			Py_CLEAR(m);
		Py_XDECREF(v);
		deliver(r, m);
		break;
	case WS_EV_PING:
		control(r, WS_OP_PONG, ev->data, ev->len);
		break;
	case WS_EV_PONG:
		ws->ping_sent = 0;
		break;
	case WS_EV_CLOSE:
		if (!ws->closed_sent)
			close_frame(r, ev->code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->code,
			            "", 0);
		disconnect(r, ev->code);
		break;
	default:
		break;
	}
}

/* websocket.accept: the 101, with the app's subprotocol and headers. */
static PyObject *accept_ws(Req *r, PyObject *msg)
{
	struct asgi_ws *ws = r->ws;
	PyObject *proto = PyDict_GetItemString(msg, "subprotocol"); /* borrowed */
	PyObject *headers = PyDict_GetItemString(msg, "headers");
	PyObject *it, *item, *h;
	char extra[2048], out[4096];
	size_t elen = 0;
	Py_ssize_t plen = 0;
	const char *p = proto && proto != Py_None ? PyUnicode_AsUTF8AndSize(proto, &plen) : NULL;
	ssize_t n;

	if (ws->accepted || ws->closed_sent || r->started) {
		PyErr_SetString(PyExc_RuntimeError,
		                "websocket.accept after the handshake was answered");
		return NULL;
	}
	if (PyErr_Occurred())
		return NULL;
	it = headers ? PyObject_GetIter(headers) : NULL;
	while (it && (item = PyIter_Next(it))) {
		const char *hn = NULL, *hv = NULL;
		Py_ssize_t nl = 0, vl = 0;

		if (PyTuple_Check(item) || PyList_Check(item)) {
			PyObject *a = PySequence_GetItem(item, 0), *b = PySequence_GetItem(item, 1);
			if (a && b && PyBytes_Check(a) && PyBytes_Check(b)) {
				hn = PyBytes_AS_STRING(a), nl = PyBytes_GET_SIZE(a);
				hv = PyBytes_AS_STRING(b), vl = PyBytes_GET_SIZE(b);
			}
			Py_XDECREF(a);
			Py_XDECREF(b);
		}
		Py_DECREF(item);
		PyErr_Clear();
		if (!hn || nl == 0 || elen + (size_t)(nl + vl) + 4 > sizeof(extra) ||
		    !chars_is_token(hn, (size_t)nl) || memchr(hv, '\r', (size_t)vl) ||
		    memchr(hv, '\n', (size_t)vl) || memchr(hv, '\0', (size_t)vl)) {
			Py_DECREF(it);
			PyErr_SetString(PyExc_ValueError, "invalid websocket.accept header");
			return NULL;
		}
		elen += (size_t)snprintf(extra + elen, sizeof(extra) - elen, "%.*s: %.*s\r\n",
		                         (int)nl, hn, (int)vl, hv);
	}
	Py_XDECREF(it);
	if (PyErr_Occurred())
		return NULL;
	n = ws_handshake_response(&ws->hs, p, (size_t)plen, extra, elen, out, sizeof(out));
	if (n < 0) {
		PyErr_SetString(PyExc_ValueError, "websocket.accept: a subprotocol the client did "
		                                  "not offer");
		return NULL;
	}
	ws->accepted = true;
	ws->last_rx = monotime_now();
	r->c->upgraded = true;
	r->c->continue_sent = true;
	h = asgi_req_write(r, &(struct iovec){out, (size_t)n}, 1);
	r->resp.status = 101;
	asgi_req_access_log(r, 101);
	wake_soon(r); /* the connection greenlet reads the client's frames from now on */
	return h;
}

/* websocket.send: one frame, text or binary, compressed when permessage-deflate was agreed. */
static PyObject *send_data(Req *r, PyObject *msg)
{
	struct asgi_ws *ws = r->ws;
	PyObject *b = PyDict_GetItemString(msg, "bytes"); /* borrowed */
	PyObject *t = PyDict_GetItemString(msg, "text");
	uint8_t head[WS_HEADER_MAX], *packed = NULL;
	const char *data;
	Py_ssize_t len;
	bool text = t && t != Py_None;
	unsigned rsv = 0;
	struct iovec iov[2];
	PyObject *res;

	if (!ws->accepted) {
		PyErr_SetString(PyExc_RuntimeError, "websocket.send before websocket.accept");
		return NULL;
	}
	if (ws->closed_sent || ws->read_done) {
		PyErr_SetString(asgi_req_disconnected(), "the WebSocket is closed");
		return NULL;
	}
	if (text)
		data = PyUnicode_AsUTF8AndSize(t, &len);
	else if (b && b != Py_None)
		data = PyBytes_AsString(b), len = data ? PyBytes_GET_SIZE(b) : 0;
	else
		data = NULL,
		PyErr_SetString(PyExc_ValueError, "websocket.send without bytes or text");
	if (!data)
		return NULL;
	if (ws->hs.deflate) {
		size_t bound = ws_deflate_bound((size_t)len);
		ssize_t n;

		packed = xmalloc(bound);
		n = ws_deflate(&ws->defl, (const uint8_t *)data, (size_t)len, packed, bound);
		ws_deflater_free(&ws->defl); /* an idle connection keeps no zlib state */
		if (n < 0) {
			free(packed);
			return PyErr_NoMemory();
		}
		data = (const char *)packed;
		len = n;
		rsv = WS_RSV1;
	}
	iov[0] = (struct iovec){head, ws_frame_header(head, true, rsv, text ? WS_OP_TEXT : WS_OP_BINARY,
	                                              (uint64_t)len)};
	iov[1] = (struct iovec){(void *)data, (size_t)len};
	res = asgi_req_write(r, iov, 2); /* what the socket does not take is copied */
	free(packed);
	return res;
}

/* Wake the connection greenlet (to read) from the loop's next turn. */
static void wake_soon(Req *r)
{
	PyObject *cb = PyCFunction_New(&wake_def, (PyObject *)r); /* new ref */
	PyObject *res = cb ? reactor_asyncio_later(0, cb) : NULL;

	Py_XDECREF(cb);
	if (!res)
		interp_log_exception("cannot wake a WebSocket's reader");
	Py_XDECREF(res);
}

/* From the loop: wake the connection greenlet to read. */
static PyObject *wake(PyObject *self, PyObject *unused)
{
	Req *r = (Req *)self;

	if (r->c && !r->task_done)
		asgi_req_resume(r);
	Py_RETURN_NONE;
}

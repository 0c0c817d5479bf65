/*
 * asgi_ws — ASGI `websocket` for the asyncio worker, over kirin's C
 * WebSocket core (workers/http/ws_*): the handshake is validated before the
 * app is called, websocket.accept answers it (with the app's subprotocol
 * and headers), websocket.close before that refuses it with 403, and the
 * websocket.http.response extension lets the app send an HTTP response
 * instead. Once accepted, the connection's greenlet reads the client's
 * frames (pings answered in C; --websocket-ping pings a silent client),
 * and receive() gets whole messages; websocket.send writes frames without
 * waiting, as http bodies are sent. permessage-deflate is negotiated as
 * under WSGI (the server's side without context takeover). Close codes go
 * both ways; a graceful stop says 1001. An invalid handshake is refused
 * (400, 426) before the app is called.
 *
 * Internal to the ASGI glue (asgi.c calls it); runs in the asyncio worker
 * with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "workers/python/asgi_req.h"

struct conn;

/*
 * The largest message in bytes (--websocket-max-message; 0: no limit) and
 * the seconds of client silence before a server ping (--websocket-ping; 0:
 * none; a ping unanswered as long closes the connection). Once per process.
 */
void asgi_ws_configure(uint64_t max_message, int ping_seconds);

/* True when c's request asks for a WebSocket. */
bool asgi_ws_requested(const struct conn *c);

/*
 * Set up r->ws for its request and make `scope` (an http scope) a
 * websocket one. 0; -1 when the handshake is invalid (400, 426: answered,
 * the caller closes) or with an exception set (r->ws NULL).
 */
int asgi_ws_begin(Req *r, PyObject *scope);

/* receive() of a WebSocket request: new ref to an awaitable, or NULL. */
PyObject *asgi_ws_receive(Req *r);

/*
 * send() of a WebSocket request for websocket.accept, websocket.send and
 * websocket.close (`type` is msg's, a str): new ref to an awaitable, or
 * NULL with an exception. Other types: NULL without an exception.
 */
PyObject *asgi_ws_send(Req *r, PyObject *type, PyObject *msg);

/* True once the app accepted: the connection is the WebSocket's. */
bool asgi_ws_accepted(const Req *r);

/*
 * In the connection greenlet while the task runs: read the client's frames
 * and hand them to receive(), until the client is gone or the task ends,
 * and return true; false at once when there is nothing to read (not
 * accepted, or no longer open).
 */
bool asgi_ws_read(Req *r);

/*
 * After the task of an accepted WebSocket: the closing handshake's end
 * (1000, or 1011 when the app failed) if not done; may wait. Frees r->ws
 * (also when never accepted).
 */
void asgi_ws_finish(Req *r, bool failed);

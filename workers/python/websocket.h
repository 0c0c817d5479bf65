/*
 * websocket — environ['wsgi.websocket'] as gevent-websocket offers it: a
 * WebSocket object (receive, send, close, closed, path, protocol, origin,
 * version, environ) over the C protocol library in workers/http/ (ws_*),
 * and the environ of an upgrade request, a dict whose 'wsgi.websocket' key
 * answers the handshake (101) when the app reads it, so an app that never
 * asks gets the request as a plain GET. The 101 names the subprotocol the
 * app chose, or the first of --websocket-protocols the client offers.
 *
 * Reading and writing go through the connection's conn_io waits, with the
 * GIL released: on greenlet and gevent a WebSocket waiting in receive() is
 * a parked greenlet; on gthread it holds a pool thread, on sync the worker.
 * Pings are answered here, in C; the app never sees them.
 *
 * Runs in workers with the GIL held (every field of a WebSocket changes
 * under it). Never parses HTTP: the head is already in c->req.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

struct conn;

/*
 * The settings: the largest message in bytes (1009 beyond; 0: no limit),
 * the seconds of client silence before a server ping (0: none; a ping
 * unanswered that long closes the connection), and the subprotocols
 * answered when the app does not choose (protocols[0..n), borrowed: they
 * must outlive the process's WebSockets). Once per process, before
 * websocket_environ().
 */
void websocket_configure(uint64_t max_message, int ping_seconds, char *const *protocols,
			 size_t num_protocols);

/*
 * Each WebSocket holds one of n pool threads (gthread): warn when they are
 * all held. Once per process.
 */
void websocket_pool_threads(int n);

/*
 * Ready the types; once per process after interp_init(). app (borrowed,
 * kept) is asked for gevent-websocket's app_protocol(path) when it has one.
 * 0 or -1 (exception set).
 */
int websocket_init(PyObject *app);

/*
 * For a request that asks for a WebSocket (c->req.upgrade and an Upgrade
 * listing websocket): a new environ holding env's items, 'wsgi.websocket'
 * and 'wsgi.websocket_version', and in *ws (new ref) the WebSocket. When
 * the handshake is invalid (RFC 6455 section 4.2.1), reading
 * 'wsgi.websocket' answers the refusal (400, or 426 with
 * Sec-WebSocket-Version: 13) instead of the 101, and the app gets a closed
 * WebSocket (receive() None, send() raises); an app that never reads it
 * sees a plain GET and answers it. *head_sent (the caller's, alive while
 * the request is) says whether the app's HTTP head went out: then reading
 * 'wsgi.websocket' answers nothing and gives a closed WebSocket, as the
 * connection already speaks HTTP. Otherwise env itself (a new ref) and
 * *ws NULL. NULL with an exception set on failure.
 */
PyObject *websocket_environ(struct conn *c, PyObject *env, const bool *head_sent,
			    PyObject **ws);

/*
 * After the app returned: 101 when ws answered the handshake (the
 * connection is the WebSocket's), 400 or 426 when it refused it (the
 * connection closes); either way no HTTP response follows. 0 when the app
 * never asked (or ws is NULL): its response is sent.
 */
int websocket_status(PyObject *ws);

/*
 * The request is over: an upgraded ws sends its close frame if it has not
 * (1000), and the connection closes lingering (a refused one too); ws is detached from the
 * connection either way (its methods then raise WebSocketError). May wait.
 */
void websocket_finish(PyObject *ws);

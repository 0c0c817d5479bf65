/*
 * ws_choice — which WebSocket subprotocol the 101 answers (RFC 6455
 * section 4.2.2), for the wsgi.websocket glue (websocket.c). The app
 * decides, in gevent-websocket's and kirin's ways, else the operator's
 * --websocket-protocols; the answer is always one the client offered.
 *
 * Runs in a worker with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

#include "workers/http/ws_handshake.h"

/*
 * The subprotocol to answer (new ref, a str the client offered), NULL for
 * none: environ[choice_key] (the app's 'kirin.websocket_protocol'), else
 * what app.app_protocol(path) says (gevent-websocket's Resource), else the
 * first of protocols[0..n) (--websocket-protocols) that the client offers.
 * A choice the client did not offer, or an app_protocol() that raises, is
 * logged and answers none.
 */
PyObject *ws_choice(const struct ws_handshake *hs, PyObject *environ, PyObject *choice_key,
		    PyObject *app, char *const *protocols, size_t n);

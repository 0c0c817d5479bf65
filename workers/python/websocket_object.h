/*
 * websocket_object — private to websocket.c and websocket_environ.c: the
 * WebSocket object behind environ['wsgi.websocket'] (websocket.c owns it:
 * its methods, the handshake, reading and writing) and what the
 * lazy-handshake environ (websocket_environ.c) needs of it. Runs in
 * workers with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "workers/http/ws_deflate.h"
#include "workers/http/ws_frame.h"
#include "workers/http/ws_message.h"

struct conn;

typedef struct {
	PyObject_HEAD
	struct conn *c;        /* NULL once the request is over */
	const bool *head_sent; /* the app's HTTP head went out (the request's flag) */
	PyObject *environ;     /* new ref; NULL once the request is over */
	PyObject *subprotocol; /* new ref: the one the 101 answered; NULL: none */
	bool deflate;          /* permessage-deflate negotiated */
	struct ws_deflate_params params;
	bool upgraded; /* the 101 was sent: the connection speaks WebSocket */
	int refused;   /* the handshake was invalid: the refusal sent (400, 426), 0: none */
	bool closed;   /* no more messages either way (gevent-websocket's closed) */
	bool close_sent;
	bool dead;    /* the connection failed: nothing more can be written */
	bool reading; /* receive() waits (one reader at a time) */
	bool writing; /* a frame is being written (one writer at a time) */
	struct ws_message msg;
	struct ws_deflater defl;
	size_t raw;    /* client bytes not consumed yet: c->buf[raw..c->len) */
	uint8_t *asm_; /* a message arriving in pieces */
	size_t asm_len, asm_cap;
	uint8_t *pong; /* a pong owed while a writer was busy (malloc'd): the length
			* of the last ping's payload, then the payload; NULL: none */
	double last_rx;   /* monotime of the last bytes from the client */
	double ping_sent; /* monotime of our unanswered ping, 0: none */
	PyObject *token;  /* of setting kirin._websocket to it (new ref), NULL if not set */
} WebSocket;

/* kirin.WebSocket; ready after websocket_init(). */
extern PyTypeObject websocket_type;

/*
 * A new WebSocket (new ref) for connection c's upgrade request, holding
 * environ (a new ref of its own) and set as kirin._websocket for uWSGI's
 * functions until websocket_finish(). NULL with an exception set.
 */
WebSocket *websocket_new(struct conn *c, const bool *head_sent, PyObject *environ);

/*
 * Answer ws's handshake if it is not yet: the 101 (the connection is the
 * WebSocket's from then on) or the refusal. 0, or -1 when the connection
 * is gone, failed or refused.
 */
int websocket_upgrade(WebSocket *ws);

/* Ready the environ type; once per process, from websocket_init(). 0 or -1. */
int websocket_environ_init(void);

/*
 * asgi_req — one ASGI request as asgi.c and asgi_ws.c share it: the
 * connection, the response state, the futures receive() and send() may be
 * waiting on, and writing without waiting (what the socket does not take
 * is kept and written when it is writable: send() awaits that).
 *
 * Internal to the ASGI glue; runs in the asyncio worker with the GIL held.
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "workers/http/response.h"
#include "workers/python/wsgi.h"

struct asgi_ws;

/* One request: what receive() and send() act on, and the task's end. */
typedef struct {
	PyObject_HEAD PyObject *receive, *send; /* bound to it, kept while it is reused */
	struct conn *c; /* NULL once the request is over: late calls see a disconnect */
	PyObject *g; /* the connection greenlet waiting for the task */
	struct response resp;
	bool started;      /* http.response.start came */
	bool head_sent;    /* the head went out (with the first body bytes) */
	bool complete;     /* the last body bytes were sent (or are pending) */
	bool broken;       /* the client is gone, or a write timed out */
	bool disconnected; /* receive() said http.disconnect */
	bool task_done;
	bool failed;        /* the app raised (or its task was cancelled) */
	bool body_told;     /* receive() gave the message with more_body False */
	short reading;      /* our reader replaces the set's on the socket: POLLIN, or POLLOUT (TLS) */
	bool writing;       /* our writer is on the socket */
	int refuse;         /* a body framing error to answer (400, 413) */
	PyObject *recv_fut; /* a receive() waiting for bytes or a disconnect */
	PyObject *send_fut; /* a send() waiting for the socket */
	PyObject *timer;    /* --timeout of that wait */
	PyObject *rtimer;   /* --timeout of a receive() waiting for body bytes */
	PyObject *gtimer;   /* the grace period after the client went away */
	PyObject *ttimer;   /* --request-timeout, while the task waits */
	PyObject *coro;     /* the app's coroutine, kept for its stack while ttimer runs */
	bool timed_out;     /* --request-timeout interrupted the task */
	PyObject *throw;    /* what the task's host throws in then: kirin.RequestTimeout */
	PyObject *scope;         /* kept for post_request, when the hook is set */
	PyObject *resp_headers;  /* http.response.start's headers, for post_request */
	char *pend;         /* bytes a send() could not write yet: pend[off..len) */
	size_t pend_len, pend_off;
	struct timespec start;
	bool has_file; /* http.response.pathsend: file_fd is open */
	int file_fd;   /* its bytes file_off.. go out after pend, with sendfile(2) */
	off_t file_off;
	uint64_t file_left;
	PyObject *task; /* the app's */
	/* Served from the loop (asgi_start): called at the end; NULL in a greenlet. */
	void (*done_cb)(struct conn *c, enum wsgi_outcome out);
	bool finishing;     /* the task ended; pending bytes go out before done_cb */
	bool ended;         /* asgi_req_end() ran: the connection is the set's again */
	struct asgi_ws *ws; /* a WebSocket request's state (asgi_ws.h), NULL for http */
} Req;

/* A message (dict) and the keys of it that send() reads: borrowed, NULL when absent. */
struct asgi_msg {
	PyObject *dict, *type, *status, *headers, *trailers, *body, *more_body;
};

/* Build asgi_out's keys and constants (after asgi_scope_init). 0, or -1 with an exception. */
int asgi_out_init(void);

/*
 * Read msg's keys into *m in one walk over the dict (a message holds two
 * or three: cheaper than a lookup per key). Keys are compared as str
 * contents, as a lookup would (a str subclass that changes equality is not
 * honoured). 0, or -1 with a TypeError when msg is not a dict with a 'type'.
 */
int asgi_msg_read(PyObject *msg, struct asgi_msg *m);

/*
 * send() of http.response.start (the head is built, and sent with the
 * first body bytes) and http.response.body (written now; what the socket
 * cannot take yet is awaited), from the message's keys: what send()
 * returns (new ref), or NULL with an exception.
 */
PyObject *asgi_response_start(Req *r, const struct asgi_msg *m);
PyObject *asgi_response_body(Req *r, const struct asgi_msg *m);

/*
 * send(msg) of the same http.response.start as the last one that started
 * an http response, unchanged (a constant of the app's: the same dict, not
 * changed since, with the same header tuples) for the same kind of
 * request: its head is started from the one built then. What send()
 * returns (new ref), or NULL (no exception) when msg is not that one.
 */
PyObject *asgi_response_start_again(Req *r, PyObject *msg);

/*
 * Write iov[0..n) without waiting (after what is pending). A new ref to
 * what send() returns: done at once when the socket took it all, else the
 * future of the pending bytes; NULL with kirin.ClientDisconnected when the
 * client is gone.
 */
PyObject *asgi_req_write(Req *r, struct iovec *iov, int n);

/* {"type": type}, or with "body": body and "more_body": more when body is set: new ref, or NULL. */
PyObject *asgi_message(PyObject *type, PyObject *body, bool more);

/*
 * Complete the future *fut (if still pending) and drop it: with result, or
 * with exc_type(why) when exc_type is set; NULL result and exc_type: an
 * http.disconnect message. Errors are logged.
 */
void asgi_settle(PyObject **fut, PyObject *result, PyObject *exc_type, const char *why);

/* fut is not NULL and not done (nor cancelled). */
bool asgi_future_pending(PyObject *fut);

/* kirin.ClientDisconnected (borrowed), an OSError: send() after the client went away. */
PyObject *asgi_req_disconnected(void);

/* A new future of the loop, or NULL with an exception. */
PyObject *asgi_req_future(void);

/*
 * http.response.pathsend (an extension in every http scope): the file at
 * msg["path"] is the response body, sent with sendfile(2). A new ref to
 * what send() returns, or NULL with an exception (OSError: no such file).
 */
PyObject *asgi_pathsend(Req *r, PyObject *msg);

/*
 * Write what is pending and the rest of the file, waiting (through
 * c->io->wait(): in the connection greenlet) while the socket is full;
 * r->broken when the client is gone or a wait timed out.
 */
void asgi_out_flush(Req *r);

/* Close r's file, if any. */
void asgi_file_close(Req *r);

/* Stop waiting for the socket to be writable. */
void asgi_req_stop_writing(Req *r);

/*
 * The end of a request served from the loop (asgi_start): once what the
 * task left to write is out, finish and call r->done_cb. Drops the
 * reference asgi_start() held.
 */
void asgi_req_end(Req *r);

/* From the loop: switch into the connection greenlet serving r, until it waits. */
void asgi_req_resume(Req *r);

/* The request's access-log line with this status. */
void asgi_req_access_log(Req *r, int status);

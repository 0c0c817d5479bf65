/*
 * conn — one client connection in a worker: its read buffer, the parsed
 * request head, reading the request body (length-delimited or chunked,
 * 100-continue), writing bytes (conn_write.c: and keeping what a slow
 * client does not take yet), refusing bad requests with an answer, and
 * the first half of a lingering close (its owner finishes it: conn_discard);
 * conn_policy.c builds what a listener's connections share.
 *
 * Runs in workers. Sockets are non-blocking; when one would block, conn calls
 * its conn_io's wait(), which is where worker types differ (poll() in sync,
 * a switch to the hub in greenlet). Never touches Python; the caller decides
 * whether the GIL is released around calls that may wait.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "workers/http/allow.h"
#include "workers/http/chunked.h"
#include "workers/http/parser.h"
#include "workers/http/spool.h"

struct conn;
struct listener; /* the worker's, kept in c->listener; opaque here */
struct ssl_st;
struct ssl_ctx_st;

/*
 * What a worker applies to every connection it accepts: the HTTP limits, the
 * wait bound, and which peers may send a PROXY header or X-Forwarded-Proto.
 * The worker layer fills it from the settings (policy_from_config()).
 */
/* A secure_scheme_headers item: this header with this value means https. */
struct conn_scheme {
	char *name; /* owned */
	size_t name_len;
	char *value; /* owned */
	size_t value_len;
};

struct conn_policy {
	struct http_limits limits;
	int timeout_ms;        /* --timeout for one wait on a client (30 s when 0) */
	int proxy_versions;    /* PROXY protocol versions expected: 1 (v1), 2 (v2), 3 (both), 0 */
	struct allow proxy;    /* --proxy-allow-from */
	struct allow forwarded; /* --forwarded-allow-ips */
	struct conn_scheme *secure; /* --secure-scheme-headers, trusted from forwarded peers */
	size_t nsecure;
	bool nodelay;          /* set TCP_NODELAY (workers that keep connections) */
	size_t out_mem;        /* output written ahead: in memory up to this, then a file */
	size_t out_max;        /* and at most this much (0: none written ahead, see conn_writev) */
	bool casefold_method;  /* uppercase the method of a parsed head (in the buffer) */
	struct ssl_ctx_st *tls; /* HTTPS on every connection (tls.h); NULL: plain HTTP */
	char *forwarders;      /* owned; limits.forwarders points here, and a connection's
				  limits too when its peer is in `forwarded` (else NULL) */
};

/*
 * Add a secure_scheme_headers item to p: the header name (name_len bytes)
 * whose value (value_len bytes) makes wsgi.url_scheme https. Copies both.
 * Returns 0, or -1 when out of memory.
 */
int conn_policy_add_scheme(struct conn_policy *p, const char *name, size_t name_len,
			   const char *value, size_t value_len);

/* Free the allow lists, scheme headers and forwarder list of p. */
void conn_policy_free(struct conn_policy *p);

struct conn_io {
	/*
	 * Wait until c->fd is readable (POLLIN) or writable (POLLOUT), at most
	 * timeout_ms (< 0: no limit). Returns 0 when ready, -1 on timeout or
	 * error (errno set, ETIMEDOUT for a timeout).
	 */
	int (*wait)(struct conn *c, short events, int timeout_ms);
	/*
	 * Optional (NULL: not offered). While the app makes a response's next
	 * chunk, lend() lets the worker's loop send what is kept for a slow
	 * client (conn_pending()) as the client takes it; reclaim() takes the
	 * output back before the thread serving c writes again, waiting out
	 * a send in progress. Both from the thread serving c, in that order.
	 */
	void (*lend)(struct conn *c);
	void (*reclaim)(struct conn *c);
};

/*
 * A lingering close (the client may still be sending when it is answered
 * and closed: closing with unread input would reset the connection and
 * destroy the answer before the client read it) lasts at most
 * CONN_LINGER_SECONDS, and a worker lingers on at most CONN_LINGER_MAX
 * sockets at once; past that it closes at once.
 */
#define CONN_LINGER_SECONDS 2.0
#define CONN_LINGER_MAX 256

struct conn {
	int fd;
	const struct listener *listener;
	const struct conn_io *io;
	int timeout_ms;          /* for one wait while reading or writing */
	bool defer_close;        /* conn_close() leaves the descriptor open, in deferred_fd */
	int deferred_fd;         /* what such a close left for the next one; -1: nothing */
	bool linger;             /* writing is shut down; the client may still send: the
	                          * owner should let deferred_fd linger (conn_discard) */
	char peer_addr[64];      /* REMOTE_ADDR ("" for unix sockets) */
	char peer_port[8];       /* REMOTE_PORT */
	bool expect_proxy;       /* --proxy-protocol: a PROXY header may open the connection */
	int proxy_versions;      /* which PROXY protocol versions (policy.proxy_versions) */
	bool proxy_trusted;      /* the peer may send one (--proxy-allow-from) */
	bool forwarded_trusted;  /* the peer's scheme and forwarder headers count
				    (--forwarded-allow-ips); limits.forwarders is NULL if not */
	const struct conn_scheme *secure; /* the policy's secure_scheme_headers */
	size_t nsecure;
	bool https;              /* wsgi.url_scheme is https (a trusted proxy said so) */
	bool casefold_method;    /* policy.casefold_method */
	bool upgraded;           /* taken over by another protocol (a WebSocket) */
	bool going_away;         /* conn_going_away() was called (atomic: any thread) */

	/* TLS (tls.h); ssl is NULL on a plain connection and nothing below is used */
	struct ssl_st *ssl;
	int64_t tls_deadline_ms; /* the handshake must be done by then (CLOCK_MONOTONIC) */
	short tls_wants;         /* POLLIN or POLLOUT: what OpenSSL waits for */
	bool tls_started;        /* the first byte was a TLS handshake record */
	bool tls_ready;          /* the handshake is done */
	bool tls_failed;         /* a fatal error: no close_notify */
	bool tls_closed;         /* close_notify sent */
	bool plain_on_tls;       /* plain HTTP came to the TLS port: answered in plain text */
	bool tls_lock;           /* one thread in OpenSSL at a time (tls.c) */

	char *buf;               /* raw bytes read from the socket */
	size_t cap, len;
	bool drained;            /* the last read came back short: the socket had no more */
	size_t max_head;         /* buffer bound while reading a head */

	struct http_limits limits;
	struct http_request req;
	struct http_header *headers;
	bool headers_trimmed;    /* conn_trim() cut the header array to the head's fields */
	size_t head_len;         /* bytes of the parsed head in buf */
	bool head_started;       /* req is initialised for the head being read */

	/* body state */
	size_t ready, ready_end; /* decoded body bytes ready in buf[ready..ready_end) */
	size_t raw;              /* undecoded bytes start at buf[raw..len) */
	uint64_t body_left;      /* HTTP_BODY_LENGTH: bytes still to deliver */
	uint64_t body_read;      /* body bytes delivered so far */
	struct http_chunked chunked;
	bool body_done;
	bool continue_sent;      /* "100 Continue" went out, or may no longer (a final
	                          * response did: its caller sets this) */
	int error_status;        /* a framing error found while reading the body (400, 413) */
	const char *error;       /* its reason */
	struct spool *spool;     /* the whole body, read ahead (conn_poll_body); NULL: none */

	/* output written ahead of a slow client (out_max > 0; conn_writev) */
	size_t out_mem, out_max;
	struct spool *out;       /* bytes not sent yet; NULL: none so far */
	int out_file;            /* then a file range not sent yet (conn_sendfile); -1: none */
	off_t out_off;
	uint64_t out_left;
};

/*
 * True when nothing of a next request has come: no bytes, or only the
 * empty lines (CRLF) some clients send after a body, which the parser
 * skips (RFC 9112 section 2.2). The connection is idle, not in a head.
 */
bool conn_idle(const struct conn *c);

/*
 * What a reader of c waits for before its next read: POLLIN, or POLLOUT
 * when OpenSSL must write first and the socket would not take it (a
 * handshake flight; in a read, the alert refusing a TLS 1.2 renegotiation:
 * OpenSSL 3.0 answers a KeyUpdate with the next write, not in SSL_read).
 * Never waits.
 */
short conn_read_wants(const struct conn *c);

/*
 * Set up c for a freshly accepted fd (non-blocking). The conn owns the fd
 * from now on, and the buffers it allocates when bytes arrive; conn_close()
 * releases them all.
 */
void conn_init(struct conn *c, int fd, const struct listener *l, const struct conn_io *io,
	       const struct http_limits *limits, int timeout_ms);

/*
 * Accept one connection on the listening socket lfd (l's) into c (zeroed or
 * closed): non-blocking, peer address recorded, trust flags from the policy.
 * Returns 1, 0 when none is waiting, -1 on an error worth logging (errno
 * set; nothing logged here). Never waits.
 */
int conn_accept(struct conn *c, int lfd, const struct listener *l, const struct conn_io *io,
		const struct conn_policy *p);

/*
 * Parse what is buffered and read what the socket has, never waiting:
 * returns 1 with a request head in c->req, -2 when more bytes are needed,
 * and otherwise as conn_read_head(). For event loops. When the last read
 * emptied the socket, -2 comes without trying another read (which would
 * only fail with EAGAIN): the caller waits for readability, then calls
 * again, and that call reads.
 */
int conn_poll_head(struct conn *c);

/* Room in c->buf for need bytes in all (pre-TLS reads): 0, or -1. */
int conn_reserve(struct conn *c, size_t need);

/*
 * For event loops that read a request's body before the app runs: read what
 * the socket has of it (sending "100 Continue" first if the client expects
 * it), never waiting, into a spool that keeps up to mem_max bytes in memory
 * and the rest in a temporary file, max bytes at most. Returns 1 once the
 * whole body is in, or max bytes of it (conn_body_read() then reads the
 * spool first, and the rest from the socket), -2 when more must come (wait
 * for readability, call again), -1 on a framing error (c->error_status
 * 400/413: refuse; 500 when the spool's file fails), or when the client is
 * gone (c->error_status 0: close).
 */
int conn_poll_body(struct conn *c, size_t mem_max, uint64_t max);

/*
 * After a response on a kept connection: drain what the app left unread of
 * the body (at most 64 KiB, waiting if needed), keep any pipelined bytes
 * and reset for the next head. Returns 0, or -1 when the connection must
 * close instead (!conn_reusable(), or a framing error found draining).
 */
int conn_next_request(struct conn *c);

/*
 * False when the connection must close after this request's response,
 * whatever the app does next: the client asked for it, a body framing
 * error, a body announced with Expect: 100-continue and not asked for yet,
 * or more unread body than conn_next_request() drains. A response head
 * built now should then say Connection: close. Never waits.
 */
bool conn_reusable(const struct conn *c);

/*
 * Read until a whole request head is parsed into c->req. Returns 1 with a
 * request, 0 when the peer closed (or timed out) before sending anything,
 * -1 when the request must be refused: then c->error_status is the HTTP
 * status to answer (0 when the connection just failed: close it silently).
 * May wait.
 */
int conn_read_head(struct conn *c);

/*
 * Read up to n bytes of the request body into out (decoded from chunked
 * framing; "100 Continue" sent first if the client expects it). Returns the
 * bytes read, 0 at the end of the body, -1 on a framing error
 * (c->error_status 400/413 set) or an I/O error/timeout (c->error_status 0).
 * May wait.
 */
ssize_t conn_body_read(struct conn *c, char *out, size_t n);

/*
 * Write all of iov[0..n) (the array is modified). Returns 0, or -1 when the
 * peer is gone or a wait timed out. May wait.
 *
 * With c->out_max > 0 (a worker whose loop can finish sending: gthread),
 * what the socket does not take at once is kept, in memory up to
 * c->out_mem and then in a temporary file, to go out before anything
 * written later; the call waits only while more than c->out_max bytes are
 * kept. The owner then sends the rest with conn_flush() (conn_pending()
 * says whether there is any) before it closes or reads the next request;
 * shutting down writing (conn_finish(), conn_refuse(), conn_linger()) waits
 * for it. Never kept for an upgraded connection.
 */
int conn_writev(struct conn *c, struct iovec *iov, int n);

/*
 * conn_writev() as far as the socket takes it now, for a caller that holds
 * a lock it would rather not drop for a write that need not wait (the GIL):
 * 0 when all of (*iov)[0..*n) went; -2 when the socket is full (*iov and
 * *n then say what is left, for conn_writev()), over TLS, or behind
 * pending output (nothing tried); -1 when the peer is gone. Never waits.
 */
int conn_writev_now(struct conn *c, struct iovec **iov, int *n);

/*
 * Write up to len bytes of buf (len > 0) through the connection's TLS
 * layer or straight to the socket, never waiting, for a caller with a loop
 * of its own (the asyncio worker): the bytes written, or -1 with errno,
 * EAGAIN when the socket is full (call again once it is writable with the
 * same bytes first: over TLS the buffer may move and grow, never shrink).
 * Bypasses what conn_writev() keeps: not for a connection that keeps output.
 */
ssize_t conn_send_some(struct conn *c, const void *buf, size_t len);

/*
 * Send *left bytes of the regular file fd from *off (sendfile(2); over TLS,
 * tls_sendfile()), advancing both. Returns 0, or -1 when the peer is gone,
 * a wait timed out, or the file could not be read (it shrank). May wait.
 * With c->out_max > 0 (plain HTTP), what the socket does not take at once
 * (or all of it, when output is pending) is left for conn_flush() on a
 * duplicate of fd, and counts as sent: the caller may close fd.
 */
int conn_sendfile(struct conn *c, int fd, off_t *off, uint64_t *left);

/* True when output written ahead still waits to be sent (conn_flush()). */
bool conn_pending(const struct conn *c);

/*
 * Lend c's pending output to its worker's loop, when the worker offers it
 * (conn_io lend): true when lent, and c->io->reclaim() must take it back
 * before the calling thread writes on c again. Never waits.
 */
bool conn_lend(struct conn *c);

/*
 * Send what output waits, never waiting. Returns 0 once everything went,
 * -2 when the socket is full (wait for it to be writable, call again), -1
 * when the peer is gone (the rest is dropped). Any thread, one at a time.
 */
int conn_flush(struct conn *c);

/*
 * Send what output waits, waiting for the socket (bounded by c->timeout_ms
 * each time). Returns 0, or -1 when the peer is gone or a wait timed out
 * (the rest is dropped). May wait.
 */
int conn_drain(struct conn *c);

/* Forget the output that waits (conn_close() does). Never waits. */
void conn_drop_output(struct conn *c);

/*
 * For a connection taken over by another protocol (a WebSocket): read what
 * the socket has into buf[len..), at most what the buffer has room for (a
 * new buffer, or more room, when it has none), waiting at most timeout_ms
 * (< 0: no limit) when nothing has come. Returns the bytes read, 0 at EOF,
 * -1 on an error or a timeout (errno ETIMEDOUT). May wait.
 */
ssize_t conn_read_some(struct conn *c, int timeout_ms);

/*
 * For a connection taken over by another protocol, between its messages:
 * give back what it does not need while it waits. The buffer shrinks to
 * its len bytes (the head, and what is not consumed yet) plus room bytes
 * for the next small message (larger ones grow it again, conn_read_some),
 * the header array to the fields the head has (slices stay valid: req is
 * rebased). Never waits.
 */
void conn_trim(struct conn *c, size_t room);

/*
 * For a connection taken over by another protocol, once nothing reads
 * its HTTP head any more (no access-log line to write): the head's bytes
 * and its header array go, and c->req is cleared (its slices would point
 * at nothing). Only with every byte past the head consumed: c->len
 * becomes 0. Never waits.
 */
void conn_drop_head(struct conn *c);

/*
 * The worker stops: wake the reader of an upgraded connection by shutting
 * down its reading side, so that it sees EOF with c->going_away set and
 * says its goodbye (a WebSocket: close 1001) instead of holding the stop
 * until the graceful timeout. Any thread; never waits.
 */
void conn_going_away(struct conn *c);

/*
 * Before closing after a protocol's own goodbye (a WebSocket close frame):
 * shut down writing and ask for a lingering close (c->linger), as
 * conn_refuse() does, so that unread input does not turn the close into a
 * reset that destroys the goodbye. conn_close() follows. Never waits.
 */
void conn_linger(struct conn *c);

/*
 * Answer `status` with a short plain-text body and Connection: close, shut
 * down writing and close the connection: with c->defer_close, c->linger then
 * asks the owner to finish the close in the background (conn_discard), so
 * the client reads the answer instead of a reset. May wait while writing.
 */
void conn_refuse(struct conn *c, int status);

/*
 * Close after a response. When request bytes are still unread, writing is
 * shut down first and c->linger set, as conn_refuse. Never waits.
 */
void conn_finish(struct conn *c);

/*
 * Read and discard what the client sent on fd (a socket whose writing is
 * shut down: a lingering close), never waiting, at most 64 KiB per call.
 * Returns -2 while more may come, 0 when the close may finish (EOF, an
 * error). Any thread.
 */
int conn_discard(int fd);

/*
 * A head that trickles in, up to this many bytes, waits in a buffer of
 * this size and without a header array (conn_shrink()).
 */
#define CONN_PARKED_HEAD 1024

/*
 * Before waiting for the next head: give the buffer and the header array
 * back (to spares kept per thread, which the next head of any connection
 * takes first), so an idle keep-alive connection costs little more than
 * its socket. With part of a head buffered (at most CONN_PARKED_HEAD
 * bytes), keep those in a buffer of that size and give the header array
 * back: a slow client costs about a kilobyte while it trickles, and the
 * head is parsed again from its start when more comes.
 */
void conn_shrink(struct conn *c);

/*
 * Close the socket and free the buffer. With c->defer_close, the socket is
 * done with (c->fd is -1) but its descriptor stays open until a conn_close()
 * without it: a thread serving a connection that an event loop watches
 * leaves the close to that loop, so the number cannot be given to a new
 * connection while the old one is still registered there, and the loop may
 * let the close linger (c->linger). Without it, closes at once.
 */
void conn_close(struct conn *c);

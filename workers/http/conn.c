/* conn — see conn.h. */
#include "workers/http/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/mem.h"
#include "workers/http/proxy.h"
#include "workers/http/response.h"
#include "workers/http/tls.h"

#define READ_CHUNK 16384 /* at most this much per recv(); also a new buffer's size */
#define DISCARD_TURN 65536 /* conn_discard() reads at most this much per call */
#define DRAIN_MAX 65536 /* unread body bytes drained to keep a connection */

/*
 * Read buffers and header arrays given back by connections going idle or
 * closing, kept per thread for the next head (mem.h): a keep-alive request
 * then costs no malloc() and no zeroing of a header array, and an idle
 * connection still holds neither.
 */
static __thread struct mem_spares spare_bufs, spare_headers;

static ssize_t body_read_socket(struct conn *c, char *out, size_t n);
static ssize_t fill(struct conn *c, size_t want, bool wait);
static ssize_t fill_within(struct conn *c, size_t want, bool wait, int timeout_ms);
static void set_peer(struct conn *c, const struct sockaddr *sa);
static int grow(struct conn *c, size_t need);
static int fill_body(struct conn *c, size_t want);
static ssize_t chunked_read(struct conn *c, char *out, size_t n);
static int send_continue(struct conn *c);
static void shut_writing(struct conn *c);
static int read_proxy(struct conn *c);
static int forwarded_scheme(struct conn *c);
static void casefold(char *s, size_t n);
static void release(struct conn *c);
static void free_spool(struct conn *c);
static int never_wait(struct conn *c, short events, int timeout_ms);

/* For reading in an event loop: a wait fails at once, with EAGAIN. */
static const struct conn_io nowait_io = {.wait = never_wait};

void conn_init(struct conn *c, int fd, const struct listener *l, const struct conn_io *io,
	       const struct http_limits *limits, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->deferred_fd = -1;
	c->listener = l;
	c->io = io;
	c->timeout_ms = timeout_ms;
	c->limits = *limits;
	c->out_file = -1;
	/* A head is at most the request line, every field line, and the CRLFs. */
	c->max_head = http_max_head(limits);
}

int conn_accept(struct conn *c, int lfd, const struct listener *l, const struct conn_io *io,
		const struct conn_policy *p)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	int one = 1;
	int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR)
			return 0;
		return -1;
	}
	if (p->nodelay && peer.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_init(c, fd, l, io, &p->limits, p->timeout_ms);
	set_peer(c, (struct sockaddr *)&peer);
	c->expect_proxy = p->proxy_versions != 0;
	c->proxy_versions = p->proxy_versions;
	c->proxy_trusted = allow_match(&p->proxy, c->peer_addr);
	c->forwarded_trusted = allow_match(&p->forwarded, c->peer_addr);
	c->limits.forwarders = c->forwarded_trusted ? p->limits.forwarders : NULL;
	c->out_mem = p->out_mem;
	c->out_max = p->out_max;
	c->secure = p->secure;
	c->nsecure = p->nsecure;
	c->casefold_method = p->casefold_method;
	if (p->tls && tls_attach(c, p->tls) < 0) {
		conn_close(c);
		errno = ENOMEM;
		return -1;
	}
	return 1;
}

int conn_poll_head(struct conn *c)
{
	if (!c->head_started) {
		if (!c->headers)
			c->headers =
			    mem_spare_take(&spare_headers, c->limits.fields * sizeof(*c->headers));
		http_request_init(&c->req, c->headers, c->limits.fields);
		c->head_started = true;
	}
	if (c->ssl && !c->tls_ready) {
		int rc = c->expect_proxy && !c->tls_started ? tls_read_proxy(c) : 1;

		if (rc == 1 && c->len > 0 && (rc = read_proxy(c)) < 0)
			c->error_status = 0; /* before TLS there is nothing to answer in */
		if (rc == 1)
			rc = tls_handshake(c);
		if (rc != 1)
			return rc;
	}
	for (;;) {
		size_t want;
		ssize_t n;

		if (c->len > 0 && c->expect_proxy) {
			int rc = read_proxy(c);
			if (rc < 0)
				return -1;
			if (rc == 0)
				goto more;
		}
		if (c->len > 0) {
			ssize_t r = http_parse_request(&c->req, c->buf, c->len, &c->limits);
			if (r > 0) {
				if (c->casefold_method)
					casefold(c->buf + (c->req.method - c->buf), c->req.method_len);
				if (c->req.folded)
					http_request_unfold(&c->req, c->buf);
				c->head_len = (size_t)r;
				c->raw = c->ready = c->ready_end = (size_t)r;
				c->body_left = c->req.body == HTTP_BODY_LENGTH ? c->req.content_length : 0;
				c->body_done = c->req.body == HTTP_BODY_NONE;
				http_chunked_init(&c->chunked);
				c->https = c->ssl != NULL;
				return forwarded_scheme(c);
			}
			if (r == HTTP_PARSE_ERROR) {
				c->error_status = c->req.status ? c->req.status : 400;
				c->error = c->req.error;
				return -1;
			}
			if (c->len >= c->max_head) {
				c->error_status = 431;
				c->error = "request head too large";
				return -1;
			}
		}
more:
		if (c->drained) {
			/* Reading now would most likely find nothing: wait first. */
			c->drained = false;
			return -2;
		}
		/* Up to READ_CHUNK in all, at first: a small buffer is not doubled past it. */
		want = c->max_head - c->len;
		if (c->len < READ_CHUNK && want > READ_CHUNK - c->len)
			want = READ_CHUNK - c->len;
		n = fill(c, want, false);
		if (n == -2)
			return -2;
		if (n <= 0) {
			c->error_status = 0;
			return c->len == 0 ? 0 : -1;
		}
	}
}

int conn_read_head(struct conn *c)
{
	int rc;

	while ((rc = conn_poll_head(c)) == -2) {
		if (c->io->wait(c, conn_read_wants(c), c->timeout_ms) < 0)
			return c->len == 0 ? 0 : -1;
	}
	return rc;
}

bool conn_reusable(const struct conn *c)
{
	if (c->req.close_after || c->error_status)
		return false;
	/* The client waits for "100 Continue" before sending a body the app
	 * never asked for: whether it sends it anyway cannot be known. */
	if (c->req.expect_continue && !c->continue_sent && !c->body_done)
		return false;
	/* What the app left of the body is drained, if that is little. */
	if (!c->body_done && c->req.body == HTTP_BODY_LENGTH) {
		size_t buffered = c->len - c->raw;
		if (buffered > c->body_left)
			buffered = (size_t)c->body_left;
		if (c->body_left - buffered > DRAIN_MAX)
			return false;
	}
	return true;
}

int conn_poll_body(struct conn *c, size_t mem_max, uint64_t max)
{
	const struct conn_io *io = c->io;
	char tmp[READ_CHUNK];
	int rc;

	if (!c->spool) {
		c->spool = mem_alloc(sizeof(*c->spool));
		spool_init(c->spool, mem_max);
	}
	c->io = &nowait_io;
	for (;;) {
		uint64_t room = max - spool_size(c->spool);
		ssize_t r = body_read_socket(c, tmp, room < READ_CHUNK ? (size_t)room : READ_CHUNK);

		if (r > 0 && spool_write(c->spool, tmp, (size_t)r) == 0)
			continue;
		if (r > 0) {
			c->error_status = 500;
			c->error = "cannot buffer the request body (temporary file)";
			rc = -1;
		} else if (r == 0) /* the end, or max bytes kept */
			rc = 1;
		else if (r < 0 && c->error_status == 0 && errno == EAGAIN)
			rc = -2;
		else
			rc = -1;
		break;
	}
	c->io = io;
	return rc;
}

int conn_next_request(struct conn *c)
{
	char sink[4096];
	size_t left;

	if (!conn_reusable(c))
		return -1;
	for (size_t drained = 0; !c->body_done;) {
		ssize_t r = conn_body_read(c, sink, sizeof(sink));
		if (r < 0 || (drained += (size_t)r) > DRAIN_MAX)
			return -1;
		if (r == 0)
			break;
	}
	/* Keep the bytes that follow (pipelined requests), at the start. */
	left = c->len - c->raw;
	memmove(c->buf, c->buf + c->raw, left);
	c->len = left;
	c->raw = c->ready = c->ready_end = c->head_len = 0;
	c->body_left = c->body_read = 0;
	c->body_done = c->continue_sent = c->head_started = c->https = false;
	c->error_status = 0;
	c->error = NULL;
	free_spool(c);
	return 0;
}

ssize_t conn_body_read(struct conn *c, char *out, size_t n)
{
	/* What was read ahead comes first; the rest, if any, from the socket. */
	if (c->spool && (c->body_done || spool_size(c->spool) > 0)) {
		ssize_t r = spool_read(c->spool, out, n);
		if (r < 0)
			c->error_status = 0; /* an I/O error, as a socket's */
		return r;
	}
	return body_read_socket(c, out, n);
}

/* conn_body_read() from the read buffer and the socket. */
static ssize_t body_read_socket(struct conn *c, char *out, size_t n)
{
	if (n == 0 || c->body_done)
		return 0;
	if (c->req.expect_continue && c->req.version_minor >= 1 && !c->continue_sent &&
	    send_continue(c) < 0)
		return -1;
	if (c->req.body == HTTP_BODY_CHUNKED)
		return chunked_read(c, out, n);

	if (n > c->body_left)
		n = (size_t)c->body_left;
	if (c->raw == c->len) {
		/* Reuse the space after the head; the head itself stays: the
		 * request's fields point into it while the app runs. */
		c->raw = c->len = c->head_len;
		if (fill_body(c, n < READ_CHUNK ? READ_CHUNK : n) < 0)
			return -1;
	}
	if (n > c->len - c->raw)
		n = c->len - c->raw;
	memcpy(out, c->buf + c->raw, n);
	c->raw += n;
	c->body_left -= n;
	c->body_read += n;
	c->body_done = c->body_left == 0;
	return (ssize_t)n;
}

ssize_t conn_read_some(struct conn *c, int timeout_ms)
{
	return fill_within(c, c->cap > c->len ? c->cap - c->len : READ_CHUNK, true, timeout_ms);
}

void conn_trim(struct conn *c, size_t room)
{
	/*
	 * Copied into new blocks rather than shrunk in place: a realloc()
	 * that shrinks leaves a hole the next 16 KiB buffer does not fit, and
	 * the heap grows by that much for each WebSocket. The old blocks go
	 * to the spares, for the next connection's head.
	 */
	if (c->headers && !c->headers_trimmed) {
		size_t n = c->req.num_headers ? c->req.num_headers : 1;
		struct http_header *h = mem_alloc(n * sizeof(*h));

		memcpy(h, c->headers, c->req.num_headers * sizeof(*h));
		mem_spare_give(&spare_headers, c->headers, c->limits.fields * sizeof(*c->headers));
		c->req.headers = c->headers = h;
		c->req.max_headers = n;
		c->headers_trimmed = true;
	}
	if (c->buf && c->cap > c->len + room) {
		char *b = mem_alloc(c->len + room);

		memcpy(b, c->buf, c->len);
		if (c->cap == READ_CHUNK)
			mem_spare_give(&spare_bufs, c->buf, c->cap);
		else
			free(c->buf);
		c->buf = b;
		c->cap = c->len + room;
		if (c->head_len > 0)
			http_request_rebase(&c->req, c->buf);
	}
}

void conn_drop_head(struct conn *c)
{
	if (c->headers_trimmed)
		free(c->headers);
	else
		mem_spare_give(&spare_headers, c->headers, c->limits.fields * sizeof(*c->headers));
	c->headers = NULL;
	c->headers_trimmed = true; /* nothing left to trim */
	memset(&c->req, 0, sizeof(c->req));
	c->len = c->head_len = c->raw = c->ready = c->ready_end = 0;
}

void conn_going_away(struct conn *c)
{
	__atomic_store_n(&c->going_away, true, __ATOMIC_RELEASE);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RD);
}

void conn_linger(struct conn *c)
{
	if (c->fd >= 0)
		shut_writing(c);
}

void conn_refuse(struct conn *c, int status)
{
	char head[256];
	/* Plain HTTP on the TLS port: nginx's words, in plain text. */
	const char *reason = http_reason(status);
	const char *text = c->plain_on_tls ? c->error : reason;
	int body = (int)strlen(text) + 1;
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
			  "Content-Length: %d\r\n%s\r\n%s\n",
			  status, reason, body, response_date(), text);
	struct iovec iov = {head, (size_t)hl};

	if (conn_writev(c, &iov, 1) == 0)
		shut_writing(c);
	conn_close(c);
}

void conn_finish(struct conn *c)
{
	bool unread = !c->body_done || c->raw < c->len;

	if (unread)
		shut_writing(c);
	conn_close(c);
}

int conn_discard(int fd)
{
	char sink[16384];

	for (size_t n = 0; n < DISCARD_TURN;) {
		ssize_t r = recv(fd, sink, sizeof(sink), 0);

		if (r > 0)
			n += (size_t)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			return r < 0 && errno == EAGAIN ? -2 : 0;
	}
	return -2;
}

bool conn_idle(const struct conn *c)
{
	if (c->ssl && c->tls_started && !c->tls_ready)
		return false; /* in a handshake: it counts as a head */
	if (c->len % 2)
		return false;
	for (size_t i = 0; i < c->len; i += 2)
		if (c->buf[i] != '\r' || c->buf[i + 1] != '\n')
			return false;
	return true;
}

short conn_read_wants(const struct conn *c)
{
	return c->ssl ? c->tls_wants : POLLIN;
}

void conn_shrink(struct conn *c)
{
	if (c->len == 0) {
		release(c);
	} else if (c->head_len == 0 && c->len <= CONN_PARKED_HEAD) {
		mem_spare_give(&spare_headers, c->headers, c->limits.fields * sizeof(*c->headers));
		c->headers = NULL;
		if (c->cap > CONN_PARKED_HEAD) {
			/* Shrunk in place, unlike conn_trim(): the hole is used by the
			 * next connections' small blocks. Copying measured no better
			 * (2,000 parked heads, 1.9 KiB each either way) and kept
			 * 1.3 MiB more after they left on greenlet. */
			c->buf = mem_realloc(c->buf, CONN_PARKED_HEAD);
			c->cap = CONN_PARKED_HEAD;
		}
	} else {
		return;
	}
	c->head_started = false; /* the request struct pointed into the array given back */
}

void conn_close(struct conn *c)
{
	int fd = c->fd >= 0 ? c->fd : c->deferred_fd;

	if (c->ssl) {
		if (c->fd >= 0)
			tls_shutdown(c);
		tls_free(c);
	}
	if (fd >= 0 && c->defer_close) {
		c->deferred_fd = fd;
	} else if (fd >= 0) {
		close(fd);
		c->deferred_fd = -1;
		c->linger = false;
	}
	c->fd = -1;
	release(c);
	c->len = 0;
}

/*
 * Read once into buf[len..), at most `want` bytes, waiting if `wait`.
 * Returns bytes read, 0 at EOF, -1 on error or timeout, -2 when it would
 * wait and must not.
 */
static ssize_t fill(struct conn *c, size_t want, bool wait)
{
	return fill_within(c, want, wait, c->timeout_ms);
}

/* fill(), a wait bounded by timeout_ms (< 0: none) instead of c->timeout_ms. */
static ssize_t fill_within(struct conn *c, size_t want, bool wait, int timeout_ms)
{
	if (want > READ_CHUNK)
		want = READ_CHUNK;
	if (want == 0)
		want = 1;
	if (grow(c, c->len + want) < 0)
		return -1;
	for (;;) {
		ssize_t r = c->ssl ? tls_recv(c, c->buf + c->len, want)
				   : recv(c->fd, c->buf + c->len, want, 0);

		if (r > 0) {
			c->len += (size_t)r;
			/* OpenSSL may hold more than the socket announces. */
			c->drained = (size_t)r < want && !(c->ssl && tls_pending(c));
			return r;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && !wait)
			return -2;
		if (errno == EAGAIN && c->io->wait(c, conn_read_wants(c), timeout_ms) == 0)
			continue;
		return -1;
	}
}

/*
 * fill() for body bytes: the client closing before the body is complete is
 * a bad request (400: it may still read the answer); an I/O error or a
 * timeout just ends the connection.
 */
static int fill_body(struct conn *c, size_t want)
{
	ssize_t r = fill(c, want, true);

	if (r == 0) {
		c->error_status = 400;
		c->error = "the client closed before the end of the request body";
	}
	return r > 0 ? 0 : -1;
}

int conn_reserve(struct conn *c, size_t need)
{
	return grow(c, need);
}

static int grow(struct conn *c, size_t need)
{
	size_t cap = c->cap ? c->cap : READ_CHUNK;

	if (c->buf && need <= c->cap)
		return 0;
	if (!c->buf && need <= READ_CHUNK) {
		c->buf = mem_spare_take(&spare_bufs, READ_CHUNK);
		c->cap = READ_CHUNK;
		return 0;
	}
	while (cap < need)
		cap *= 2;
	char *old = c->buf;
	c->buf = mem_realloc(c->buf, cap);
	c->cap = cap;
	if (old && c->buf != old && c->head_len > 0)
		http_request_rebase(&c->req, c->buf);
	return 0;
}

/*
 * Chunked bodies are decoded in place: raw bytes at buf[raw..len) become
 * decoded bytes at buf[ready..ready_end), always before what is still raw.
 */
static ssize_t chunked_read(struct conn *c, char *out, size_t n)
{
	for (;;) {
		if (c->ready < c->ready_end) {
			size_t k = c->ready_end - c->ready;
			if (k > n)
				k = n;
			memcpy(out, c->buf + c->ready, k);
			c->ready += k;
			c->body_read += k;
			return (ssize_t)k;
		}
		if (c->chunked.done) {
			c->body_done = true;
			return 0;
		}
		if (c->raw < c->len) {
			size_t dec = 0;
			ssize_t used = http_chunked_decode(&c->chunked, c->buf + c->raw, c->len - c->raw,
							   &dec, &c->limits);
			if (used < 0) {
				c->error_status = c->chunked.status ? c->chunked.status : 400;
				c->error = c->chunked.error;
				return -1;
			}
			c->ready = c->raw;
			c->ready_end = c->raw + dec;
			c->raw += (size_t)used;
			if (used > 0)
				continue;
		}
		/* Need more raw bytes: drop what is consumed (but never the
		 * head, which the request points into), then read. */
		memmove(c->buf + c->head_len, c->buf + c->raw, c->len - c->raw);
		c->len = c->head_len + (c->len - c->raw);
		c->raw = c->ready = c->ready_end = c->head_len;
		if (fill_body(c, READ_CHUNK) < 0)
			return -1;
	}
}

static int send_continue(struct conn *c)
{
	static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct iovec iov = {(void *)msg, sizeof(msg) - 1};

	c->continue_sent = true;
	return conn_writev(c, &iov, 1);
}

/*
 * The answer is out and the client may still be sending: shut down writing
 * (the client sees the end of the answer) and ask for a lingering close.
 */
static void shut_writing(struct conn *c)
{
	if (conn_drain(c) < 0)
		return;
	if (c->ssl)
		tls_shutdown(c);
	c->linger = shutdown(c->fd, SHUT_WR) == 0;
}

/*
 * An optional PROXY v1/v2 header before the first request: take the
 * client's address from it and drop it from the buffer. Returns 1 when
 * settled (header used, or none present), 0 when more bytes are needed,
 * -1 to refuse (a bad header: 400; an untrusted sender: 403).
 */
static int read_proxy(struct conn *c)
{
	struct http_proxy px;
	ssize_t n = http_proxy_parse(&px, c->buf, c->len);

	if (n == HTTP_PARSE_AGAIN)
		return 0;
	if (n == HTTP_PARSE_ERROR) {
		c->error_status = 400;
		c->error = "invalid PROXY protocol header";
		return -1;
	}
	c->expect_proxy = false; /* only at the start of a connection */
	if (n == 0)
		return 1;
	/* v1 is text ("PROXY "), v2 binary (it starts with "\r\n"). */
	if (!(c->proxy_versions & (c->buf[0] == 'P' ? 1 : 2))) {
		c->error_status = 400;
		c->error = c->buf[0] == 'P' ? "PROXY protocol v1 header, but --proxy-protocol v2"
					    : "PROXY protocol v2 header, but --proxy-protocol v1";
		return -1;
	}
	if (!c->proxy_trusted) {
		c->error_status = 403;
		c->error = "PROXY header from a peer not in --proxy-allow-from";
		return -1;
	}
	if (px.family == AF_INET || px.family == AF_INET6) {
		snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", px.src_addr);
		snprintf(c->peer_port, sizeof(c->peer_port), "%u", px.src_port);
	}
	memmove(c->buf, c->buf + n, c->len - (size_t)n);
	c->len -= (size_t)n;
	return 1;
}

/*
 * wsgi.url_scheme from a trusted front-end's secure_scheme_headers (by
 * default Gunicorn's: X-Forwarded-Proto "https", X-Forwarded-Protocol "ssl",
 * X-Forwarded-Ssl "on"; names and values without regard to case). Headers
 * that disagree are refused (400). Returns 1, or -1 to refuse.
 */
static int forwarded_scheme(struct conn *c)
{
	int verdict = -1; /* -1 unknown, 0 http, 1 https */

	if (!c->forwarded_trusted)
		return 1;
	for (size_t i = 0; i < c->req.num_headers; i++) {
		const struct http_header *h = &c->req.headers[i];
		for (size_t k = 0; k < c->nsecure; k++) {
			const struct conn_scheme *s = &c->secure[k];
			if (h->name_len != s->name_len ||
			    strncasecmp(h->name, s->name, h->name_len) != 0)
				continue;
			int https = h->value_len == s->value_len &&
				    strncasecmp(h->value, s->value, s->value_len) == 0;
			if (verdict >= 0 && verdict != https) {
				c->error_status = 400;
				c->error = "contradictory scheme headers";
				return -1;
			}
			verdict = https;
		}
	}
	if (verdict >= 0)
		c->https = verdict == 1;
	return 1;
}

/* --casefold-http-method: the method (a token, ASCII) in uppercase, in place in c->buf. */
static void casefold(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
}

/* REMOTE_ADDR and REMOTE_PORT from accept(). */
static void set_peer(struct conn *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, c->peer_addr, sizeof(c->peer_addr));
		snprintf(c->peer_port, sizeof(c->peer_port), "%u", ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_addr, sizeof(c->peer_addr));
		snprintf(c->peer_port, sizeof(c->peer_port), "%u", ntohs(in6->sin6_port));
	} else {
		c->peer_addr[0] = c->peer_port[0] = '\0';
	}
}

/* Give the buffer and the header array back (to the spares, or free them). */
static void release(struct conn *c)
{
	/* Only READ_CHUNK buffers are kept: one of another size given back
	 * to empty spares would make every block kept that size. */
	if (c->cap == READ_CHUNK)
		mem_spare_give(&spare_bufs, c->buf, c->cap);
	else
		free(c->buf);
	if (c->headers_trimmed)
		free(c->headers);
	else
		mem_spare_give(&spare_headers, c->headers, c->limits.fields * sizeof(*c->headers));
	c->buf = NULL;
	c->headers = NULL;
	c->headers_trimmed = false;
	c->cap = 0;
	free_spool(c);
	conn_drop_output(c);
}

static void free_spool(struct conn *c)
{
	if (c->spool) {
		spool_free(c->spool);
		free(c->spool);
		c->spool = NULL;
	}
}

static int never_wait(struct conn *c, short events, int timeout_ms)
{
	errno = EAGAIN;
	return -1;
}

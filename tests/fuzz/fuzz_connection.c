/*
 * fuzz_connection — libFuzzer target for a whole client connection:
 * workers/http/conn.c (reading heads and bodies, 100-continue, keep-alive,
 * refusals, lingering close) and response.c, over parser.c, with a C stub in
 * place of the WSGI application. No Python.
 *
 * Input: four control bytes, then the bytes the client sends.
 *   [0] limits (0x01: the defaults; else small ones, as fuzz_parser)
 *   [1] how the stream is cut into writes: low nibble 0 means one write,
 *       k > 0 writes of 1..2^(k-1) bytes drawn from a generator seeded by the
 *       input; the client writes one more piece each time kirin waits for input.
 *       Bits 4-5: the PROXY versions accepted (--proxy-protocol): 0 auto
 *       (both), 1 v1, 2 v2, 3 auto. Bits 6-7: with X-Forwarded-* trusted,
 *       the forwarder_headers list: none, Gunicorn's default, "*", a custom one
 *   [2] seed for the stub app's choices (how much of a body it reads and in
 *       what sizes, status, headers, framing of its answer)
 *   [3] flags: 0x01 PROXY header expected, 0x02 its sender trusted,
 *       0x04 X-Forwarded-* trusted, 0x08 conn_shrink() between requests,
 *       0x10 keep-alive off (as a stopping worker); flags >> 5 = k > 0
 *       sets a body limit of 2^(3k) bytes (with the default limits)
 *
 * kirin's side of a socketpair runs as a keep-alive worker would: read a
 * head, let the stub answer, conn_next_request(), until the client is done;
 * refused heads get conn_refuse(). The same stream is parsed independently
 * (proxy header, each head, each body, decoded one byte at a time), and the
 * connection must agree with it: the heads it returns, the body bytes it
 * delivers (never past a Content-Length or the body limit), its refusals and
 * their statuses, and after conn_next_request() its buffer must hold exactly
 * the stream's next unconsumed bytes. Any disagreement aborts.
 *
 * The stub takes a copy of the head before it reads the body, because a body
 * read may reuse or move the buffer that c->req points into. With
 * FUZZ_REQ_AFTER_BODY set in the environment it reads c->req after the body
 * instead, as wsgi.c's start_response() and the access log do, and checks
 * that the head is still intact.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/chunked.h"
#include "workers/http/conn.h"
#include "workers/http/parser.h"
#include "workers/http/proxy.h"
#include "workers/http/response.h"

#define CTL_BYTES 4
#define WAIT_MS   50      /* one wait() never blocks longer */
#define OUT_MAX   (1 << 18) /* bytes of kirin's answers kept for checks */

#define F_PROXY         0x01
#define F_PROXY_TRUSTED 0x02
#define F_FORWARDED     0x04
#define F_SHRINK        0x08
#define F_NO_KEEPALIVE  0x10

/* The client: feeds the stream piece by piece and reads kirin's answers. */
struct peer {
	int fd;
	const uint8_t *data;
	size_t size;
	size_t fed;       /* stream bytes written so far */
	bool shut;        /* writing shut down (all fed, or kirin is gone) */
	uint32_t seed;
	size_t max_piece; /* 0: everything in one write */
	char *out;        /* kirin's answers, the first OUT_MAX bytes */
	size_t out_len;
};

/* The independent view of the stream: where the current request starts. */
struct oracle {
	const uint8_t *s;
	size_t n;
	size_t pos;
	struct http_header *headers;
	size_t fields;
	const struct http_limits *lim;
};

/* One body as the oracle decodes it from the stream. */
struct body_view {
	char *bytes;    /* decoded body (a prefix when incomplete or bad) */
	size_t len;
	size_t raw;     /* raw bytes it spans in the stream, when complete */
	bool complete;  /* the whole body is in the stream */
	int status;     /* framing error the decoder reports (0: none) */
};

/* The request head as the app sees it, in its own memory. */
struct head_copy {
	struct http_request req;
	struct http_header *headers;
	char *bytes;
};

enum app_result { APP_KEEP, APP_FINISH, APP_CLOSED };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what);
static uint32_t next(uint32_t *seed);
static void feed(struct peer *p);
static void drain(struct peer *p);
static int peer_wait(struct conn *c, short events, int timeout_ms);
static void check_buffer(const struct conn *c, const struct oracle *o);
static void view_body(const struct oracle *o, const struct http_request *req, size_t head_len,
		      struct body_view *v);
static enum app_result app(struct conn *c, const struct body_view *v, uint32_t *seed, bool keep);
static ssize_t read_body(struct conn *c, const struct body_view *v, uint32_t *seed, char *got,
			 size_t *got_len);
static enum app_result respond(struct conn *c, const struct http_request *req, uint32_t *seed,
			       bool keep, const char *body, size_t body_len);
static void copy_head(const struct conn *c, struct head_copy *h);
static const char *moved(const char *p, const struct conn *c, const char *to);
static void check_head_intact(const struct conn *c, const struct head_copy *h);
static void check_head(const struct response *r);
static void serve(struct conn *c, struct oracle *o, uint8_t flags, uint32_t app_seed);

static struct peer P; /* wait() gets only the conn */
static bool req_after_body; /* FUZZ_REQ_AFTER_BODY */

static const struct conn_io io = {.wait = peer_wait};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_connection: %s\n", what);
		abort();
	}
}

static uint32_t next(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* Write the next piece of the stream (never blocks); shut down when all is written. */
static void feed(struct peer *p)
{
	if (p->shut)
		return;
	if (p->fed < p->size) {
		size_t k = p->size - p->fed;
		ssize_t w;

		if (p->max_piece) {
			size_t piece = 1 + next(&p->seed) % p->max_piece;
			if (piece < k)
				k = piece;
		}
		w = send(p->fd, p->data + p->fed, k, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0)
			p->fed += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			p->shut = true; /* kirin closed its side */
	}
	if (p->fed == p->size && !p->shut) {
		shutdown(p->fd, SHUT_WR);
		p->shut = true;
	}
}

/* Read whatever kirin has sent, so its writes never block for long. */
static void drain(struct peer *p)
{
	char sink[16384];

	for (;;) {
		ssize_t r = recv(p->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		if (p->out_len < OUT_MAX) {
			size_t k = (size_t)r;
			if (k > OUT_MAX - p->out_len)
				k = OUT_MAX - p->out_len;
			memcpy(p->out + p->out_len, sink, k);
			p->out_len += k;
		}
	}
}

/* conn_io.wait: the client acts (one more piece, read answers), then poll() briefly. */
static int peer_wait(struct conn *c, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};
	int rc;

	if (events & POLLIN)
		feed(&P);
	drain(&P);
	if (timeout_ms < 0 || timeout_ms > WAIT_MS)
		timeout_ms = WAIT_MS;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}

/* c's buffer must hold the stream's bytes from the oracle's position, no more than were sent. */
static void check_buffer(const struct conn *c, const struct oracle *o)
{
	if (c->len == 0)
		return;
	check(o->pos + c->len <= P.fed, "buffer holds bytes the client never sent");
	check(memcmp(c->buf, o->s + o->pos, c->len) == 0,
	      "buffer does not hold the stream's next bytes");
}

/* Decode the body that follows a head at o->pos, as the stream has it. */
static void view_body(const struct oracle *o, const struct http_request *req, size_t head_len,
		      struct body_view *v)
{
	const uint8_t *b = o->s + o->pos + head_len;
	size_t avail = o->n - o->pos - head_len;

	memset(v, 0, sizeof(*v));
	v->bytes = malloc(avail + 1);
	check(v->bytes != NULL, "malloc");
	if (req->body == HTTP_BODY_NONE) {
		v->complete = true;
	} else if (req->body == HTTP_BODY_LENGTH) {
		v->len = req->content_length < avail ? (size_t)req->content_length : avail;
		memcpy(v->bytes, b, v->len);
		v->complete = req->content_length <= avail;
		v->raw = v->len;
	} else {
		/* one byte at a time: the bytes decoded before any error are exact */
		struct http_chunked dec;

		http_chunked_init(&dec);
		for (size_t i = 0; i < avail && !dec.done; i++) {
			char byte = (char)b[i];
			size_t out = 0;
			ssize_t used = http_chunked_decode(&dec, &byte, 1, &out, o->lim);

			if (used < 0) {
				v->status = dec.status ? dec.status : 400;
				return;
			}
			check(out <= 1, "decoder output out of range");
			if (out)
				v->bytes[v->len++] = byte;
			if (used == 1)
				v->raw = i + 1;
		}
		v->complete = dec.done;
	}
}

/*
 * The stub application: read the body (all, part or none of it), answer
 * with the body echoed. Returns whether the connection may be kept, must be
 * finished, or was closed by a refusal.
 */
static enum app_result app(struct conn *c, const struct body_view *v, uint32_t *seed, bool keep)
{
	char *got = malloc(v->len + 1);
	size_t got_len = 0;
	enum app_result res = APP_CLOSED;
	struct head_copy h;
	const struct http_request *req;
	ssize_t r;

	check(got != NULL, "malloc");
	check(c->error_status == 0 && c->req.status == 0, "a refused request reached the app");
	copy_head(c, &h);
	r = read_body(c, v, seed, got, &got_len);
	if (r < 0) {
		/* the app's read raised: wsgi answers the framing error, else 500 */
		conn_refuse(c, c->error_status ? c->error_status : 500);
		goto out;
	}
	if (req_after_body)
		check_head_intact(c, &h);
	req = req_after_body ? &c->req : &h.req;
	res = respond(c, req, seed, keep, got_len ? got : req->target,
		      got_len ? got_len : req->target_len);
out:
	free(got);
	free(h.headers);
	free(h.bytes);
	return res;
}

/* Copy c's request head (the slices into c->buf moved into the copy). */
static void copy_head(const struct conn *c, struct head_copy *h)
{
	size_t n = c->req.num_headers;

	h->req = c->req;
	h->bytes = malloc(c->head_len + 1);
	h->headers = malloc((n ? n : 1) * sizeof(*h->headers));
	check(h->bytes && h->headers, "malloc");
	memcpy(h->bytes, c->buf, c->head_len);
	h->req.method = moved(c->req.method, c, h->bytes);
	h->req.target = moved(c->req.target, c, h->bytes);
	h->req.path = moved(c->req.path, c, h->bytes);
	h->req.query = moved(c->req.query, c, h->bytes);
	h->req.host = moved(c->req.host, c, h->bytes);
	for (size_t i = 0; i < n; i++) {
		h->headers[i] = c->req.headers[i];
		h->headers[i].name = moved(c->req.headers[i].name, c, h->bytes);
		h->headers[i].value = moved(c->req.headers[i].value, c, h->bytes);
	}
	h->req.headers = h->headers;
}

static const char *moved(const char *p, const struct conn *c, const char *to)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)c->buf;

	return p && a >= b && a < b + c->head_len ? to + (a - b) : p;
}

/* After the body is read, c->req must still describe the same head. */
static void check_head_intact(const struct conn *c, const struct head_copy *h)
{
	const struct http_request *a = &c->req, *b = &h->req;

	check(memcmp(a->method, b->method, b->method_len) == 0 &&
		      memcmp(a->target, b->target, b->target_len) == 0 &&
		      memcmp(a->path, b->path, b->path_len) == 0,
	      "reading the body clobbered the request head (method, target, path)");
	for (size_t i = 0; i < b->num_headers; i++)
		check(memcmp(a->headers[i].name, b->headers[i].name, b->headers[i].name_len) == 0 &&
			      memcmp(a->headers[i].value, b->headers[i].value,
				     b->headers[i].value_len) == 0,
		      "reading the body clobbered the request headers");
}

/* Read some of the body into got; returns 0, or -1 when a read failed. */
static ssize_t read_body(struct conn *c, const struct body_view *v, uint32_t *seed, char *got,
			 size_t *got_len)
{
	static const size_t sizes[] = {1, 2, 7, 64, 1000, 4096, 65536};
	static char scratch[65536];
	uint32_t mode = next(seed) % 4;
	size_t want = mode == 2 ? 0 : mode == 3 ? next(seed) % 300 : SIZE_MAX;

	while (*got_len < want) {
		size_t k = sizes[next(seed) % (sizeof(sizes) / sizeof(sizes[0]))];
		ssize_t r;

		if (k > want - *got_len)
			k = want - *got_len;
		r = conn_body_read(c, scratch, k);
		check(r >= -1 && r <= (ssize_t)k, "conn_body_read result out of range");
		if (r < 0) {
			check(!v->complete || v->status, "a sound body failed to read");
			check(c->error_status != 0, "body read failed without a status");
			check(c->error_status == (v->status ? v->status : 400),
			      "body refused with the wrong status");
			return -1;
		}
		if (r == 0) {
			check(c->body_done, "end of body before it is done");
			check(v->complete && *got_len == v->len, "body ended early");
			if (c->req.body == HTTP_BODY_LENGTH)
				check(*got_len == c->req.content_length,
				      "body shorter than Content-Length");
			break;
		}
		check(*got_len + (size_t)r <= v->len, "more body bytes than the stream holds");
		check(memcmp(scratch, v->bytes + *got_len, (size_t)r) == 0, "body bytes differ");
		memcpy(got + *got_len, scratch, (size_t)r);
		*got_len += (size_t)r;
		check(c->body_read == *got_len, "body_read miscounted");
		if (c->req.body == HTTP_BODY_LENGTH)
			check(*got_len <= c->req.content_length, "body past Content-Length");
		check(c->limits.body == 0 || *got_len <= c->limits.body, "body past the limit");
	}
	return 0;
}

/* Answer as a WSGI app would through kirin's writer; returns the connection's fate. */
static enum app_result respond(struct conn *c, const struct http_request *req, uint32_t *seed,
			       bool keep, const char *body, size_t body_len)
{
	static const char *const status[] = {"200 OK", "200", "201 Created", "204 No Content",
					     "304 Not Modified", "404 Not Found", "418",
					     "500 Internal Server Error", "299 Odd\treason"};
	struct response r = {0};
	struct iovec iov[4];
	const char *s = status[next(seed) % (sizeof(status) / sizeof(status[0]))];
	bool head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
	bool broken = false;
	uint32_t how = next(seed);
	size_t first = body_len ? next(seed) % (body_len + 1) : 0;
	char len[32];
	int n = 0, used;
	size_t tl;
	const char *t;

	check(response_begin(&r, s, strlen(s), req->version_minor, head, keep && req->keep_alive) ==
		      0,
	      "valid status line refused");
	check(response_add_header(&r, "Content-Type", 12, "text/plain", 10) == 0, "header refused");
	if (how & 1) {
		/* sometimes one byte too many: the answer is cut and the connection not kept */
		snprintf(len, sizeof(len), "%zu", body_len + ((how & 6) == 6));
		check(response_add_header(&r, "Content-Length", 14, len, strlen(len)) == 0,
		      "Content-Length refused");
	}
	if (how & 8)
		check(response_add_header(&r, "Connection", 10, " close ", 7) == 0,
		      "header refused");
	for (size_t i = 0; i < req->num_headers && i < ((how >> 4) & 3); i++) {
		size_t k = (i * 7 + (how >> 6)) % req->num_headers;
		const struct http_header *h = &req->headers[k];
		if (response_add_header(&r, h->name, h->name_len, h->value, h->value_len) < 0) {
			/* the app's error (a conflicting Content-Length): 500 */
			response_free(&r);
			conn_refuse(c, 500);
			return APP_CLOSED;
		}
	}
	response_end_head(&r, (how & 0x100) ? (int64_t)body_len : -1);
	check_head(&r);

	iov[n++] = (struct iovec){r.head, r.head_len};
	used = response_body_iov(&r, body, first, iov + n);
	check(used >= 0 && used <= 3, "response_body_iov result out of range");
	n += used;
	broken = conn_writev(c, iov, n) < 0;
	if (!broken) {
		used = response_body_iov(&r, body + first, body_len - first, iov);
		broken = used > 0 && conn_writev(c, iov, used) < 0;
	}
	check(!r.no_body || r.body_sent == 0, "a body after HEAD, 1xx, 204 or 304");
	check(!r.has_length || r.body_sent <= r.length, "more body than Content-Length");
	t = response_trailer(&r, &tl);
	check(r.chunked == (t != NULL), "trailer without chunked framing");
	if (t && !broken) {
		iov[0] = (struct iovec){(void *)t, tl};
		broken = conn_writev(c, iov, 1) < 0;
	}
	check(!broken, "writing to a client that reads failed");
	keep = !broken && response_reusable(&r) && c->error_status == 0;
	if (keep)
		check(r.keep_alive && req->keep_alive, "kept a connection that must close");
	response_free(&r);
	drain(&P);
	return keep ? APP_KEEP : APP_FINISH;
}

/* A response head: lines ending in CRLF, no bare CR or LF, one blank line at the end. */
static void check_head(const struct response *r)
{
	const char *h = r->head;
	size_t n = r->head_len;

	check(n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0, "head does not end with CRLF CRLF");
	check(memcmp(h, "HTTP/1.", 7) == 0, "head does not start with a status line");
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '\r')
			check(i + 1 < n && h[i + 1] == '\n', "bare CR in the response head");
		if (h[i] == '\n')
			check(i > 0 && h[i - 1] == '\r', "bare LF in the response head");
		if (h[i] == '\n' && i + 3 < n)
			check(h[i + 1] != '\r', "blank line inside the response head");
		if (h[i] == '\n' && i + 1 < n)
			check(h[i + 1] != ' ' && h[i + 1] != '\t',
			      "folded line in the response head");
	}
}

/* The worker's loop for one connection, checked against the oracle. */
static void serve(struct conn *c, struct oracle *o, uint8_t flags, uint32_t app_seed)
{
	bool keep = !(flags & F_NO_KEEPALIVE);
	bool first = true;

	if (c->expect_proxy && o->n > 0) {
		struct http_proxy px;
		ssize_t pr = http_proxy_parse(&px, (const char *)o->s, o->n);
		int rc;

		/* v1 is text ("PROXY "), v2 binary: is this one's version accepted? */
		bool version = c->proxy_versions & (o->s[0] == 'P' ? 1 : 2);

		if (pr > 0 && version && c->proxy_trusted) {
			o->pos = (size_t)pr;
		} else if (pr != 0) {
			/* refused (400, 403), or the client stopped inside the header */
			rc = conn_read_head(c);
			check(rc == -1, "a bad, unexpected or untrusted PROXY header was accepted");
			check(c->error_status == (pr == HTTP_PARSE_AGAIN ? 0
						  : pr < 0 || !version  ? 400
									: 403),
			      "PROXY header refused with the wrong status");
			if (c->error_status)
				conn_refuse(c, c->error_status);
			else
				conn_close(c);
			return;
		}
	}

	for (;;) {
		struct http_request oreq;
		struct body_view v;
		enum app_result res;
		size_t head_len;
		ssize_t hr;
		int rc;

		if (!first && c->len == 0 && (flags & F_SHRINK))
			conn_shrink(c);
		first = false;
		check_buffer(c, o);
		rc = conn_read_head(c);
		http_request_init(&oreq, o->headers, o->fields);
		hr = http_parse_request(&oreq, (const char *)o->s + o->pos, o->n - o->pos, o->lim);
		if (rc == 0) {
			check(o->pos == o->n, "bytes left over when the connection ended");
			conn_close(c);
			return;
		}
		if (rc < 0) {
			if (c->error_status == 0)
				check(hr == HTTP_PARSE_AGAIN, "a head failed without a status");
			else if (hr > 0)
				check((flags & F_FORWARDED) && c->error_status == 400,
				      "a sound head was refused");
			else
				check(hr == HTTP_PARSE_ERROR && c->error_status == oreq.status,
				      "refused with another status than the parser's");
			if (c->error_status)
				conn_refuse(c, c->error_status);
			else
				conn_close(c);
			return;
		}
		check(hr > 0 && (size_t)hr == c->head_len, "head length differs from the parser's");
		check(c->len >= c->head_len && memcmp(c->buf, o->s + o->pos, c->head_len) == 0,
		      "head bytes differ");
		check(c->req.body == oreq.body && c->req.content_length == oreq.content_length &&
			      c->req.keep_alive == oreq.keep_alive,
		      "head differs from the parser's");
		check(c->limits.body == 0 || c->req.body != HTTP_BODY_LENGTH ||
			      c->req.content_length <= c->limits.body,
		      "Content-Length over the limit accepted");

		head_len = c->head_len;
		view_body(o, &c->req, head_len, &v);
		res = app(c, &v, &app_seed, keep);
		if (res == APP_CLOSED) {
			free(v.bytes);
			return;
		}
		if (res == APP_FINISH || conn_next_request(c) < 0) {
			free(v.bytes);
			conn_finish(c);
			return;
		}
		check(v.complete && v.status == 0, "kept a connection after an incomplete body");
		o->pos += head_len + v.raw;
		free(v.bytes);
		check(c->head_len == 0 && c->raw == 0 && c->error_status == 0, "state not reset");
		check_buffer(c, o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	struct oracle o;
	struct conn c;
	uint8_t ctl, split, flags;
	uint32_t app_seed, seed = 1;
	int sv[2];

	if (size < CTL_BYTES)
		return 0;
	req_after_body = getenv("FUZZ_REQ_AFTER_BODY") != NULL;
	ctl = data[0];
	split = data[1];
	app_seed = data[2];
	flags = data[3];
	data += CTL_BYTES;
	size -= CTL_BYTES;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = seed * 31 + data[i];

	if (ctl & 1)
		http_limits_from_settings(&lim, 4094, 100, 8190,
					  (flags >> 5) ? 1L << (flags >> 5) * 3 : 0);
	else
		http_limits_from_settings(&lim, 8 + (ctl >> 2), 1 + (ctl >> 5), 4 + (ctl >> 1),
					  ctl & 2 ? 0 : 64);

	if (flags & F_FORWARDED) {
		static const char *const lists[] = {NULL, "SCRIPT_NAME,PATH_INFO", "*",
						    " x_y, Script_Name"};
		lim.forwarders = lists[split >> 6];
	}

	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
	      "socketpair");
	memset(&P, 0, sizeof(P));
	P.fd = sv[1];
	P.data = data;
	P.size = size;
	P.seed = seed ^ split;
	P.max_piece = (split & 15) ? (size_t)1 << ((split & 15) - 1) : 0;
	P.out = malloc(OUT_MAX);
	check(P.out != NULL, "malloc");

	conn_init(&c, sv[0], NULL, &io, &lim, WAIT_MS);
	c.expect_proxy = flags & F_PROXY;
	c.proxy_versions = (split >> 4 & 3) == 0 ? 3 : split >> 4 & 3;
	c.proxy_trusted = flags & F_PROXY_TRUSTED;
	c.forwarded_trusted = flags & F_FORWARDED;

	memset(&o, 0, sizeof(o));
	o.s = data;
	o.n = size;
	o.lim = &lim;
	o.fields = lim.fields;
	o.headers = calloc(lim.fields, sizeof(*o.headers));
	check(o.headers != NULL, "calloc");

	feed(&P);
	serve(&c, &o, flags, app_seed);
	check(c.fd == -1 && c.buf == NULL, "connection left open");

	drain(&P);
	check(P.out_len == 0 || memcmp(P.out, "HTTP/1.", P.out_len < 7 ? P.out_len : 7) == 0,
	      "the answer does not start with a status line");
	close(P.fd);
	free(P.out);
	free(o.headers);
	return 0;
}

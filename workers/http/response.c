/* response — see response.h. */
#include "workers/http/response.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "workers/http/chars.h"
#include "workers/http/mem.h"
#include "workers/http/parser.h"

#define SERVER_HEADER "Server: kirin\r\n"
#define HEAD_ROOM     512 /* a new head buffer: room for a usual head */
#define SPARE_HEADS   64  /* head buffers kept per thread */

/*
 * Head buffers given back, for the next response on this thread: a
 * request's struct response holds none until its app starts a response,
 * so a greenlet parked in a request (a WebSocket, a long poll) does not
 * carry 512 bytes on its saved stack.
 */
static __thread struct {
	char *p[SPARE_HEADS];
	int n;
} spare;

static inline void append(struct response *r, const char *s, size_t n);
static inline char *room(struct response *r, size_t n);
static void grow(struct response *r, size_t n);
static const char *date_line(size_t *len);
static bool is_hop_by_hop(const char *name, size_t n);

int response_begin(struct response *r, const char *status_line, size_t len, int version_minor,
		   bool head_request, bool keep_alive)
{
	memset(r, 0, offsetof(struct response, head));
	r->head_len = 0;
	if (r->head_cap == 0) {
		r->head = spare.n > 0 ? spare.p[--spare.n] : mem_alloc(HEAD_ROOM);
		r->head_cap = HEAD_ROOM;
	}
	if (len < 3 || status_line[0] < '1' || status_line[0] > '5' || status_line[1] < '0' ||
	    status_line[1] > '9' || status_line[2] < '0' || status_line[2] > '9' ||
	    (len > 3 && status_line[3] != ' '))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)status_line[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return -1;
	}
	r->status = (status_line[0] - '0') * 100 + (status_line[1] - '0') * 10 +
		    (status_line[2] - '0');
	r->version_minor = version_minor;
	r->head_request = head_request;
	r->keep_alive = keep_alive;
	r->no_body = head_request || r->status < 200 || r->status == 204 || r->status == 304;
	append(r, version_minor ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
	append(r, status_line, len);
	if (len == 3) {
		const char *reason = http_reason(r->status);
		append(r, " ", 1);
		append(r, reason, strlen(reason));
	}
	append(r, "\r\n", 2);
	return 0;
}

void response_begin_as(struct response *r, const struct response *from)
{
	memcpy(r, from, offsetof(struct response, head));
	r->head_len = 0;
	if (r->head_cap == 0) {
		r->head = spare.n > 0 ? spare.p[--spare.n] : mem_alloc(HEAD_ROOM);
		r->head_cap = HEAD_ROOM;
	}
	append(r, from->head, from->head_len);
}

int response_add_header(struct response *r, const char *name, size_t nlen, const char *value,
			size_t vlen)
{
	if (!chars_is_token(name, nlen) || !chars_is_field_value(value, vlen))
		return -1;
	while (vlen && (value[0] == ' ' || value[0] == '\t')) {
		value++;
		vlen--;
	}
	while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;

	if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
		uint64_t v = 0;
		if (vlen == 0 || vlen > 19)
			return -1;
		for (size_t i = 0; i < vlen; i++) {
			if (value[i] < '0' || value[i] > '9')
				return -1;
			v = v * 10 + (uint64_t)(value[i] - '0');
		}
		if (r->has_length && r->length != v)
			return -1;
		if (r->has_length)
			return 0;
		r->has_length = true;
		r->length = v;
	} else if (is_hop_by_hop(name, nlen)) {
		/* The server owns framing and the connection; "close" is honoured. */
		if (nlen == 10 && vlen == 5 && strncasecmp(value, "close", 5) == 0)
			r->keep_alive = false;
		return 0;
	}
	char *at = room(r, nlen + vlen + 4);
	memcpy(at, name, nlen);
	memcpy(at + nlen, ": ", 2);
	memcpy(at + nlen + 2, value, vlen);
	memcpy(at + nlen + 2 + vlen, "\r\n", 2);
	return 0;
}

int response_add_line(struct response *r, const char *line, size_t len, int64_t length)
{
	if (length >= 0) {
		if (r->has_length)
			return r->length == (uint64_t)length ? 0 : -1;
		r->has_length = true;
		r->length = (uint64_t)length;
	}
	append(r, line, len);
	return 0;
}

void response_end_head(struct response *r, int64_t known_length)
{
	static const char te[] = "Transfer-Encoding: chunked\r\n";
	char line[64];
	size_t len;
	int n;

	/* A body known to end short of the app's Content-Length breaks the framing. */
	if (r->has_length && known_length >= 0 && (uint64_t)known_length < r->length && !r->no_body)
		r->keep_alive = false;
	if (!r->has_length && known_length >= 0 && !(r->status < 200 || r->status == 204 ||
						    r->status == 304)) {
		r->has_length = true;
		r->length = (uint64_t)known_length;
		n = snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
			     (unsigned long long)known_length);
		append(r, line, (size_t)n);
	} else if (!r->has_length && !r->no_body) {
		if (r->version_minor >= 1)
			r->chunked = true;
		else
			r->keep_alive = false; /* the body ends when we close */
	}
	if (r->chunked)
		append(r, te, sizeof(te) - 1);
	const char *date = date_line(&len);
	append(r, date, len);
	append(r, SERVER_HEADER, sizeof(SERVER_HEADER) - 1);
	if (!r->keep_alive)
		append(r, "Connection: close\r\n", 19);
	else if (r->version_minor == 0)
		append(r, "Connection: keep-alive\r\n", 24);
	append(r, "\r\n", 2);
}

int response_body_iov(struct response *r, const void *data, size_t len, struct iovec iov[3])
{
	int n;

	if (r->no_body || len == 0)
		return 0;
	if (r->has_length) {
		uint64_t left = r->length - r->body_sent;
		if (len > left) {
			/* Longer than announced: what was announced is sent. */
			len = (size_t)left;
			if (len == 0)
				return 0;
		}
	}
	r->body_sent += len;
	if (!r->chunked) {
		iov[0] = (struct iovec){(void *)data, len};
		return 1;
	}
	n = snprintf(r->chunk_line, sizeof(r->chunk_line), "%zx\r\n", len);
	iov[0] = (struct iovec){r->chunk_line, (size_t)n};
	iov[1] = (struct iovec){(void *)data, len};
	iov[2] = (struct iovec){(void *)"\r\n", 2};
	return 3;
}

const char *response_trailer(const struct response *r, size_t *len)
{
	if (!r->chunked) {
		*len = 0;
		return NULL;
	}
	*len = 5;
	return "0\r\n\r\n";
}

bool response_reusable(const struct response *r)
{
	if (!r->keep_alive)
		return false;
	return r->no_body || !r->has_length || r->body_sent == r->length;
}

void response_free(struct response *r)
{
	if (r->head && r->head_cap == HEAD_ROOM && spare.n < SPARE_HEADS)
		spare.p[spare.n++] = r->head;
	else
		free(r->head);
	r->head = NULL;
	r->head_cap = r->head_len = 0;
}

static inline void append(struct response *r, const char *s, size_t n)
{
	memcpy(room(r, n), s, n);
}

/* n more bytes at the end of the head (begun), to be written by the caller. */
static inline char *room(struct response *r, size_t n)
{
	char *at;

	if (r->head_len + n > r->head_cap)
		grow(r, n);
	at = r->head + r->head_len;
	r->head_len += n;
	return at;
}

/* Room for n more bytes: a bigger block. */
static void grow(struct response *r, size_t n)
{
	size_t cap = r->head_cap * 2;

	while (cap < r->head_len + n)
		cap *= 2;
	r->head = mem_realloc(r->head, cap);
	r->head_cap = cap;
}

/* Hop-by-hop and framing fields (RFC 9110 7.6.1), which the server owns. */
static bool is_hop_by_hop(const char *name, size_t n)
{
	switch (n) {
	case 2:
		return strncasecmp(name, "te", n) == 0;
	case 7:
		return strncasecmp(name, "upgrade", n) == 0;
	case 8:
		return strncasecmp(name, "trailers", n) == 0;
	case 10:
		return strncasecmp(name, "connection", n) == 0 ||
		       strncasecmp(name, "keep-alive", n) == 0;
	case 17:
		return strncasecmp(name, "transfer-encoding", n) == 0;
	case 18:
		return strncasecmp(name, "proxy-authenticate", n) == 0;
	case 19:
		return strncasecmp(name, "proxy-authorization", n) == 0;
	default:
		return false;
	}
}

const char *response_date(void)
{
	size_t len;

	return date_line(&len);
}

/* Rebuilt at most once a second per thread; *len is its length. */
static const char *date_line(size_t *len)
{
	static __thread char buf[48];
	static __thread size_t buf_len;
	static __thread time_t cached;
	time_t now = time(NULL);

	if (now != cached) {
		struct tm tm;
		gmtime_r(&now, &tm);
		buf_len = strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		cached = now;
	}
	*len = buf_len;
	return buf;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

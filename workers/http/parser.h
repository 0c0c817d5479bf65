/*
 * parser — kirin's HTTP/1.x request parser: strict (RFC 9112, Gunicorn 26's
 * rules), incremental and zero-copy.
 *
 * Runs in workers, in any thread, without the GIL; never allocates, never
 * blocks, never logs. Names, values and the request target are slices of the
 * caller's buffer: the caller must not move or change the bytes until it is
 * done with the struct http_request.
 *
 * Return codes (one vocabulary for every function here):
 *   > 0  bytes consumed (the request head, or body bytes decoded)
 *   -1   bad input: req->status holds the HTTP status to answer (400, 403,
 *        413, 414, 417, 431, 501, 505) and req->error a short reason
 *   -2   need more bytes
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_PARSE_ERROR (-1)
#define HTTP_PARSE_AGAIN (-2)

struct http_limits {
	size_t request_line;  /* bytes of the request line without CRLF; already clamped */
	size_t fields;        /* maximum number of header fields */
	size_t field_size;    /* bytes of one field line including its CRLF */
	uint64_t body;        /* maximum body bytes, 0 = unlimited (413 beyond) */
};

/* Gunicorn's clamping of --limit-request-* values into an http_limits. */
void http_limits_from_settings(struct http_limits *lim, long request_line,
			       long fields, long field_size, long body);

struct http_header {
	const char *name;  /* as sent (case preserved), never contains '_' */
	size_t name_len;
	const char *value; /* leading/trailing SP and HTAB trimmed */
	size_t value_len;
};

enum http_body {
	HTTP_BODY_NONE = 0, /* no body: Content-Length absent or 0, no TE */
	HTTP_BODY_LENGTH,   /* content_length bytes follow */
	HTTP_BODY_CHUNKED,  /* chunked framing: use http_chunked_decode() */
};

struct http_request {
	const char *method;
	size_t method_len;
	const char *target;  /* the request-target exactly as sent (RAW_URI) */
	size_t target_len;
	const char *path;    /* path part of target, not decoded; for
				absolute-form the path after the authority ("/" if
				none); for authority-form and asterisk-form the target */
	size_t path_len;
	const char *query;   /* after '?', without the '#fragment'; len 0 if none */
	size_t query_len;
	int version_minor;   /* HTTP/1.x */

	struct http_header *headers; /* caller-provided array, capacity max_headers */
	size_t max_headers;          /* >= limits.fields */
	size_t num_headers;          /* fields kept (underscored names dropped) */

	enum http_body body;
	uint64_t content_length;     /* for HTTP_BODY_LENGTH */
	bool keep_alive;             /* per version and Connection */
	bool expect_continue;        /* "Expect: 100-continue" was sent */
	bool close_after;            /* body has a content coding before chunked:
					the connection must close after the response */
	const char *host;            /* the Host value, NULL if none */
	size_t host_len;

	/* set on -1 */
	int status;
	const char *error;

	/* private: incremental scanning state; zeroed by http_request_init */
	size_t scanned_;
};

/*
 * Prepare req for parsing a new request head; headers/max_headers is the
 * caller's storage (keep it alive as long as req).
 */
void http_request_init(struct http_request *req, struct http_header *headers,
		       size_t max_headers);

/*
 * Parse a request head from buf[0..len). Call again with the same buf start
 * and a larger len after -2; the result is identical whatever the split.
 * Returns the length of the head including its final CRLF CRLF, -1 (see
 * req->status) or -2. Applies limits (414/400 for the request line, 431 for
 * fields), refuses HTTP/1.1 without exactly one Host, validates framing
 * (Content-Length, Transfer-Encoding) and fills req.
 */
ssize_t http_parse_request(struct http_request *req, const char *buf, size_t len,
			   const struct http_limits *lim);

/* Incremental chunked-body decoder state; zero it (or http_chunked_init). */
struct http_chunked {
	int state_;
	uint64_t remaining_; /* bytes left in the current chunk */
	size_t line_;        /* length of the size/trailer line scanned so far */
	size_t trailers_;    /* trailer fields seen */
	bool done;           /* the last chunk and the trailer section were read */
	int status;          /* on -1 */
	const char *error;
};

void http_chunked_init(struct http_chunked *dec);

/*
 * Decode chunked framing in place. buf[0..*len) are raw bytes that follow
 * what earlier calls consumed. On return, buf[0..*out) holds decoded body
 * data, and the function returns the number of raw bytes consumed (which may
 * be less than *len once dec->done: the rest belongs to the next request),
 * or -1 on a framing error (dec->status, dec->error). 0 consumed with
 * *out 0 and !done means need more. Trailer fields are validated (forbidden
 * fields such as Content-Length, Transfer-Encoding, Host are refused) and
 * discarded.
 */
ssize_t http_chunked_decode(struct http_chunked *dec, char *buf, size_t len, size_t *out,
			    const struct http_limits *lim);

/*
 * PROXY protocol v1/v2 header at the start of a connection. Returns bytes
 * consumed (the address fields filled, family AF_INET/AF_INET6, or AF_UNSPEC
 * for LOCAL/UNKNOWN), 0 if buf does not start with a PROXY header (and cannot
 * become one), -1 bad header, -2 need more.
 */
struct http_proxy {
	int family;
	char src_addr[46];
	unsigned src_port;
	char dst_addr[46];
	unsigned dst_port;
};
ssize_t http_parse_proxy(struct http_proxy *p, const char *buf, size_t len);

/* Reason phrase for a status code ("Bad Request"); "Unknown" if none. */
const char *http_reason(int status);

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

/*
 * Empty lines (CRLF) skipped before a request line, as RFC 9112 section 2.2
 * asks (clients that send CRLF after a POST body); one more is refused with
 * 400. Apache httpd's bound. A bare LF is no line ending here either.
 */
#define HTTP_MAX_EMPTY_LINES 10

struct http_limits {
	size_t request_line;  /* bytes of the request line without CRLF; already clamped */
	size_t fields;        /* maximum number of header fields */
	size_t field_size;    /* bytes of one field line including its CRLF */
	uint64_t body;        /* maximum body bytes, 0 = unlimited (413 beyond) */
};

/*
 * Gunicorn's clamping of --limit-request-* values into an http_limits:
 *   request_line: negative or above 8190 -> 8190; 0 (unlimited) -> 1 MiB
 *   fields:       0, negative or above 32768 -> 32768
 *   field_size:   0 or negative -> 8190 (no upper clamp, as Gunicorn)
 *   body:         0 or negative -> 0 (unlimited)
 * Pure function; any process, any thread.
 */
void http_limits_from_settings(struct http_limits *lim, long request_line,
			       long fields, long field_size, long body);

/*
 * The largest request head http_parse_request() can accept under lim:
 * HTTP_MAX_EMPTY_LINES empty lines + request line + CRLF + fields *
 * field_size + final CRLF (saturating). A
 * head that is not complete within this many bytes has already been refused
 * by the parser (414 or 431), so a caller's buffer never needs more.
 */
size_t http_max_head(const struct http_limits *lim);

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
				absolute-form the path after the authority (a
				static "/" if none); for authority-form and
				asterisk-form the target */
	size_t path_len;
	const char *query;   /* after '?', without the '#fragment'; len 0 if none */
	size_t query_len;
	int version_minor;   /* HTTP/1.x */

	struct http_header *headers; /* caller-provided array, capacity max_headers */
	size_t max_headers;          /* >= limits.fields */
	size_t num_headers;          /* fields kept (underscored names dropped);
					limits.fields counts every field line */

	enum http_body body;
	uint64_t content_length;     /* for HTTP_BODY_LENGTH */
	bool keep_alive;             /* per version and Connection; false when
					close_after */
	bool expect_continue;        /* "Expect: 100-continue" in an HTTP/1.1
					request (ignored in HTTP/1.0, RFC 9110) */
	bool close_after;            /* body has a content coding before chunked:
					the connection must close after the response */
	const char *host;            /* the Host value, NULL if none */
	size_t host_len;

	/* set on -1 */
	int status;
	const char *error;

	/* private: incremental scanning state; zeroed by http_request_init */
	size_t scanned_;     /* offset of the first line not parsed yet */
	size_t pos_;         /* that line was searched for its end up to here */
	size_t fields_;      /* field lines seen, kept or dropped */
	unsigned flags_;     /* framing fields seen, done/failed bits */
	const char *base_;   /* buf of the previous call (slices are rebased
				if the caller's buffer moved) */
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
 * Returns the length of the head including its final CRLF CRLF and the
 * empty lines skipped before it, -1 (see req->status) or -2. Applies limits
 * (414/400 for the request line, 431 for fields, 400 beyond
 * HTTP_MAX_EMPTY_LINES), refuses HTTP/1.1 without exactly one Host,
 * validates framing (Content-Length, Transfer-Encoding) and fills req.
 */
ssize_t http_parse_request(struct http_request *req, const char *buf, size_t len,
			   const struct http_limits *lim);

/* Incremental chunked-body decoder state; zero it (or http_chunked_init). */
struct http_chunked {
	int state_;
	uint64_t remaining_; /* bytes left in the current chunk */
	size_t line_;        /* length of the size/trailer line scanned so far */
	size_t trailers_;    /* trailer fields seen */
	uint64_t total_;     /* decoded body bytes so far (limits.body) */
	char name_[24];      /* trailer name, lower-cased, to spot forbidden ones */
	bool done;           /* the last chunk and the trailer section were read */
	int status;          /* on -1 */
	const char *error;
};

/* Zero dec for a new chunked body. */
void http_chunked_init(struct http_chunked *dec);

/*
 * Decode chunked framing in place. buf[0..len) are raw bytes that follow
 * what earlier calls consumed. On return, buf[0..*out) holds decoded body
 * data, and the function returns the number of raw bytes consumed: all of
 * len until dec->done (partial size lines, extensions and trailers are kept
 * in dec, so the caller may drop consumed bytes), then less than len: the
 * rest belongs to the next request. -1 on a framing error (dec->status 400,
 * 413 beyond limits.body decoded bytes, 431 for trailers over limits.fields
 * or limits.field_size; dec->error); -1 is sticky. 0 consumed with *out 0
 * and !done means need more (only when len is 0). Chunk sizes are 1*HEXDIG
 * below 2^60; a size line (with its extensions) is at most
 * limits.field_size bytes; extensions follow RFC 9112 section 7.1.1 and are
 * discarded. Trailer fields are validated (framing and routing fields such
 * as Content-Length, Transfer-Encoding, Host, Trailer, TE, Connection are
 * refused) and discarded. lim NULL means the defaults.
 */
ssize_t http_chunked_decode(struct http_chunked *dec, char *buf, size_t len, size_t *out,
			    const struct http_limits *lim);

/*
 * PROXY protocol v1/v2 header at the start of a connection. Returns bytes
 * consumed (the address fields filled, family AF_INET/AF_INET6, or AF_UNSPEC
 * for LOCAL/UNKNOWN), 0 if buf does not start with a PROXY header (and cannot
 * become one), -1 bad header, -2 need more. v1 ("PROXY TCP4|TCP6|UNKNOWN",
 * at most 107 bytes) keeps the addresses as sent (validated by inet_pton),
 * ports are 1-5 digits without leading zeros, at most 65535. v2 accepts
 * LOCAL, and PROXY over TCP (INET, INET6) or UNSPEC; addresses are printed
 * with inet_ntop; TLVs are skipped. Pure function; never blocks.
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

/* True when s[0..n) is a token (RFC 9110 5.6.2), as a field name must be. */
bool http_is_token(const char *s, size_t n);

/*
 * True when every byte of s[0..n) may appear in a field value: HTAB, SP,
 * VCHAR, obs-text; no CR, LF, NUL or other control character.
 */
bool http_is_field_value(const char *s, size_t n);

/*
 * parser — kirin's HTTP/1.x request-head parser (request line and header
 * fields): strict (RFC 9112, Gunicorn 26's rules), incremental and
 * zero-copy. Also the limits every HTTP parser here applies, and the return
 * codes they share (chunked.h decodes bodies, proxy.h reads PROXY headers).
 *
 * Runs in workers, in any thread, without the GIL; never allocates, never
 * blocks, never logs. Names, values and the request target are slices of the
 * caller's buffer: the caller must not move or change the bytes until it is
 * done with the struct http_request.
 *
 * Return codes (one vocabulary for every parser in workers/http/):
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

/*
 * Gunicorn's knobs that relax the parser (http_limits.permit); with none,
 * its default, the parser is strict.
 *   HTTP_PERMIT_METHOD        permit_unconventional_http_method: any token
 *                             is a method (else 3 to 20 characters, no
 *                             lowercase letter, no '#')
 *   HTTP_STRIP_HEADER_SPACES  strip_header_spaces: SP or HTAB between a field
 *                             name and its colon is dropped (else 400)
 *   HTTP_UNDERSCORE_REFUSE    header_map refuse: a field name with '_' is 400
 *   HTTP_UNDERSCORE_KEEP      header_map dangerous: such a field is kept
 *                             (else, header_map drop, it is dropped; a
 *                             name in http_limits.forwarders is kept
 *                             whatever these two say)
 *   HTTP_PERMIT_OBS_FOLD      permit_obsolete_folding: a line that starts
 *                             with SP or HTAB continues the field before it
 *                             (else 400), unless that field is one the
 *                             parser reads (Host, Content-Length,
 *                             Transfer-Encoding, Connection, Expect,
 *                             Upgrade, Content-Type, a forwarded
 *                             SCRIPT_NAME): then still 400. The
 *                             whole field counts against field_size. See
 *                             http_request_unfold().
 */
#define HTTP_PERMIT_METHOD       0x1u
#define HTTP_STRIP_HEADER_SPACES 0x2u
#define HTTP_UNDERSCORE_REFUSE   0x4u
#define HTTP_UNDERSCORE_KEEP     0x8u
#define HTTP_PERMIT_OBS_FOLD     0x10u

struct http_limits {
	size_t request_line;  /* bytes of the request line without CRLF; already clamped */
	size_t fields;        /* maximum number of header fields */
	size_t field_size;    /* bytes of one field line including its CRLF */
	uint64_t body;        /* maximum body bytes, 0 = unlimited (413 beyond) */
	unsigned permit;      /* HTTP_PERMIT_METHOD | ...; 0: strict */
	/*
	 * forwarder_headers, for a peer in forwarded_allow_ips (NULL for any
	 * other): comma-separated field names (without regard to case; "*" is
	 * every name) that are kept even with an underscore, whatever the
	 * HTTP_UNDERSCORE_* bits say. Such a SCRIPT_NAME field is the mount
	 * point: req->script_name, and a path not under it is refused (400).
	 * The caller keeps the string alive while it parses.
	 */
	const char *forwarders;
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
/* (It leaves lim->permit at 0 and lim->forwarders NULL: the caller adds the
   knobs it was given.) */

/*
 * The largest request head http_parse_request() can accept under lim:
 * HTTP_MAX_EMPTY_LINES empty lines + request line + CRLF + fields *
 * field_size + final CRLF (saturating). A
 * head that is not complete within this many bytes has already been refused
 * by the parser (414 or 431), so a caller's buffer never needs more.
 */
size_t http_max_head(const struct http_limits *lim);

/* Gunicorn's defaults (4094, 100, 8190, no body limit): what a NULL lim means. */
void http_limits_default(struct http_limits *lim);

struct http_header {
	const char *name;  /* as sent (case preserved); contains '_' only under
			      HTTP_UNDERSCORE_KEEP or when in limits.forwarders */
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
	size_t num_headers;          /* fields kept (underscored names dropped
					unless HTTP_UNDERSCORE_KEEP or forwarders);
					limits.fields counts every field line */
	const char *script_name;     /* the value of a SCRIPT_NAME field kept as one
					of limits.forwarders, trailing '/' left out
					(possibly empty); NULL if none. The decoded
					path is at or below it (or is not a path:
					"*", an authority) */
	size_t script_name_len;

	enum http_body body;
	uint64_t content_length;     /* for HTTP_BODY_LENGTH */
	bool keep_alive;             /* per version and Connection; false when
					close_after */
	bool expect_continue;        /* "Expect: 100-continue" in an HTTP/1.1
					request (ignored in HTTP/1.0, RFC 9110) */
	bool close_after;            /* body has a content coding before chunked:
					the connection must close after the response */
	bool upgrade;                /* an Upgrade field is present (WebSocket?) */
	const char *host;            /* the Host value, NULL if none */
	size_t host_len;
	bool folded;                 /* a value spans folded lines (HTTP_PERMIT_OBS_FOLD):
					call http_request_unfold() before reading values */

	/* set on -1 */
	int status;
	const char *error;

	/* private: incremental scanning state; zeroed by http_request_init */
	size_t scanned_;     /* offset of the first line not parsed yet */
	size_t pos_;         /* that line was searched for its end up to here */
	size_t fields_;      /* field lines seen, kept or dropped */
	unsigned flags_;     /* framing fields seen, done/failed bits */
	size_t field_at_;    /* offset of the last field's first line (for folding) */
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
 * Parse a request head from buf[0..len). After -2 call again with a larger
 * len, on the same buf or on a copy of it that moved (the slices follow, as
 * with http_request_rebase()); the result is identical whatever the split.
 * Returns the length of the head including its final CRLF CRLF and the
 * empty lines skipped before it, -1 (see req->status) or -2. Applies limits
 * (414/400 for the request line, 431 for fields, 400 beyond
 * HTTP_MAX_EMPTY_LINES), refuses HTTP/1.1 without exactly one Host,
 * validates framing (Content-Length, Transfer-Encoding), refuses (400) a
 * repeated forwarded SCRIPT_NAME and a path not under it, and fills req.
 */
ssize_t http_parse_request(struct http_request *req, const char *buf, size_t len,
			   const struct http_limits *lim);

/*
 * The bytes req was parsed from (the buf of the last http_parse_request())
 * now live at buf: the caller moved them (realloc, or a copy). Points every
 * slice of req, and the headers array's, at the same offsets in buf; the
 * static "/" of an absolute-form target without a path stays. The old
 * buffer is not read (it may be freed). Pure; any thread.
 */
void http_request_rebase(struct http_request *req, const char *buf);

/*
 * After a head was parsed with req->folded: make each folded value one
 * line, each obs-fold and the blanks around it one SP (RFC 9112 section
 * 5.2; Gunicorn joins the pieces with a space), writing into buf, which
 * must hold the bytes req was parsed from; value_len shrinks to match. Pure;
 * any thread.
 */
void http_request_unfold(struct http_request *req, char *buf);

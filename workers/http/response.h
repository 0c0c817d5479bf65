/*
 * response — the response writer: builds a response head from the status
 * and headers an application gave (validated: no response splitting), adds
 * Date, Server and the framing (Content-Length, chunked, or close-delimited),
 * and frames body chunks.
 *
 * Runs in workers, any thread, without the GIL. Never writes to a socket
 * itself: it fills buffers and iovecs that conn_writev() sends, so the head
 * and the first body chunk can leave in one writev.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct response {
	int status;          /* 200 */
	bool head_request;   /* HEAD: no body is sent */
	bool keep_alive;     /* in: the request allows it; out: the connection stays open */
	int version_minor;   /* of the request: 0 for HTTP/1.0 */

	bool has_length;     /* the app gave Content-Length */
	uint64_t length;
	bool chunked;        /* we frame the body with chunked encoding */
	bool no_body;        /* HEAD, 1xx, 204, 304 */
	uint64_t body_sent;  /* body bytes framed so far (without chunk framing) */

	char chunk_line[24]; /* scratch for one chunk-size line */

	/* Kept across response_begin(): */
	char *head;          /* the head being built (malloc'd; NULL before response_begin) */
	size_t head_len, head_cap;
};

/*
 * Start a response with status line "<code> <reason>" (status_line is the
 * app's "200 OK", validated here: three digits, a space, no CR/LF/NUL).
 * Returns 0, or -1 when the status line is invalid.
 */
int response_begin(struct response *r, const char *status_line, size_t len, int version_minor,
		   bool head_request, bool keep_alive);

/*
 * Add one header from the application. Returns 0 when added or silently
 * dropped (hop-by-hop headers such as Transfer-Encoding and Keep-Alive, which
 * are the server's business), -1 when the name is not a token or the value
 * holds CR, LF, NUL or another control character (the app's error: 500).
 */
int response_add_header(struct response *r, const char *name, size_t nlen, const char *value,
			size_t vlen);

/*
 * Add a header line ("Name: value\r\n") that response_add_header() made
 * before from a valid header; `length` >= 0: it was Content-Length with
 * that value. Returns 0, or -1 for a second, different Content-Length.
 */
int response_add_line(struct response *r, const char *line, size_t len, int64_t length);

/*
 * Start r as a copy of `from`, a response begun and given its headers but
 * not ended (a model kept to start the same response again): its status,
 * flags and head so far. `from` is not changed.
 */
void response_begin_as(struct response *r, const struct response *from);

/*
 * Finish the head: choose framing (the app's Content-Length; else
 * `known_length` when the whole body is known, >= 0; else chunked for
 * HTTP/1.1; else close-delimited) and add Date, Server and Connection
 * (close when the known body is shorter than the app's Content-Length).
 * Afterwards r->head[0..head_len) is ready to send.
 */
void response_end_head(struct response *r, int64_t known_length);

/*
 * Frame `len` body bytes at data into iov[0..3) (chunk size line, data,
 * CRLF, or just data). Bytes past the app's Content-Length are dropped (the
 * framing stays sound: the connection may still be kept). Returns the
 * number of iovecs used (0 when nothing is to be sent, e.g. HEAD or an
 * empty chunk). Counts the bytes in body_sent.
 */
int response_body_iov(struct response *r, const void *data, size_t len, struct iovec iov[3]);

/* The bytes that end the body ("0\r\n\r\n" for chunked), or NULL with *len 0. */
const char *response_trailer(const struct response *r, size_t *len);

/*
 * After the body: true when the connection may carry another request (the
 * framing was sound and the body length matched a declared Content-Length).
 */
bool response_reusable(const struct response *r);

/*
 * "Date: <now, IMF-fixdate>\r\n", for answers built elsewhere too: this
 * thread's buffer, rebuilt at most once a second.
 */
const char *response_date(void);

/*
 * Give the head buffer back: a usual one (512 bytes) to this thread's
 * spares, for the next response_begin(), a larger one to free(). Every
 * begun response must end here; one never begun (zeroed) may too.
 */
void response_free(struct response *r);

/* Reason phrase for a status code ("Bad Request"); "Unknown" if none. Any thread. */
const char *http_reason(int status);

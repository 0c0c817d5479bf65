/*
 * accesslog_format — the access log's line format (--access-logformat):
 * Gunicorn's atoms, its escaping and its default "combined" line, or one
 * JSON object per line with --access-logformat json. A format is compiled
 * once into an array of ops (literal text, atom, request header, response
 * header, environ variable), then turned into one line per request.
 *
 * Runs in workers, in any thread, without the GIL: pure functions over the
 * caller's buffers (the clock's time zone aside). Writes nothing anywhere;
 * accesslog.c buffers and writes the lines. Never touches Python: the WSGI
 * glue hands in what it knows and a callback for %({var}e)s.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct conn;

/* What one request leaves for its line. */
struct accesslog_entry {
	const struct conn *c;    /* peer address (h) and the parsed request in c->req */
	int status;              /* s */
	uint64_t body_bytes;     /* b, B: body bytes sent, without chunk framing */
	const char *resp_head;   /* the response head ("HTTP/1.1 200 OK\r\n...\r\n") for
				    %({name}o)s, or NULL */
	size_t resp_head_len;
	int64_t duration_us;     /* T, D, M, L */
	/*
	 * %({var}e)s: copy the environ value of `name` (compared without case,
	 * as Gunicorn) as text into out[0..cap) and return its length (cut at
	 * cap), or -1 when there is none. NULL: there is never one.
	 */
	ssize_t (*environ_get)(void *ctx, const char *name, size_t len, char *out, size_t cap);
	void *environ_ctx;
};

/* A compiled --access-logformat. */
struct accesslog_format;

/*
 * Compile `fmt`: Python's %-formatting against a mapping, as Gunicorn's
 * access_log_format: %(atom)s (also d or i), %({header}i)s, %({header}o)s,
 * %({var}e)s, %% for a percent sign; anything else is kept as written.
 * "json" selects the JSON line. Never fails (out of memory exits); the
 * caller owns the result (accesslog_format_free). Any thread.
 */
struct accesslog_format *accesslog_format_new(const char *fmt);
void accesslog_format_free(struct accesslog_format *f);

/*
 * Format one line for e into buf[0..cap) (cap >= 2), at wall-clock time
 * `now`, by process `pid`: the line ends with '\n' and is cut to fit.
 * Returns its length with the newline. Pure apart from the clock's time zone;
 * any thread.
 */
size_t accesslog_format_line(const struct accesslog_format *f, const struct accesslog_entry *e,
			     time_t now, long pid, char *buf, size_t cap);

/*
 * accesslog — the access log (--access-logfile, --access-logformat): one line
 * per request in Gunicorn's format (its atoms, its escaping, its default
 * "combined" line), or one JSON object per line with --access-logformat json.
 *
 * Runs in workers only. The format is compiled once per worker into an array
 * of ops (literal text, atom, request header, response header, environ
 * variable). accesslog_request() may be called from any thread: the line is
 * formatted on the caller's stack, then appended under a mutex to a buffer of
 * PIPE_BUF bytes that goes out with one write(2) to an O_APPEND descriptor
 * when the next line would not fit, from accesslog_tick() once the oldest
 * buffered line is half a second old, from accesslog_close(), and from
 * accesslog_quick_exit() when a quick stop ends the worker. So every
 * write carries whole lines and at most PIPE_BUF bytes: lines of concurrent
 * workers never interleave, also when the log is a pipe. A line longer than
 * PIPE_BUF is cut. With --log-syslog every line also goes to syslog.
 * Never touches Python: the WSGI glue hands in what it knows and a callback
 * for %({var}e)s.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct config;
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

/* True when requests are logged (a file, stdout or syslog). One load. */
extern bool accesslog_active;
static inline bool accesslog_enabled(void)
{
	return accesslog_active;
}

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

/*
 * Start logging as cfg says (accesslog: a path, or "-" for stdout; NULL and
 * no --log-syslog means off), compiling access_log_format. Once per worker
 * after fork, before serving. Returns 0, or -1 when the file cannot be
 * opened (logged).
 */
int accesslog_open(const struct config *cfg);

/* Log one request (see accesslog_entry). Any thread; does not block except
   on a full buffer's write(2). Call only when accesslog_enabled(). */
void accesslog_request(const struct accesslog_entry *e);

/* Flush lines buffered for half a second or more. Cheap; the worker loop. */
void accesslog_tick(void);

/* USR1: write what is buffered, then reopen the file at the same path. */
int accesslog_reopen(void);

/* Flush and close; logging is off afterwards. Before the worker exits. */
void accesslog_close(void);

/*
 * Quick stop (INT, QUIT): write the buffered lines, then _exit(status).
 * Async-signal-safe, for the worker's signal handler (any thread). Returns
 * only when it interrupted the calling thread inside the access log; that
 * thread exits as it leaves, once the write(2) in progress is over (its own
 * is given up if it blocks; another thread's, waited for). Otherwise waits
 * at most a fifth of a second for another thread's write, then exits
 * without the lines.
 */
void accesslog_quick_exit(int status);

/*
 * Around the end of a response, from just before its last bytes leave to
 * just after its line is written: a quick stop meanwhile waits for
 * accesslog_release() (the client has its answer; its line must not be
 * lost). Any thread; holds may overlap.
 */
void accesslog_hold(void);
void accesslog_release(void);

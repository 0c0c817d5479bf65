/*
 * accesslog — the access log (--access-logfile): one line per request, in
 * the format accesslog_format.h compiles from --access-logformat, buffered
 * and written to a file, stdout, and with --log-syslog to syslog.
 *
 * Runs in workers only. accesslog_request() may be called from any thread:
 * the line is formatted on the caller's stack, then appended under a mutex
 * to a buffer of PIPE_BUF bytes that goes out with one write(2) to an
 * O_APPEND descriptor when the next line would not fit, from
 * accesslog_tick() once the oldest buffered line is half a second old, from
 * accesslog_close(), and from accesslog_quick_exit() when a quick stop ends
 * the worker. So every write carries whole lines and at most PIPE_BUF
 * bytes: lines of concurrent workers never interleave, also when the log is
 * a pipe. A line longer than PIPE_BUF is cut. Never touches Python.
 */
#pragma once

#include <stdbool.h>

#include "workers/accesslog_format.h"

struct config;

/* True when requests are logged (a file, stdout or syslog). One load. */
extern bool accesslog_active;
static inline bool accesslog_enabled(void)
{
	return accesslog_active;
}

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

/*
 * log — the error log: one line per event with timestamp, pid and level, to
 * stderr by default or to --error-logfile.
 *
 * Used by the arbiter and by workers (after fork each process keeps the
 * inherited descriptor); safe to call from any thread (each line is one
 * write(2) to an O_APPEND descriptor). Never call it from a signal handler.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR,
	LOG_CRITICAL,
};

/*
 * Open the error log: "-" or NULL means stderr. `level` is a Gunicorn level
 * name (debug, info, warning, error, critical). Returns 0, or -1 with errno
 * set (the previous target stays in use). Arbiter only, before forking or
 * on USR1/HUP.
 */
int log_open(const char *path, const char *level);

/* Re-open the same path (USR1 after rotation). Returns 0 or -1 with errno. */
int log_reopen(void);

/*
 * --capture-output: from now on, and after every log_open()/log_reopen(),
 * descriptors 1 and 2 are copies of the error log's, so whatever the
 * application prints lands in it. Arbiter only, before log_open().
 */
void log_capture_stdio(int on);

/*
 * --log-syslog: from now on also send every error-log line (and, through
 * log_syslog_send(), every access-log line) as one datagram in the local
 * syslog format, "<PRI>Nov 23 12:00:00 TAG[pid]: message", where TAG is
 * "kirin.PREFIX.error" or "kirin.PREFIX.access". addr is "unix:PATH" (also
 * Gunicorn's "unix://PATH", "#dgram" allowed) or "udp://HOST[:PORT]" (port
 * 514 by default); NULL turns syslog off. facility is a name ("user",
 * "daemon", "local0"...); prefix is --log-syslog-prefix, else the process
 * name. Returns 0, or -1 with errno when the socket cannot be connected now
 * (syslog stays on: it is retried at most once a second, and on USR1).
 * Arbiter only, like log_open(); workers inherit the socket.
 */
int log_syslog_open(const char *addr, const char *facility, const char *prefix);

/*
 * Send one line (without newline) to syslog as TAG "kirin.PREFIX.<kind>" at
 * `level`, if syslog is on. Any thread; never blocks (a full socket drops
 * the line).
 */
void log_syslog_send(enum log_level level, const char *kind, const char *msg, size_t len);

/* Parse a level name; -1 if unknown. */
int log_level_parse(const char *name);

/* The descriptor lines go to (stderr's 2 or the file's). */
int log_fd(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log "fmt: strerror(err)" at error level; err is an errno value. */
void log_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a block of text (a traceback) as-is, under one header line. */
void log_block(enum log_level level, const char *header, const char *text, size_t len);

/*
 * An exception that escaped Python code: header and its traceback (NULL:
 * none could be formatted) at error level, counted as an exception, not
 * as an error line (as Gunicorn's log.exception(): gunicorn.log.exception).
 */
void log_exception(const char *header, const char *traceback, size_t len);

/*
 * Count the critical, error and warning lines and the exceptions this
 * process logs (whatever --log-level shows) into counts[0..LOG_COUNTS-1],
 * in that order, with relaxed atomic adds, from now on (the statsd
 * gunicorn.log.* counters). counts must outlive the process's logging;
 * NULL stops counting.
 */
#define LOG_COUNTS 4
#define LOG_COUNT_EXCEPTION 3
void log_count_into(uint64_t *counts);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_critical(...) log_msg(LOG_CRITICAL, __VA_ARGS__)

/* malloc/calloc/realloc/strdup that log and exit(1) on out-of-memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
